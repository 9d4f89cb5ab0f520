/* test_args: the argparse-shaped command-line iterator: flags, "--name
 * V" and "--name=V", nargs="?" values, positionals anywhere, and every
 * way a command line is bad (unknown option, missing value, a flag
 * given a value, prefixes of names) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "args.h"

static const struct args_opt opts[] = {
	{ "-v", ARGS_FLAG, 'v' },	    { "--remove", ARGS_FLAG, 'r' },
	{ "--days", ARGS_VALUE, 'd' },	    { "--days-max", ARGS_VALUE, 'm' },
	{ "--legacy", ARGS_OPTIONAL, 'l' }, { NULL, ARGS_FLAG, 0 },
};

/* trace: what args_next returns for the words of line, one token per
 * call: "v", "d=5", "l=-" (no value), "P=x" (positional), "B=x" (bad,
 * which stops the trace) */
static void
trace(const char *line, char *out, size_t outsize)
{
	char copy[256], prog[] = "prog", *argv[16], *p = copy;
	struct args_iter it;
	const char *v;
	size_t len = 0;
	int argc = 1, k;

	argv[0] = prog;
	(void)snprintf(copy, sizeof(copy), "%s", line);
	while (*p != '\0' && argc < 15) {
		argv[argc++] = p;
		p += strcspn(p, " ");
		if (*p == ' ')
			*p++ = '\0';
	}
	argv[argc] = NULL;
	out[0] = '\0';
	args_init(&it, argc, argv);
	while ((k = args_next(&it, opts, &v)) != ARGS_END) {
		char tok = k == ARGS_POSITIONAL ? 'P'
			   : k == ARGS_BAD	? 'B'
						: (char)k;

		len += (size_t)snprintf(out + len, outsize - len, "%s%c",
					len > 0 ? " " : "", tok);
		if (v != NULL || k == 'l')
			len += (size_t)snprintf(out + len, outsize - len, "=%s",
						v != NULL ? v : "-");
		if (k == ARGS_BAD)
			break;
	}
}

static void
test_table(void **state)
{
	static const struct {
		const char *line, *want;
	} cases[] = {
		{ "", "" },
		{ "x.ini -v --remove", "P=x.ini v r" },
		{ "-v x.ini --remove", "v P=x.ini r" },
		{ "--days 5 --days=6", "d=5 d=6" },
		{ "--days -3", "d=-3" }, /* a value may start with '-' */
		{ "--days=", "d=" },
		{ "--days", "B=--days" },
		{ "--days-max 7 --days 1", "m=7 d=1" },
		{ "--legacy", "l=-" },
		{ "--legacy f.txt x", "l=f.txt P=x" },
		{ "--legacy -v", "l=- v" },
		{ "--legacy=", "l=" },
		{ "--legacy=-v", "l=-v" },
		{ "--rem", "B=--rem" },
		{ "--removed", "B=--removed" },
		{ "--remove=1", "B=--remove=1" },
		{ "-vv", "B=-vv" },
		{ "-", "B=-" },
		{ "--", "B=--" },
		{ "a b", "P=a P=b" },
		{ "-x a", "B=-x" },
	};
	char got[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		trace(cases[i].line, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\" want \"%s\"",
				 cases[i].line, got, cases[i].want);
	}
}

/* after the end, args_next keeps saying ARGS_END; argc bounds it even
 * when argv goes on */
static void
test_end(void **state)
{
	char a0[] = "prog", a1[] = "-v", a2[] = "--days";
	char *argv[] = { a0, a1, a2, NULL };
	struct args_iter it;
	const char *v;

	(void)state;
	args_init(&it, 2, argv);
	assert_int(args_next(&it, opts, &v), 'v');
	assert_null(v);
	assert_int(args_next(&it, opts, &v), ARGS_END);
	assert_null(v);
	assert_int(args_next(&it, opts, &v), ARGS_END);
	args_init(&it, 3, argv);
	assert_int(args_next(&it, opts, &v), 'v');
	assert_int(args_next(&it, opts, &v), ARGS_BAD);
	assert_str(v, "--days");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
