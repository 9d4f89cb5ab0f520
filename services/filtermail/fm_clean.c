/*
 * fm_clean: the header cleanup of Postfix's authclean service (upstream
 * postfix/submission_header_cleanup), applied by filtermail outgoing
 * before it DKIM-signs, so that the signature covers what leaves the
 * relay (see fm_clean.h).
 *
 * Postfix's view of a header section is kept exactly: a field starts
 * with a name of printable ASCII (no blank, no colon), optional blanks
 * and a colon (is_header()); a line starting with a blank continues the
 * field before it; the first line that is neither ends the header
 * section, and Postfix applies no header_checks after it. Postfix's
 * regexp table is case-insensitive and matches "^Subject:" and the like;
 * we also take a blank before the colon, which only cleans more (what we
 * leave, authclean leaves too, so the signature survives it).
 *
 * Role: outgoing filtermail, after the policy passed the message.
 * Untrusted input: the header section (one linear pass; the output is
 * bounded by the caller's buffer).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "fm_clean.h"

enum field_action {
	KEEP,
	DROP,
	SUBJECT,
};

/* upstream's IGNOREd fields */
static const char *const dropped[] = {
	"received",
	"x-originating-ip",
	"x-mailer",
	"user-agent",
};

struct clean {
	struct buf *out;
	int have_date, have_msgid;
	int rc;
};

/* fm_clean_is_field: see fm_clean.h */
size_t
fm_clean_is_field(const char *line, size_t n)
{
	size_t i, len = 0;
	int blanks = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == ':')
			return len; /* 0 when no name came before */
		if (c == ' ' || c == '\t') {
			if (len == 0)
				return 0; /* a continuation line */
			blanks = 1;
			continue;
		}
		if (blanks || c < 0x21 || c > 0x7e)
			return 0;
		len++;
	}
	return 0;
}

/* name_is: whether the field name (p, n) is name, ignoring case */
static int
name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* action_of: what authclean does with a field of this name */
static enum field_action
action_of(const char *name, size_t n)
{
	size_t k;

	if (name_is(name, n, "subject"))
		return SUBJECT;
	for (k = 0; k < sizeof(dropped) / sizeof(dropped[0]); k++)
		if (name_is(name, n, dropped[k]))
			return DROP;
	return KEEP;
}

/* put: append bytes, remembering a full buffer */
static void
put(struct clean *c, const char *p, size_t n)
{
	if (c->rc == 0 && buf_append(c->out, p, n) < 0)
		c->rc = -E2BIG;
}

/* put_line: one line (n bytes, its line end included if any) with its
 * end made CRLF */
static void
put_line(struct clean *c, const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	put(c, p, n);
	put(c, "\r\n", 2);
}

/* random64: 64 random bits for a Message-ID (the pid as a fallback) */
static uint64_t
random64(void)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&r;
	return r;
}

/* add_missing: Date and Message-ID when the section had none, as
 * Postfix's cleanup would add them (at the end of the header section) */
static void
add_missing(struct clean *c, time_t now, const char *domain)
{
	char line[512], stamp[64];
	struct tm tm;
	int n;

	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	if (!c->have_date) {
		(void)strftime(stamp, sizeof(stamp),
			       "%a, %d %b %Y %H:%M:%S +0000", &tm);
		n = snprintf(line, sizeof(line), "Date: %s\r\n", stamp);
		put(c, line, (size_t)n);
		c->have_date = 1;
	}
	if (!c->have_msgid) {
		(void)strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
		n = snprintf(line, sizeof(line),
			     "Message-ID: <%s.%016llx@%.300s>\r\n", stamp,
			     (unsigned long long)random64(), domain);
		put(c, line, (size_t)n);
		c->have_msgid = 1;
	}
}

/* fm_clean_header: see fm_clean.h */
int
fm_clean_header(const char *hdr, size_t hlen, time_t now, const char *domain,
		struct buf *out)
{
	struct clean c = { .out = out };
	enum field_action act = DROP; /* a continuation with no field goes */
	size_t i = 0, end, nlen;
	const char *nl, *line;
	int in_fields = 1;

	while (i < hlen) {
		nl = memchr(hdr + i, '\n', hlen - i);
		end = nl != NULL ? (size_t)(nl - hdr) + 1 : hlen;
		line = hdr + i;
		if (in_fields && (line[0] == ' ' || line[0] == '\t')) {
			if (act == KEEP)
				put_line(&c, line, end - i);
		} else if (in_fields &&
			   (nlen = fm_clean_is_field(line, end - i)) > 0) {
			act = action_of(line, nlen);
			c.have_date |= name_is(line, nlen, "date");
			c.have_msgid |= name_is(line, nlen, "message-id");
			if (act == KEEP)
				put_line(&c, line, end - i);
			else if (act == SUBJECT)
				put(&c, FM_CLEAN_SUBJECT "\r\n",
				    sizeof(FM_CLEAN_SUBJECT "\r\n") - 1);
		} else {
			/* Postfix's header section ends here */
			if (in_fields)
				add_missing(&c, now, domain);
			in_fields = 0;
			put_line(&c, line, end - i);
		}
		i = end;
	}
	if (in_fields)
		add_missing(&c, now, domain);
	return c.rc;
}
