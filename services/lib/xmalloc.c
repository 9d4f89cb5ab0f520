/*
 * xmalloc: allocators that abort on out-of-memory, with a fail-the-Nth
 * hook so tests can drive every allocation failure path.
 */
#include "xmalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static xmalloc_oom_fn *oom_handler;
static unsigned long alloc_count;
static unsigned long fail_at;

/* oom: report and hand over to the handler; never returns */
static void __attribute__((noreturn)) oom(size_t size)
{
	if (oom_handler != NULL)
		oom_handler(size);
	log_error("out of memory: size=%zu", size);
	abort();
}

/* should_fail: the test hook; true when this allocation must fail */
static int
should_fail(void)
{
	alloc_count++;
	if (fail_at != 0 && alloc_count >= fail_at) {
		fail_at = 0;
		return 1;
	}
	return 0;
}

void
xmalloc_set_oom_handler(xmalloc_oom_fn *fn)
{
	oom_handler = fn;
}

void
xmalloc_fail_at(unsigned long nth)
{
	fail_at = nth == 0 ? 0 : alloc_count + nth;
}

unsigned long
xmalloc_count(void)
{
	return alloc_count;
}

void *
xmalloc(size_t size)
{
	void *p;

	if (size == 0)
		size = 1;
	p = should_fail() ? NULL : malloc(size);
	if (p == NULL)
		oom(size);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if (size > SIZE_MAX / nmemb)
		oom(SIZE_MAX);
	p = should_fail() ? NULL : calloc(nmemb, size);
	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *p;

	if (size == 0)
		size = 1;
	p = should_fail() ? NULL : realloc(ptr, size);
	if (p == NULL)
		oom(size);
	return p;
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xrealloc(ptr, nmemb * size);
}

char *
xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xmemdup(const void *src, size_t n)
{
	char *p = xmalloc(n);

	if (n > 0)
		memcpy(p, src, n);
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		abort(); /* invalid format: a programming error */
	p = xmalloc((size_t)n + 1);
	if (vsnprintf(p, (size_t)n + 1, fmt, ap) != n)
		abort();
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void
xfree_secret(char *p, size_t len)
{
	if (p == NULL)
		return;
	if (len == 0)
		len = strlen(p) + 1;
	explicit_bzero(p, len);
	free(p);
}
