/* test_http: the request-head parser (table), and the server over real
 * loopback sockets: keep-alive, pipelining, byte-at-a-time input, async
 * responses, every limit and one byte over it, timeouts, aborts */
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

#include "buf.h"
#include "evloop.h"
#include "http.h"
#include "net.h"

/* ---- parser table ---- */

struct parse_case {
	const char *in;
	int status;
	const char *method, *target;
	long long length; /* -1: no Content-Length */
	int close;
	size_t nheaders;
};

#define ERR(in, status)                         \
	{                                       \
		in, status, NULL, NULL, 0, 0, 0 \
	}

static const struct parse_case parse_cases[] = {
	{ "GET / HTTP/1.1\r\nHost: x\r\n", 0, "GET", "/", -1, 0, 1 },
	{ "GET /a?b=1 HTTP/1.0\r\n", 0, "GET", "/a?b=1", -1, 1, 0 },
	{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n", 0, "GET", "/", -1, 0,
	  1 },
	{ "\r\nPOST /new HTTP/1.1\nContent-Length: 12\n", 0, "POST", "/new", 12,
	  0, 1 },
	{ "POST / HTTP/1.1\r\nContent-Length:  5 \r\ncontent-length: 5\r\n", 0,
	  "POST", "/", 5, 0, 2 },
	{ "POST / HTTP/1.1\r\nConnection: keep-alive, close\r\n", 0, "POST",
	  "/", -1, 1, 1 },
	ERR("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n",
	    400),
	ERR("POST / HTTP/1.1\r\nContent-Length: -1\r\n", 400),
	ERR("POST / HTTP/1.1\r\nContent-Length: 1x\r\n", 400),
	ERR("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n", 400),
	ERR("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n", 501),
	ERR("GET / HTTP/2.0\r\n", 505),
	ERR("GET / HTTP/1.1 \r\n", 400),
	ERR("GET /  HTTP/1.1\r\n", 400),
	ERR("GET\r\n", 400),
	ERR("G(T / HTTP/1.1\r\n", 400),
	ERR("GET / FTP/1.1\r\n", 400),
	ERR("GET / HTTP/1.1\r\n Folded: x\r\n", 400),
	ERR("GET / HTTP/1.1\r\nBad Name: x\r\n", 400),
	ERR("GET / HTTP/1.1\r\nName : x\r\n", 400),
	ERR("GET / HTTP/1.1\r\nNoColon\r\n", 400),
	ERR("GET / HTTP/1.1\r\nX: a\rb\r\n", 400),
	ERR("GET / HTTP/1.1\r\nX: 1\r\nY: 2\r\nZ: 3\r\n", 431), /* max 2 */
	ERR("", 400),
};

static void
test_parse_table(void **state)
{
	struct http_header hdrs[2];
	struct http_head h;
	char text[256];
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];

		(void)snprintf(text, sizeof(text), "%s", c->in);
		memset(&h, 0, sizeof(h));
		h.headers = hdrs;
		h.max_headers = 2;
		r = http_parse_head(text, &h);
		if (r != c->status)
			print_error("case %zu: %s\n", i, c->in);
		assert_int(r, c->status);
		if (r != 0)
			continue;
		assert_str(h.method, c->method);
		assert_str(h.target, c->target);
		assert_int(h.has_length ? (long long)h.content_length : -1,
			   c->length);
		assert_int(h.close, c->close);
		assert_int(h.nheaders, c->nheaders);
	}
}

/* ---- server over loopback ---- */

struct fixture {
	struct evloop *loop;
	struct http_server *srv;
	int port;
	struct http_request *pending; /* async tests keep the request */
	int async;
	int aborted;
	int requests;
	char last_body[256];
	char last_path[64];
	char from[64];
	size_t nto;
};

static uint64_t fake_now;

static uint64_t
fake_clock(void)
{
	return fake_now;
}

/* handler: echo "method path body" and the X-To headers */
static void
handler(void *arg, struct http_request *req)
{
	struct fixture *f = arg;
	const char *body, *v;
	size_t len, idx = 0;
	char out[512];

	f->requests++;
	body = http_request_body(req, &len);
	(void)snprintf(f->last_body, sizeof(f->last_body), "%s", body);
	(void)snprintf(f->last_path, sizeof(f->last_path), "%s",
		       http_request_path(req));
	v = http_request_header(req, "x-from");
	(void)snprintf(f->from, sizeof(f->from), "%s", v != NULL ? v : "");
	f->nto = 0;
	while (http_request_header_next(req, "X-To", &idx, &v))
		f->nto++;
	if (f->async) {
		f->pending = req;
		return;
	}
	(void)snprintf(out, sizeof(out), "%s %s %zu:%s",
		       http_request_method(req), http_request_path(req), len,
		       body);
	http_respond_text(req, 200, out);
}

/* head: refuse PUT before its body is read */
static void
head(void *arg, struct http_request *req)
{
	(void)arg;
	if (strcmp(http_request_method(req), "PUT") == 0)
		http_respond_text(req, 405, "Method Not Allowed");
}

static void
on_abort(void *arg, struct http_request *req)
{
	struct fixture *f = arg;

	(void)req;
	f->aborted++;
	f->pending = NULL;
}

static void
setup_fixture(struct fixture *f, size_t max_conns)
{
	struct http_server_opts o;
	struct buf err = BUF_INIT(256);
	int lfd;

	memset(f, 0, sizeof(*f));
	fake_now = 1000;
	f->loop = evloop_new();
	evloop_set_clock(f->loop, fake_clock);
	http_server_opts_default(&o);
	o.max_header = 256;
	o.max_headers = 8;
	o.max_body = 100;
	o.max_conns = max_conns;
	o.idle_ms = 5000;
	o.too_large_body = "552 Message exceeds maximum size";
	f->srv = http_server_new(f->loop, &o, head, handler, f);
	lfd = net_listen_tcp("127.0.0.1", 0, 16, &err);
	assert_true(lfd >= 0);
	f->port = net_local_port(lfd);
	assert_int(http_server_listen(f->srv, lfd), 0);
	buf_deinit(&err);
}

static void
teardown_fixture(struct fixture *f)
{
	http_server_free(&f->srv);
	assert_null(f->srv);
	evloop_free(&f->loop);
}

static int
client(struct fixture *f)
{
	struct net_addr a;
	struct buf err = BUF_INIT(256);
	int fd, r;

	assert_int(net_resolve("127.0.0.1", (unsigned)f->port, &a, &err), 0);
	r = net_connect(&a, &fd);
	assert_true(r == 0 || r == 1);
	buf_deinit(&err);
	return fd;
}

/* pump: run the loop a few rounds without blocking long */
static void
pump(struct fixture *f, int rounds)
{
	int i;

	for (i = 0; i < rounds; i++)
		(void)evloop_run_once(f->loop, 5);
}

static void
send_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN)
			continue;
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* find: like find(3), which needs _GNU_SOURCE */
static const char *
find(const char *p, size_t n, const char *s, size_t sn)
{
	size_t i;

	for (i = 0; i + sn <= n; i++)
		if (memcmp(p + i, s, sn) == 0)
			return p + i;
	return NULL;
}

/* response_len: bytes of the first complete response in p, or 0 */
static size_t
response_len(const char *p, size_t n)
{
	const char *end = find(p, n, "\r\n\r\n", 4), *cl;
	size_t hl, bl = 0;

	if (end == NULL)
		return 0;
	hl = (size_t)(end - p) + 4;
	cl = find(p, hl, "Content-Length: ", 16);
	if (cl != NULL)
		bl = strtoul(cl + 16, NULL, 10);
	return n >= hl + bl ? hl + bl : 0;
}

/* read_responses: until want responses are in, or the peer closed;
 * returns the bytes read (NUL-terminated in out) */
static size_t
read_responses(struct fixture *f, int fd, char *out, size_t outsize, int want,
	       int *closed)
{
	size_t n = 0, off, l;
	ssize_t r;
	int i, got;

	*closed = 0;
	for (i = 0; i < 400; i++) {
		pump(f, 1);
		r = recv(fd, out + n, outsize - 1 - n, MSG_DONTWAIT);
		if (r == 0) {
			*closed = 1;
			break;
		}
		if (r > 0)
			n += (size_t)r;
		for (off = 0, got = 0;
		     (l = response_len(out + off, n - off)) > 0; got++)
			off += l;
		if (got >= want)
			break;
	}
	out[n] = '\0';
	return n;
}

/* peer_closed: whether the server closed fd (after pumping) */
static int
peer_closed(struct fixture *f, int fd)
{
	char ch;
	ssize_t r;
	int i;

	for (i = 0; i < 100; i++) {
		pump(f, 1);
		r = recv(fd, &ch, 1, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 1;
		if (r > 0)
			continue;
	}
	return 0;
}

static void
test_get_keepalive(void **state)
{
	struct fixture f;
	char out[2048];
	int fd, closed;
	const char *req = "GET /healthz?x HTTP/1.1\r\nHost: t\r\n\r\n";

	(void)state;
	setup_fixture(&f, 16);
	fd = client(&f);
	send_all(fd, req, strlen(req));
	read_responses(&f, fd, out, sizeof(out), 1, &closed);
	assert_false(closed);
	assert_str(out, "HTTP/1.1 200 OK\r\n"
			"Content-Type: text/plain; charset=utf-8\r\n"
			"Content-Length: 15\r\n\r\nGET /healthz 0:");
	/* the same connection serves a second request */
	send_all(fd, req, strlen(req));
	read_responses(&f, fd, out, sizeof(out), 1, &closed);
	assert_non_null(strstr(out, "200 OK"));
	assert_int(f.requests, 2);
	assert_int(http_server_conns(f.srv), 1);
	close(fd);
	pump(&f, 3);
	assert_int(http_server_conns(f.srv), 0);
	teardown_fixture(&f);
}

static void
test_bytewise_post(void **state)
{
	struct fixture f;
	char out[2048];
	const char *req = "POST /mxdeliv HTTP/1.1\r\nX-From: a@b\r\n"
			  "X-To: c@d\r\nX-To: e@f\r\nContent-Length: 11\r\n"
			  "\r\nhello\r\nbody";
	size_t i;
	int fd, closed;

	(void)state;
	setup_fixture(&f, 16);
	fd = client(&f);
	for (i = 0; req[i] != '\0'; i++) {
		send_all(fd, req + i, 1);
		pump(&f, 1);
	}
	read_responses(&f, fd, out, sizeof(out), 1, &closed);
	assert_int(f.requests, 1);
	assert_str(f.last_body, "hello\r\nbody");
	assert_str(f.from, "a@b");
	assert_int(f.nto, 2);
	assert_non_null(strstr(out, "\r\n\r\nPOST /mxdeliv 11:hello\r\nbody"));
	close(fd);
	teardown_fixture(&f);
}

static void
test_expect_continue(void **state)
{
	struct fixture f;
	char out[2048];
	size_t n;
	ssize_t r;
	int fd, closed, i;

	(void)state;
	setup_fixture(&f, 16);
	fd = client(&f);
	send_all(fd,
		 "POST /x HTTP/1.1\r\nExpect: 100-continue\r\n"
		 "Content-Length: 2\r\n\r\n",
		 61);
	n = 0;
	for (i = 0; i < 200 && n < 25; i++) {
		pump(&f, 1);
		r = recv(fd, out + n, sizeof(out) - 1 - n, MSG_DONTWAIT);
		if (r > 0)
			n += (size_t)r;
	}
	out[n] = '\0';
	assert_str(out, "HTTP/1.1 100 Continue\r\n\r\n");
	send_all(fd, "ok", 2);
	read_responses(&f, fd, out, sizeof(out), 1, &closed);
	assert_non_null(strstr(out, "200 OK"));
	assert_non_null(strstr(out, "POST /x 2:ok"));
	close(fd);
	teardown_fixture(&f);
}

static void
test_pipelined(void **state)
{
	struct fixture f;
	char out[4096];
	const char *req = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
			  "GET /b HTTP/1.1\r\n\r\n"
			  "POST /c HTTP/1.1\r\nContent-Length: 1\r\n"
			  "Connection: close\r\n\r\nz";
	int fd, closed;
	char *a, *b, *c;

	(void)state;
	setup_fixture(&f, 16);
	fd = client(&f);
	send_all(fd, req, strlen(req));
	read_responses(&f, fd, out, sizeof(out), 3, &closed);
	a = strstr(out, "POST /a 3:abc");
	b = strstr(out, "GET /b 0:");
	c = strstr(out, "POST /c 1:z");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a < b && b < c);
	assert_non_null(strstr(out, "Connection: close"));
	assert_true(peer_closed(&f, fd));
	close(fd);
	teardown_fixture(&f);
}

static void
test_async_and_abort(void **state)
{
	struct fixture f;
	char out[2048];
	const char *req = "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
	int fd, closed;

	(void)state;
	setup_fixture(&f, 16);
	f.async = 1;
	fd = client(&f);
	send_all(fd, req, strlen(req));
	pump(&f, 5);
	assert_non_null(f.pending);
	/* no timeout while the handler works */
	fake_now += 60000;
	pump(&f, 3);
	assert_int(http_server_conns(f.srv), 1);
	http_request_set_abort(f.pending, on_abort, &f);
	http_respond(f.pending, 202, "application/json", "X-A: 1\r\n", "{}", 2);
	f.pending = NULL;
	read_responses(&f, fd, out, sizeof(out), 1, &closed);
	assert_non_null(strstr(out, "HTTP/1.1 202 Accepted\r\n"));
	assert_non_null(strstr(out, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(out, "X-A: 1\r\n\r\n{}"));
	assert_int(f.aborted, 0);
	/* a second request, then the client goes away while pending */
	send_all(fd, req, strlen(req));
	pump(&f, 5);
	assert_non_null(f.pending);
	http_request_set_abort(f.pending, on_abort, &f);
	close(fd);
	pump(&f, 5);
	assert_int(f.aborted, 1);
	assert_null(f.pending);
	assert_int(http_server_conns(f.srv), 0);
	teardown_fixture(&f);
}

/* expect_status: send req on a new connection, want status and body */
static void
expect_status(struct fixture *f, const char *req, size_t len,
	      const char *status, const char *body)
{
	char out[4096];
	int fd, closed;

	fd = client(f);
	send_all(fd, req, len);
	read_responses(f, fd, out, sizeof(out), 1, &closed);
	if (strncmp(out, status, strlen(status)) != 0)
		print_error("request: %.60s\n", req);
	assert_true(strncmp(out, status, strlen(status)) == 0);
	if (body != NULL)
		assert_non_null(strstr(out, body));
	assert_true(peer_closed(f, fd));
	close(fd);
}

/* EXPECT: expect_status with a string literal request */
#define EXPECT(f, lit, status, body) \
	expect_status(f, lit, sizeof(lit) - 1, status, body)

static void
test_limits(void **state)
{
	struct fixture f;
	char req[1024], pad[400];
	int n;

	(void)state;
	setup_fixture(&f, 16);
	/* head exactly at max_header (256, the empty line not counted) */
	n = snprintf(req, sizeof(req),
		     "GET / HTTP/1.1\r\nConnection: close\r\n"
		     "X: ");
	memset(pad, 'a', sizeof(pad));
	pad[256 - n - 2] = '\0';
	(void)snprintf(req + n, sizeof(req) - (size_t)n, "%s\r\n\r\n", pad);
	assert_int(strlen(req), 256 + 2);
	expect_status(&f, req, strlen(req), "HTTP/1.1 200 ", NULL);
	/* one byte over */
	pad[256 - n - 2] = 'a';
	pad[256 - n - 1] = '\0';
	(void)snprintf(req + n, sizeof(req) - (size_t)n, "%s\r\n\r\n", pad);
	expect_status(&f, req, strlen(req), "HTTP/1.1 431 ", NULL);
	/* a head that never ends */
	memset(req, 'b', sizeof(req));
	expect_status(&f, req, sizeof(req), "HTTP/1.1 431 ", NULL);
	/* body at max_body, and one over */
	memset(pad, 'c', 101);
	n = snprintf(req, sizeof(req),
		     "POST / HTTP/1.1\r\nConnection: close\r\n"
		     "Content-Length: 100\r\n\r\n%.100s",
		     pad);
	expect_status(&f, req, (size_t)n, "HTTP/1.1 200 ", "POST / 100:ccc");
	n = snprintf(req, sizeof(req),
		     "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n%.101s",
		     pad);
	expect_status(&f, req, (size_t)n, "HTTP/1.1 413 ",
		      "\r\n\r\n552 Message exceeds maximum size");
	/* too many header fields (max 8) */
	EXPECT(&f,
	       "GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\n"
	       "e: 1\r\nf: 1\r\ng: 1\r\nh: 1\r\ni: 1\r\n\r\n",
	       "HTTP/1.1 431 ", NULL);
	EXPECT(&f,
	       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "3\r\nabc\r\n0\r\n\r\n",
	       "HTTP/1.1 501 ", NULL);
	EXPECT(&f, "BLAH\r\n\r\n", "HTTP/1.1 400 ", NULL);
	EXPECT(&f, "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", "HTTP/1.1 400 ", NULL);
	EXPECT(&f, "GET / HTTP/3.0\r\n\r\n", "HTTP/1.1 505 ", NULL);
	/* the head callback answers before the body is sent */
	EXPECT(&f, "PUT / HTTP/1.1\r\nContent-Length: 50\r\n\r\n",
	       "HTTP/1.1 405 ", "Method Not Allowed");
	assert_int(f.requests, 2); /* the two at the limits */
	teardown_fixture(&f);
}

static void
test_timeouts(void **state)
{
	struct fixture f;
	char out[1024];
	int fd, closed;

	(void)state;
	setup_fixture(&f, 16);
	/* a partial request times out with 408 */
	fd = client(&f);
	send_all(fd, "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab", 41);
	pump(&f, 5);
	fake_now += 4999;
	pump(&f, 2);
	assert_int(http_server_conns(f.srv), 1);
	fake_now += 2;
	read_responses(&f, fd, out, sizeof(out), 1, &closed);
	assert_non_null(strstr(out, "HTTP/1.1 408 "));
	assert_true(peer_closed(&f, fd));
	/* our side is shut; a peer that never closes its side is
	 * dropped after the linger time */
	assert_int(http_server_conns(f.srv), 1);
	fake_now += 5001;
	pump(&f, 3);
	assert_int(http_server_conns(f.srv), 0);
	close(fd);
	/* an idle connection is closed quietly */
	fd = client(&f);
	pump(&f, 5);
	assert_int(http_server_conns(f.srv), 1);
	fake_now += 5001;
	assert_true(peer_closed(&f, fd));
	assert_int(http_server_conns(f.srv), 0);
	close(fd);
	teardown_fixture(&f);
}

static void
test_max_conns(void **state)
{
	struct fixture f;
	char out[1024];
	int a, b, closed;

	(void)state;
	setup_fixture(&f, 1);
	a = client(&f);
	pump(&f, 5);
	b = client(&f);
	read_responses(&f, b, out, sizeof(out), 1, &closed);
	assert_non_null(strstr(out, "HTTP/1.1 503 "));
	assert_int(http_server_conns(f.srv), 1);
	close(a);
	close(b);
	teardown_fixture(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_get_keepalive),
		cmocka_unit_test(test_bytewise_post),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_async_and_abort),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_max_conns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
