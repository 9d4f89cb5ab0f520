/* test_httpd: POST /mxdeliv over real loopback sockets, with a test
 * policy and the scripted fake Postfix: 200 "250 OK" after reinjection,
 * bare LFs made CRLF, 405, 400 for bad envelopes and refusals, 413 one
 * byte over max_message_size, and a client that hangs up mid-check */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/filtermail.h"
#include "log.h"
#include "test_smtpd_sink.h"

static struct evloop *loop;
static int checks_pending;

struct tcheck {
	struct evloop_timer timer;
	fm_policy_done_fn *done;
	void *arg;
};

static void
fire(struct evloop *l, void *arg)
{
	struct tcheck *c = arg;
	struct fm_verdict v;

	(void)l;
	memset(&v, 0, sizeof(v));
	v.code = 250;
	checks_pending--;
	c->done(c->arg, &v);
	free(c);
}

/* test policy: "523" in the body refuses at once, "slow" passes after
 * 50 ms, anything else passes at once */
static struct fm_check *
check(void *policy, const struct fm_envelope *env, const char *msg, size_t len,
      fm_policy_done_fn *done, void *arg)
{
	struct fm_verdict v;
	struct tcheck *c;

	(void)policy;
	(void)env;
	memset(&v, 0, sizeof(v));
	if (len >= 4 && memcmp(msg, "slow", 4) == 0) {
		c = calloc(1, sizeof(*c));
		assert_non_null(c);
		c->done = done;
		c->arg = arg;
		evloop_timer_init(&c->timer, fire, c);
		evloop_timer_start(loop, &c->timer, 50);
		checks_pending++;
		return (struct fm_check *)c;
	}
	if (len >= 3 && memcmp(msg, "523", 3) == 0) {
		v.code = 523;
		(void)snprintf(v.text, sizeof(v.text),
			       "523 Encryption Needed: Invalid Unencrypted "
			       "Mail");
	} else {
		v.code = 250;
	}
	done(arg, &v);
	return NULL;
}

static void
cancel(struct fm_check **cp)
{
	struct tcheck *c = (struct tcheck *)*cp;

	if (c != NULL) {
		evloop_timer_stop(loop, &c->timer);
		checks_pending--;
		free(c);
	}
	*cp = NULL;
}

struct fx {
	struct fm_ctx ctx;
	struct fm_httpd *h;
	struct sink k;
	struct net_addr addr;
};

static void
setup(struct fx *f)
{
	struct buf err = BUF_INIT(256);
	int lfd;

	loop = evloop_new();
	fm_ctx_init(&f->ctx, loop);
	f->ctx.outgoing = 0;
	f->ctx.max_size = 100;
	f->ctx.check = check;
	f->ctx.cancel = cancel;
	sink_start(&f->k, loop);
	assert_int(net_resolve("127.0.0.1", (unsigned)f->k.port,
			       &f->ctx.reinject, &err),
		   0);
	lfd = net_listen_tcp("127.0.0.1", 0, 16, &err);
	assert_true(lfd >= 0);
	assert_int(net_resolve("127.0.0.1", (unsigned)net_local_port(lfd),
			       &f->addr, &err),
		   0);
	f->h = fm_httpd_new(&f->ctx, lfd);
	assert_non_null(f->h);
	buf_deinit(&err);
}

static void
teardown(struct fx *f)
{
	fm_httpd_free(&f->h);
	sink_stop(&f->k);
	evloop_free(&loop);
}

/* request: send req (len bytes), return the response (caller frees);
 * hangup: close right after sending instead */
static char *
request(struct fx *f, const char *req, size_t len, int hangup)
{
	struct buf got = BUF_INIT(1 << 16);
	char b[4096];
	ssize_t n;
	int fd, i, r;

	r = net_connect(&f->addr, &fd);
	assert_true(r == 0 || r == 1);
	for (i = 0; i < 20; i++)
		(void)evloop_run_once(loop, 1);
	assert_int(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	if (hangup) {
		for (i = 0; i < 5; i++)
			(void)evloop_run_once(loop, 1);
		close(fd);
		for (i = 0; i < 100; i++)
			(void)evloop_run_once(loop, 2);
		return buf_steal(&got, NULL);
	}
	for (i = 0; i < 2000; i++) {
		(void)evloop_run_once(loop, 1);
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n > 0)
			(void)buf_append(&got, b, (size_t)n);
		else if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
	}
	close(fd);
	return buf_steal(&got, NULL);
}

/* post: a POST with headers and a body */
static char *
post(struct fx *f, const char *hdrs, const char *body, int hangup)
{
	char req[4096];
	int n;

	n = snprintf(req, sizeof(req),
		     "POST /mxdeliv HTTP/1.1\r\nConnection: close\r\n%s"
		     "Content-Length: %zu\r\n\r\n%s",
		     hdrs, strlen(body), body);
	return request(f, req, (size_t)n, hangup);
}

/* expect: the response has status line status and ends in body */
static void
expect(char *resp, const char *status, const char *body)
{
	size_t rl = strlen(resp), bl = strlen(body);

	if (strncmp(resp, status, strlen(status)) != 0 || rl < bl ||
	    strcmp(resp + rl - bl, body) != 0)
		print_error("want %s, response: %s\n", status, resp);
	assert_true(strncmp(resp, status, strlen(status)) == 0);
	assert_true(rl >= bl && strcmp(resp + rl - bl, body) == 0);
	free(resp);
}

static void
test_mxdeliv(void **state)
{
	static const char env[] = "X-MAIL-FROM: a@remote.test\r\n"
				  "X-MAIL-TO: b@example.test\r\n"
				  "X-Mail-To: <c@example.test>\r\n";
	struct fx f;
	char body[128];

	(void)state;
	setup(&f);
	expect(post(&f, env, "Subject: x\n\n.dot\r\nend\n", 0), "HTTP/1.1 200 ",
	       "\r\n\r\n250 OK");
	assert_int(f.k.messages, 1);
	assert_str(buf_cstr(&f.k.msg), "Subject: x\r\n\r\n.dot\r\nend\r\n");
	assert_non_null(strstr(buf_cstr(&f.k.cmds),
			       "MAIL FROM:<a@remote.test> BODY=8BITMIME\n"
			       "RCPT TO:<b@example.test>\n"
			       "RCPT TO:<c@example.test>\n"));
	/* exactly max_message_size (100) passes, one more is 413 */
	memset(body, 'x', 100);
	body[100] = '\0';
	expect(post(&f, env, body, 0), "HTTP/1.1 200 ", "250 OK");
	body[100] = 'x';
	body[101] = '\0';
	expect(post(&f, env, body, 0), "HTTP/1.1 413 ",
	       "\r\n\r\n552 Message exceeds maximum size");
	expect(request(&f, "GET /mxdeliv HTTP/1.1\r\n\r\n", 25, 0),
	       "HTTP/1.1 405 ", "Method Not Allowed");
	expect(post(&f, "X-MAIL-FROM: a@remote.test\r\n", "x", 0),
	       "HTTP/1.1 400 ", "503 Bad sequence of commands");
	expect(post(&f,
		    "X-MAIL-FROM: a@x\r\nX-MAIL-FROM: b@x\r\n"
		    "X-MAIL-TO: b@example.test\r\n",
		    "x", 0),
	       "HTTP/1.1 400 ", "500 Only one X-MAIL-FROM header allowed");
	expect(post(&f, "X-MAIL-TO: bad address\r\n", "x", 0), "HTTP/1.1 400 ",
	       "500 Invalid address in RCPT TO");
	expect(post(&f, env, "523 please", 0), "HTTP/1.1 400 ",
	       "523 Encryption Needed: Invalid Unencrypted Mail");
	assert_int(f.k.messages, 2);
	/* the client hangs up while the check runs: cancelled, nothing
	 * delivered, nothing leaked */
	free(post(&f, env, "slow body", 1));
	assert_int(checks_pending, 0);
	assert_int(f.k.messages, 2);
	teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mxdeliv),
	};

	log_init("filtermail", -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
