/* test_policy: filtermail's decisions end to end through fm_policy_check,
 * outgoing (From rules, 523, ASM, SecureJoin, DKIM-Signature prepend) and
 * incoming (enforceE2EEincoming, empty return path, domain literals, DKIM
 * with strict alignment), with key records served over real UDP by a
 * small DNS responder on the same event loop (so the resolver, its
 * cache and its invalidation run for real). Also DNS codec cases. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/fm_clean.h"
#include "../../../../services/filtermail/fm_dkim.h"
#include "../../../../services/lib/dns.h"
#include "../../../../services/filtermail/filtermail.h"
#include "../../../../services/filtermail/fm_mime.h"
#include "../../../../services/filtermail/fm_policy.h"
#include "../../../../services/filtermail/fm_policy_int.h"
#include "config.h"
#include "log.h"
#include "xmalloc.h"

/* the fake DNS server: one TXT name */
static int dns_fd = -1, dns_queries;
static char dns_name[128], dns_txt[1024];

/* on_dns: answer a query for dns_name with dns_txt, else NXDOMAIN */
static void
on_dns(struct evloop *loop, int fd, unsigned ev, void *arg)
{
	unsigned char q[512], r[2048];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&ss, &sl);
	size_t qend = 12, o, tl = strlen(dns_txt), i;
	char name[256] = "";

	(void)loop, (void)ev, (void)arg;
	if (n < 12)
		return;
	dns_queries++;
	while (qend < (size_t)n && q[qend] != 0) {
		if (name[0])
			strncat(name, ".", sizeof(name) - strlen(name) - 1);
		strncat(name, (char *)q + qend + 1,
			q[qend] < sizeof(name) - strlen(name) - 1 ? q[qend]
								  : 0);
		qend += 1 + q[qend];
	}
	qend += 5;
	memcpy(r, q, qend);
	r[2] = 0x81;
	r[3] = 0x80;
	memset(r + 6, 0, 6);
	o = qend;
	if (strcasecmp(name, dns_name) != 0) {
		r[3] |= 3;
	} else {
		r[7] = 1;
		memcpy(r + o, "\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c", 10);
		o += 10;
		r[o] = (unsigned char)((tl + tl / 255 + 1) >> 8);
		r[o + 1] = (unsigned char)(tl + tl / 255 + 1);
		o += 2;
		for (i = 0; i < tl; i += 255) {
			size_t c = tl - i < 255 ? tl - i : 255;

			r[o++] = (unsigned char)c;
			memcpy(r + o, dns_txt + i, c);
			o += c;
		}
	}
	(void)sendto(fd, r, o, 0, (struct sockaddr *)&ss, sl);
}

struct fixture {
	struct evloop *loop;
	struct chatmail_config cfg;
	char *dir;
	EVP_PKEY *pk;
	struct fm_policy *out, *in;
};

static struct fixture fx;

static int
setup(void **state)
{
	char keypath[512], ini[2048], path[600];
	struct buf err = BUF_INIT(1024);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	unsigned char der[4096], *p = der;
	int len;
	BIO *bio;

	(void)state;
	log_init("test", -1);
	fx.loop = evloop_new();
	fx.dir = test_tmpdir();
	fx.pk = EVP_RSA_gen(2048);
	snprintf(keypath, sizeof(keypath), "%s/k.pem", fx.dir);
	bio = BIO_new_file(keypath, "w");
	PEM_write_bio_PrivateKey_traditional(bio, fx.pk, NULL, NULL, 0, NULL,
					     NULL);
	BIO_free(bio);
	dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(dns_fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(dns_fd, (struct sockaddr *)&sa, &sl);
	evloop_io_add(fx.loop, dns_fd, EV_READ, on_dns, NULL);
	snprintf(dns_name, sizeof(dns_name), "opendkim._domainkey.example.org");
	len = i2d_PUBKEY(fx.pk, &p);
	snprintf(dns_txt, sizeof(dns_txt), "v=DKIM1; k=rsa; p=");
	EVP_EncodeBlock((unsigned char *)dns_txt + strlen(dns_txt), der, len);
	snprintf(path, sizeof(path), "%s/mail/enforced@example.org", fx.dir);
	snprintf(
		ini, sizeof(ini),
		"[params]\nmail_domain = example.org\nmailboxes_dir = %s/mail\n"
		"dkim_key_file = %s\ndns_server = 127.0.0.1:%u\n",
		fx.dir, keypath, ntohs(sa.sin_port));
	config_init(&fx.cfg);
	if (config_load_string(&fx.cfg, ini, 0, &err) < 0) {
		fprintf(stderr, "config: %s\n", buf_cstr(&err));
		return -1;
	}
	snprintf(keypath, sizeof(keypath), "%s/mail", fx.dir);
	mkdir(keypath, 0700);
	mkdir(path, 0700);
	strncat(path, "/enforceE2EEincoming", sizeof(path) - strlen(path) - 1);
	fclose(fopen(path, "w"));
	setenv("FILTERMAIL_REJECTED_DIR", "", 1);
	fx.out = fm_policy_new(fx.loop, &fx.cfg, 1, &err);
	fx.in = fm_policy_new(fx.loop, &fx.cfg, 0, &err);
	buf_deinit(&err);
	return fx.out && fx.in ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	fm_policy_free(&fx.out);
	fm_policy_free(&fx.in);
	evloop_io_del(fx.loop, dns_fd);
	close(dns_fd);
	config_deinit(&fx.cfg);
	evloop_free(&fx.loop);
	EVP_PKEY_free(fx.pk);
	test_rmtree(fx.dir);
	free(fx.dir);
	return 0;
}

static struct fm_verdict got;
static int got_calls;
static char got_prepend[4096];

static void
on_done(void *arg, const struct fm_verdict *v)
{
	(void)arg;
	got = *v;
	got_calls++;
	snprintf(got_prepend, sizeof(got_prepend), "%.*s", (int)v->prepend_len,
		 v->prepend ? v->prepend : "");
	got.prepend = NULL;
}

/* run: one check to its verdict (running the loop for DNS) */
static const struct fm_verdict *
run(struct fm_policy *pol, const char *from, const char *rcpt,
    const char *origin, const char *msg)
{
	const char *rcpts[1] = { rcpt };
	struct fm_envelope env = { from, rcpts, 1, origin };
	struct fm_check *c;
	int i;

	got_calls = 0;
	/* the loop's clock is cached per round: refresh it, or a slow
	 * setup (RSA key generation) makes the 1 s retransmission timer
	 * already due and the responder sees two queries */
	(void)evloop_run_once(fx.loop, 0);
	c = fm_policy_check(pol, &env, msg, strlen(msg), on_done, NULL);
	for (i = 0; c != NULL && got_calls == 0 && i < 100; i++)
		evloop_run_once(fx.loop, 100);
	assert_int(got_calls, 1);
	return &got;
}

#define ENC_BODY                                                               \
	"Content-Type: multipart/encrypted; boundary=B\r\n\r\n--B\r\n"         \
	"Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--B\r\n" \
	"Content-Type: application/octet-stream\r\n\r\n"                       \
	"-----BEGIN PGP MESSAGE-----\r\n\r\nwQOqu8zSBVpaWlpa\r\n=abcd\r\n"     \
	"-----END PGP MESSAGE-----\r\n--B--\r\n"

static const char enc[] = "From: <A@example.org>\r\nTo: b@example.net\r\n"
			  "Subject: ...\r\n" ENC_BODY;
static const char plain[] = "From: a@example.org\r\nTo: b@example.net\r\n"
			    "Subject: hi\r\n\r\nhello\r\n";
static const char asm_msg[] = "From: a@example.org\r\nTo: a@example.org\r\n"
			      "Subject: Autocrypt Setup Message\r\n"
			      "Content-Type: multipart/mixed; boundary=x\r\n"
			      "\r\n--x\r\n\r\nsetup\r\n--x--\r\n";

static const char asm_b64[] =
	"From: a@example.org\r\nTo: a@example.org\r\n"
	"Subject: =?utf-8?B?QXV0b2NyeXB0IFNldHVwIE1lc3NhZ2U=?=\r\n"
	"Content-Type: multipart/mixed; boundary=x\r\n"
	"\r\n--x\r\n\r\nsetup\r\n--x--\r\n";
static const char asm_qp[] =
	"From: a@example.org\r\nTo: a@example.org\r\n"
	"Subject: =?us-ascii?q?Autocrypt_Setup?=\r\n =?utf-8?Q?_Message?=\r\n"
	"Content-Type: multipart/mixed; boundary=x\r\n"
	"\r\n--x\r\n\r\nsetup\r\n--x--\r\n";

static void
test_outgoing(void **state)
{
	const struct fm_verdict *v;

	(void)state;
	v = run(fx.out, "a@example.org", "b@example.net", NULL,
		"To: b@example.net\r\n\r\nx\r\n");
	assert_str(v->text, "500 Invalid FROM header: ");
	v = run(fx.out, "b@example.org", "b@example.net", NULL, enc);
	assert_str(v->text,
		   "500 Invalid FROM <a@example.org> for <b@example.org>");
	v = run(fx.out, "a@example.org", "b@example.net", NULL, plain);
	assert_int(v->code, 523);
	assert_str(v->text, "523 Encryption Needed: Invalid Unencrypted Mail");
	v = run(fx.out, "A@Example.org", "b@example.net", NULL, enc);
	assert_int(v->code, 250);
	assert_non_null(strstr(got_prepend,
			       "DKIM-Signature: v=1; a=rsa-sha256;"
			       " c=relaxed/simple; d=example.org;"));
	assert_non_null(strstr(got_prepend, "s=opendkim;"));
	v = run(fx.out, "a@example.org", "a@example.org", NULL, asm_msg);
	assert_int(v->code, 250);
	v = run(fx.out, "a@example.org", "b@example.org", NULL, asm_msg);
	assert_int(v->code, 523);
	/* upstream compares the one recipient with MAIL FROM exactly */
	v = run(fx.out, "a@example.org", "A@example.org", NULL, asm_msg);
	assert_int(v->code, 523);
	/* the Subject's RFC 2047 words are decoded, as mailparse does */
	v = run(fx.out, "a@example.org", "a@example.org", NULL, asm_b64);
	assert_int(v->code, 250);
	v = run(fx.out, "a@example.org", "a@example.org", NULL, asm_qp);
	assert_int(v->code, 250);
	/* a From header with a line break cannot inject a reply line */
	v = run(fx.out, "a@example.org", "b@example.net", NULL,
		"From: \"x\r\n 250 OK\r\n\r\n");
	assert_null(strchr(v->text, '\n'));
}

/* test_header_limit: a header field over Postfix's header_size_limit
 * gets 552 5.3.4 on both sides (Postfix would cut it short after our
 * 250); one of exactly that size passes */
static void
test_header_limit(void **state)
{
	size_t n = FM_HEADER_FIELD_MAX + 1, i;
	char *m = xmalloc(n + sizeof(enc));
	const struct fm_verdict *v;

	(void)state;
	memset(m, 'h', n); /* "X: hhh", folded every 64 bytes, CRLF */
	memcpy(m, "X: ", 3);
	for (i = 64; i + 3 < n - 2; i += 64)
		memcpy(m + i, "\r\n ", 3);
	memcpy(m + n - 2, "\r\n", 2);
	memcpy(m + n, enc, sizeof(enc));
	v = run(fx.out, "a@example.org", "b@example.net", NULL, m);
	assert_str(v->text, "552 5.3.4 Message header size exceeds limit");
	assert_int(run(fx.in, "a@example.org", "b", NULL, m)->code, 552);
	memmove(m + 3, m + 4, n + sizeof(enc) - 4); /* one byte less */
	assert_int(run(fx.out, "a@example.org", "b", NULL, m)->code, 250);
	free(m);
}

/* test_outgoing_threads: outgoing signatures are made on the signer
 * threads: the check waits (a handle), a cancelled one is never
 * reported, a policy freed with checks pending reports none; with
 * FILTERMAIL_SIGN_THREADS=0 the verdict comes at once */
static void
test_outgoing_threads(void **state)
{
	const char *rcpts[1] = { "b@example.net" };
	struct fm_envelope env = { "a@example.org", rcpts, 1, NULL };
	struct buf err = BUF_INIT(1024);
	struct fm_policy *pol;
	struct fm_check *c[8];
	int i;

	(void)state;
	got_calls = 0;
	for (i = 0; i < 8; i++) {
		c[i] = fm_policy_check(fx.out, &env, enc, strlen(enc), on_done,
				       NULL);
		assert_non_null(c[i]);
	}
	assert_int(got_calls, 0);
	assert_int(fm_policy_pending(fx.out), 8);
	for (i = 0; i < 8; i += 2)
		fm_check_cancel(&c[i]);
	assert_int(fm_policy_pending(fx.out), 4);
	for (i = 0; got_calls < 4 && i < 100; i++)
		(void)evloop_run_once(fx.loop, 50);
	for (i = 0; i < 10; i++)
		(void)evloop_run_once(fx.loop, 10);
	assert_int(got_calls, 4);
	assert_int(got.code, 250);
	assert_non_null(strstr(got_prepend, "DKIM-Signature: v=1;"));
	assert_int(fm_policy_pending(fx.out), 0);

	setenv("FILTERMAIL_SIGN_THREADS", "2", 1);
	pol = fm_policy_new(fx.loop, &fx.cfg, 1, &err);
	assert_non_null(pol);
	got_calls = 0;
	for (i = 0; i < 8; i++)
		assert_non_null(fm_policy_check(pol, &env, enc, strlen(enc),
						on_done, NULL));
	fm_policy_free(&pol); /* joins the threads, frees the checks */
	for (i = 0; i < 10; i++)
		(void)evloop_run_once(fx.loop, 10);
	assert_int(got_calls, 0);

	setenv("FILTERMAIL_SIGN_THREADS", "0", 1);
	pol = fm_policy_new(fx.loop, &fx.cfg, 1, &err);
	unsetenv("FILTERMAIL_SIGN_THREADS");
	assert_non_null(pol);
	got_calls = 0;
	assert_null(
		fm_policy_check(pol, &env, enc, strlen(enc), on_done, NULL));
	assert_int(got_calls, 1);
	assert_int(got.code, 250);
	assert_non_null(strstr(got_prepend, "DKIM-Signature: v=1;"));
	fm_policy_free(&pol);

	setenv("FILTERMAIL_SIGN_THREADS", "many", 1);
	pol = fm_policy_new(fx.loop, &fx.cfg, 1, &err);
	unsetenv("FILTERMAIL_SIGN_THREADS");
	assert_null(pol);
	assert_non_null(strstr(buf_cstr(&err), "FILTERMAIL_SIGN_THREADS"));
	buf_deinit(&err);
}

/* failing_work: a signer whose RSA operation fails */
static int
failing_work(const void *key, const unsigned char hh[32], unsigned char *sig,
	     size_t *siglen)
{
	(void)key;
	(void)hh;
	(void)sig;
	(void)siglen;
	return -EIO;
}

/* test_outgoing_sign_fails: a signature the signer threads could not
 * make is 451, so Postfix keeps the message and retries */
static void
test_outgoing_sign_fails(void **state)
{
	const char *rcpts[1] = { "b@example.net" };
	struct fm_envelope env = { "a@example.org", rcpts, 1, NULL };
	struct buf err = BUF_INIT(1024);
	struct fm_policy *pol;
	int i;

	(void)state;
	setenv("FILTERMAIL_SIGN_THREADS", "1", 1);
	pol = fm_policy_new(fx.loop, &fx.cfg, 1, &err);
	unsetenv("FILTERMAIL_SIGN_THREADS");
	assert_non_null(pol);
	fm_sign_pool_free(&pol->signers);
	pol->signers =
		fm_sign_pool_new(fx.loop, failing_work, NULL, 1, 1, &err);
	assert_non_null(pol->signers);
	got_calls = 0;
	assert_non_null(
		fm_policy_check(pol, &env, enc, strlen(enc), on_done, NULL));
	for (i = 0; got_calls == 0 && i < 100; i++)
		(void)evloop_run_once(fx.loop, 50);
	assert_int(got_calls, 1);
	assert_int(got.code, 451);
	assert_str(got.text, "451 4.3.0 Local error: DKIM signing failed");
	assert_int(got_prepend[0], '\0');
	assert_int(fm_policy_pending(pol), 0);
	fm_policy_free(&pol);
	buf_deinit(&err);
}

/* signed: the message signed by our outgoing policy */
static char *
signed_msg(const char *msg)
{
	const struct fm_verdict *v =
		run(fx.out, "a@example.org", "b@example.net", NULL, msg);
	char *m = malloc(strlen(got_prepend) + strlen(msg) + 1);

	assert_int(v->code, 250);
	assert_true(v->skip <= strlen(msg));
	memcpy(m, got_prepend, strlen(got_prepend));
	memcpy(m + strlen(got_prepend), msg + v->skip,
	       strlen(msg) - v->skip + 1);
	return m;
}

static void
test_incoming_dkim(void **state)
{
	const struct fm_verdict *v;
	char *m = signed_msg(enc), *t;
	int q;

	(void)state;
	dns_queries = 0;
	v = run(fx.in, "a@example.org", "b@example.net", NULL, m);
	assert_int(v->code, 250);
	assert_int(v->empty_return_path, 0);
	assert_int(dns_queries, 1);
	/* cached now: no second query */
	v = run(fx.in, "bounce@other.org", "b@example.net", NULL, m);
	assert_int(v->code, 250);
	assert_int(v->empty_return_path, 1);
	assert_int(dns_queries, 1);
	/* tampered: fails and drops the cached key */
	t = strdup(m);
	*(strstr(t, "To: b@") + 4) = 'c';
	v = run(fx.in, "a@example.org", "b@example.net", NULL, t);
	assert_str(v->text, "554 5.7.1 No valid DKIM signature found");
	q = dns_queries;
	v = run(fx.in, "a@example.org", "b@example.net", NULL, m);
	assert_int(v->code, 250);
	assert_int(dns_queries, q + 1);
	/* unsigned */
	v = run(fx.in, "a@example.org", "b@example.net", NULL, enc);
	assert_str(v->text, "554 5.7.1 No DKIM signature found");
	/* signed, but From is another domain: not aligned */
	free(t);
	t = strdup(m);
	memcpy(strstr(t, "From: <A@example.org>"), "From: <A@examplX.org>", 21);
	v = run(fx.in, "a@examplx.org", "b@example.net", NULL, t);
	assert_str(v->text, "554 5.7.1 No valid DKIM signature found");
	free(t);
	free(m);
}

/* leaky: a client's message with a real Subject, folded, the headers
 * authclean strips, and no Date */
static const char leaky[] =
	"Received: from client (client [192.0.2.9])\r\n\tby relay; x\r\n"
	"From: <a@example.org>\r\nTo: b@example.net\r\n"
	"Subject: meet me\r\n at noon\r\nX-Mailer: leaky 1.0\r\n"
	"User-Agent: leaky/2\r\nX-Originating-IP: [192.0.2.9]\r\n"
	"Message-ID: <m1@example.org>\r\n" ENC_BODY;

/* test_outgoing_clean: what outgoing reinjects is the message as
 * Postfix's authclean leaves it, signed as such: the incoming check
 * verifies it, cleaning it again (authclean after us) changes nothing,
 * and the original Subject put back breaks the signature */
static void
test_outgoing_clean(void **state)
{
	const struct fm_verdict *v;
	struct fm_entity e;
	struct buf again = BUF_INIT(1 << 20);
	char *m = signed_msg(leaky), *t, *hdr;
	const char *h;

	(void)state;
	fm_mime_split(m, strlen(m), &e);
	hdr = strndup(e.hdr, e.hlen);
	assert_non_null(strstr(hdr, "\r\nSubject: [...]\r\n"));
	assert_null(strstr(hdr, "noon"));
	assert_null(strstr(hdr, "Received"));
	assert_null(strstr(hdr, "leaky"));
	assert_null(strstr(hdr, "192.0.2.9"));
	assert_non_null(strstr(hdr, "\r\nDate: "));
	assert_non_null(strstr(hdr, "\r\nMessage-ID: <m1@example.org>\r\n"));
	assert_null(strstr(strstr(hdr, "Message-ID") + 1, "Message-ID"));
	/* the Subject is signed */
	h = strstr(hdr, "h=");
	assert_non_null(h);
	assert_non_null(strstr(h, ":Subject:"));
	/* the body is the client's, byte for byte */
	assert_str(e.body, strstr(leaky, "\r\n\r\n") + 4);
	v = run(fx.in, "a@example.org", "b@example.net", NULL, m);
	assert_int(v->code, 250);
	/* authclean after us (signature included): nothing to change */
	assert_int(fm_clean_header(e.hdr, e.hlen, time(NULL), "example.org",
				   &again),
		   0);
	assert_int(again.len, e.hlen);
	assert_memory_equal(again.data, e.hdr, e.hlen);
	/* the Subject the client wrote breaks the signature */
	t = malloc(strlen(m) + 32);
	(void)snprintf(t, strlen(m) + 32, "%.*sSubject: meet me at noon%s",
		       (int)(strstr(m, "Subject: [...]") - m), m,
		       strstr(m, "Subject: [...]") + 14);
	v = run(fx.in, "a@example.org", "b@example.net", NULL, t);
	assert_str(v->text, "554 5.7.1 No valid DKIM signature found");
	buf_deinit(&again);
	free(t);
	free(hdr);
	free(m);
}

static void
test_incoming_cleartext(void **state)
{
	const struct fm_verdict *v;
	char *m, path[600];
	struct buf out = BUF_INIT(1 << 16), err = BUF_INIT(256);
	struct fm_dkim_signer *sg;
	static const char report[] =
		"From: MAILER-DAEMON@example.org\r\nAuto-Submitted: "
		"auto-replied\r\n"
		"Content-Type: multipart/report; boundary=r\r\n\r\n--r\r\n\r\n"
		"x\r\n--r--\r\n";

	(void)state;
	snprintf(path, sizeof(path), "%s/k.pem", fx.dir);
	sg = fm_dkim_signer_new(path, "example.org", "opendkim", &err);
	assert_int(
		fm_dkim_sign(sg, plain, strlen(plain), time(NULL), &out, &err),
		0);
	buf_puts(&out, plain);
	m = buf_steal(&out, NULL);
	fm_dkim_signer_free(&sg);
	buf_deinit(&err);
	v = run(fx.in, "a@example.org", "enforced@example.org", NULL, m);
	assert_int(v->code, 523);
	v = run(fx.in, "a@example.org", "../etc@example.org", NULL, m);
	assert_int(v->code, 523);
	v = run(fx.in, "a@example.org", "legacy@example.org", NULL, m);
	assert_int(v->code, 250);
	/* a mailer-daemon report goes to the origin check, even to an
	 * enforcing recipient: unsigned, so 554 */
	v = run(fx.in, "", "enforced@example.org", NULL, report);
	assert_str(v->text, "554 5.7.1 No DKIM signature found");
	assert_int(v->empty_return_path, 1);
	free(m);
}

/* check_render: the metrics text of a filtermail with pol has the
 * mode's upstream names with pol's counts, not the other mode's */
static void
check_render(struct fm_policy *pol, int outgoing)
{
	const struct fm_policy_stats *p = fm_policy_stats(pol);
	struct fm_stats st = { 0 };
	struct fm_ctx ctx;
	struct fm_stats_view v = { &ctx, pol, NULL, NULL, NULL };
	struct buf out = BUF_INIT(1 << 16);
	char want[128];

	fm_ctx_init(&ctx, fx.loop);
	ctx.outgoing = outgoing;
	ctx.stats = &st;
	st.accepted = 7;
	assert_int(fm_stats_render(&v, &out), 0);
	(void)snprintf(want, sizeof(want), "\n%s_encrypted_mail_count %llu\n",
		       outgoing ? "outgoing" : "incoming",
		       (unsigned long long)p->encrypted);
	assert_non_null(strstr(buf_cstr(&out), want));
	(void)snprintf(want, sizeof(want),
		       "\nrejected_unencrypted_mail_count %llu\n",
		       (unsigned long long)p->rejected_unencrypted);
	assert_non_null(strstr(buf_cstr(&out), want));
	assert_null(
		strstr(buf_cstr(&out), outgoing ? "incoming_" : "outgoing_"));
	assert_int(strstr(buf_cstr(&out), "\ndkim_signed ") != NULL, outgoing);
	assert_non_null(strstr(buf_cstr(&out),
			       "chatmail_filtermail_messages_total{result="
			       "\"accepted\"} 7\n"));
	assert_non_null(strstr(buf_cstr(&out),
			       "# TYPE chatmail_filtermail_check_duration_"
			       "seconds histogram\n"));
	buf_deinit(&out);
}

/* test_counters: each decision moves the counter upstream's mtail
 * programs keep for its log line (fm_policy_stats), outgoing, incoming
 * and the milter's signature */
static void
test_counters(void **state)
{
	const struct fm_policy_stats *o = fm_policy_stats(fx.out),
				     *in = fm_policy_stats(fx.in);
	struct fm_policy_stats o0 = *o, i0 = *in;
	struct buf out = BUF_INIT(1 << 16), err = BUF_INIT(256);
	static const char report[] =
		"From: mailer-daemon@example.net\r\nAuto-Submitted: "
		"auto-replied\r\n"
		"Content-Type: multipart/report; boundary=r\r\n\r\n--r\r\n\r\n"
		"x\r\n--r--\r\n";
	static const char hdr[] = "From: a@example.org\r\nTo: b@example.net";

	(void)state;
	assert_int(
		run(fx.out, "a@example.org", "b@example.net", NULL, enc)->code,
		250);
	assert_int(run(fx.out, "a@example.org", "b@example.net", NULL, plain)
			   ->code,
		   523);
	assert_int(run(fx.out, "a@example.org", "a@example.org", NULL, asm_msg)
			   ->code,
		   250);
	/* refused before the content is looked at: not filtered */
	assert_int(run(fx.out, "a@example.org", "b@example.net", NULL,
		       "To: b@example.net\r\n\r\nx\r\n")
			   ->code,
		   500);
	assert_int(o->encrypted - o0.encrypted, 1);
	assert_int(o->unencrypted - o0.unencrypted, 2);
	assert_int(o->filtered - o0.filtered, 3);
	assert_int(o->rejected_unencrypted - o0.rejected_unencrypted, 1);
	assert_int(o->dkim_signed - o0.dkim_signed, 2);
	assert_int(o->mailer_daemon - o0.mailer_daemon, 0);
	/* a bounce signed by the milter counts as upstream's OpenDKIM */
	assert_int(fm_policy_sign(fx.out, hdr, strlen(hdr), "x\r\n", 3, &out,
				  &err),
		   1);
	assert_int(o->dkim_signed - o0.dkim_signed, 3);
	run(fx.in, "a@example.org", "b@example.net", NULL, enc);
	assert_int(
		run(fx.in, "a@example.org", "enforced@example.org", NULL, plain)
			->code,
		523);
	run(fx.in, "", "b@example.org", NULL, report);
	assert_int(in->encrypted - i0.encrypted, 1);
	assert_int(in->unencrypted - i0.unencrypted, 2);
	assert_int(in->filtered - i0.filtered, 3);
	assert_int(in->mailer_daemon - i0.mailer_daemon, 1);
	assert_int(in->rejected_unencrypted - i0.rejected_unencrypted, 1);
	assert_int(in->dkim_signed - i0.dkim_signed, 0);
	buf_deinit(&out);
	buf_deinit(&err);
	check_render(fx.out, 1);
	check_render(fx.in, 0);
}

static void
test_domain_literal(void **state)
{
	static const char lit[] = "From: u@[192.0.2.1]\r\n" ENC_BODY;
	const struct fm_verdict *v;

	(void)state;
	v = run(fx.in, "u@[192.0.2.1]", "b@example.org", "192.0.2.1", lit);
	assert_int(v->code, 250);
	v = run(fx.in, "u@[192.0.2.1]", "b@example.org", "192.0.2.9", lit);
	assert_str(v->text, "500 Invalid FROM domain literal: 192.0.2.1 does "
			    "not match origin IP 192.0.2.9");
}

static void
test_dns_codec(void **state)
{
	unsigned char q[512], a[600];
	struct dns_rrs txt;
	int n, tc;

	(void)state;
	n = dns_build_query(0x1234, "s._domainkey.example.org.", 16, q,
			    sizeof(q));
	assert_true(n > 0);
	assert_int(dns_build_query(1, "a..b", 16, a, sizeof(a)), -EINVAL);
	assert_int(dns_build_query(1, "", 16, a, sizeof(a)), -EINVAL);
	/* an answer: the query, QR set, two TXT records (one split in two
	 * strings), a CNAME first */
	memcpy(a, q, (size_t)n - 11);
	n -= 11;
	a[2] = 0x81;
	a[3] = 0x80;
	a[7] = 3;
	a[11] = 0;
	memcpy(a + n,
	       "\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x10\x00\x02\xc0\x0c", 14);
	n += 14;
	memcpy(a + n,
	       "\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x20\x00\x06\x02p=\x02"
	       "AB",
	       18);
	n += 18;
	memcpy(a + n, "\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x10\x00\x02\x01x",
	       14);
	n += 14;
	assert_int(dns_parse_txt(a, (size_t)n, 0x1234,
				 "S._domainkey.example.org", &txt, &tc),
		   0);
	assert_int(txt.n, 2);
	assert_str(txt.rr[0], "p=AB");
	assert_int(txt.ttl, 16);
	/* wrong id, wrong name, truncated, pointer loop */
	assert_int(dns_parse_txt(a, (size_t)n, 0x1235,
				 "s._domainkey.example.org", &txt, &tc),
		   -EINVAL);
	assert_int(dns_parse_txt(a, (size_t)n, 0x1234, "other.org", &txt, &tc),
		   -EINVAL);
	assert_int(dns_parse_txt(a, (size_t)n - 3, 0x1234,
				 "s._domainkey.example.org", &txt, &tc),
		   -EINVAL);
	a[12] = 0xc0;
	a[13] = 12;
	assert_int(dns_parse_txt(a, (size_t)n, 0x1234,
				 "s._domainkey.example.org", &txt, &tc),
		   -EINVAL);
}

static int refused_status = 1, refused_calls;

/* on_refused_txt: the lookup's result */
static void
on_refused_txt(void *arg, int status, const struct dns_rrs *txt)
{
	(void)arg, (void)txt;
	refused_status = status;
	refused_calls++;
}

/* a nameserver port where nothing listens fails at once, temporarily */
static void
test_dns_refused(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct buf err = BUF_INIT(256);
	struct dns *dns;
	struct dns_query *q;
	char server[64];
	int fd = socket(AF_INET, SOCK_DGRAM, 0), i;
	uint64_t t0;

	(void)state;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd); /* the port is free now: nothing answers there */
	snprintf(server, sizeof(server), "127.0.0.1:%u", ntohs(sa.sin_port));
	dns = dns_new(fx.loop, server, NULL, &err);
	assert_non_null(dns);
	(void)evloop_run_once(fx.loop, 0);
	t0 = evloop_now(fx.loop);
	q = dns_lookup_txt(dns, "s._domainkey.example.org", on_refused_txt,
			   NULL);
	assert_non_null(q);
	for (i = 0; refused_calls == 0 && i < 50; i++)
		(void)evloop_run_once(fx.loop, 100);
	assert_int(refused_calls, 1);
	assert_int(refused_status, -EIO);
	/* well before the first retransmission (1 s) */
	assert_true(evloop_now(fx.loop) - t0 < 900);
	dns_free(&dns);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_codec),
		cmocka_unit_test(test_dns_refused),
		cmocka_unit_test(test_outgoing),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_outgoing_threads),
		cmocka_unit_test(test_outgoing_sign_fails),
		cmocka_unit_test(test_incoming_dkim),
		cmocka_unit_test(test_outgoing_clean),
		cmocka_unit_test(test_incoming_cleartext),
		cmocka_unit_test(test_domain_literal),
		cmocka_unit_test(test_counters),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
