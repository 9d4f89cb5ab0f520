/*
 * buf: a growable byte buffer with a hard maximum.
 *
 * Every buffer fed from the network is a struct buf whose maximum is set
 * at creation: an append that would exceed it fails with -E2BIG and
 * leaves the buffer unchanged. data is always NUL-terminated once
 * anything was stored (the NUL is not counted in len), so text can be
 * parsed in place. The buffer owns data.
 */
#ifndef CM_BUF_H
#define CM_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap; /* allocated bytes, NUL included */
	size_t max; /* hard maximum of len */
};

#define BUF_INIT(maxlen)             \
	{                            \
		NULL, 0, 0, (maxlen) \
	}

/* buf_init: empty buffer holding at most max bytes */
void buf_init(struct buf *b, size_t max);
/* buf_deinit: free the storage; the buffer is empty and reusable */
void buf_deinit(struct buf *b);
/* buf_wipe_deinit: like buf_deinit, but first erases the contents
 * (for passwords, keys, tokens) */
void buf_wipe_deinit(struct buf *b);
/* buf_reset: drop the contents, keep the storage */
void buf_reset(struct buf *b);

/* buf_append: add n bytes; 0, or -E2BIG past the maximum */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* buf_reserve: room for n more bytes at data + len, or NULL past the
 * maximum; fill it, then buf_commit() what was written */
char *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

/* buf_consume: remove n bytes from the front */
void buf_consume(struct buf *b, size_t n);
/* buf_truncate: shorten to len bytes */
void buf_truncate(struct buf *b, size_t len);

/* buf_cstr: the contents as a string ("" when empty); valid until the
 * next change to b */
const char *buf_cstr(const struct buf *b);
/* buf_steal: hand the storage (NUL-terminated, never NULL) to the caller,
 * who frees it; the buffer is left empty */
char *buf_steal(struct buf *b, size_t *len_r);
/* buf_room: bytes that can still be added */
size_t buf_room(const struct buf *b);

#endif
