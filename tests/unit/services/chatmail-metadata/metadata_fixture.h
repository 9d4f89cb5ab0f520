/*
 * metadata_fixture.h: what chatmail-metadata's unit tests share
 * (test_metadata.c, test_metadata_push.c): the includes, an injected
 * clock (fake_now, fake_ms: clock_now, clock_ms) and small file
 * helpers. Statics: included once per test program, after cmocka.h
 * and testutil.h.
 */
#ifndef METADATA_FIXTURE_H
#define METADATA_FIXTURE_H

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../dict_client.h"

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "evloop.h"
#include "fs.h"
#include "log.h"
#include "metadata.h"
#include "net.h"
#include "xmalloc.h"

#define NOW 1800000000

static time_t fake_now = NOW;
static uint64_t fake_ms;

static inline time_t
clock_now(void)
{
	return fake_now;
}

static inline uint64_t
clock_ms(void)
{
	return fake_ms;
}

/* slurp: a small file's content ("" if missing) */
static inline char *
slurp(const char *path)
{
	struct buf b = BUF_INIT(1 << 20);

	(void)fs_read_file(path, &b);
	return buf_steal(&b, NULL);
}

static inline void
spit(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	(void)fputs(text, fp);
	(void)fclose(fp);
}

/* --- tokens ---------------------------------------------------------- */

#endif
