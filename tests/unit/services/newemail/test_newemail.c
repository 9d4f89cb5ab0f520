/*
 * test_newemail: credential shape and charset (upstream's alphabets and
 * lengths), uniformity of the draw, Python-compatible JSON and URL
 * quoting, the dclogin URL for self-signed and IPv4 relays, and the
 * whole answer parsed back with cJSON; the answers counted for the
 * metrics, over a Unix socket. The HTTP side is tested through real
 * nginx in tests/integration/jobs/test_newemail_nginx.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/newemail/newemail.h"
#include "evloop.h"
#include "net.h"

static char d_acme[] = "chat.example.org", d_self[] = "_chat.example.org",
	    d_ip[] = "[1.3.3.7]", d_ipbare[] = "1.3.3.7";

/* cfg_of: the fields newemail reads */
static void
cfg_of(struct chatmail_config *c, char *domain, char *bare, int self, int ipv4)
{
	memset(c, 0, sizeof(*c));
	c->mail_domain = domain;
	c->mail_domain_bare = bare;
	c->username_max_length = 9;
	c->password_min_length = 9;
	c->tls_cert_mode = self ? TLS_CERT_SELF : TLS_CERT_ACME;
	c->ipv4_relay = ipv4;
}

/* shape: lengths and alphabets, many draws */
static void
shape(void **state)
{
	char s[NEWEMAIL_MAX_LEN + 1];
	int i;
	size_t j;

	(void)state;
	for (i = 0; i < 1000; i++) {
		assert_int(newemail_random(NEWEMAIL_ALNUM, 9, s), 0);
		assert_int(strlen(s), 9);
		assert_int(strspn(s, NEWEMAIL_ALNUM), 9);
		assert_int(newemail_random(NEWEMAIL_PASSCHARS, 12, s), 0);
		assert_int(strlen(s), 12);
		for (j = 0; j < 12; j++)
			assert_true(s[j] > ' ' && s[j] < 0x7f);
	}
	assert_int(strlen(NEWEMAIL_PASSCHARS), 26 + 26 + 10 + 32);
	assert_int(newemail_random("", 3, s), -EINVAL);
	assert_int(newemail_random("ab", NEWEMAIL_MAX_LEN + 1, s), -EINVAL);
}

/* uniform: every character of the 36 appears about equally often
 * (bounds wide enough to fail only for a real bias, e.g. modulo bias
 * would give the first 4 characters 8/7 of the others' share) */
static void
uniform(void **state)
{
	enum { N = 360000 };
	static char buf[N + 1];
	unsigned counts[36] = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < N; i += NEWEMAIL_MAX_LEN)
		assert_int(newemail_random(NEWEMAIL_ALNUM,
					   N - i < NEWEMAIL_MAX_LEN
						   ? N - i
						   : NEWEMAIL_MAX_LEN,
					   buf + i),
			   0);
	for (i = 0; i < N; i++)
		counts[strchr(NEWEMAIL_ALNUM, buf[i]) - NEWEMAIL_ALNUM]++;
	for (i = 0; i < 36; i++) {
		/* expected 10000, sigma ~98: +-5 % is over 5 sigma */
		if (counts[i] < 9500 || counts[i] > 10500)
			print_error("char %c: %u\n", NEWEMAIL_ALNUM[i],
				    counts[i]);
		assert_true(counts[i] >= 9500 && counts[i] <= 10500);
	}
}

/* quoting: urllib.parse.quote and json.dumps */
static void
quoting(void **state)
{
	struct buf b = BUF_INIT(1024);

	(void)state;
	assert_int(newemail_quote(&b, "p@ss w+rd/~_.-", ""), 0);
	assert_str(buf_cstr(&b), "p%40ss%20w%2Brd%2F~_.-");
	buf_reset(&b);
	assert_int(newemail_quote(&b, "user@[1.3.3.7]", "@[]"), 0);
	assert_str(buf_cstr(&b), "user@[1.3.3.7]");
	buf_reset(&b);
	assert_int(newemail_json_string(&b, "a\"b\\c\n\x01\x7f/"), 0);
	assert_str(buf_cstr(&b), "\"a\\\"b\\\\c\\n\\u0001\\u007f/\"");
	buf_deinit(&b);
}

/* dclogin: upstream's create_dclogin_url for both kinds of relay */
static void
dclogin(void **state)
{
	struct chatmail_config c;
	struct buf b = BUF_INIT(1024);

	(void)state;
	cfg_of(&c, d_self, d_self, 1, 0);
	assert_int(newemail_dclogin_url(&c, "user@_chat.example.org",
					"p@ss w+rd", &b),
		   0);
	assert_str(buf_cstr(&b), "dclogin:user@_chat.example.org?p=p%40ss%20w%"
				 "2Brd&v=1&ic=3");
	buf_reset(&b);
	cfg_of(&c, d_ip, d_ipbare, 1, 1);
	assert_int(newemail_dclogin_url(&c, "user@[1.3.3.7]", "x", &b), 0);
	assert_str(buf_cstr(&b), "dclogin:user@[1.3.3.7]?p=x&v=1&ih=1.3.3.7&"
				 "sh=1.3.3.7&ic=3");
	buf_deinit(&b);
}

/* answer_for: the whole body parsed back; returns the JSON object */
static cJSON *
answer_for(struct chatmail_config *c)
{
	struct buf b = BUF_INIT(4096);
	cJSON *j;

	assert_int(newemail_answer(c, &b), 0);
	assert_int(b.data[b.len - 1], '\n');
	assert_true(strncmp(b.data, "{\"email\": \"", 11) == 0);
	j = cJSON_Parse(b.data);
	assert_non_null(j);
	buf_wipe_deinit(&b);
	return j;
}

/* answers: email at the domain, password length, dclogin only when
 * self-signed, and two answers never alike */
static void
answers(void **state)
{
	struct chatmail_config c;
	const char *email, *pw;
	cJSON *j, *k;

	(void)state;
	cfg_of(&c, d_acme, d_acme, 0, 0);
	j = answer_for(&c);
	k = answer_for(&c);
	email = cJSON_GetStringValue(cJSON_GetObjectItem(j, "email"));
	pw = cJSON_GetStringValue(cJSON_GetObjectItem(j, "password"));
	assert_non_null(email);
	assert_non_null(pw);
	assert_int(strlen(email), 9 + 1 + strlen(d_acme));
	assert_str(email + 10, d_acme);
	assert_int(strlen(pw), 12);
	assert_null(cJSON_GetObjectItem(j, "dclogin_url"));
	assert_true(strcmp(email, cJSON_GetStringValue(cJSON_GetObjectItem(
					  k, "email"))) != 0);
	cJSON_Delete(j);
	cJSON_Delete(k);

	cfg_of(&c, d_ip, d_ipbare, 1, 1);
	j = answer_for(&c);
	email = cJSON_GetStringValue(cJSON_GetObjectItem(j, "email"));
	assert_str(email + 10, "[1.3.3.7]");
	assert_non_null(strstr(
		cJSON_GetStringValue(cJSON_GetObjectItem(j, "dclogin_url")),
		"&ih=1.3.3.7&sh=1.3.3.7&ic=3"));
	cJSON_Delete(j);
}

/* ask: one request to the server on path; the answer's status line */
static void
ask(struct evloop *loop, const char *path, const char *req, char *out,
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
	out[strcspn(out, "\r")] = '\0';
	(void)close(fd);
}

/* counted: every answer is counted by kind in the metrics text, and no
 * credentials reach it */
static void
counted(void **state)
{
	struct chatmail_config c;
	struct evloop *loop = evloop_new();
	struct buf err = BUF_INIT(256), m = BUF_INIT(8192);
	char *dir = test_tmpdir(), path[512], out[4096];
	struct newemail *ne;
	int fd;

	(void)state;
	cfg_of(&c, d_acme, d_acme, 0, 0);
	(void)snprintf(path, sizeof(path), "%s/n.sock", dir);
	fd = net_listen_unix(path, 0600, (uid_t)-1, (gid_t)-1, 8, &err);
	assert_true(fd >= 0);
	ne = newemail_new(loop, &c, fd);
	assert_non_null(ne);
	ask(loop, path, "POST /new HTTP/1.0\r\nContent-Length: 0\r\n\r\n", out,
	    sizeof(out));
	assert_str(out, "HTTP/1.1 200 OK");
	ask(loop, path, "POST /new HTTP/1.0\r\nContent-Length: 0\r\n\r\n", out,
	    sizeof(out));
	ask(loop, path, "GET /new HTTP/1.0\r\n\r\n", out, sizeof(out));
	assert_str(out, "HTTP/1.1 301 Moved Permanently");
	ask(loop, path, "GET /old HTTP/1.0\r\n\r\n", out, sizeof(out));
	assert_str(out, "HTTP/1.1 404 Not Found");
	assert_int(newemail_metrics(ne, &m), 0);
	assert_non_null(strstr(buf_cstr(&m), "chatmail_newemail_answers_total"
					     "{answer=\"credentials\"} 2\n"));
	assert_non_null(strstr(buf_cstr(&m), "chatmail_newemail_answers_total"
					     "{answer=\"redirect\"} 1\n"));
	assert_non_null(strstr(buf_cstr(&m), "chatmail_newemail_answers_total"
					     "{answer=\"refused\"} 1\n"));
	assert_null(strstr(buf_cstr(&m), "@"));
	newemail_free(&ne);
	evloop_free(&loop);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
	buf_deinit(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shape),   cmocka_unit_test(uniform),
		cmocka_unit_test(quoting), cmocka_unit_test(dclogin),
		cmocka_unit_test(answers), cmocka_unit_test(counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
