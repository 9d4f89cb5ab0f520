/*
 * lineio: bounded line-oriented input and output on a non-blocking fd.
 * Handles untrusted input: lines and buffers never exceed their limits.
 */
#include "lineio.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

#define READ_CHUNK 16384

void
lineio_init(struct lineio *io, int fd, size_t maxline, size_t maxout)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->maxline = maxline;
	/* room for one whole line with its CRLF plus a read chunk */
	buf_init(&io->in, maxline + 2 + READ_CHUNK);
	buf_init(&io->out, maxout);
}

void
lineio_deinit(struct lineio *io)
{
	buf_deinit(&io->in);
	buf_deinit(&io->out);
}

/* compact: drop consumed input so the buffer does not creep forward */
static void
compact(struct lineio *io)
{
	if (io->in_off == 0)
		return;
	buf_consume(&io->in, io->in_off);
	io->scan_off -= io->in_off;
	io->in_off = 0;
}

ssize_t
lineio_fill(struct lineio *io)
{
	size_t want;
	char *p;
	ssize_t n;

	compact(io);
	want = buf_room(&io->in);
	if (want == 0)
		return -ENOBUFS;
	if (want > READ_CHUNK)
		want = READ_CHUNK;
	p = buf_reserve(&io->in, want);
	if (p == NULL)
		return -ENOBUFS;
	do
		n = read(io->fd, p, want);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0) {
		io->eof = 1;
		return 0;
	}
	buf_commit(&io->in, (size_t)n);
	return n;
}

int
lineio_getline(struct lineio *io, char **line_r, size_t *len_r, int *crlf_r)
{
	char *start, *lf;
	size_t avail, len;

	for (;;) {
		avail = io->in.len - io->in_off;
		if (avail == 0)
			return 0; /* in.data may still be NULL: no pointer math */
		start = io->in.data + io->in_off;
		lf = memchr(io->in.data + io->scan_off, '\n',
			    io->in.len - io->scan_off);
		if (lf == NULL) {
			io->scan_off = io->in.len;
			if (io->discarding) {
				/* drop the rest of the over-long line */
				io->in_off = io->scan_off = io->in.len;
				return 0;
			}
			/* maxline bytes plus a CR may still end well */
			if (avail > io->maxline + 1) {
				io->discarding = 1;
				io->in_off = io->scan_off = io->in.len;
				return -E2BIG;
			}
			return 0;
		}
		len = (size_t)(lf - start);
		io->in_off = io->scan_off = (size_t)(lf - io->in.data) + 1;
		if (io->discarding) {
			io->discarding = 0;
			continue;
		}
		*crlf_r = len > 0 && start[len - 1] == '\r';
		if (*crlf_r)
			len--;
		if (len > io->maxline) {
			/* the whole line arrived at once */
			return -E2BIG;
		}
		start[len] = '\0';
		*line_r = start;
		*len_r = len;
		return 1;
	}
}

size_t
lineio_peek(struct lineio *io, char **p_r)
{
	*p_r = io->in.data != NULL ? io->in.data + io->in_off : NULL;
	return io->in.len - io->in_off;
}

void
lineio_skip(struct lineio *io, size_t n)
{
	size_t avail = io->in.len - io->in_off;

	if (n > avail)
		n = avail;
	io->in_off += n;
	if (io->scan_off < io->in_off)
		io->scan_off = io->in_off;
}

size_t
lineio_buffered(const struct lineio *io)
{
	return io->in.len - io->in_off;
}

int
lineio_write(struct lineio *io, const void *p, size_t n)
{
	return buf_append(&io->out, p, n);
}

int
lineio_puts(struct lineio *io, const char *s)
{
	return buf_append(&io->out, s, strlen(s));
}

int
lineio_printf(struct lineio *io, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(&io->out, fmt, ap);
	va_end(ap);
	return r;
}

int
lineio_flush(struct lineio *io)
{
	return net_send_buf(io->fd, &io->out);
}

size_t
lineio_pending(const struct lineio *io)
{
	return io->out.len;
}
