/*
 * xmalloc: allocation that never returns NULL.
 *
 * Out of memory is not an error any caller can handle usefully, so every
 * allocator here calls the OOM handler instead (default: log and abort).
 * Tests can make the Nth allocation fail (xmalloc_fail_at) and install a
 * handler that longjmps out, to prove an OOM path is taken and is clean.
 */
#ifndef CM_XMALLOC_H
#define CM_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* xreallocarray: like reallocarray(3), aborts on overflow or OOM */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xmemdup(const void *p, size_t n);
/* xasprintf: a freshly allocated formatted string; caller frees */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

/* xfree_secret: wipe len bytes (strlen+1 if len is 0) then free */
void xfree_secret(char *p, size_t len);

typedef void xmalloc_oom_fn(size_t size);
/* xmalloc_set_oom_handler: replace the OOM handler (NULL restores the
 * default, which logs and aborts); the handler must not return */
void xmalloc_set_oom_handler(xmalloc_oom_fn *fn);
/* xmalloc_fail_at: make the nth allocation from now (1 = the next one)
 * fail; 0 disables. Test hook only. */
void xmalloc_fail_at(unsigned long nth);
/* xmalloc_count: allocations made so far (for torture loops in tests) */
unsigned long xmalloc_count(void);

#endif
