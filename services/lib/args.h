/*
 * args: command lines in the shape of upstream's argparse, for the
 * programs that keep upstream's flags (chatmail-expire,
 * chatmail-metrics, newemail): options from a table, in any order with
 * the positional arguments; "--name V" and "--name=V" for an option with
 * a value; and argparse's nargs="?" (the next argument is the value
 * unless it starts with '-'). Names match exactly (no abbreviations, no
 * grouped short flags). Programs without upstream flags use getopt(3).
 *
 * Untrusted input: none (the command line is the operator's); values
 * are checked by the caller (num.h).
 */
#ifndef CM_ARGS_H
#define CM_ARGS_H

enum args_kind {
	ARGS_FLAG,     /* "-n", "--remove" */
	ARGS_VALUE,    /* "--days N" or "--days=N" */
	ARGS_OPTIONAL, /* "--legacy-metrics [FILE]" */
};

/* one option; a table ends with a NULL name; keys are > 0 */
struct args_opt {
	const char *name;
	enum args_kind kind;
	int key;
};

/* what args_next returns besides an option's key */
enum {
	ARGS_END = 0,	      /* no arguments left */
	ARGS_POSITIONAL = -1, /* *val_r is the argument */
	ARGS_BAD = -2,	      /* *val_r is the argument (print the usage) */
};

struct args_iter {
	int argc;
	char **argv;
	int i; /* the next argument */
};

/* args_init: iterate over argv[1..argc-1] */
void args_init(struct args_iter *a, int argc, char **argv);
/* args_next: the next argument: an option's key with its value in
 * *val_r (NULL for a flag, and for an ARGS_OPTIONAL option given none),
 * ARGS_POSITIONAL, ARGS_END, or ARGS_BAD (an unknown option, a value
 * missing, or "=V" after a flag). *val_r points into argv. */
int args_next(struct args_iter *a, const struct args_opt *opts,
	      const char **val_r);

#endif
