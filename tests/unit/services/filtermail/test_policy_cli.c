/* test_policy_cli: filtermail's content decisions as a command line, for
 * the integration tests (the gpg corpus, the DKIM interop with dkimpy and
 * dnsmasq) and for anyone who wants to ask "what would filtermail say
 * about this file?":
 *
 *   test_policy_cli classify FILE [outgoing|incoming]
 *       prints "encrypted=0|1 securejoin=0|1 mixed=0|1 report=0|1
 *       mimetype=..."
 *   test_policy_cli sign KEYFILE DOMAIN SELECTOR FILE
 *       the message with our DKIM-Signature on top, to stdout
 *   test_policy_cli check INI outgoing|incoming FILE OUT MAIL_FROM RCPT...
 *       runs fm_policy_check with chatmail.ini INI on an event loop (the
 *       real resolver: dns_server from INI), prints "code=N erp=0|1
 *       text=<reply>"; OUT ("-" = nowhere) receives what filtermail would
 *       reinject (the prepend, then the message from the verdict's skip
 *       on). Logs go to stderr.
 *   test_policy_cli bench FILE ITERATIONS
 *       throughput of the classifier, DKIM body canonicalization, signing
 *       and verification on FILE, each beside a baseline pass over the
 *       same bytes (memchr for every line end; SHA-256 of the raw bytes),
 *       one line per operation: "op bytes ns/byte MB/s xbaseline"
 *
 * Exit status 0 when the command ran (whatever the verdict), 64 usage,
 * 66 unreadable input, 78 bad config. Without arguments it is a cmocka
 * test of these commands (sign, then verify with the public key; check
 * an Autocrypt Setup Message outgoing and find the signature in OUT). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/fm_dkim.h"
#include "../../../../services/filtermail/fm_pgp.h"
#include "../../../../services/filtermail/fm_policy.h"
#include "config.h"
#include "log.h"
#include "num.h"

#define MSG_MAX (64u << 20)
#define CHECK_WAIT_ROUNDS 750 /* of 100 ms: past the 60 s DNS timeout */

/* read_file: the whole file into a malloc'd buffer; 0 or -errno */
static int
read_file(const char *path, char **msg_r, size_t *len_r)
{
	struct buf b = BUF_INIT(MSG_MAX);
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t r;
	int rc = 0;

	if (f == NULL)
		return -errno;
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, r) < 0) {
			rc = -EFBIG;
			break;
		}
	if (ferror(f))
		rc = -EIO;
	(void)fclose(f);
	if (rc < 0) {
		buf_deinit(&b);
		return rc;
	}
	*msg_r = buf_steal(&b, len_r);
	return 0;
}

/* cmd_classify: the classifier's findings on one file */
static int
cmd_classify(const char *path, int outgoing, FILE *out)
{
	struct buf scratch = BUF_INIT(MSG_MAX);
	struct fm_class c;
	char *m;
	size_t n;

	if (read_file(path, &m, &n) < 0)
		return 66;
	fm_pgp_classify(m, n, outgoing, &scratch, &c);
	(void)fprintf(out,
		      "encrypted=%d securejoin=%d mixed=%d report=%d "
		      "mimetype=%s\n",
		      c.encrypted, c.securejoin, c.multipart_mixed,
		      c.mailer_daemon_report, c.mimetype);
	free(m);
	buf_deinit(&scratch);
	return 0;
}

/* cmd_sign: our DKIM-Signature over one file, then the file, to out */
static int
cmd_sign(const char *key, const char *domain, const char *sel, const char *path,
	 FILE *out)
{
	struct buf sig = BUF_INIT(1 << 16), err = BUF_INIT(512);
	struct fm_dkim_signer *s = fm_dkim_signer_new(key, domain, sel, &err);
	char *m = NULL;
	size_t n = 0;
	int rc = 66;

	if (s == NULL) {
		(void)fprintf(stderr, "key: %s\n", buf_cstr(&err));
		goto out;
	}
	if (read_file(path, &m, &n) < 0)
		goto out;
	rc = 70;
	if (fm_dkim_sign(s, m, n, time(NULL), &sig, &err) < 0) {
		(void)fprintf(stderr, "sign: %s\n", buf_cstr(&err));
		goto out;
	}
	if (fwrite(sig.data, 1, sig.len, out) == sig.len &&
	    fwrite(m, 1, n, out) == n)
		rc = 0;
out:
	free(m);
	fm_dkim_signer_free(&s);
	buf_deinit(&sig);
	buf_deinit(&err);
	return rc;
}

/* what cmd_check's done callback saw */
struct check_result {
	int calls;
	struct fm_verdict v;
	const char *msg;
	size_t len;
	const char *outpath;
	int write_failed;
};

/* on_checked: record the verdict and write the reinjected bytes */
static void
on_checked(void *arg, const struct fm_verdict *v)
{
	struct check_result *r = arg;
	FILE *f;

	r->calls++;
	r->v = *v;
	r->v.prepend = NULL;
	if (v->code != 250 || strcmp(r->outpath, "-") == 0)
		return;
	f = fopen(r->outpath, "wb");
	if (f == NULL) {
		r->write_failed = 1;
		return;
	}
	if ((v->prepend_len > 0 &&
	     fwrite(v->prepend, 1, v->prepend_len, f) != v->prepend_len) ||
	    v->skip > r->len ||
	    fwrite(r->msg + v->skip, 1, r->len - v->skip, f) !=
		    r->len - v->skip)
		r->write_failed = 1;
	if (fclose(f) != 0)
		r->write_failed = 1;
}

/* run_check: one fm_policy_check, the loop run until the verdict */
static int
run_check(struct fm_policy *pol, struct evloop *loop,
	  const struct fm_envelope *env, struct check_result *r)
{
	struct fm_check *c;
	int i;

	(void)evloop_run_once(loop, 0); /* a fresh loop clock */
	c = fm_policy_check(pol, env, r->msg, r->len, on_checked, r);
	for (i = 0; r->calls == 0 && i < CHECK_WAIT_ROUNDS; i++)
		(void)evloop_run_once(loop, 100);
	if (r->calls == 0) {
		fm_check_cancel(&c);
		return -ETIMEDOUT;
	}
	return r->calls == 1 && !r->write_failed ? 0 : -EIO;
}

/* cmd_check: argv = INI DIRECTION FILE OUT MAIL_FROM RCPT... */
static int
cmd_check(int argc, const char *const *argv, FILE *out)
{
	struct chatmail_config cfg = { 0 };
	struct buf err = BUF_INIT(4096);
	struct check_result r = { 0 };
	struct evloop *loop = evloop_new();
	struct fm_policy *pol = NULL;
	struct fm_envelope env = { 0 };
	char *m = NULL;
	int rc = 78;

	if (config_load(&cfg, argv[0], &err) < 0) {
		(void)fprintf(stderr, "config: %s\n", buf_cstr(&err));
		goto out;
	}
	pol = fm_policy_new(loop, &cfg, strcmp(argv[1], "outgoing") == 0, &err);
	if (pol == NULL) {
		(void)fprintf(stderr, "policy: %s\n", buf_cstr(&err));
		goto out;
	}
	rc = 66;
	if (read_file(argv[2], &m, &r.len) < 0)
		goto out;
	r.msg = m;
	r.outpath = argv[3];
	env.mail_from = argv[4];
	env.rcpts = argv + 5;
	env.nrcpts = (size_t)(argc - 5);
	rc = 70;
	if (run_check(pol, loop, &env, &r) < 0)
		goto out;
	(void)fprintf(out, "code=%d erp=%d text=%s\n", r.v.code,
		      r.v.empty_return_path, r.v.text);
	rc = 0;
out:
	fm_policy_free(&pol);
	evloop_free(&loop);
	config_deinit(&cfg);
	buf_deinit(&err);
	free(m);
	return rc;
}

/* mono_ns: the monotonic clock in nanoseconds */
static uint64_t
mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* the operations the bench times, on one message */
enum bench_op {
	OP_MEMCHR, /* baseline: find every line end */
	OP_CLASSIFY,
	OP_SHA256, /* baseline: SHA-256 of the raw bytes */
	OP_BODY_RELAXED,
	OP_BODY_SIMPLE,
	OP_SIGN,
	OP_VERIFY,
	OP_COUNT
};

static const char *const op_name[OP_COUNT] = {
	"baseline-memchr", "classify",	"baseline-sha256", "body-relaxed",
	"body-simple",	   "dkim-sign", "dkim-verify",
};

/* what one bench run needs */
struct bench {
	const char *msg;
	size_t len;
	struct fm_entity top;
	struct buf scratch, sig, err;
	struct fm_dkim_signer *signer;
	struct fm_dkim_sig parsed;
	char txt[2048];
	size_t sink; /* results folded in, so nothing is optimized away */
};

/* bench_once: run op once; 0, or -1 if it failed */
static int
bench_once(struct bench *b, enum bench_op op)
{
	unsigned char h[32];
	struct fm_class c;
	const char *p, *end;
	uint64_t total;

	switch (op) {
	case OP_MEMCHR:
		end = b->msg + b->len;
		for (p = b->msg;
		     p < end &&
		     (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
		     p++)
			b->sink++;
		return 0;
	case OP_CLASSIFY:
		fm_pgp_classify(b->msg, b->len, 1, &b->scratch, &c);
		b->sink += (size_t)c.encrypted;
		return 0;
	case OP_SHA256:
		return EVP_Digest(b->msg, b->len, h, NULL, EVP_sha256(),
				  NULL) == 1
			       ? 0
			       : -1;
	case OP_BODY_RELAXED:
	case OP_BODY_SIMPLE:
		return fm_dkim_body_hash(b->top.body, b->top.blen,
					 op == OP_BODY_RELAXED
						 ? FM_CANON_RELAXED
						 : FM_CANON_SIMPLE,
					 UINT64_MAX, h, &total);
	case OP_SIGN:
		buf_reset(&b->sig);
		return fm_dkim_sign(b->signer, b->msg, b->len, time(NULL),
				    &b->sig, &b->err);
	case OP_VERIFY:
		return fm_dkim_verify_sig(&b->parsed, b->top.hdr, b->top.hlen,
					  b->top.body, b->top.blen, b->txt,
					  strlen(b->txt), time(NULL),
					  &b->err) == FM_DKIM_PASS
			       ? 0
			       : -1;
	case OP_COUNT:
		break;
	}
	return -1;
}

/* bench_setup: a fresh RSA key, a signer, and the message signed once
 * (the signed copy is what verification runs on); 0 or -1 */
static int
bench_setup(struct bench *b, const char *dir)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	unsigned char der[4096], *d = der;
	char path[512];
	struct buf signedm = BUF_INIT(MSG_MAX + 65536);
	const char *val;
	size_t vlen;
	BIO *bio;
	int rc = -1, len;

	(void)snprintf(path, sizeof(path), "%s/bench.pem", dir);
	bio = BIO_new_file(path, "w");
	if (pk == NULL || bio == NULL ||
	    PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0, NULL,
						 NULL) != 1)
		goto out;
	(void)BIO_free(bio);
	bio = NULL;
	b->signer = fm_dkim_signer_new(path, "example.org", "bench", &b->err);
	(void)remove(path);
	len = i2d_PUBKEY(pk, &d);
	if (b->signer == NULL || len <= 0 || len > 1400)
		goto out;
	(void)snprintf(b->txt, sizeof(b->txt), "v=DKIM1; p=");
	EVP_EncodeBlock((unsigned char *)b->txt + strlen(b->txt), der, len);
	if (fm_dkim_sign(b->signer, b->msg, b->len, time(NULL), &signedm,
			 &b->err) < 0 ||
	    buf_append(&signedm, b->msg, b->len) < 0)
		goto out;
	b->msg = buf_steal(&signedm, &b->len);
	fm_mime_split(b->msg, b->len, &b->top);
	if (fm_mime_header_find(&b->top, "DKIM-Signature", 0, &val, &vlen) &&
	    fm_dkim_parse_sig(b->msg, (size_t)(val + vlen - b->msg), &b->parsed,
			      &b->err) == 0)
		rc = 0;
out:
	if (bio != NULL)
		(void)BIO_free(bio);
	EVP_PKEY_free(pk);
	buf_deinit(&signedm);
	return rc;
}

/* cmd_bench: time each operation iters times on the file */
static int
cmd_bench(const char *path, const char *iters_s, FILE *out)
{
	struct bench b = { .scratch = BUF_INIT(MSG_MAX),
			   .sig = BUF_INIT(1 << 16),
			   .err = BUF_INIT(512) };
	double ns[OP_COUNT], base;
	unsigned iters = 0, i;
	char *m = NULL, *dir = test_tmpdir();
	size_t len = 0;
	uint64_t t0;
	int op, rc = 64;

	if (num_parse_uint(iters_s, 1, 1000000, &iters) < 0)
		goto out;
	rc = 66;
	if (read_file(path, &m, &len) < 0)
		goto out;
	b.msg = m;
	b.len = len;
	rc = 70;
	if (bench_setup(&b, dir) < 0) {
		(void)fprintf(stderr, "bench setup: %s\n", buf_cstr(&b.err));
		goto out;
	}
	for (op = 0; op < OP_COUNT; op++) {
		if (bench_once(&b, (enum bench_op)op) < 0) /* warm, and check */
			goto out;
		t0 = mono_ns();
		for (i = 0; i < iters; i++)
			if (bench_once(&b, (enum bench_op)op) < 0)
				goto out;
		ns[op] = (double)(mono_ns() - t0) / (double)iters;
	}
	for (op = 0; op < OP_COUNT; op++) {
		base = op < OP_SHA256 ? ns[OP_MEMCHR] : ns[OP_SHA256];
		(void)fprintf(out, "%-16s %10zu %9.3f %9.1f %7.2f\n",
			      op_name[op], len, ns[op] / (double)len,
			      (double)len / ns[op] * 1e3, ns[op] / base);
	}
	rc = b.sink == SIZE_MAX ? 70 : 0;
out:
	if (b.msg != m)
		free((char *)(uintptr_t)b.msg);
	free(m);
	fm_dkim_signer_free(&b.signer);
	buf_deinit(&b.scratch);
	buf_deinit(&b.sig);
	buf_deinit(&b.err);
	test_rmtree(dir);
	free(dir);
	return rc;
}

/* the self-test's files */
static char *tmp;

/* tpath: a file name in the test's directory (static storage) */
static const char *
tpath(const char *name)
{
	static char p[4][512];
	static int k;

	k = (k + 1) % 4;
	(void)snprintf(p[k], sizeof(p[k]), "%s/%s", tmp, name);
	return p[k];
}

/* put: write a file for the self-test */
static void
put(const char *name, const char *text)
{
	FILE *f = fopen(tpath(name), "wb");

	assert_non_null(f);
	assert_int(fputs(text, f) >= 0, 1);
	assert_int(fclose(f), 0);
}

static const char asm_msg[] = "From: a@example.org\r\nTo: a@example.org\r\n"
			      "Subject: Autocrypt Setup Message\r\n"
			      "Content-Type: multipart/mixed; boundary=x\r\n"
			      "\r\n--x\r\n\r\nsetup\r\n--x--\r\n";

/* assert_signed: the first DKIM-Signature of m verifies with rec */
static void
assert_signed(const char *m, size_t n, const char *rec)
{
	struct buf err = BUF_INIT(256);
	struct fm_dkim_sig sig;
	struct fm_entity top;
	const char *val;
	size_t vlen;

	fm_mime_split(m, n, &top);
	assert_int(fm_mime_header_find(&top, "DKIM-Signature", 0, &val, &vlen),
		   1);
	assert_int(fm_dkim_parse_sig(m, (size_t)(val + vlen - m), &sig, &err),
		   0);
	assert_int(fm_dkim_verify_sig(&sig, top.hdr, top.hlen, top.body,
				      top.blen, rec, strlen(rec), time(NULL),
				      &err),
		   FM_DKIM_PASS);
	buf_deinit(&err);
}

/* write_key: pk as tmp/k.pem and its DKIM key record into rec */
static void
write_key(EVP_PKEY *pk, char *rec, size_t recsize)
{
	unsigned char der[4096], *d = der;
	BIO *bio = BIO_new_file(tpath("k.pem"), "w");
	int len;

	assert_int(PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0,
							NULL, NULL),
		   1);
	BIO_free(bio);
	len = i2d_PUBKEY(pk, &d);
	assert_true(len > 0 && (size_t)len * 4 / 3 + 16 < recsize);
	(void)snprintf(rec, recsize, "v=DKIM1; p=");
	EVP_EncodeBlock((unsigned char *)rec + strlen(rec), der, len);
}

/* sign with the CLI, verify with the key; check outgoing with the CLI */
static void
test_commands(void **state)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	char rec[2048], res[256], *signedm, *line, ini[1024];
	size_t n;
	const char *argv[] = { NULL, "outgoing",      NULL,
			       NULL, "a@example.org", "a@example.org",
			       NULL };
	FILE *f;

	(void)state;
	tmp = test_tmpdir();
	write_key(pk, rec, sizeof(rec));
	put("m.eml", asm_msg);

	f = fopen(tpath("signed.eml"), "wb");
	assert_int(cmd_sign(tpath("k.pem"), "example.org", "sel",
			    tpath("m.eml"), f),
		   0);
	assert_int(fclose(f), 0);
	assert_int(read_file(tpath("signed.eml"), &signedm, &n), 0);
	assert_signed(signedm, n, rec);
	free(signedm);

	(void)snprintf(ini, sizeof(ini),
		       "[params]\nmail_domain = example.org\n"
		       "dkim_key_file = %s\n",
		       tpath("k.pem"));
	put("chatmail.ini", ini);
	argv[0] = tpath("chatmail.ini");
	argv[2] = tpath("m.eml");
	argv[3] = tpath("out.eml");
	f = fopen(tpath("result"), "w+");
	assert_int(cmd_check(6, argv, f), 0);
	rewind(f);
	line = fgets(res, sizeof(res), f);
	assert_non_null(line);
	assert_str(line, "code=250 erp=0 text=250 OK\n");
	assert_int(fclose(f), 0);
	assert_int(read_file(tpath("out.eml"), &signedm, &n), 0);
	assert_int(strncmp(signedm, "DKIM-Signature: v=1; a=rsa-sha256;", 34),
		   0);
	/* reinjected as authclean leaves it, and signed that way */
	assert_non_null(strstr(signedm, "\r\nSubject: [...]\r\n"));
	assert_null(strstr(signedm, "Autocrypt Setup Message"));
	assert_non_null(strstr(signedm, "\r\nDate: "));
	assert_non_null(
		strstr(signedm, "\r\n\r\n--x\r\n\r\nsetup\r\n--x--\r\n"));
	assert_signed(signedm, n, rec);
	free(signedm);

	f = fopen(tpath("result"), "w");
	assert_int(cmd_classify(tpath("m.eml"), 1, f), 0);
	assert_int(fclose(f), 0);
	assert_int(cmd_classify(tpath("absent.eml"), 1, stdout), 66);
	EVP_PKEY_free(pk);
	test_rmtree(tmp);
	free(tmp);
}

/* usage: what the command line takes */
static int
usage(void)
{
	(void)fputs("usage: test_policy_cli classify FILE [outgoing|incoming]\n"
		    "       test_policy_cli sign KEYFILE DOMAIN SELECTOR FILE\n"
		    "       test_policy_cli check INI outgoing|incoming FILE "
		    "OUT MAIL_FROM RCPT...\n"
		    "       test_policy_cli bench FILE ITERATIONS\n",
		    stderr);
	return 64;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
	};

	log_init("filtermail", 0);
	if (argc == 1) {
		log_init("test", -1);
		return cmocka_run_group_tests(tests, NULL, NULL);
	}
	if (strcmp(argv[1], "classify") == 0 && (argc == 3 || argc == 4))
		return cmd_classify(argv[2],
				    argc == 3 || strcmp(argv[3], "incoming"),
				    stdout);
	if (strcmp(argv[1], "sign") == 0 && argc == 6)
		return cmd_sign(argv[2], argv[3], argv[4], argv[5], stdout);
	if (strcmp(argv[1], "bench") == 0 && argc == 4)
		return cmd_bench(argv[2], argv[3], stdout);
	if (strcmp(argv[1], "check") == 0 && argc >= 8 &&
	    (strcmp(argv[3], "outgoing") == 0 ||
	     strcmp(argv[3], "incoming") == 0))
		return cmd_check(argc - 2, (const char *const *)(argv + 2),
				 stdout);
	return usage();
}
