/*
 * test_informer: the informer with the real API client (libcurl over
 * TLS) against a canned API server: a child process that answers each
 * request from a script of responses (LIST pages and watch streams) and
 * records the request lines, so the tests see which request the
 * informer made next.
 *
 *  - a watch that ends with an ERROR event of code 500 (what etcd's
 *    compaction at exactly the next change's revision gives) is
 *    followed by a LIST, not by a watch from the same resourceVersion,
 *    and the cache then holds the re-listed objects;
 *  - a watch ERROR 410 re-lists too;
 *  - a watch the server ended normally is re-opened from the last
 *    resourceVersion seen (no LIST).
 *
 * The server speaks HTTP/1.1 with Connection: close on every answer,
 * one connection at a time.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "evloop.h"
#include "informer.h"
#include "keys.h"
#include "kube_client.h"
#include "kube_config.h"

#define MAX_REQ 8

/* one scripted answer: the body after a 200 */
struct answer {
	const char *body;
};

struct fake {
	pid_t pid;
	int port;
	char log[256]; /* request lines, one per line */
	struct buf cert, key;
};

/* serve_one: read one request, log its line, write the answer */
static void
serve_one(SSL *ssl, const char *body, FILE *log)
{
	char req[8192], head[256];
	size_t n = 0;
	int r;

	while (n + 1 < sizeof(req)) {
		r = SSL_read(ssl, req + n, (int)(sizeof(req) - 1 - n));
		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[strcspn(req, "\r\n")] = '\0';
	(void)fprintf(log, "%s\n", req);
	(void)fflush(log);
	(void)snprintf(head, sizeof(head),
		       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		       "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		       strlen(body));
	(void)SSL_write(ssl, head, (int)strlen(head));
	(void)SSL_write(ssl, body, (int)strlen(body));
}

/* serve: the child: answer the script in order, then hang up on the
 * rest */
static void
serve(int lfd, struct fake *f, const struct answer *script, size_t n)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO *cb = BIO_new_mem_buf(f->cert.data, (int)f->cert.len);
	BIO *kb = BIO_new_mem_buf(f->key.data, (int)f->key.len);
	X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	EVP_PKEY *pk = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	FILE *log = fopen(f->log, "w");
	size_t i;
	SSL *ssl;
	int fd;

	if (ctx == NULL || x == NULL || pk == NULL || log == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1)
		_exit(2);
	for (i = 0;; i++) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(3);
		ssl = SSL_new(ctx);
		(void)SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			if (i < n)
				serve_one(ssl, script[i].body, log);
			else
				(void)fprintf(log, "(extra connection)\n");
			(void)fflush(log);
			(void)SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		(void)close(fd);
	}
}

/* fake_start: the canned server in a child process */
static void
fake_start(struct fake *f, const struct answer *script, size_t n)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char *dir = test_tmpdir();
	int lfd;

	memset(f, 0, sizeof(f[0]));
	buf_init(&f->cert, 65536);
	buf_init(&f->key, 65536);
	assert_int(keys_self_signed("127.0.0.1", 1, &f->cert, &f->key), 0);
	(void)snprintf(f->log, sizeof(f->log), "%s/requests", dir);
	free(dir);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int(listen(lfd, 16), 0);
	assert_int(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		/* a failed assertion skips fake_stop: die with the test */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		serve(lfd, f, script, n);
	}
	(void)close(lfd);
}

/* fake_stop: kill the server, remove its log */
static void
fake_stop(struct fake *f)
{
	char *slash;

	(void)kill(f->pid, SIGKILL);
	(void)waitpid(f->pid, NULL, 0);
	slash = strrchr(f->log, '/');
	*slash = '\0';
	test_rmtree(f->log);
	buf_deinit(&f->cert);
	buf_wipe_deinit(&f->key);
}

/* requests: the request lines the server saw so far */
static void
requests(const struct fake *f, char *out, size_t outsize)
{
	FILE *log = fopen(f->log, "r");
	size_t n = 0;

	out[0] = '\0';
	if (log == NULL)
		return;
	n = fread(out, 1, outsize - 1, log);
	out[n] = '\0';
	(void)fclose(log);
}

/* count_lines: lines of s starting with prefix */
static int
count_lines(const char *s, const char *prefix)
{
	int n = 0;

	for (; s != NULL && *s != '\0'; s = strchr(s, '\n'), s += s ? 1 : 0) {
		if (strncmp(s, prefix, strlen(prefix)) == 0)
			n++;
		if (strchr(s, '\n') == NULL)
			break;
	}
	return n;
}

/* nth_line: the n-th line (0-based) of s into out */
static void
nth_line(const char *s, int n, char *out, size_t outsize)
{
	for (; n > 0 && s != NULL; n--) {
		s = strchr(s, '\n');
		if (s != NULL)
			s++;
	}
	(void)snprintf(out, outsize, "%.*s", s ? (int)strcspn(s, "\n") : 0,
		       s ? s : "");
}

struct run {
	struct evloop *loop;
	struct kube_config kc;
	struct kube_client *c;
	struct informer *inf;
};

/* run_start: a client for the fake server and a ConfigMap informer */
static void
run_start(struct run *r, const struct fake *f)
{
	struct informer_opts o;
	char url[64];

	memset(r, 0, sizeof(*r));
	r->loop = evloop_new();
	kube_config_init(&r->kc);
	(void)snprintf(url, sizeof(url), "https://127.0.0.1:%d", f->port);
	r->kc.server = strdup(url);
	assert_int(buf_append(&r->kc.ca, f->cert.data, f->cert.len), 0);
	r->c = kube_client_new(r->loop, &r->kc, NULL);
	memset(&o, 0, sizeof(o));
	o.kind = &KUBE_CONFIGMAP;
	o.namespace = "t";
	r->inf = informer_new(r->loop, r->c, &o, NULL);
	informer_start(r->inf);
}

/* run_until: run the loop until the server saw want request lines (or
 * 10 s passed) */
static void
run_until(struct run *r, const struct fake *f, int want)
{
	char seen[4096];
	int i;

	for (i = 0; i < 200; i++) {
		(void)evloop_run_once(r->loop, 50);
		requests(f, seen, sizeof(seen));
		if (count_lines(seen, "GET ") >= want)
			break;
	}
	/* let the last answer reach the cache */
	for (i = 0; i < 10; i++)
		(void)evloop_run_once(r->loop, 20);
}

static void
run_stop(struct run *r)
{
	informer_free(&r->inf);
	kube_client_free(&r->c);
	kube_config_deinit(&r->kc);
	evloop_free(&r->loop);
}

#define LIST1                                                            \
	"{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":" \
	"\"10\"},"                                                       \
	"\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"t\","  \
	"\"resourceVersion\":\"9\"}}]}"
#define LIST2                                                            \
	"{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":" \
	"\"20\"},"                                                       \
	"\"items\":[{\"metadata\":{\"name\":\"b\",\"namespace\":\"t\","  \
	"\"resourceVersion\":\"19\"}}]}"
#define WATCH_ERROR(code)                                                     \
	"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":" \
	"\"v1\",\"status\":\"Failure\",\"message\":\"etcdserver: mvcc: "      \
	"required revision has been compacted\",\"code\":" #code "}}\n"
#define WATCH_ADDED                                                     \
	"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"c\"," \
	"\"namespace\":\"t\",\"resourceVersion\":\"11\"}}}\n"

/* relist_after: a watch ending in ERROR code is followed by a LIST */
static void
relist_after(const char *error_event)
{
	const struct answer script[] = {
		{ LIST1 },
		{ error_event },
		{ LIST2 },
		{ "" },
	};
	struct fake f;
	struct run r;
	char seen[4096], line[1024];

	fake_start(&f, script, 4);
	run_start(&r, &f);
	run_until(&r, &f, 3);
	requests(&f, seen, sizeof(seen));
	nth_line(seen, 0, line, sizeof(line));
	assert_non_null(strstr(line, "/api/v1/namespaces/t/configmaps?limit="));
	nth_line(seen, 1, line, sizeof(line));
	assert_non_null(strstr(line, "watch=1"));
	assert_non_null(strstr(line, "resourceVersion=10"));
	nth_line(seen, 2, line, sizeof(line));
	if (strstr(line, "watch=1") != NULL || line[0] == '\0') {
		print_error("after the ERROR event, want a LIST; requests:\n%s",
			    seen);
		fail();
	}
	assert_int(informer_relists(r.inf), 2);
	assert_null(informer_get(r.inf, "t/a"));
	assert_non_null(informer_get(r.inf, "t/b"));
	assert_str(informer_rv(r.inf), "20");
	run_stop(&r);
	fake_stop(&f);
}

static void
test_error_500_relists(void **state)
{
	(void)state;
	relist_after(WATCH_ERROR(500));
}

static void
test_error_410_relists(void **state)
{
	(void)state;
	relist_after(WATCH_ERROR(410));
}

static void
test_watch_end_rewatches(void **state)
{
	const struct answer script[] = {
		{ LIST1 },
		{ WATCH_ADDED },
		{ "" },
	};
	struct fake f;
	struct run r;
	char seen[4096], line[1024];

	(void)state;
	fake_start(&f, script, 3);
	run_start(&r, &f);
	run_until(&r, &f, 3);
	requests(&f, seen, sizeof(seen));
	nth_line(seen, 2, line, sizeof(line));
	assert_non_null(strstr(line, "watch=1"));
	assert_non_null(strstr(line, "resourceVersion=11"));
	assert_int(informer_relists(r.inf), 1);
	assert_non_null(informer_get(r.inf, "t/a"));
	assert_non_null(informer_get(r.inf, "t/c"));
	run_stop(&r);
	fake_stop(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_500_relists),
		cmocka_unit_test(test_error_410_relists),
		cmocka_unit_test(test_watch_end_rewatches),
	};

	(void)signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
