/*
 * newemail.h: private header of newemail, the /new endpoint (upstream's
 * chatmaild newemail.py CGI, docs/UPSTREAM.md, newemail).
 */
#ifndef NEWEMAIL_H
#define NEWEMAIL_H

#include <stddef.h>

#include "buf.h"
#include "config.h"

/* upstream's alphabets (Python's string module) */
#define NEWEMAIL_ALNUM "abcdefghijklmnopqrstuvwxyz0123456789"
#define NEWEMAIL_PUNCT "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
#define NEWEMAIL_PASSCHARS                                              \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678" \
	"9" NEWEMAIL_PUNCT

/* longest username or password generated (config limits are lower) */
#define NEWEMAIL_MAX_LEN 256

/* newemail_random: n characters drawn uniformly from alphabet (no
 * modulo bias: bytes past the last whole multiple of its length are
 * drawn again) with getrandom(2), NUL-terminated into out (n + 1
 * bytes). 0 or -errno. */
int newemail_random(const char *alphabet, size_t n, char *out);

/* newemail_json: upstream's JSON answer for email and password,
 * {"email": ..., "password": ...} plus "dclogin_url" in self-signed TLS
 * mode, formatted as Python's json.dumps (", " and ": ", non-ASCII and
 * control characters as \uXXXX). 0 or -E2BIG. */
int newemail_json(const struct chatmail_config *cfg, const char *email,
		  const char *password, struct buf *out);

/* newemail_dclogin_url: upstream's create_dclogin_url:
 * dclogin:<email>?p=<password>&v=1[&ih=<ip>&sh=<ip>]&ic=3 */
int newemail_dclogin_url(const struct chatmail_config *cfg, const char *email,
			 const char *password, struct buf *out);

/* newemail_quote: Python's urllib.parse.quote(s, safe): letters, digits,
 * "_.-~" and the characters in safe stay, every other byte is %XX */
int newemail_quote(struct buf *out, const char *s, const char *safe);
/* newemail_json_string: s as a JSON string literal, as json.dumps */
int newemail_json_string(struct buf *out, const char *s);

/* newemail_answer: a fresh account for cfg: the JSON body (with its
 * trailing newline, like the CGI's print) into out. The credentials are
 * wiped from every temporary buffer. 0 or -errno. */
int newemail_answer(const struct chatmail_config *cfg, struct buf *out);

struct newemail;
struct evloop;

/* newemail_new: the HTTP service on loop, serving the listening fd lfd
 * (owned afterwards); cfg must outlive it */
struct newemail *newemail_new(struct evloop *loop,
			      const struct chatmail_config *cfg, int lfd);
void newemail_free(struct newemail **ne);
/* newemail_metrics: prom_render_fn over a struct newemail: its answers
 * by kind and its open connections (docs/DESIGN.md, Metrics) */
int newemail_metrics(void *arg, struct buf *out);

#endif
