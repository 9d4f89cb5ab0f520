/*
 * test_curlloop: libcurl's multi interface on the evloop, against a
 * small canned HTTP/1.1 server on the same loop (loopback, port 0):
 * parallel transfers and a 256 kB body over several socket events, a
 * done callback that starts the next transfer, curl's timer (a transfer
 * timing out), a transfer dropped from inside curl's write callback
 * (reaped from the returned hook, never reported), and freeing with
 * transfers in flight. Every loop run is bounded in rounds and time;
 * the sanitizer build checks that nothing leaks or is used after free.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "buf.h"
#include "curlloop.h"
#include "evloop.h"
#include "net.h"

#define BIG_LEN (256 * 1024)
#define MAX_CONNS 16

/* --- the canned server ------------------------------------------------ */

struct sconn {
	int fd;
	struct buf in, out;
};

struct server {
	struct evloop *loop;
	int lfd;
	unsigned port;
	struct sconn conns[MAX_CONNS];
	unsigned requests;
};

/* respond: the canned answer to the request line in c->in */
static void
respond(struct server *s, struct sconn *c, size_t head_len)
{
	const char *req = c->in.data;

	s->requests++;
	if (strncmp(req, "GET /ok ", 8) == 0) {
		(void)buf_puts(&c->out, "HTTP/1.1 200 OK\r\n"
					"Content-Length: 5\r\n\r\nhello");
	} else if (strncmp(req, "GET /big ", 9) == 0) {
		(void)buf_printf(
			&c->out,
			"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
			BIG_LEN);
		for (int i = 0; i < BIG_LEN; i++)
			(void)buf_putc(&c->out, (char)('a' + i % 26));
	} else if (strncmp(req, "GET /slow ", 10) != 0) {
		(void)buf_puts(&c->out, "HTTP/1.1 404 Not Found\r\n"
					"Content-Length: 0\r\n\r\n");
	} /* /slow: no answer */
	buf_consume(&c->in, head_len);
}

/* sconn_close: forget a server connection */
static void
sconn_close(struct server *s, struct sconn *c)
{
	evloop_io_del(s->loop, c->fd);
	(void)close(c->fd);
	c->fd = -1;
	buf_deinit(&c->in);
	buf_deinit(&c->out);
}

/* on_sconn: read requests, answer them, write what is pending */
static void
on_sconn(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct server *s = arg;
	struct sconn *c = NULL;
	char chunk[4096], *end;
	ssize_t n;

	(void)loop;
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i].fd == fd)
			c = &s->conns[i];
	assert_non_null(c);
	if (events & EV_READ) {
		n = read(fd, chunk, sizeof(chunk));
		if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
			sconn_close(s, c);
			return;
		}
		if (n > 0)
			assert_int(buf_append(&c->in, chunk, (size_t)n), 0);
		while ((end = strstr(buf_cstr(&c->in), "\r\n\r\n")) != NULL)
			respond(s, c, (size_t)(end + 4 - c->in.data));
	}
	if (c->out.len > 0 && net_send_buf(fd, &c->out) < 0) {
		sconn_close(s, c);
		return;
	}
	(void)evloop_io_mod(s->loop, fd,
			    EV_READ | (c->out.len > 0 ? EV_WRITE : 0));
}

/* on_accept: take every waiting connection */
static void
on_accept(struct evloop *loop, int lfd, unsigned events, void *arg)
{
	struct server *s = arg;
	int fd, i;

	(void)events;
	while ((fd = net_accept(lfd)) >= 0) {
		for (i = 0; i < MAX_CONNS && s->conns[i].fd >= 0; i++)
			;
		assert_true(i < MAX_CONNS);
		s->conns[i].fd = fd;
		buf_init(&s->conns[i].in, 65536);
		buf_init(&s->conns[i].out, BIG_LEN + 4096);
		assert_int(evloop_io_add(loop, fd, EV_READ, on_sconn, s), 0);
	}
}

static void
server_start(struct server *s, struct evloop *loop)
{
	struct buf err = BUF_INIT(256);

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	for (int i = 0; i < MAX_CONNS; i++)
		s->conns[i].fd = -1;
	s->lfd = net_listen_tcp("127.0.0.1", 0, 16, &err);
	assert_true(s->lfd >= 0);
	s->port = (unsigned)net_local_port(s->lfd);
	assert_int(evloop_io_add(loop, s->lfd, EV_READ, on_accept, s), 0);
	buf_deinit(&err);
}

static void
server_stop(struct server *s)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i].fd >= 0)
			sconn_close(s, &s->conns[i]);
	evloop_io_del(s->loop, s->lfd);
	(void)close(s->lfd);
}

/* --- the owner of the transfers ---------------------------------------- */

struct owner;

struct xfer {
	struct owner *o;
	CURL *easy;
	struct buf body;
	int done, dropped, zombie;
	CURLcode result;
	long code;
	int drop_in_write; /* drop it from inside the write callback */
	const char *then;  /* start this path when done */
};

struct owner {
	struct evloop *loop;
	struct curlloop *cl;
	struct server *srv;
	struct xfer x[8];
	size_t nx;
	unsigned dones, returned_calls, reaped;
	int done_saw_in_curl, write_saw_in_curl;
};

static struct xfer *xfer_start(struct owner *o, const char *path,
			       long timeout_ms);

/* write_cb: collect the body; drop the transfer when asked to */
static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	x->o->write_saw_in_curl |= curlloop_in_curl(x->o->cl);
	if (x->drop_in_write) {
		/* curl is on the stack: mark it, the returned hook reaps */
		x->zombie = 1;
		return 0;
	}
	assert_int(buf_append(&x->body, p, size * n), 0);
	return size * n;
}

/* xfer_free: the owner's cleanup of one transfer */
static void
xfer_free(struct xfer *x)
{
	curlloop_remove(x->o->cl, x->easy);
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
	buf_deinit(&x->body);
}

/* on_returned: reap transfers marked inside curl */
static void
on_returned(void *arg)
{
	struct owner *o = arg;

	o->returned_calls++;
	for (size_t i = 0; i < o->nx; i++) {
		if (o->x[i].zombie && o->x[i].easy != NULL) {
			xfer_free(&o->x[i]);
			o->x[i].dropped = 1;
			o->reaped++;
		}
	}
}

/* on_done: record the result; maybe start the next transfer */
static void
on_done(void *arg, CURL *easy, CURLcode result)
{
	struct owner *o = arg;
	struct xfer *x = NULL;

	o->done_saw_in_curl |= curlloop_in_curl(o->cl);
	assert_int(curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x),
		   CURLE_OK);
	assert_non_null(x);
	assert_false(x->zombie); /* a dropped transfer is never reported */
	x->result = result;
	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->code);
	x->done = 1;
	o->dones++;
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
	if (x->then != NULL)
		(void)xfer_start(o, x->then, 5000);
}

static struct xfer *
xfer_start(struct owner *o, const char *path, long timeout_ms)
{
	struct xfer *x = &o->x[o->nx++];
	char url[128];

	assert_true(o->nx <= sizeof(o->x) / sizeof(o->x[0]));
	memset(x, 0, sizeof(*x));
	x->o = o;
	buf_init(&x->body, BIG_LEN);
	x->easy = curl_easy_init();
	assert_non_null(x->easy);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", o->srv->port,
		       path);
	(void)curl_easy_setopt(x->easy, CURLOPT_URL, url);
	(void)curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	(void)curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
	(void)curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	(void)curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	assert_int(curlloop_add(o->cl, x->easy), 0);
	return x;
}

/* run_until: dispatch until *count reaches want; at most 10 s */
static void
run_until(struct owner *o, const unsigned *count, unsigned want)
{
	for (int round = 0; round < 1000 && *count < want; round++)
		assert_true(evloop_run_once(o->loop, 10) >= 0);
	assert_int(*count, want);
}

static int
setup(void **state)
{
	static struct server srv;
	struct owner *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	o->loop = evloop_new();
	assert_non_null(o->loop);
	server_start(&srv, o->loop);
	o->srv = &srv;
	o->cl = curlloop_new(o->loop, on_done, on_returned, o);
	assert_non_null(o->cl);
	*state = o;
	return 0;
}

static int
teardown(void **state)
{
	struct owner *o = *state;

	for (size_t i = 0; i < o->nx; i++)
		if (o->x[i].easy != NULL)
			xfer_free(&o->x[i]);
		else
			buf_deinit(&o->x[i].body);
	curlloop_free(&o->cl);
	assert_null(o->cl);
	server_stop(o->srv);
	/* curl's sockets are all gone from the loop */
	assert_int(evloop_io_count(o->loop), 0);
	evloop_free(&o->loop);
	free(o);
	return 0;
}

/* three transfers at once, one of them 256 kB */
static void
test_parallel(void **state)
{
	struct owner *o = *state;
	struct xfer *a = xfer_start(o, "/ok", 5000);
	struct xfer *b = xfer_start(o, "/big", 5000);
	struct xfer *c = xfer_start(o, "/missing", 5000);

	run_until(o, &o->dones, 3);
	assert_int(a->result, CURLE_OK);
	assert_int(a->code, 200);
	assert_str(buf_cstr(&a->body), "hello");
	assert_int(b->result, CURLE_OK);
	assert_int(b->body.len, BIG_LEN);
	assert_int(b->body.data[BIG_LEN - 1], 'a' + (BIG_LEN - 1) % 26);
	assert_int(c->code, 404);
	assert_true(o->write_saw_in_curl);
	assert_false(o->done_saw_in_curl);
	assert_true(o->returned_calls > 0);
}

/* a done callback starts the next transfer */
static void
test_chain(void **state)
{
	struct owner *o = *state;
	struct xfer *a = xfer_start(o, "/ok", 5000);

	a->then = "/ok";
	run_until(o, &o->dones, 2);
	assert_int(o->x[1].code, 200);
	assert_str(buf_cstr(&o->x[1].body), "hello");
}

/* curl's timer: a transfer without an answer times out */
static void
test_timeout(void **state)
{
	struct owner *o = *state;
	struct xfer *a = xfer_start(o, "/slow", 200);

	run_until(o, &o->dones, 1);
	assert_int(a->result, CURLE_OPERATION_TIMEDOUT);
}

/* dropped inside curl's write callback: reaped once curl returned,
 * never reported; the other transfer is unaffected */
static void
test_drop_inside_curl(void **state)
{
	struct owner *o = *state;
	struct xfer *a = xfer_start(o, "/big", 5000);
	struct xfer *b = xfer_start(o, "/ok", 5000);

	a->drop_in_write = 1;
	run_until(o, &o->reaped, 1);
	run_until(o, &o->dones, 1);
	assert_true(a->dropped);
	assert_false(a->done);
	assert_int(b->code, 200);
}

/* freeing with transfers in flight (the server never answers) */
static void
test_free_in_flight(void **state)
{
	struct owner *o = *state;

	(void)xfer_start(o, "/slow", 60000);
	(void)xfer_start(o, "/slow", 60000);
	run_until(o, &o->srv->requests, 2);
	assert_int(o->dones, 0);
	/* teardown removes and frees both, then the multi handle */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_inside_curl, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_in_flight, setup,
						teardown),
	};

	(void)signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
