/* test_reinject: dot-stuffing round trips through filtermail's stuffer
 * and unstuffer in every chunking; the reinjection client against a
 * scripted fake Postfix: a large message streamed intact, cancel before
 * the final dot delivers nothing, a silent server times out */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/filtermail.h"
#include "log.h"
#include "test_smtpd_sink.h"

/* stuff_all: src dot-stuffed, in output pieces of at most piece bytes */
static void
stuff_all(const char *src, size_t n, size_t piece, struct buf *out)
{
	char dst[64];
	size_t off = 0, wrote, used;
	int bol = 1;

	while (off < n) {
		used = fm_dot_stuff(src + off, n - off, &bol, dst, piece,
				    &wrote);
		assert_true(wrote > 0);
		assert_int(buf_append(out, dst, wrote), 0);
		off += used;
	}
	assert_int(buf_puts(out, ".\r\n"), 0);
}

/* unstuff_all: the wire bytes back, fed piece bytes at a time */
static void
unstuff_all(const struct buf *wire, size_t piece, struct buf *msg)
{
	struct fm_unstuffer u;
	size_t off = 0, n, used;
	int r = 0;

	fm_unstuff_init(&u);
	while (off < wire->len) {
		n = wire->len - off < piece ? wire->len - off : piece;
		r = fm_unstuff(&u, wire->data + off, n, msg, &used);
		assert_true(r >= 0);
		off += used;
		if (r == 1)
			break;
	}
	assert_int(r, 1);
	assert_int(off, wire->len); /* nothing after the final dot */
	assert_int(u.total, msg->len);
}

static const char *const cases[] = {
	"",
	".\r\n",
	"..\r\n",
	"...\r\n.\r\n",
	"a\r\n.\r\nb\r\n",
	".a\r\n..b\r\n\r\n.\r\n",
	"x.\r\n.x.\r\n. \r\n",
	"bare\rCR\r\n.\rdot-CR\r\n",
	"\r\n\r\n.\r\n\r\n",
};

static void
test_roundtrip_table(void **state)
{
	struct buf wire = BUF_INIT(4096), back = BUF_INIT(4096);
	size_t i, sp, up;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (sp = 2; sp <= 9; sp += 7) {
			for (up = 1; up <= 64; up *= 4) {
				buf_reset(&wire);
				buf_reset(&back);
				stuff_all(cases[i], strlen(cases[i]), sp,
					  &wire);
				unstuff_all(&wire, up, &back);
				assert_str(buf_cstr(&back), cases[i]);
			}
		}
	}
	/* the stuffed form of one case, exactly */
	buf_reset(&wire);
	stuff_all(".a\r\n..b\r\n\r\n.\r\n", 14, 64, &wire);
	assert_str(buf_cstr(&wire), "..a\r\n...b\r\n\r\n..\r\n.\r\n");
	buf_deinit(&wire);
	buf_deinit(&back);
}

/* random_message: CRLF lines full of dots, CRs and NULs */
static size_t
random_message(char *p, size_t max, unsigned *seed)
{
	static const char alphabet[] = "...\r\0ab ";
	size_t n = 0, len;

	while (n + 40 < max) {
		len = (size_t)(rand_r(seed) % 30);
		while (len-- > 0)
			p[n++] =
				alphabet[rand_r(seed) % (sizeof(alphabet) - 1)];
		p[n++] = '\r';
		p[n++] = '\n';
	}
	return n;
}

static void
test_roundtrip_random(void **state)
{
	struct buf wire = BUF_INIT(1 << 16), back = BUF_INIT(1 << 16);
	char msg[4096];
	unsigned seed = 42;
	size_t n;
	int i;

	(void)state;
	for (i = 0; i < 200; i++) {
		n = random_message(msg, 200 + (size_t)i * 10, &seed);
		buf_reset(&wire);
		buf_reset(&back);
		stuff_all(msg, n, 2 + (size_t)i % 40, &wire);
		unstuff_all(&wire, 1 + (size_t)i % 13, &back);
		assert_int(back.len, n);
		assert_memory_equal(back.data, msg, n);
	}
	buf_deinit(&wire);
	buf_deinit(&back);
}

/* ---- the client against the fake Postfix ---- */

struct result {
	int done, code;
	char text[300];
};

static void
on_done(void *arg, int code, const char *text)
{
	struct result *r = arg;

	r->done++;
	r->code = code;
	(void)snprintf(r->text, sizeof(r->text), "%s", text);
}

struct fx {
	struct evloop *loop;
	struct fm_ctx ctx;
	struct sink k;
};

static void
fx_setup(struct fx *f)
{
	struct buf err = BUF_INIT(256);

	f->loop = evloop_new();
	fm_ctx_init(&f->ctx, f->loop);
	f->ctx.t.reply_ms = 300;
	sink_start(&f->k, f->loop);
	assert_int(net_resolve("127.0.0.1", (unsigned)f->k.port,
			       &f->ctx.reinject, &err),
		   0);
	buf_deinit(&err);
}

static void
fx_teardown(struct fx *f)
{
	sink_stop(&f->k);
	evloop_free(&f->loop);
}

static void
run_until(struct fx *f, const int *flag, int rounds)
{
	int i;

	for (i = 0; i < rounds && !*flag; i++)
		(void)evloop_run_once(f->loop, 5);
}

/* run_for: the loop until *flag or SECS seconds have passed (a large
 * message takes many rounds, and many more on a loaded machine) */
static void
run_for(struct fx *f, const int *flag, int secs)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		(void)evloop_run_once(f->loop, 5);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!*flag && t.tv_sec - t0.tv_sec < secs);
}

static void
test_large_message(void **state)
{
	static const char *const rcpts[] = { "b@example.test",
					     "c@example.test" };
	struct fm_reinject_msg m;
	struct result r = { 0 };
	struct fx f;
	size_t n = 0, size = 3u << 20;
	char *msg = malloc(size);
	unsigned seed = 7;
	struct fm_reinject *rj;

	(void)state;
	assert_non_null(msg);
	fx_setup(&f);
	f.ctx.t.reply_ms = 20000; /* a loaded machine is slow, not broken */
	n = random_message(msg, size, &seed);
	memset(&m, 0, sizeof(m));
	m.mail_from = "a@example.test";
	m.rcpts = rcpts;
	m.nrcpts = 2;
	m.origin_ip = "192.0.2.1";
	m.prepend = ".Prepended: 1\r\n";
	m.prepend_len = strlen(m.prepend);
	m.msg = msg;
	m.len = n - 2; /* no final CRLF: the client must add one */
	rj = fm_reinject_start(&f.ctx, &m, on_done, &r);
	assert_non_null(rj);
	run_for(&f, &r.done, 60);
	assert_int(r.done, 1);
	assert_int(r.code, 250);
	assert_str(r.text, "250 OK");
	assert_int(f.k.messages, 1);
	assert_str(buf_cstr(&f.k.cmds), "EHLO filtermail\n"
					"XFORWARD ADDR=192.0.2.1\n"
					"MAIL FROM:<a@example.test> "
					"BODY=8BITMIME\n"
					"RCPT TO:<b@example.test>\n"
					"RCPT TO:<c@example.test>\n"
					"DATA\n");
	assert_int(f.k.msg.len, m.prepend_len + n);
	assert_memory_equal(f.k.msg.data, m.prepend, m.prepend_len);
	assert_memory_equal(f.k.msg.data + m.prepend_len, msg, n);
	fx_teardown(&f);
	free(msg);
}

static void
test_cancel_delivers_nothing(void **state)
{
	static const char *const rcpts[] = { "b@example.test" };
	struct fm_reinject_msg m;
	struct result r = { 0 };
	struct fx f;
	size_t size = 8u << 20;
	char *msg = malloc(size);
	struct fm_reinject *rj;
	int i;

	(void)state;
	assert_non_null(msg);
	memset(msg, 'z', size);
	for (i = 1000; i < (int)size; i += 1000) {
		msg[i - 2] = '\r';
		msg[i - 1] = '\n';
	}
	msg[size - 2] = '\r';
	msg[size - 1] = '\n';
	fx_setup(&f);
	memset(&m, 0, sizeof(m));
	m.mail_from = "a@example.test";
	m.rcpts = rcpts;
	m.nrcpts = 1;
	m.msg = msg;
	m.len = size;
	rj = fm_reinject_start(&f.ctx, &m, on_done, &r);
	for (i = 0; i < 2000 && f.k.msg.len == 0; i++)
		(void)evloop_run_once(f.loop, 5);
	assert_true(f.k.in_data);
	fm_reinject_cancel(&rj);
	assert_null(rj);
	for (i = 0; i < 50; i++)
		(void)evloop_run_once(f.loop, 2);
	assert_int(r.done, 0);
	assert_int(f.k.messages, 0);
	assert_int(f.k.fd, -1); /* the connection was dropped */
	fx_teardown(&f);
	free(msg);
}

static void
test_silent_server_times_out(void **state)
{
	static const char *const rcpts[] = { "b@example.test" };
	struct fm_reinject_msg m;
	struct result r = { 0 };
	struct fx f;

	(void)state;
	fx_setup(&f);
	f.k.silent = 1;
	memset(&m, 0, sizeof(m));
	m.mail_from = "";
	m.rcpts = rcpts;
	m.nrcpts = 1;
	m.msg = "x\r\n";
	m.len = 3;
	assert_non_null(fm_reinject_start(&f.ctx, &m, on_done, &r));
	run_until(&f, &r.done, 400);
	assert_int(r.done, 1);
	assert_int(r.code, 451);
	assert_str(r.text, "451 4.3.0 Reinjection failed: timed out");
	/* the overall deadline holds even when each step may take long */
	f.ctx.t.reply_ms = 60000;
	f.ctx.t.total_ms = 200;
	r.done = 0;
	assert_non_null(fm_reinject_start(&f.ctx, &m, on_done, &r));
	run_until(&f, &r.done, 400);
	assert_int(r.done, 1);
	assert_int(r.code, 451);
	fx_teardown(&f);
}

/* send_one: reinject a small message, wait for the answer */
static void
send_one(struct fx *f, struct result *r)
{
	static const char *const rcpts[] = { "b@example.test" };
	struct fm_reinject_msg m;

	memset(&m, 0, sizeof(m));
	m.mail_from = "a@example.test";
	m.rcpts = rcpts;
	m.nrcpts = 1;
	m.msg = "x\r\n";
	m.len = 3;
	r->done = 0;
	assert_non_null(fm_reinject_start(&f->ctx, &m, on_done, r));
	run_until(f, &r->done, 400);
	assert_int(r->done, 1);
	assert_int(r->code, 250);
}

static void
test_pool_reuse_and_stale(void **state)
{
	struct result r = { 0 };
	struct fx f;

	(void)state;
	fx_setup(&f);
	f.ctx.pool = fm_reinject_pool_new(f.loop, 4, 10000);
	send_one(&f, &r);
	assert_int(fm_reinject_pool_idle(f.ctx.pool), 1);
	send_one(&f, &r);
	assert_int(f.k.messages, 2);
	/* one connection, one EHLO, two transactions, no QUIT */
	assert_str(buf_cstr(&f.k.cmds),
		   "EHLO filtermail\nMAIL FROM:<a@example.test> "
		   "BODY=8BITMIME\nRCPT TO:<b@example.test>\nDATA\n"
		   "MAIL FROM:<a@example.test> BODY=8BITMIME\n"
		   "RCPT TO:<b@example.test>\nDATA\n");
	/* the server drops the idle connection behind the pool's back:
	 * the next message notices and retries on a fresh one */
	evloop_io_del(f.loop, f.k.fd);
	close(f.k.fd);
	f.k.fd = -1;
	send_one(&f, &r);
	assert_int(f.k.messages, 3);
	/* idle too long: QUIT and closed */
	assert_int(fm_reinject_pool_idle(f.ctx.pool), 1);
	fm_reinject_pool_free(&f.ctx.pool);
	assert_null(f.ctx.pool);
	fx_teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_table),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_large_message),
		cmocka_unit_test(test_cancel_delivers_nothing),
		cmocka_unit_test(test_silent_server_times_out),
		cmocka_unit_test(test_pool_reuse_and_stale),
	};

	log_init("filtermail", -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
