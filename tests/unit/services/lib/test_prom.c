/* test_prom: tables rendered as Prometheus text (families, labels,
 * cumulative histogram buckets), and GET /metrics on a Unix socket */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "evloop.h"
#include "net.h"
#include "prom.h"

struct stats {
	uint64_t created, ci, nonci, open;
	struct prom_hist lat;
};

static const double le[] = { 0.01, 0.1, 1 };

static const struct prom_metric table[] = {
	PROM_C("created_accounts", NULL, struct stats, created,
	       "Accounts created."),
	PROM_C("chatmail_accounts_created_total", "kind=\"ci\"", struct stats,
	       ci, "Accounts created by kind."),
	PROM_C("chatmail_accounts_created_total", "kind=\"nonci\"",
	       struct stats, nonci, ""),
	PROM_G("chatmail_open", NULL, struct stats, open, "Open now."),
	PROM_H("chatmail_latency_seconds", struct stats, lat, le, "Latency."),
};

static void
test_render(void **state)
{
	struct stats st = { 3, 1, 2, 7, { { 0 }, 0, 0 } };
	struct buf out = BUF_INIT(4096);

	(void)state;
	prom_hist_observe(&st.lat, le, 3, 0.005);
	prom_hist_observe(&st.lat, le, 3, 0.1); /* on a bound: that bucket */
	prom_hist_observe(&st.lat, le, 3, 0.5);
	prom_hist_observe(&st.lat, le, 3, 5);
	assert_int(prom_render(&out, table, 5, &st), 0);
	assert_str(buf_cstr(&out),
		   "# HELP created_accounts Accounts created.\n"
		   "# TYPE created_accounts counter\n"
		   "created_accounts 3\n"
		   "# HELP chatmail_accounts_created_total Accounts created "
		   "by kind.\n"
		   "# TYPE chatmail_accounts_created_total counter\n"
		   "chatmail_accounts_created_total{kind=\"ci\"} 1\n"
		   "chatmail_accounts_created_total{kind=\"nonci\"} 2\n"
		   "# HELP chatmail_open Open now.\n"
		   "# TYPE chatmail_open gauge\n"
		   "chatmail_open 7\n"
		   "# HELP chatmail_latency_seconds Latency.\n"
		   "# TYPE chatmail_latency_seconds histogram\n"
		   "chatmail_latency_seconds_bucket{le=\"0.01\"} 1\n"
		   "chatmail_latency_seconds_bucket{le=\"0.1\"} 2\n"
		   "chatmail_latency_seconds_bucket{le=\"1\"} 3\n"
		   "chatmail_latency_seconds_bucket{le=\"+Inf\"} 4\n"
		   "chatmail_latency_seconds_sum 5.6050000000000004\n"
		   "chatmail_latency_seconds_count 4\n");
	buf_deinit(&out);
}

static void
test_render_too_large(void **state)
{
	struct stats st = { 0 };
	struct buf out = BUF_INIT(40);

	(void)state;
	assert_int(prom_render(&out, table, 5, &st), -E2BIG);
	buf_deinit(&out);
}

static int
render_fn(void *arg, struct buf *out)
{
	return prom_render(out, table, 5, arg);
}

/* get: send req on a fresh connection to path, pump the loop until the
 * server closes; the answer into out */
static void
get(struct evloop *loop, const char *path, const char *req, char *out,
    size_t outsize)
{
	size_t n = 0;
	ssize_t r;
	int fd, i;

	assert_int(net_connect_unix(path, &fd), 0);
	assert_int(send(fd, req, strlen(req), MSG_NOSIGNAL),
		   (ssize_t)strlen(req));
	for (i = 0; i < 1000; i++) {
		(void)evloop_run_once(loop, 5);
		r = recv(fd, out + n, outsize - 1 - n, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			n += (size_t)r;
	}
	out[n] = '\0';
	(void)close(fd);
}

static void
test_server(void **state)
{
	struct stats st = { 5, 0, 0, 1, { { 0 }, 0, 0 } };
	struct buf err = BUF_INIT(256);
	struct evloop *loop = evloop_new();
	struct prom_server *s;
	char *dir = test_tmpdir(), path[512], spec[520], out[8192];

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/m.sock", dir);
	(void)snprintf(spec, sizeof(spec), "unix:%s", path);
	s = prom_server_new(loop, spec, render_fn, &st, &err);
	assert_non_null(s);
	get(loop, path,
	    "GET /metrics HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n",
	    out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200 "));
	assert_non_null(strstr(out, "Content-Type: " PROM_CONTENT_TYPE));
	assert_non_null(strstr(out, "\r\n\r\n# HELP created_accounts "));
	assert_non_null(strstr(out, "\ncreated_accounts 5\n"));
	assert_non_null(strstr(out, "\nprocess_resident_memory_bytes "));
	assert_non_null(strstr(out, "\nprocess_start_time_seconds "));
	/* a counter that moved is seen moved on the next scrape */
	st.created++;
	get(loop, path, "GET /metrics HTTP/1.0\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "\ncreated_accounts 6\n"));
	get(loop, path, "GET / HTTP/1.0\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 404 "));
	get(loop, path, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
	    out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 405 "));
	prom_server_free(&s);
	assert_null(s);
	/* a bad listen address is refused with a reason */
	assert_null(prom_server_new(loop, "nowhere", render_fn, &st, &err));
	assert_non_null(strstr(buf_cstr(&err), "nowhere"));
	evloop_free(&loop);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_too_large),
		cmocka_unit_test(test_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
