/*
 * log: leveled logfmt lines. Handles untrusted text: everything a caller
 * formats is escaped and length-capped before it is written.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "chatmail";
static int log_verbosity;
static int log_fd = 2;
static int log_ts = 1;
static int log_plain; /* CHATMAIL_LOG_FORMAT=plain: "prog: message" */

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void
log_init(const char *prog, int verbosity)
{
	const char *slash, *fmt;

	if (prog != NULL) {
		slash = strrchr(prog, '/');
		log_prog = slash != NULL ? slash + 1 : prog;
	}
	log_verbosity = verbosity;
	fmt = getenv("CHATMAIL_LOG_FORMAT");
	log_plain = fmt != NULL && strcmp(fmt, "plain") == 0;
}

int
log_set_fd(int fd)
{
	int old = log_fd;

	log_fd = fd;
	return old;
}

void
log_set_timestamps(int on)
{
	log_ts = on;
}

int
log_enabled(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_ERROR:
		return 1;
	case LOG_LVL_WARN:
		return log_verbosity >= -1;
	case LOG_LVL_INFO:
		return log_verbosity >= 0;
	case LOG_LVL_DEBUG:
		return log_verbosity >= 1;
	}
	return 0;
}

size_t
log_escape(char *dst, size_t dstsize, const char *src, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;
	unsigned char c;
	char tmp[4];
	size_t n;

	if (dstsize == 0)
		return 0;
	for (i = 0; src[i] != '\0'; i++) {
		c = (unsigned char)src[i];
		n = 0;
		if (c == '"' || c == '\\') {
			tmp[n++] = '\\';
			tmp[n++] = (char)c;
		} else if (c == '\n') {
			tmp[n++] = '\\';
			tmp[n++] = 'n';
		} else if (c == '\t') {
			tmp[n++] = '\\';
			tmp[n++] = 't';
		} else if (c == '\r') {
			tmp[n++] = '\\';
			tmp[n++] = 'r';
		} else if (c < 0x20 || c >= 0x7f) {
			tmp[n++] = '\\';
			tmp[n++] = 'x';
			tmp[n++] = hex[c >> 4];
			tmp[n++] = hex[c & 0xf];
		} else {
			tmp[n++] = (char)c;
		}
		/* keep room for "..." and the NUL */
		if (i >= max || o + n + 4 > dstsize) {
			if (o + 4 <= dstsize) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, tmp, n);
		o += n;
	}
	dst[o] = '\0';
	return o;
}

/* format_ts: RFC 3339 UTC timestamp with milliseconds */
static void
format_ts(char *dst, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[32];
	int ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		base[0] = '\0';
	ms = (int)(ts.tv_nsec / 1000000) % 1000;
	(void)snprintf(dst, size, "%s.%03dZ", base, ms);
}

void
log_write(enum log_level lvl, const char *func, const char *fmt, ...)
{
	char raw[LOG_MSG_MAX + 1];
	char esc[LOG_MSG_MAX + 8];
	char line[LOG_MSG_MAX + 256];
	char ts[48] = "";
	char tsv[40];
	char fn[80] = "";
	va_list ap;
	int saved = errno, n;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (n < 0)
		raw[0] = '\0';
	/* a message cut by vsnprintf gets the marker too */
	log_escape(esc, sizeof(esc), raw,
		   n >= (int)sizeof(raw) ? sizeof(raw) - 2 : LOG_MSG_MAX);
	if (log_ts) {
		format_ts(tsv, sizeof(tsv));
		snprintf(ts, sizeof(ts), "ts=%s ", tsv);
	}
	if (lvl != LOG_LVL_INFO && func != NULL)
		snprintf(fn, sizeof(fn), " func=%.60s", func);
	if (log_plain)
		n = snprintf(line, sizeof(line), "%s: %s%s%s\n", log_prog,
			     lvl <= LOG_LVL_WARN ? level_names[lvl] : "",
			     lvl <= LOG_LVL_WARN ? ": " : "", esc);
	else
		n = snprintf(line, sizeof(line),
			     "%slevel=%s prog=%s%s msg=\"%s\"\n", ts,
			     level_names[lvl], log_prog, fn, esc);
	if (n < 0)
		goto out;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* one write per line; a short write to a log is not worth a retry */
	if (write(log_fd, line, (size_t)n) < 0) {
		/* nothing sensible to do */
	}
out:
	errno = saved;
}
