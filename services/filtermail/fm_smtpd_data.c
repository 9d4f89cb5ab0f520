/*
 * fm_smtpd_data: the DATA phase of filtermail's SMTP server: RFC 5321
 * dot-unstuffing (4.5.2) and the end-of-data mark, as a streaming state
 * machine that takes the bytes in whatever pieces they arrive.
 *
 * Role: turns the transmitted DATA bytes into the message as the policy
 * and reinjection see it (CRLF line ends, leading dots restored), and
 * finds the final "." line. Every line must end in CRLF: a bare LF is
 * reported (upstream closes the connection on it, so do we). A line may
 * be of any length; the only limit is the message size: bytes past the
 * message buffer's maximum are counted but not stored, so the server can
 * read to the end and answer 552.
 *
 * Untrusted input: all of it (the DATA bytes).
 */
#include <string.h>

#include "filtermail.h"

enum {
	US_BOL,	  /* at the start of a line */
	US_DOT,	  /* a '.' started the line (not stored) */
	US_DOTCR, /* ".\r" started the line */
	US_MID,	  /* inside a line */
};

/* fm_unstuff_init: see filtermail.h */
void
fm_unstuff_init(struct fm_unstuffer *u)
{
	memset(u, 0, sizeof(*u));
	u->state = US_BOL;
}

/* emit: store message bytes while they fit, count them all */
static void
emit(struct fm_unstuffer *u, struct buf *msg, const char *p, size_t n)
{
	u->total += n;
	if (n > 0 && !u->overflow && buf_append(msg, p, n) < 0)
		u->overflow = 1;
	if (n > 0)
		u->last_cr = p[n - 1] == '\r';
}

/* mid_line: the rest of a line up to and including its LF, or all of
 * p; 1 a line ended, 0 need more, -1 bare LF */
static int
mid_line(struct fm_unstuffer *u, const char *p, size_t n, struct buf *msg,
	 size_t *used_r)
{
	const char *lf = memchr(p, '\n', n);
	size_t run = lf != NULL ? (size_t)(lf - p) : n;
	int cr;

	emit(u, msg, p, run);
	*used_r = run;
	if (lf == NULL)
		return 0;
	cr = run > 0 ? p[run - 1] == '\r' : u->last_cr;
	if (!cr)
		return -1;
	emit(u, msg, "\n", 1);
	*used_r = run + 1;
	return 1;
}

/* fm_unstuff: see filtermail.h */
int
fm_unstuff(struct fm_unstuffer *u, const char *p, size_t n, struct buf *msg,
	   size_t *used_r)
{
	size_t i = 0, used;
	int r;

	while (i < n) {
		switch (u->state) {
		case US_BOL:
			u->last_cr = 0;
			if (p[i] == '.') {
				u->state = US_DOT;
				i++;
			} else {
				u->state = US_MID;
			}
			break;
		case US_DOT:
			if (p[i] == '\r') {
				u->state = US_DOTCR;
				i++;
			} else {
				u->state = US_MID; /* the stuffed dot is gone */
			}
			break;
		case US_DOTCR:
			if (p[i] == '\n') {
				*used_r = i + 1;
				return 1; /* the final "." line */
			}
			/* ".\r" then more: a line that starts with a dot
			 * and goes on, so the dot goes and "\r" stays */
			emit(u, msg, "\r", 1);
			u->state = US_MID;
			break;
		case US_MID:
			r = mid_line(u, p + i, n - i, msg, &used);
			i += used;
			if (r < 0) {
				*used_r = i;
				return -1;
			}
			if (r == 1)
				u->state = US_BOL;
			break;
		}
	}
	*used_r = i;
	return 0;
}
