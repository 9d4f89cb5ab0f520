/*
 * config_opts: the chatmail.ini option table, the one place each option
 * is defined: its key, type, default, range and checks (what Postfix's
 * mail_params.h is for Postfix's parameters). Every consumer reads it:
 * the services' parser (config.c, config_dump.c), and the relay library
 * (relay/spec*.c), which takes the defaults and ranges of the
 * ChatmailRelay fields that set an option from here, writes chatmail.ini
 * in this order, and generates the CRD's schema from it.
 *
 * The order is upstream's (docs/UPSTREAM.md, chatmail.ini, which
 * follows chatmaild's config.py and cmdeploy's chatmail.ini template);
 * mail_domain is first. Options with OF_OURS are not upstream's: they
 * come last, and upstream ignores them with its unknown-key warning.
 *
 * Adding an option: one line in config_opts[] (config_opts.c) and its
 * field in struct chatmail_config (config.h); the parser, -n, the
 * CHATMAIL_<NAME> environment override and the relay library's checks
 * follow from the table. Then tell the relay library how a
 * ChatmailRelay sets it (relay/spec_table.c: a field with this key, or
 * an explicit case in relay/spec_ini.c); its unit tests fail until one
 * of the two exists.
 *
 * Untrusted input: none (a constant table).
 */
#ifndef CM_CONFIG_OPTS_H
#define CM_CONFIG_OPTS_H

#include <stddef.h>
#include <stdint.h>

enum opt_type {
	OPT_STR,    /* char *; min/max bound the length */
	OPT_UINT,   /* unsigned */
	OPT_U64,    /* uint64_t */
	OPT_DOUBLE, /* double */
	OPT_BOOL,   /* int, upstream's value.lower() == "true" */
	OPT_SIZE,   /* char * as written + uint64_t megabytes at off_mb;
		     * min/max bound the megabytes */
};

enum {
	OF_MULTILINE = 1 << 0,	/* may hold '\n' (continuation lines) */
	OF_PATH = 1 << 1,	/* trailing '/' dropped, like pathlib.Path */
	OF_EMPTY_NULL = 1 << 2, /* "" means unset (NULL) */
	OF_OURS = 1 << 3,	/* not upstream's option */
};

/* a value check: 0, or -EINVAL with a static reason through why_r */
typedef int config_check_fn(const char *v, const char **why_r);

struct config_opt {
	const char *name; /* the key in [params] */
	enum opt_type type;
	const char *def;    /* as written in chatmail.ini; NULL: unset, or
			   * derived from the domain (config.h) */
	uint64_t min, max;  /* range (numbers), length (strings), MB (sizes) */
	size_t off, off_mb; /* the field(s) in struct chatmail_config */
	unsigned flags;
	config_check_fn *check; /* strings: syntax beyond the length */
};

extern const struct config_opt config_opts[];
extern const size_t config_nopts;

/* config_opt_find: the option with this key (not an alias), or NULL */
const struct config_opt *config_opt_find(const char *name);

#endif
