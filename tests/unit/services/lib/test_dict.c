/*
 * test_dict: the dict protocol core. Golden transcripts from
 * tests/data/dict/ played all at once and one byte at a time over a
 * socketpair; line parsing and escaping tables; the line limit and one
 * byte over it; pipelining far past the pending limit; late answers to
 * closed connections; many connections at once.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "buf.h"
#include "dict.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "xmalloc.h"

/* --- the test handler ------------------------------------------------ */

struct late {
	struct evloop_timer t;
	struct dict_req *req;
	char *value;
};

struct fixture {
	struct evloop *loop;
	struct dict_server *srv;
	struct buf sets; /* "user key=value;" per set */
	int late_pending;
};

/* late_fire: answer an async lookup from a timer */
static void
late_fire(struct evloop *loop, void *arg)
{
	struct late *l = arg;
	struct fixture *f = NULL;

	(void)loop;
	(void)f;
	dict_reply_value(l->req, l->value);
	free(l->value);
	free(l);
}

static void
t_lookup(void *ctx, struct dict_req *req, const char *key, const char *user)
{
	struct fixture *f = ctx;
	struct late *l;

	(void)user;
	if (strcmp(key, "k1") == 0) {
		dict_reply_value(req, "v1");
	} else if (strcmp(key, "tab") == 0) {
		dict_reply_value(req, "a\tb");
	} else if (strcmp(key, "k\t\001\n") == 0) {
		dict_reply_value(req, "esc-ok");
	} else if (strcmp(key, "fail") == 0) {
		dict_reply_fail(req, "broken");
	} else if (strncmp(key, "async/", 6) == 0) {
		l = xcalloc(1, sizeof(*l));
		l->req = req;
		l->value = xstrdup(key + 6);
		evloop_timer_init(&l->t, late_fire, l);
		/* the first waits longest: replies must still be ordered */
		evloop_timer_start(f->loop, &l->t, 5 + 20 * (key[6] == 'f'));
	} else {
		dict_reply_notfound(req);
	}
}

static void
t_iterate(void *ctx, struct dict_req *req, unsigned flags, const char *path,
	  const char *user)
{
	(void)ctx;
	(void)flags;
	(void)user;
	if (strcmp(path, "p/") == 0) {
		assert_int(dict_iter_row(req, "p/a", "1"), 0);
		assert_int(dict_iter_row(req, "p/b", "2"), 0);
	}
	dict_iter_end(req);
}

static int
t_set(void *ctx, const char *user, const char *key, const char *value)
{
	struct fixture *f = ctx;

	if (strcmp(key, "bad") == 0)
		return -1;
	(void)buf_printf(&f->sets, "%s %s=%s;", user, key, value);
	return 0;
}

static int
t_unset(void *ctx, const char *user, const char *key)
{
	struct fixture *f = ctx;

	(void)buf_printf(&f->sets, "%s -%s;", user, key);
	return 0;
}

static const struct dict_ops t_ops = {
	.lookup = t_lookup,
	.iterate = t_iterate,
	.set = t_set,
	.unset = t_unset,
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	log_init("test_dict",
		 getenv("V") ? 1 : -2); /* quiet: bad input is expected here */
	f->loop = evloop_new();
	f->srv = dict_server_new(f->loop, "test", &t_ops, f);
	buf_init(&f->sets, 1 << 20);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	dict_server_free(&f->srv);
	/* let late answers to closed connections land (orphans) */
	for (int i = 0; i < 50; i++)
		(void)evloop_run_once(f->loop, 2);
	evloop_free(&f->loop);
	buf_deinit(&f->sets);
	free(f);
	return 0;
}

/* connect: a socketpair with the server on one end; our end returned */
static int
connect_pair(struct fixture *f)
{
	int sv[2];

	assert_int(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int(dict_server_adopt(f->srv, sv[0]), 0);
	assert_int(net_set_nonblock(sv[1]), 0);
	return sv[1];
}

/* drain: read what is there into out; 1 at EOF */
static int
drain(int fd, struct buf *out)
{
	char tmp[65536];
	ssize_t n;

	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n > 0) {
			assert_int(buf_append(out, tmp, (size_t)n), 0);
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == ECONNRESET)
			return 1;
		assert_true(errno == EAGAIN);
		return 0;
	}
}

/* run_until_eof: turn the loop until the server closed fd's peer */
static void
run_until_eof(struct fixture *f, int fd, struct buf *out)
{
	for (int i = 0; i < 5000; i++) {
		if (drain(fd, out))
			return;
		(void)evloop_run_once(f->loop, 5);
	}
	fail_msg("server never closed the connection");
}

/* --- transcripts ----------------------------------------------------- */

/* unescape_directive: the \t \r \xHH \\ escapes of transcript files */
static void
unescape_directive(const char *s, struct buf *out)
{
	unsigned v;

	for (; *s != '\0'; s++) {
		if (*s != '\\') {
			(void)buf_putc(out, *s);
			continue;
		}
		s++;
		if (*s == 't') {
			(void)buf_putc(out, '\t');
		} else if (*s == 'r') {
			(void)buf_putc(out, '\r');
		} else if (*s == '\\') {
			(void)buf_putc(out, '\\');
		} else if (*s == 'x' && s[1] != '\0' && s[2] != '\0') {
			char hex[3] = { s[1], s[2], 0 };

			v = (unsigned)strtoul(hex, NULL, 16);
			(void)buf_putc(out, (char)v);
			s += 2;
		} else {
			fail_msg("bad escape in transcript");
		}
	}
}

/* load_transcript: the client bytes and the expected server bytes */
static void
load_transcript(const char *name, struct buf *client, struct buf *server)
{
	char path[512], line[70000];
	const char *top = getenv("TOP");
	FILE *fp;
	size_t n;

	(void)snprintf(path, sizeof(path), "%s/tests/data/dict/%s",
		       top != NULL ? top : ".", name);
	fp = fopen(path, "r");
	if (fp == NULL)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n < 2 || line[0] == '#')
			continue;
		assert_true(line[1] == ' ');
		if (line[0] == 'C' || line[0] == 'P') {
			unescape_directive(line + 2, client);
			if (line[0] == 'C')
				(void)buf_putc(client, '\n');
		} else if (line[0] == 'S') {
			unescape_directive(line + 2, server);
			(void)buf_putc(server, '\n');
		} else {
			fail_msg("bad directive in %s: %s", name, line);
		}
	}
	(void)fclose(fp);
}

/* play: run one transcript, at once or bytewise */
static void
play(struct fixture *f, const char *name, int bytewise)
{
	struct buf client = BUF_INIT(1 << 20), want = BUF_INIT(1 << 20);
	struct buf got = BUF_INIT(1 << 20);
	int fd;

	load_transcript(name, &client, &want);
	fd = connect_pair(f);
	if (!bytewise) {
		assert_int(write(fd, client.data, client.len),
			   (ssize_t)client.len);
	} else {
		for (size_t i = 0; i < client.len; i++) {
			if (write(fd, client.data + i, 1) != 1)
				break; /* the server may close early */
			(void)evloop_run_once(f->loop, 0);
			(void)drain(fd, &got);
		}
	}
	(void)shutdown(fd, SHUT_WR);
	run_until_eof(f, fd, &got);
	if (got.len != want.len ||
	    (got.len > 0 && memcmp(got.data, want.data, got.len) != 0)) {
		print_error("%s (%s):\ngot:  \"%s\"\nwant: \"%s\"\n", name,
			    bytewise ? "bytewise" : "at once", buf_cstr(&got),
			    buf_cstr(&want));
		fail();
	}
	(void)close(fd);
	assert_int(dict_server_conns(f->srv), 0);
	buf_deinit(&client);
	buf_deinit(&want);
	buf_deinit(&got);
}

static const char *const transcripts[] = {
	"basic.txt",	   "transactions.txt", "dovecot24.txt",
	"async_order.txt", "broken.txt",       "bad_hello.txt",
	"no_hello.txt",	   "garbage.txt",      "empty_line.txt",
	"last_line.txt",
};

static void
test_transcripts_at_once(void **state)
{
	for (size_t i = 0; i < sizeof(transcripts) / sizeof(*transcripts); i++)
		play(*state, transcripts[i], 0);
}

static void
test_transcripts_bytewise(void **state)
{
	for (size_t i = 0; i < sizeof(transcripts) / sizeof(*transcripts); i++)
		play(*state, transcripts[i], 1);
}

/* the sets of transactions.txt reach the handler with their user */
static void
test_sets_reach_handler(void **state)
{
	struct fixture *f = *state;

	play(f, "transactions.txt", 0);
	assert_str(buf_cstr(&f->sets),
		   "b@example.test priv/guid/vendor/vendor.dovecot/pvt/server/"
		   "devicetoken=tok-123;b@example.test good=y;u -somekey;"
		   "other@example.test k=v;");
}

/* send_and_collect: write data (may be big) while running the loop */
static void
send_and_collect(struct fixture *f, int fd, const char *data, size_t len,
		 struct buf *got)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			break; /* closed by the server */
		(void)evloop_run_once(f->loop, 1);
		(void)drain(fd, got);
	}
	(void)shutdown(fd, SHUT_WR);
	run_until_eof(f, fd, got);
}

/* long_lookup: "L" + key of keylen bytes + "\n" */
static char *
long_lookup(size_t keylen, size_t *len_r)
{
	char *s = xmalloc(keylen + 2);

	s[0] = 'L';
	memset(s + 1, 'k', keylen);
	s[keylen + 1] = '\n';
	*len_r = keylen + 2;
	return s;
}

/* a line of exactly DICT_LINE_MAX bytes is served, one more closes */
static void
test_line_limit(void **state)
{
	struct fixture *f = *state;
	static const char hello[] = "H3\t2\t0\t\tauth\n";
	struct buf got = BUF_INIT(1 << 20);
	size_t len;
	char *line;
	int fd;

	for (int over = 0; over <= 1; over++) {
		buf_reset(&got);
		line = long_lookup(DICT_LINE_MAX - 1 + (size_t)over, &len);
		fd = connect_pair(f);
		assert_int(write(fd, hello, sizeof(hello) - 1),
			   (ssize_t)sizeof(hello) - 1);
		send_and_collect(f, fd, line, len, &got);
		assert_str(buf_cstr(&got), over ? "" : "N\n");
		(void)close(fd);
		free(line);
	}
	buf_deinit(&got);
}

/* the same limits with the over-long line arriving one byte at a time */
static void
test_line_limit_bytewise(void **state)
{
	struct fixture *f = *state;
	static const char hello[] = "H3\t2\t0\t\tauth\n";
	struct buf got = BUF_INIT(1 << 20);
	struct dict_stats st;
	size_t len;
	char *line;
	int fd;

	line = long_lookup(DICT_LINE_MAX, &len);
	fd = connect_pair(f);
	assert_int(write(fd, hello, sizeof(hello) - 1),
		   (ssize_t)sizeof(hello) - 1);
	for (size_t i = 0; i < len;) {
		/* 1-byte writes fill the socket buffer fast: wait on EAGAIN */
		if (write(fd, line + i, 1) == 1)
			i++;
		else if (errno != EAGAIN)
			break;
		if (i % 256 == 0 || i > DICT_LINE_MAX - 4)
			(void)evloop_run_once(f->loop, 0);
	}
	run_until_eof(f, fd, &got);
	assert_str(buf_cstr(&got), "");
	dict_server_stats(f->srv, &st);
	assert_int(st.bad_input, 1);
	(void)close(fd);
	free(line);
	buf_deinit(&got);
}

/* many more pipelined requests than DICT_PENDING_MAX, half of them
 * answered late: all answered, in order */
static void
test_pipelining(void **state)
{
	struct fixture *f = *state;
	struct buf req = BUF_INIT(1 << 24), got = BUF_INIT(1 << 24);
	struct buf want = BUF_INIT(1 << 24);
	int fd, n = 3 * DICT_PENDING_MAX;

	(void)buf_puts(&req, "H3\t2\t0\t\tauth\n");
	for (int i = 0; i < n; i++) {
		if (i % 2 == 0) {
			(void)buf_printf(&req, "Lasync/x%d\n", i);
			(void)buf_printf(&want, "Ox%d\n", i);
		} else {
			(void)buf_puts(&req, "Lk1\n");
			(void)buf_puts(&want, "Ov1\n");
		}
	}
	fd = connect_pair(f);
	send_and_collect(f, fd, req.data, req.len, &got);
	assert_int(got.len, want.len);
	assert_true(memcmp(got.data, want.data, got.len) == 0);
	(void)close(fd);
	buf_deinit(&req);
	buf_deinit(&got);
	buf_deinit(&want);
}

/* a late answer for a connection that is gone is dropped safely */
static void
test_orphan(void **state)
{
	struct fixture *f = *state;
	static const char s[] = "H3\t2\t0\t\tauth\nLasync/late\n";
	int fd = connect_pair(f);

	assert_int(write(fd, s, sizeof(s) - 1), (ssize_t)sizeof(s) - 1);
	(void)evloop_run_once(f->loop, 0);
	(void)close(fd);
	for (int i = 0; i < 20; i++)
		(void)evloop_run_once(f->loop, 5);
	assert_int(dict_server_conns(f->srv), 0);
}

/* 200 connections interleaved on one loop */
static void
test_many_conns(void **state)
{
	struct fixture *f = *state;
	enum { N = 200 };
	int fds[N];
	struct buf got = BUF_INIT(4096);
	static const char s[] = "H3\t2\t0\t\tauth\nLk1\tu\nLasync/y\tu\n";

	for (int i = 0; i < N; i++) {
		fds[i] = connect_pair(f);
		assert_int(write(fds[i], s, sizeof(s) - 1),
			   (ssize_t)sizeof(s) - 1);
	}
	assert_int(dict_server_conns(f->srv), N);
	for (int i = 0; i < N; i++) {
		buf_reset(&got);
		(void)shutdown(fds[i], SHUT_WR);
		run_until_eof(f, fds[i], &got);
		assert_str(buf_cstr(&got), "Ov1\nOy\n");
		(void)close(fds[i]);
	}
	assert_int(dict_server_conns(f->srv), 0);
	buf_deinit(&got);
}

/* a real listening socket, connected to with net_connect_unix */
static void
test_listen(void **state)
{
	struct fixture *f = *state;
	struct buf err = BUF_INIT(256), got = BUF_INIT(256);
	char *dir = test_tmpdir(), path[512];
	static const char s[] = "H3\t2\t0\t\tauth\nLk1\n";
	int fd;

	(void)snprintf(path, sizeof(path), "%s/d.sock", dir);
	assert_int(dict_server_listen(f->srv, path, 0600, &err), 0);
	assert_true(net_connect_unix(path, &fd) >= 0);
	for (int i = 0; i < 50 && dict_server_conns(f->srv) == 0; i++)
		(void)evloop_run_once(f->loop, 5);
	assert_int(write(fd, s, sizeof(s) - 1), (ssize_t)sizeof(s) - 1);
	(void)shutdown(fd, SHUT_WR);
	run_until_eof(f, fd, &got);
	assert_str(buf_cstr(&got), "Ov1\n");
	(void)close(fd);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
	buf_deinit(&got);
}

/* --- parser and escaping tables -------------------------------------- */

static void
test_parse_table(void **state)
{
	static const struct {
		const char *in;
		int ret;
		char cmd;
		size_t nargs;
		const char *a0, *a1;
	} cases[] = {
		{ "H3\t2\t0\t\tauth", 0, 'H', 5, "3", "2" },
		{ "L", 0, 'L', 0, NULL, NULL },
		{ "Lk", 0, 'L', 1, "k", NULL },
		{ "Lk\t", 0, 'L', 2, "k", "" },
		{ "L\t", 0, 'L', 2, "", "" },
		{ "La\001tb\tu", 0, 'L', 2, "a\tb", "u" },
		{ "La\0011\001r\001n", 0, 'L', 1, "a\001\r\n", NULL },
		{ "La\001xb", 0, 'L', 1, "axb", NULL },
		{ "La\001", -EINVAL, 'L', 0, NULL, NULL },
		{ "La\0010", -EINVAL, 'L', 0, NULL, NULL },
		{ "", -EINVAL, 0, 0, NULL, NULL },
		{ "L1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\t14\t15\t16", 0,
		  'L', 16, "1", "2" },
		{ "L1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\t14\t15\t16\t17",
		  -EINVAL, 'L', 0, NULL, NULL },
	};
	struct dict_line l;
	char line[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		(void)snprintf(line, sizeof(line), "%s", cases[i].in);
		assert_int(dict_parse_line(line, strlen(line), &l),
			   cases[i].ret);
		if (cases[i].ret != 0)
			continue;
		assert_int(l.cmd, cases[i].cmd);
		assert_int(l.nargs, cases[i].nargs);
		if (cases[i].a0 != NULL)
			assert_str(l.args[0], cases[i].a0);
		if (cases[i].a1 != NULL)
			assert_str(l.args[1], cases[i].a1);
	}
	/* a raw NUL inside the line is refused */
	memcpy(line, "Lab\0cd", 7);
	assert_int(dict_parse_line(line, 6, &l), -EINVAL);
}

static void
test_tabescape(void **state)
{
	struct buf b = BUF_INIT(64);
	struct dict_line l;
	char line[80];

	(void)state;
	assert_int(dict_tabescape(&b, "a\tb\001c\rd\ne"), 0);
	assert_str(buf_cstr(&b), "a\001tb\0011c\001rd\001ne");
	/* round trip through the parser */
	(void)snprintf(line, sizeof(line), "L%s", buf_cstr(&b));
	assert_int(dict_parse_line(line, strlen(line), &l), 0);
	assert_str(l.args[0], "a\tb\001c\rd\ne");
	buf_reset(&b);
	assert_int(dict_tabescape(&b, "plain"), 0);
	assert_str(buf_cstr(&b), "plain");
	buf_deinit(&b);
	/* the hard maximum holds */
	buf_init(&b, 4);
	assert_int(dict_tabescape(&b, "ab\tc"), -E2BIG);
	buf_deinit(&b);
}

static void
test_json_string(void **state)
{
	static const struct {
		const char *in, *out;
		int ret;
	} cases[] = {
		{ "vmail", "\"vmail\"", 0 },
		{ "a\"b\\c/d", "\"a\\\"b\\\\c/d\"", 0 },
		{ "\n\r\t\b\f\001\x7f", "\"\\n\\r\\t\\b\\f\\u0001\\u007f\"",
		  0 },
		{ "caf\xc3\xa9", "\"caf\\u00e9\"", 0 },
		{ "\xe2\x82\xac", "\"\\u20ac\"", 0 },
		{ "\xf0\x9f\x98\x80", "\"\\ud83d\\ude00\"", 0 },
		{ "{SHA512-CRYPT}$6$s$h", "\"{SHA512-CRYPT}$6$s$h\"", 0 },
		{ "bad\xff", NULL, -EINVAL },
		{ "\xc0\x80", NULL, -EINVAL },
		{ "\xed\xa0\x80", NULL, -EINVAL },
		{ "\xe2\x82", NULL, -EINVAL },
	};
	struct buf b = BUF_INIT(256);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		buf_reset(&b);
		assert_int(dict_json_string(&b, cases[i].in), cases[i].ret);
		if (cases[i].out != NULL)
			assert_str(buf_cstr(&b), cases[i].out);
	}
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_tabescape),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test_setup_teardown(test_transcripts_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_transcripts_bytewise,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sets_reach_handler, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_line_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_line_limit_bytewise, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipelining, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_orphan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_conns, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_listen, setup, teardown),
	};

	(void)signal(SIGPIPE, SIG_IGN); /* the server may close first */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
