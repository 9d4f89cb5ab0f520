/*
 * config_check: the value checks of config's option table: domain
 * names and IPv4 addresses (as Python's ipaddress reads them), the
 * external TLS pair, URLs, names, and well-formed UTF-8 for the file.
 * All inputs are untrusted text from chatmail.ini or the environment.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "config_int.h"
#include "cursor.h"

/* config_check_blank: the whitespace Python's str.strip() removes (ASCII part) */
int
config_check_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f' || (c >= '\x1c' && c <= '\x1f');
}

/* config_check_ipv4: Python's ipaddress.IPv4Address: four decimal octets,
 * 0-255, no leading zeros; 1 and the octets, or 0 */
int
config_check_ipv4(const char *s, unsigned char oct_r[4])
{
	const char *p = s;
	uint64_t v;
	int i;

	for (i = 0; i < 4; i++) {
		const char *start;

		if (i > 0 && !cur_char(&p, '.'))
			return 0;
		start = p;
		if (cur_u64(&p, 255, &v) != 1 || p - start > 3)
			return 0;
		if (*start == '0' && p - start > 1)
			return 0;
		oct_r[i] = (unsigned char)v;
	}
	return cur_eol(&p);
}

/* config_check_domain: an IPv4 address, or a name that is safe as a directory
 * name (letters, digits, '.', '-', '_'; no empty label at either end) */
int
config_check_domain(const char *v, const char **why_r)
{
	unsigned char oct[4];
	const char *p;

	if (config_check_ipv4(v, oct))
		return 0;
	for (p = v; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
			continue;
		if (*p == '.' && p != v && p[1] != '\0' && p[1] != '.')
			continue;
		*why_r = "not a domain name or IPv4 address";
		return -EINVAL;
	}
	return 0;
}

/* config_check_words: blank-separated words in s (Python's str.split()) */
size_t
config_check_words(const char *s, const char **first_r, size_t *first_len_r)
{
	size_t n = 0, len;

	for (;;) {
		while (*s != '\0' && config_check_blank(*s))
			s++;
		if (*s == '\0')
			return n;
		len = 0;
		while (s[len] != '\0' && !config_check_blank(s[len]))
			len++;
		if (n == 0 && first_r != NULL) {
			*first_r = s;
			*first_len_r = len;
		}
		n++;
		s += len;
	}
}

/* config_check_tls_pair: empty, or exactly "CERT_PATH KEY_PATH" */
int
config_check_tls_pair(const char *v, const char **why_r)
{
	size_t n = config_check_words(v, NULL, NULL);

	if (n == 0 || n == 2)
		return 0;
	*why_r = "tls_external_cert_and_key must have two space-separated"
		 " paths: CERT_PATH KEY_PATH";
	return -EINVAL;
}

/* config_check_url: an http or https URL */
int
config_check_url(const char *v, const char **why_r)
{
	const char *p = v;

	if ((cur_lit_ci(&p, "https://") || cur_lit_ci(&p, "http://")) &&
	    *p != '\0' && config_check_words(v, NULL, NULL) == 1)
		return 0;
	*why_r = "not an http:// or https:// URL";
	return -EINVAL;
}

/* config_check_name: letters, digits, '.', '-', '_' (a DKIM selector) */
int
config_check_name(const char *v, const char **why_r)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");

	if (v[n] == '\0')
		return 0;
	*why_r = "only letters, digits, '.', '-' and '_' are allowed";
	return -EINVAL;
}

/* config_check_utf8: whether s[0..n) is well-formed UTF-8 (as Python decodes
 * it: no overlong forms, no surrogates, nothing above U+10FFFF) */
int
config_check_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0, k, need;
	unsigned long cp;

	while (i < n) {
		unsigned char c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07;
		else
			return 0;
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}
