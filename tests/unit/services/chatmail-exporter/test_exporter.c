/*
 * test_exporter: the merge of metric texts (a table of sources in and
 * the merged 0.0.4 text out: families written once, the service label
 * first, OpenMetrics counters, info and histograms, Dovecot's shapes,
 * type conflicts, malformed lines dropped and counted), the --source
 * syntax, and a whole scrape over real sockets: a service's prom
 * listener on a Unix socket, a textfile and a source that is down.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "exporter.h"
#include "fs.h"
#include "net.h"
#include "prom.h"

struct merge_case {
	const char *name;
	const char *src[3][2]; /* service, text; NULL ends */
	const char *want;
	uint64_t dropped;
};

static const struct merge_case cases[] = {
	{ "one family from two services, labels first",
	  { { "a", "# HELP up_total Ups.\n# TYPE up_total counter\n"
		   "up_total 1\nup_total{kind=\"x\"} 2\n" },
	    { "b", "# TYPE up_total counter\nup_total 5\n" } },
	  "# HELP up_total Ups.\n# TYPE up_total counter\n"
	  "up_total{service=\"a\"} 1\nup_total{service=\"a\",kind=\"x\"} 2\n"
	  "up_total{service=\"b\"} 5\n",
	  0 },
	{ "OpenMetrics: counter x with x_total, _created dropped, info, EOF",
	  { { "dovecot",
	      "# HELP dc_auth Auths.\n# TYPE dc_auth counter\n"
	      "dc_auth_total 3\ndc_auth_created 1.7e9\n"
	      "# TYPE dc_build info\n"
	      "dc_build_info{version=\"2.3\"} 1\n# UNIT x y\n# EOF\n" } },
	  "# HELP dc_auth_total Auths.\n# TYPE dc_auth_total counter\n"
	  "dc_auth_total{service=\"dovecot\"} 3\n"
	  "# TYPE dc_build_info gauge\n"
	  "dc_build_info{service=\"dovecot\",version=\"2.3\"} 1\n",
	  0 },
	{ "Dovecot's grouped counter writes x_count and x_sum",
	  { { "dovecot",
	      "# HELP d_req Total number.\n# TYPE d_req counter\n"
	      "d_req_count 0\n# TYPE d_req_duration_seconds counter\n"
	      "d_req_duration_seconds_sum 0.000000\n" } },
	  "# HELP d_req_count Total number.\n# TYPE d_req_count counter\n"
	  "d_req_count{service=\"dovecot\"} 0\n"
	  "# TYPE d_req_duration_seconds_sum counter\n"
	  "d_req_duration_seconds_sum{service=\"dovecot\"} 0.000000\n",
	  0 },
	{ "histogram samples stay in their family; timestamps go",
	  { { "f", "# TYPE h histogram\nh_bucket{le=\"1\"} 1 1700000000000\n"
		   "h_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n"
		   "h_created 5\n" } },
	  "# TYPE h histogram\nh_bucket{service=\"f\",le=\"1\"} 1\n"
	  "h_bucket{service=\"f\",le=\"+Inf\"} 2\nh_sum{service=\"f\"} 3.5\n"
	  "h_count{service=\"f\"} 2\n",
	  0 },
	{ "a source's own service label is kept as exported_service",
	  { { "x", "g{service=\"other\",b=\"q\\\"\\\\\"} +Inf\n" } },
	  "# TYPE g untyped\n"
	  "g{service=\"x\",exported_service=\"other\",b=\"q\\\"\\\\\"} +Inf\n",
	  0 },
	{ "type conflict across sources: the later one is dropped",
	  { { "a", "# TYPE m gauge\nm 1\n" },
	    { "b", "# TYPE m counter\nm 2\n" } },
	  "# TYPE m gauge\nm{service=\"a\"} 1\n",
	  1 },
	{ "malformed lines are dropped and counted, the rest is kept",
	  { { "a", "ok 1\n9bad 1\nnoval\nx{a=\"1\" 2\nx{=\"1\"} 2\n"
		   "y abc\nz 1e3\r\n# HELP\nw{a=\"open} 1\n" } },
	  "# TYPE ok untyped\nok{service=\"a\"} 1\n"
	  "# TYPE z untyped\nz{service=\"a\"} 1e3\n",
	  6 },
	{ "exemplars are dropped with the timestamp",
	  { { "a", "# TYPE c counter\nc_total 4 # {id=\"x\"} 1\n" } },
	  "# TYPE c_total counter\nc_total{service=\"a\"} 4\n",
	  0 },
};

static void
test_merge_cases(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct merge_case *c = &cases[i];
		struct exporter_merge *m = exporter_merge_new();
		struct buf out = BUF_INIT(1 << 16);

		for (j = 0; j < 3 && c->src[j][0] != NULL; j++)
			assert_int(exporter_merge_add(m, c->src[j][0],
						      c->src[j][1],
						      strlen(c->src[j][1])),
				   0);
		assert_int(exporter_merge_render(m, &out), 0);
		if (strcmp(buf_cstr(&out), c->want) != 0)
			print_error("case: %s\n", c->name);
		assert_str(buf_cstr(&out), c->want);
		assert_int(exporter_merge_dropped(m), c->dropped);
		exporter_merge_free(&m);
		buf_deinit(&out);
	}
}

/* the services' own text (prom.c) goes through unchanged but for the
 * label, byte for byte */
static void
test_merge_prom_render(void **state)
{
	static const double le[] = { 0.5 };
	struct st {
		uint64_t c;
		struct prom_hist h;
	} st = { 2, { { 1, 0 }, 1, 0.25 } };
	static const struct prom_metric t[] = {
		PROM_C("dkim_signed", NULL, struct st, c, "Signed."),
		PROM_H("lat_seconds", struct st, h, le, "Latency."),
	};
	struct buf in = BUF_INIT(4096), out = BUF_INIT(4096);
	struct exporter_merge *m = exporter_merge_new();

	(void)state;
	assert_int(prom_render(&in, t, 2, &st), 0);
	assert_int(exporter_merge_add(m, "fo", in.data, in.len), 0);
	assert_int(exporter_merge_render(m, &out), 0);
	assert_str(buf_cstr(&out),
		   "# HELP dkim_signed Signed.\n# TYPE dkim_signed counter\n"
		   "dkim_signed{service=\"fo\"} 2\n"
		   "# HELP lat_seconds Latency.\n"
		   "# TYPE lat_seconds histogram\n"
		   "lat_seconds_bucket{service=\"fo\",le=\"0.5\"} 1\n"
		   "lat_seconds_bucket{service=\"fo\",le=\"+Inf\"} 1\n"
		   "lat_seconds_sum{service=\"fo\"} 0.25\n"
		   "lat_seconds_count{service=\"fo\"} 1\n");
	assert_int(exporter_merge_dropped(m), 0);
	exporter_merge_free(&m);
	buf_deinit(&in);
	buf_deinit(&out);
}

/* a line over the limit is dropped, not grown into */
static void
test_merge_limits(void **state)
{
	struct exporter_merge *m = exporter_merge_new();
	size_t n = EXPORTER_LINE_MAX + 10;
	char *long_line = malloc(n + 8);

	(void)state;
	assert_non_null(long_line);
	memset(long_line, 'a', n);
	memcpy(long_line + n, " 1\nb 2\n", 8);
	assert_int(exporter_merge_add(m, "s", long_line, strlen(long_line)), 0);
	assert_int(exporter_merge_dropped(m), 1);
	exporter_merge_free(&m);
	free(long_line);
}

static void
test_source_parse(void **state)
{
	struct exporter_source s;

	(void)state;
	assert_int(exporter_source_parse("doveauth=unix:/run/x", &s), 0);
	assert_str(s.name, "doveauth");
	assert_str(s.where, "unix:/run/x");
	assert_int(exporter_source_parse("dovecot=http://127.0.0.1:3904/m", &s),
		   0);
	assert_int(exporter_source_parse("fs=file:/home/x.prom", &s), 0);
	assert_int(exporter_source_parse("=unix:/x", &s), -EINVAL);
	assert_int(exporter_source_parse("a\"b=unix:/x", &s), -EINVAL);
	assert_int(exporter_source_parse("a=ftp://x", &s), -EINVAL);
	assert_int(exporter_source_parse("a", &s), -EINVAL);
}

struct svc {
	uint64_t created;
};

static const struct prom_metric svc_table[] = {
	PROM_C("created_accounts", NULL, struct svc, created, "Created."),
};

static int
svc_render(void *arg, struct buf *out)
{
	return prom_render(out, svc_table, 1, arg);
}

/* scrape_once: GET /metrics from the exporter on path, pumping loop */
static void
scrape_once(struct evloop *loop, const char *path, struct buf *got)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	char b[8192];
	ssize_t r;
	int fd, i;

	buf_reset(got);
	assert_int(net_connect_unix(path, &fd), 0);
	assert_int(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL),
		   (ssize_t)sizeof(req) - 1);
	for (i = 0; i < 2000; i++) {
		(void)evloop_run_once(loop, 5);
		r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			assert_int(buf_append(got, b, (size_t)r), 0);
	}
	(void)close(fd);
}

/* coalesced: three requests at once, one of them gone before the
 * answer: the others get one scrape's text */
static void
coalesced(struct evloop *loop, const char *path, struct buf *got)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	char b[8192];
	ssize_t r;
	int fd[3], done[2] = { 0, 0 }, i, k, closed = 0;

	buf_reset(got);
	for (k = 0; k < 3; k++) {
		assert_int(net_connect_unix(path, &fd[k]), 0);
		assert_int(send(fd[k], req, sizeof(req) - 1, MSG_NOSIGNAL),
			   (ssize_t)sizeof(req) - 1);
	}
	(void)evloop_run_once(loop, 0);
	(void)close(fd[2]);
	for (i = 0; i < 2000 && closed < 2; i++) {
		(void)evloop_run_once(loop, 5);
		for (k = 0; k < 2; k++) {
			if (done[k])
				continue;
			r = recv(fd[k], b, sizeof(b), MSG_DONTWAIT);
			if (r == 0) {
				done[k] = 1;
				closed++;
			} else if (r > 0 && k == 0) {
				assert_int(buf_append(got, b, (size_t)r), 0);
			}
		}
	}
	assert_int(closed, 2);
	(void)close(fd[0]);
	(void)close(fd[1]);
}

/* opts_for: the exporter on l with a service on a, a textfile b and a
 * socket in dir that nobody serves; c holds the specs */
static void
opts_for(struct exporter_opts *o, char c[3][700], const char *l, const char *a,
	 const char *b, const char *dir)
{
	memset(o, 0, sizeof(*o));
	o->listen = l;
	o->timeout_ms = 2000;
	/* a source's where points into its spec: one buffer each */
	(void)snprintf(c[0], 700, "doveauth=%s", a);
	assert_int(exporter_source_parse(c[0], &o->sources[0]), 0);
	(void)snprintf(c[1], 700, "fsreport=file:%s", b);
	assert_int(exporter_source_parse(c[1], &o->sources[1]), 0);
	(void)snprintf(c[2], 700, "gone=unix:%s/none.sock", dir);
	assert_int(exporter_source_parse(c[2], &o->sources[2]), 0);
	o->nsources = 3;
}

static void
test_scrape(void **state)
{
	struct evloop *loop = evloop_new();
	struct buf err = BUF_INIT(512), got = BUF_INIT(1 << 20);
	char *dir = test_tmpdir(), a[600], b[600], c[3][700], d[600], l[700];
	struct exporter_opts o;
	struct prom_server *p;
	struct exporter *e;
	struct svc st = { 1 };

	(void)state;
	(void)snprintf(a, sizeof(a), "unix:%s/svc.sock", dir);
	(void)snprintf(b, sizeof(b), "%s/fs.prom", dir);
	(void)snprintf(d, sizeof(d), "%s/exp.sock", dir);
	(void)snprintf(l, sizeof(l), "unix:%s", d);
	assert_int(fs_write_atomic(b, "chatmail_accounts{kind=\"all\"} 4\n", 32,
				   0644, 0),
		   0);
	p = prom_server_new(loop, a, svc_render, &st, &err);
	assert_non_null(p);
	opts_for(&o, c, l, a, b, dir);
	e = exporter_new(loop, &o, &err);
	assert_non_null(e);
	scrape_once(loop, d, &got);
	assert_non_null(strstr(buf_cstr(&got), "HTTP/1.1 200 OK\r\n"));
	assert_non_null(
		strstr(buf_cstr(&got), "Content-Type: " PROM_CONTENT_TYPE));
	assert_non_null(strstr(buf_cstr(&got),
			       "\ncreated_accounts{service=\"doveauth\"} 1\n"));
	assert_non_null(strstr(buf_cstr(&got),
			       "\nchatmail_accounts{service=\"fsreport\","
			       "kind=\"all\"} 4\n"));
	assert_non_null(strstr(buf_cstr(&got), "\nchatmail_exporter_source_up{"
					       "service=\"gone\"} 0\n"));
	assert_non_null(strstr(buf_cstr(&got), "\nchatmail_exporter_source_up{"
					       "service=\"doveauth\"} 1\n"));
	/* the counter moved: the next scrape shows it */
	st.created = 3;
	scrape_once(loop, d, &got);
	assert_non_null(strstr(buf_cstr(&got),
			       "\ncreated_accounts{service=\"doveauth\"} 3\n"));
	assert_non_null(strstr(buf_cstr(&got),
			       "\nchatmail_exporter_scrapes_total 2\n"));
	coalesced(loop, d, &got);
	assert_non_null(strstr(buf_cstr(&got),
			       "\nchatmail_exporter_scrapes_total 3\n"));
	exporter_free(&e);
	prom_server_free(&p);
	evloop_free(&loop);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
	buf_deinit(&got);
}

/* serve_child: a child process serving svc_table on addr for up to
 * 10 s (exporter_check blocks, so the service is another process) */
static pid_t
serve_child(const char *addr)
{
	struct buf err = BUF_INIT(256);
	struct svc st = { 1 };
	struct evloop *loop;
	struct prom_server *p;
	pid_t pid = fork();
	int i;

	assert_true(pid >= 0);
	if (pid > 0)
		return pid;
	loop = evloop_new();
	p = prom_server_new(loop, addr, svc_render, &st, &err);
	for (i = 0; p != NULL && i < 1000; i++)
		(void)evloop_run_once(loop, 10);
	_exit(p != NULL ? 0 : 1);
}

/* test_check: --check is 0 for a service that answers, an error for
 * one that is gone, one that never answers (a hung loop: accepted by
 * the kernel, never read), and an address that is no Unix socket */
static void
test_check(void **state)
{
	struct buf err = BUF_INIT(512);
	char *dir = test_tmpdir(), a[600], h[600];
	pid_t pid;
	int lfd, i;

	(void)state;
	(void)snprintf(a, sizeof(a), "unix:%s/svc.metrics", dir);
	pid = serve_child(a);
	for (i = 0; i < 500 && exporter_check(a, 1000, &err) < 0; i++) {
		buf_reset(&err);
		(void)usleep(10000);
	}
	assert_int(exporter_check(a, 2000, &err), 0);
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	assert_true(exporter_check(a, 500, &err) < 0);
	buf_reset(&err);
	(void)snprintf(h, sizeof(h), "%s/hung.metrics", dir);
	lfd = net_listen_unix(h, 0600, (uid_t)-1, (gid_t)-1, 4, &err);
	assert_true(lfd >= 0);
	(void)snprintf(h, sizeof(h), "unix:%s/hung.metrics", dir);
	assert_int(exporter_check(h, 200, &err), -ETIMEDOUT);
	assert_non_null(strstr(buf_cstr(&err), "timed out"));
	(void)close(lfd);
	assert_int(exporter_check("127.0.0.1:9464", 200, &err), -EINVAL);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_cases),
		cmocka_unit_test(test_merge_prom_render),
		cmocka_unit_test(test_merge_limits),
		cmocka_unit_test(test_source_parse),
		cmocka_unit_test(test_scrape),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
