/* test_lineio: line splitting byte by byte, limits, CRLF, output queue */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "lineio.h"
#include "net.h"

struct pair {
	int a, b; /* a: our side (lineio), b: the peer */
};

static struct pair
mkpair(void)
{
	int sv[2];
	struct pair p;

	assert_int(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	net_set_nonblock(sv[0]);
	p.a = sv[0];
	p.b = sv[1];
	return p;
}

static void
closepair(struct pair p)
{
	close(p.a);
	close(p.b);
}

/* feed: send s to the peer side one byte at a time, collecting lines */
static int
feed_bytewise(struct lineio *io, int peer, const char *s, char out[][64],
	      int max, int *toolong)
{
	char *line;
	size_t len;
	int crlf, n = 0, r;

	for (; *s != '\0'; s++) {
		assert_int(write(peer, s, 1), 1);
		assert_true(lineio_fill(io) == 1);
		while ((r = lineio_getline(io, &line, &len, &crlf)) != 0) {
			if (r == -E2BIG) {
				(*toolong)++;
				continue;
			}
			assert_int(r, 1);
			assert_true(n < max);
			snprintf(out[n++], 64, "%s|%d", line, crlf);
		}
	}
	return n;
}

static void
test_bytewise(void **state)
{
	struct pair p = mkpair();
	struct lineio io;
	char lines[8][64];
	int toolong = 0, n;

	(void)state;
	lineio_init(&io, p.a, 10, 100);
	n = feed_bytewise(&io, p.b, "EHLO x\r\nbare\n\r\n0123456789\r\n", lines,
			  8, &toolong);
	assert_int(n, 4);
	assert_int(toolong, 0);
	assert_str(lines[0], "EHLO x|1");
	assert_str(lines[1], "bare|0");
	assert_str(lines[2], "|1");
	assert_str(lines[3], "0123456789|1"); /* exactly maxline */
	lineio_deinit(&io);
	closepair(p);
}

static void
test_one_over_bytewise(void **state)
{
	struct pair p = mkpair();
	struct lineio io;
	char lines[8][64];
	int toolong = 0, n;

	(void)state;
	lineio_init(&io, p.a, 10, 100);
	/* 11 bytes: reported once, then skipped to its LF */
	n = feed_bytewise(&io, p.b, "01234567890abcdefghij\r\nnext\r\n", lines,
			  8, &toolong);
	assert_int(toolong, 1);
	assert_int(n, 1);
	assert_str(lines[0], "next|1");
	lineio_deinit(&io);
	closepair(p);
}

static void
test_one_over_at_once(void **state)
{
	struct pair p = mkpair();
	struct lineio io;
	char *line;
	size_t len;
	int crlf;

	(void)state;
	lineio_init(&io, p.a, 10, 100);
	assert_int(write(p.b, "01234567890\r\nok\n", 16), 16);
	assert_int(lineio_fill(&io), 16);
	assert_int(lineio_getline(&io, &line, &len, &crlf), -E2BIG);
	assert_int(lineio_getline(&io, &line, &len, &crlf), 1);
	assert_str(line, "ok");
	assert_int(lineio_getline(&io, &line, &len, &crlf), 0);
	assert_int(lineio_fill(&io), -EAGAIN);
	close(p.b);
	assert_int(lineio_fill(&io), 0);
	assert_true(io.eof);
	lineio_deinit(&io);
	close(p.a);
}

static void
test_flood_bounded(void **state)
{
	struct pair p = mkpair();
	struct lineio io;
	char chunk[4096];
	char *line;
	size_t len;
	int crlf, i, r, toolong = 0;

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	lineio_init(&io, p.a, 100, 100);
	net_set_nonblock(p.b);
	/* 4 MB without a newline: memory stays bounded */
	for (i = 0; i < 1024; i++) {
		while (write(p.b, chunk, sizeof(chunk)) < 0) {
			assert_true(lineio_fill(&io) > 0);
			while ((r = lineio_getline(&io, &line, &len, &crlf)) !=
			       0)
				toolong += r == -E2BIG;
		}
	}
	while (lineio_fill(&io) > 0)
		while ((r = lineio_getline(&io, &line, &len, &crlf)) != 0)
			toolong += r == -E2BIG;
	assert_int(toolong, 1);
	assert_true(io.in.cap <= 100 + 2 + 16384 + 1);
	lineio_deinit(&io);
	closepair(p);
}

static void
test_peek_skip_and_write(void **state)
{
	struct pair p = mkpair();
	struct lineio io;
	char *raw, got[64];
	size_t n;

	(void)state;
	lineio_init(&io, p.a, 100, 10);
	assert_int(write(p.b, "BODY\r\n.\r\n", 9), 9);
	assert_int(lineio_fill(&io), 9);
	n = lineio_peek(&io, &raw);
	assert_int(n, 9);
	assert_memory_equal(raw, "BODY", 4);
	lineio_skip(&io, 6);
	assert_int(lineio_buffered(&io), 3);
	assert_int(lineio_puts(&io, "250 OK\r\n"), 0);
	assert_int(lineio_printf(&io, "%s", "toolong"), -E2BIG);
	assert_int(lineio_pending(&io), 8);
	assert_int(lineio_flush(&io), 1);
	assert_int(read(p.b, got, sizeof(got)), 8);
	assert_memory_equal(got, "250 OK\r\n", 8);
	close(p.b);
	assert_int(lineio_puts(&io, "x"), 0);
	assert_int(lineio_flush(&io), -EPIPE);
	lineio_deinit(&io);
	close(p.a);
}

static void
test_flush_partial(void **state)
{
	struct pair p = mkpair();
	struct lineio io;
	static char big[1 << 20];
	char sink[65536];
	int r, rounds = 0;

	(void)state;
	lineio_init(&io, p.a, 100, sizeof(big));
	assert_int(lineio_write(&io, big, sizeof(big)), 0);
	r = lineio_flush(&io);
	assert_int(r, 0); /* the socket buffer is smaller than 1 MB */
	while (r == 0 && rounds++ < 10000) {
		assert_true(read(p.b, sink, sizeof(sink)) > 0);
		r = lineio_flush(&io);
	}
	assert_int(r, 1);
	assert_int(lineio_pending(&io), 0);
	lineio_deinit(&io);
	closepair(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytewise),
		cmocka_unit_test(test_one_over_bytewise),
		cmocka_unit_test(test_one_over_at_once),
		cmocka_unit_test(test_flood_bounded),
		cmocka_unit_test(test_peek_skip_and_write),
		cmocka_unit_test(test_flush_partial),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
