/*
 * config_int: private to config*.c: the value checks the option table
 * (config_opts.c) names and the helpers config.c shares with them. Not
 * for other modules: they use struct chatmail_config (config.h) and the
 * option table (config_opts.h).
 */
#ifndef CM_CONFIG_INT_H
#define CM_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "config_opts.h"

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
