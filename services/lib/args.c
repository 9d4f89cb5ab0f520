/*
 * args: one argparse-shaped command-line iterator (args.h), instead of
 * a loop with strcmp/strncmp per program.
 *
 * Untrusted input: none (argv is the operator's); nothing here reads
 * past argv[argc] or a NUL.
 */
#include "args.h"

#include <stddef.h>
#include <string.h>

void
args_init(struct args_iter *a, int argc, char **argv)
{
	a->argc = argc;
	a->argv = argv;
	a->i = 1;
}

/* find: the option s names ("--name" or "--name=..."); *eq_r points at
 * the '=' or is NULL */
static const struct args_opt *
find(const struct args_opt *opts, const char *s, const char **eq_r)
{
	size_t n;

	*eq_r = NULL;
	for (; opts->name != NULL; opts++) {
		n = strlen(opts->name);
		if (strncmp(s, opts->name, n) != 0)
			continue;
		if (s[n] == '\0')
			return opts;
		if (s[n] == '=') {
			*eq_r = s + n;
			return opts;
		}
	}
	return NULL;
}

/* next_arg: argv[i], or NULL past the end */
static const char *
next_arg(const struct args_iter *a)
{
	return a->i < a->argc ? a->argv[a->i] : NULL;
}

int
args_next(struct args_iter *a, const struct args_opt *opts, const char **val_r)
{
	const struct args_opt *o;
	const char *s = next_arg(a), *eq, *v;

	*val_r = s;
	if (s == NULL)
		return ARGS_END;
	a->i++;
	if (s[0] != '-')
		return ARGS_POSITIONAL;
	o = find(opts, s, &eq);
	if (o == NULL)
		return ARGS_BAD;
	if (o->kind == ARGS_FLAG && eq != NULL)
		return ARGS_BAD;
	if (o->kind == ARGS_FLAG) {
		*val_r = NULL;
		return o->key;
	}
	if (eq != NULL) {
		*val_r = eq + 1;
		return o->key;
	}
	v = next_arg(a);
	if (o->kind == ARGS_VALUE && v == NULL)
		return ARGS_BAD;
	if (o->kind == ARGS_OPTIONAL && (v == NULL || v[0] == '-')) {
		*val_r = NULL;
		return o->key;
	}
	a->i++;
	*val_r = v;
	return o->key;
}
