/*
 * lineio: buffered line reader and writer for one non-blocking fd.
 *
 * Input is read into a buffer with a hard maximum and split into lines
 * at LF; the line handed out has its terminator removed (crlf_r tells
 * whether it was CRLF) and is NUL-terminated in place, valid until the
 * next lineio_fill(). A line longer than maxline is reported once as
 * -E2BIG and then skipped up to its LF, so a protocol can answer "line
 * too long" and carry on, and memory never grows past the limit however
 * the peer splits its bytes. Raw bytes (message bodies) can be taken
 * with lineio_peek()/lineio_skip(). Output is queued in a second bounded
 * buffer and written with lineio_flush().
 */
#ifndef CM_LINEIO_H
#define CM_LINEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct lineio {
	int fd;
	struct buf in;
	size_t in_off;	 /* start of unconsumed input */
	size_t scan_off; /* where the LF search resumes */
	size_t maxline;
	int discarding; /* skipping the rest of an over-long line */
	int eof;
	struct buf out;
};

/* lineio_init: maxline bytes per line (terminator excluded), maxout
 * bytes of queued output; the fd stays the caller's */
void lineio_init(struct lineio *io, int fd, size_t maxline, size_t maxout);
void lineio_deinit(struct lineio *io);

/* lineio_fill: one read(2) into the buffer. >0 bytes read, 0 EOF,
 * -EAGAIN nothing to read, -ENOBUFS buffer full (consume first),
 * -errno */
ssize_t lineio_fill(struct lineio *io);
/* lineio_getline: 1 a line (*line_r, *len_r without the terminator),
 * 0 no complete line buffered, -E2BIG a line over maxline (reported
 * once, its remainder skipped) */
int lineio_getline(struct lineio *io, char **line_r, size_t *len_r,
		   int *crlf_r);
/* lineio_peek: the unconsumed input bytes */
size_t lineio_peek(struct lineio *io, char **p_r);
/* lineio_skip: consume n bytes of input */
void lineio_skip(struct lineio *io, size_t n);
/* lineio_buffered: unconsumed input bytes */
size_t lineio_buffered(const struct lineio *io);

/* lineio_write: queue bytes; 0 or -E2BIG when the output queue is full */
int lineio_write(struct lineio *io, const void *p, size_t n);
int lineio_puts(struct lineio *io, const char *s);
int lineio_printf(struct lineio *io, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* lineio_flush: write what is queued; 1 all written, 0 some left (wait
 * for EV_WRITE), -errno (e.g. -EPIPE) */
int lineio_flush(struct lineio *io);
/* lineio_pending: queued output bytes */
size_t lineio_pending(const struct lineio *io);

#endif
