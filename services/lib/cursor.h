/*
 * cursor: small parsers over NUL-terminated text. Each takes the cursor
 * (const char **p), and on success advances it past what it consumed and
 * returns 1 (or a length); on no match it returns 0 and leaves *p alone.
 * Protocol parsers (SMTP, dict, HTTP, DKIM tags) are built from these.
 */
#ifndef CM_CURSOR_H
#define CM_CURSOR_H

#include <stddef.h>
#include <stdint.h>

/* cur_lit: match lit exactly */
int cur_lit(const char **p, const char *lit);
/* cur_lit_ci: match lit ignoring ASCII case */
int cur_lit_ci(const char **p, const char *lit);
/* cur_char: match one character c */
int cur_char(const char **p, char c);
/* cur_span: advance over characters in accept; returns how many */
size_t cur_span(const char **p, const char *accept);
/* cur_skip_ws: advance over spaces and tabs; returns how many */
size_t cur_skip_ws(const char **p);
/* cur_u64: decimal digits (at least one) with value <= max; 0 on no
 * digits, -1 on overflow or > max (cursor unchanged) */
int cur_u64(const char **p, uint64_t max, uint64_t *r);
/* cur_until: the text up to (not including) stop or the end; returns its
 * length and sets *start_r; the cursor stops at stop (not consumed) */
size_t cur_until(const char **p, char stop, const char **start_r);
/* cur_eol: true at the end of the string */
int cur_eol(const char *const *p);

#endif
