/*
 * config_int: config's option table, private to config.c (which loads
 * options through it) and config_dump.c (which prints them). Not for
 * other modules: they use struct chatmail_config (config.h).
 */
#ifndef CM_CONFIG_INT_H
#define CM_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

enum opt_type {
	OPT_STR,    /* char *; min/max bound the length */
	OPT_UINT,   /* unsigned */
	OPT_U64,    /* uint64_t */
	OPT_DOUBLE, /* double */
	OPT_BOOL,   /* int, upstream's value.lower() == "true" */
	OPT_SIZE,   /* char * as written + uint64_t megabytes at off_mb */
};

enum {
	OF_MULTILINE = 1 << 0,	/* may hold '\n' (continuation lines) */
	OF_PATH = 1 << 1,	/* trailing '/' dropped, like pathlib.Path */
	OF_EMPTY_NULL = 1 << 2, /* "" means unset (NULL) */
};

typedef int config_check_fn(const char *v, const char **why_r);

struct config_opt {
	const char *name;
	enum opt_type type;
	const char *def; /* NULL: unset (or derived from the domain) */
	uint64_t min, max;
	size_t off, off_mb;
	unsigned flags;
	config_check_fn *check;
};

extern const struct config_opt config_opts[];
extern const size_t config_nopts;

/* config_check_blank: the ASCII whitespace Python's str.strip() removes */
int config_check_blank(char c);
/* config_check_ipv4: 1 and the four octets if s is an IPv4 address as
 * Python's ipaddress.IPv4Address accepts it (no leading zeros), else 0 */
int config_check_ipv4(const char *s, unsigned char oct_r[4]);
/* config_check_words: the number of blank-separated words (str.split());
 * the first one through first_r/first_len_r when they are not NULL */
size_t config_check_words(const char *s, const char **first_r,
			  size_t *first_len_r);
/* config_check_utf8: 1 if s[0..n) is well-formed UTF-8 */
int config_check_utf8(const unsigned char *s, size_t n);

/* value checks for the table: 0, or -EINVAL with a static reason */
config_check_fn config_check_domain, config_check_tls_pair, config_check_url,
	config_check_name;

#endif
