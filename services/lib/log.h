/*
 * log: one logfmt line per event on stderr.
 *
 *   ts=2026-11-28T20:07:00.123Z level=info prog=doveauth msg="Created address: a@b"
 *
 * The message is a printf format checked by the compiler. The formatted
 * text is untrusted as a whole: control characters, quotes, backslashes
 * and non-ASCII bytes are escaped and the message is capped at
 * LOG_MSG_MAX bytes, so a peer can neither forge lines nor flood the log.
 * Each line is written with a single write(2). Warnings and errors also
 * carry func= (the function that logged).
 *
 * CHATMAIL_LOG_FORMAT=plain in the environment switches to upstream's
 * journal shape instead, "doveauth: Created address: a@b" (control
 * characters still escaped), so upstream's mtail programs, whose regexes
 * expect ": <phrase>", count our lines unchanged.
 */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

#define LOG_MSG_MAX 1024

/* log_init: program name and verbosity (0 = info, 1+ = debug, -1 = warn) */
void log_init(const char *prog, int verbosity);
/* log_set_fd: where lines go (default 2); returns the previous fd */
int log_set_fd(int fd);
/* log_set_timestamps: include ts= (default on) */
void log_set_timestamps(int on);
/* log_enabled: whether a line at lvl would be written */
int log_enabled(enum log_level lvl);

void log_write(enum log_level lvl, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* log_escape: escape src into dst (always NUL-terminated) as log_write
 * does; at most max source bytes are used, truncation is marked "...".
 * Returns the length written. */
size_t log_escape(char *dst, size_t dstsize, const char *src, size_t max);

#define log_error(...) log_write(LOG_LVL_ERROR, __func__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LVL_WARN, __func__, __VA_ARGS__)
#define log_info(...) log_write(LOG_LVL_INFO, __func__, __VA_ARGS__)
#define log_debug(...)                                                   \
	do {                                                             \
		if (log_enabled(LOG_LVL_DEBUG))                          \
			log_write(LOG_LVL_DEBUG, __func__, __VA_ARGS__); \
	} while (0)

#endif
