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
 *       reinject (the prepend, then the message). Logs go to stderr.
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
	    fwrite(r->msg, 1, r->len, f) != r->len)
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

/* sign with the CLI, verify with the key; check outgoing with the CLI */
static void
test_commands(void **state)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	unsigned char der[4096], *d = der;
	char txt[2048] = "v=DKIM1; p=", *signedm, *line, ini[1024];
	struct buf err = BUF_INIT(256);
	struct fm_dkim_sig sig;
	struct fm_entity top;
	const char *val;
	size_t n, vlen;
	const char *argv[] = { NULL, "outgoing",      NULL,
			       NULL, "a@example.org", "a@example.org",
			       NULL };
	FILE *f;
	BIO *bio;
	int len;

	(void)state;
	tmp = test_tmpdir();
	bio = BIO_new_file(tpath("k.pem"), "w");
	assert_int(PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0,
							NULL, NULL),
		   1);
	BIO_free(bio);
	len = i2d_PUBKEY(pk, &d);
	EVP_EncodeBlock((unsigned char *)txt + strlen(txt), der, len);
	put("m.eml", asm_msg);

	f = fopen(tpath("signed.eml"), "wb");
	assert_int(cmd_sign(tpath("k.pem"), "example.org", "sel",
			    tpath("m.eml"), f),
		   0);
	assert_int(fclose(f), 0);
	assert_int(read_file(tpath("signed.eml"), &signedm, &n), 0);
	fm_mime_split(signedm, n, &top);
	assert_int(fm_mime_header_find(&top, "DKIM-Signature", 0, &val, &vlen),
		   1);
	assert_int(fm_dkim_parse_sig(signedm, (size_t)(val + vlen - signedm),
				     &sig, &err),
		   0);
	assert_int(fm_dkim_verify_sig(&sig, top.hdr, top.hlen, top.body,
				      top.blen, txt, strlen(txt), time(NULL),
				      &err),
		   FM_DKIM_PASS);
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
	line = fgets(txt, sizeof(txt), f);
	assert_non_null(line);
	assert_str(line, "code=250 erp=0 text=250 OK\n");
	assert_int(fclose(f), 0);
	assert_int(read_file(tpath("out.eml"), &signedm, &n), 0);
	assert_int(strncmp(signedm, "DKIM-Signature: v=1; a=rsa-sha256;", 34),
		   0);
	assert_non_null(strstr(signedm, asm_msg));
	free(signedm);

	f = fopen(tpath("result"), "w");
	assert_int(cmd_classify(tpath("m.eml"), 1, f), 0);
	assert_int(fclose(f), 0);
	assert_int(cmd_classify(tpath("absent.eml"), 1, stdout), 66);
	EVP_PKEY_free(pk);
	buf_deinit(&err);
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
		    "OUT MAIL_FROM RCPT...\n",
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
	if (strcmp(argv[1], "check") == 0 && argc >= 8 &&
	    (strcmp(argv[3], "outgoing") == 0 ||
	     strcmp(argv[3], "incoming") == 0))
		return cmd_check(argc - 2, (const char *const *)(argv + 2),
				 stdout);
	return usage();
}
