/*
 * acme_fake.h: a scripted ACME server for the flow's unit tests
 * (test_acme_flow.c, test_acme_backoff.c) that answers as Pebble does
 * (directory, nonces, account, order, authorizations, http-01 challenges
 * checked against the key authorization the client serves, finalize
 * with a real certificate signed by a test CA for the CSR's key,
 * renewal information). It checks every JWS with OpenSSL (signature,
 * url, one-use nonces, kid or jwk), so a request the client signs
 * wrongly fails the test. Faults: badNonce, rateLimited with
 * Retry-After, network errors, an invalid challenge, an unknown account,
 * terms of service not agreed. Time and randomness are the test's.
 * Statics: included once per test program, after cmocka.h and
 * testutil.h.
 */
#ifndef ACME_FAKE_H
#define ACME_FAKE_H

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "../../../../services/cert-reloader/acme.h"
#include "log.h"

#define U "https://acme.test/"
#define NAMES 3

struct srv {
	/* faults, set by the tests */
	int badnonce;	   /* answer badNonce to this many signed requests */
	int ratelimit;	   /* answer rateLimited to newOrder this often */
	int neterr;	   /* fail this many requests without an answer */
	int chall_invalid; /* the validation fails */
	int tos;	   /* the directory has terms of service */
	int forget;	   /* the account is unknown (once) */
	/* what was asked */
	unsigned n_req, n_account, n_order, n_ari, n_finalize;
	/* state */
	EVP_PKEY *ca_key, *acct;
	X509 *ca;
	unsigned nonce_next, nonce_used[512];
	int authz_ok[NAMES], finalized, have_acct;
	char thumb[64];
	char body[65536], cert[16384], nonce[32], location[256], retry[32];
};

struct t {
	struct srv s;
	struct acme_opts o;
	struct acme_flow *f;
	char *dir;
	time_t now;
	uint64_t wake_ms;
	int installed;
	/* the request in flight */
	int pending;
	enum acme_method m;
	char url[1024], *body;
};

static int
e_send(void *ctx, const struct acme_req *q)
{
	struct t *t = ctx;

	assert_false(t->pending); /* one at a time */
	t->pending = 1;
	t->m = q->method;
	(void)snprintf(t->url, sizeof(t->url), "%s", q->url);
	free(t->body);
	t->body = q->body ? strdup(q->body) : NULL;
	return 0;
}

static void
e_wake(void *ctx, uint64_t ms)
{
	((struct t *)ctx)->wake_ms = ms;
}

static time_t
e_now(void *ctx)
{
	return ((struct t *)ctx)->now;
}

static double
e_random(void *ctx)
{
	(void)ctx;
	return 0.5;
}

static void
e_installed(void *ctx)
{
	((struct t *)ctx)->installed++;
}

#include "jws_check.h"

/* --- the server: JWS checks ---------------------------------------- */

/* take_nonce: the nonce was issued by us and never used before */
static void
take_nonce(struct srv *s, const char *nonce)
{
	unsigned n = 0;

	assert_int(strncmp(nonce, "nonce-", 6), 0);
	n = (unsigned)strtoul(nonce + 6, NULL, 10);
	assert_true(n < s->nonce_next && n < 512);
	assert_int(s->nonce_used[n], 0);
	s->nonce_used[n] = 1;
}

/* check_jws: the signed request; its payload through payload_r */
static char *
check_jws(struct srv *s, const char *url, const char *body)
{
	cJSON *jws = cJSON_Parse(body), *h;
	char *ht =
		dec(cJSON_GetObjectItem(jws, "protected")->valuestring, NULL);
	char *pay = dec(cJSON_GetObjectItem(jws, "payload")->valuestring, NULL);
	const cJSON *jwk, *kid;
	struct buf tp = BUF_INIT(64);

	h = cJSON_Parse(ht);
	assert_str(cJSON_GetObjectItem(h, "alg")->valuestring, "ES256");
	assert_str(cJSON_GetObjectItem(h, "url")->valuestring, url);
	take_nonce(s, cJSON_GetObjectItem(h, "nonce")->valuestring);
	jwk = cJSON_GetObjectItem(h, "jwk");
	kid = cJSON_GetObjectItem(h, "kid");
	assert_true((jwk == NULL) != (kid == NULL));
	if (jwk != NULL) {
		assert_str(url, U "new-acct"); /* jwk only for newAccount */
		EVP_PKEY_free(s->acct);
		s->acct = jwk_key(jwk);
		assert_int(acme_thumbprint(s->acct, &tp), 0);
		(void)snprintf(s->thumb, sizeof(s->thumb), "%s", tp.data);
	} else {
		assert_str(kid->valuestring, U "acct/1");
		assert_non_null(s->acct);
	}
	verify(jws, s->acct);
	cJSON_Delete(h);
	cJSON_Delete(jws);
	free(ht);
	buf_deinit(&tp);
	return pay;
}

/* --- the server: endpoints --------------------------------------- */

/* issue: a certificate for the CSR's key and names, signed by the CA */
static void
issue(struct t *t, const char *payload)
{
	struct srv *s = &t->s;
	cJSON *p = cJSON_Parse(payload);
	size_t n;
	char *der = dec(cJSON_GetObjectItem(p, "csr")->valuestring, &n);
	const uint8_t *q = (const uint8_t *)der;
	X509_REQ *req = d2i_X509_REQ(NULL, &q, (long)n);
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *aki;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	int i;

	assert_int(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1000 + (long)s->n_finalize);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &t->now);
	X509_time_adj_ex(X509_getm_notAfter(x), 90, 0, &t->now);
	X509_set_issuer_name(x, X509_get_subject_name(s->ca));
	X509_set_pubkey(x, X509_REQ_get0_pubkey(req));
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++)
		X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1);
	X509V3_set_ctx(&ctx, s->ca, x, NULL, NULL, 0);
	aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
				  "keyid:always");
	X509_add_ext(x, aki, -1);
	assert_true(X509_sign(x, s->ca_key, EVP_sha256()) > 0);
	PEM_write_bio_X509(b, x);
	PEM_write_bio_X509(b, s->ca);
	len = BIO_get_mem_data(b, &pem);
	(void)snprintf(s->cert, sizeof(s->cert), "%.*s", (int)len, pem);
	s->finalized = 1;
	s->n_finalize++;
	X509_EXTENSION_free(aki);
	BIO_free(b);
	X509_free(x);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	free(der);
	cJSON_Delete(p);
}

/* problem: an error answer */
static long
problem(struct srv *s, long status, const char *type)
{
	(void)snprintf(s->body, sizeof(s->body),
		       "{\"type\":\"urn:ietf:params:acme:error:%s\","
		       "\"detail\":\"scripted %s\",\"status\":%ld}",
		       type, type, status);
	return status;
}

static long
on_directory(struct srv *s)
{
	(void)snprintf(s->body, sizeof(s->body),
		       "{\"newNonce\":\"" U "nonce\",\"newAccount\":\"" U
		       "new-acct\",\"newOrder\":\"" U "new-order\","
		       "\"renewalInfo\":\"" U "ari\",\"meta\":{%s}}",
		       s->tos ? "\"termsOfService\":\"" U "tos.pdf\"" : "");
	return 200;
}

static long
on_account(struct srv *s, const char *payload)
{
	cJSON *p = cJSON_Parse(payload);

	assert_true(!s->tos || cJSON_IsTrue(cJSON_GetObjectItem(
				       p, "termsOfServiceAgreed")));
	cJSON_Delete(p);
	s->n_account++;
	s->have_acct = 1;
	(void)snprintf(s->location, sizeof(s->location), U "acct/1");
	(void)snprintf(s->body, sizeof(s->body), "{\"status\":\"valid\"}");
	return 201;
}

static long
on_new_order(struct srv *s)
{
	if (s->forget) {
		s->forget = 0;
		return problem(s, 400, "accountDoesNotExist");
	}
	if (s->ratelimit) {
		s->ratelimit--;
		(void)snprintf(s->retry, sizeof(s->retry), "3600");
		return problem(s, 429, "rateLimited");
	}
	s->n_order++;
	memset(s->authz_ok, 0, sizeof(s->authz_ok));
	s->finalized = 0;
	(void)snprintf(s->location, sizeof(s->location), U "order/1");
	(void)snprintf(s->body, sizeof(s->body),
		       "{\"status\":\"pending\",\"finalize\":\"" U
		       "finalize/1\",\"authorizations\":[\"" U "authz/0\",\"" U
		       "authz/1\",\"" U "authz/2\"]}");
	return 201;
}

static const char *
st_name(int ok)
{
	return ok > 0 ? "valid" : ok < 0 ? "invalid" : "pending";
}

static long
on_authz(struct t *t, int i)
{
	struct srv *s = &t->s;

	(void)snprintf(s->body, sizeof(s->body),
		       "{\"status\":\"%s\",\"identifier\":{\"type\":\"dns\","
		       "\"value\":\"%s\"},\"challenges\":[{\"type\":"
		       "\"http-01\",\"url\":\"" U "chall/%d\",\"token\":"
		       "\"tok-%d\",\"status\":\"%s\"%s}]}",
		       st_name(s->authz_ok[i]), t->o.names[i], i, i,
		       st_name(s->authz_ok[i]),
		       s->authz_ok[i] < 0
			       ? ",\"error\":{\"type\":\"urn:ietf:params:acme:"
				 "error:incorrectResponse\",\"detail\":"
				 "\"scripted\"}"
			       : "");
	return 200;
}

/* on_chall: the validation, as the server's VA would do it over HTTP */
static long
on_chall(struct t *t, int i)
{
	struct srv *s = &t->s;
	char tok[16], want[128];
	const char *ka;

	(void)snprintf(tok, sizeof(tok), "tok-%d", i);
	(void)snprintf(want, sizeof(want), "%s.%s", tok, s->thumb);
	ka = acme_flow_challenge(t->f, tok);
	s->authz_ok[i] =
		ka != NULL && strcmp(ka, want) == 0 && !s->chall_invalid ? 1
									 : -1;
	(void)snprintf(s->body, sizeof(s->body),
		       "{\"type\":\"http-01\",\"status\":\"processing\"}");
	return 200;
}

static long
on_order(struct srv *s)
{
	int all =
		s->authz_ok[0] > 0 && s->authz_ok[1] > 0 && s->authz_ok[2] > 0;

	(void)snprintf(s->body, sizeof(s->body),
		       "{\"status\":\"%s\",\"finalize\":\"" U
		       "finalize/1\",\"authorizations\":[\"" U "authz/0\",\"" U
		       "authz/1\",\"" U "authz/2\"]%s}",
		       s->finalized ? "valid"
		       : all	    ? "ready"
				    : "pending",
		       s->finalized ? ",\"certificate\":\"" U "cert/1\"" : "");
	return 200;
}

/* on_ari: a window half way through the certificate's lifetime */
static long
on_ari(struct t *t)
{
	char a[32], b[32];

	t->s.n_ari++;
	acme_format_time(t->now + 45 * 86400 - 60, a);
	acme_format_time(t->now + 45 * 86400, b);
	(void)snprintf(
		t->s.body, sizeof(t->s.body),
		"{\"suggestedWindow\":{\"start\":\"%s\",\"end\":\"%s\"}}", a,
		b);
	(void)snprintf(t->s.retry, sizeof(t->s.retry), "21600");
	return 200;
}

/* post: a signed request */
static long
post(struct t *t, const char *path, const char *payload)
{
	struct srv *s = &t->s;

	if (strcmp(path, "new-acct") == 0)
		return on_account(s, payload);
	assert_true(s->have_acct);
	if (strcmp(path, "new-order") == 0)
		return on_new_order(s);
	if (strncmp(path, "authz/", 6) == 0) {
		assert_str(payload, ""); /* POST-as-GET */
		return on_authz(t, path[6] - '0');
	}
	if (strncmp(path, "chall/", 6) == 0) {
		assert_str(payload, "{}");
		return on_chall(t, path[6] - '0');
	}
	if (strcmp(path, "order/1") == 0)
		return on_order(s);
	if (strcmp(path, "finalize/1") == 0) {
		issue(t, payload);
		(void)snprintf(s->body, sizeof(s->body),
			       "{\"status\":\"processing\",\"finalize\":\"" U
			       "finalize/1\",\"authorizations\":[\"" U
			       "authz/0\"]}");
		return 200; /* the client polls the order */
	}
	if (strcmp(path, "cert/1") == 0) {
		assert_true(s->finalized);
		(void)snprintf(s->body, sizeof(s->body), "%s", s->cert);
		return 200;
	}
	return problem(s, 404, "malformed");
}

/* serve: the answer to the request in flight */
static void
serve(struct t *t, struct acme_resp *r)
{
	struct srv *s = &t->s;
	char *payload = NULL;
	const char *path = t->url + strlen(U);

	s->n_req++;
	s->location[0] = s->retry[0] = '\0';
	if (s->neterr > 0) {
		s->neterr--;
		r->neterr = 1;
		r->body = "Couldn't connect to server";
		return;
	}
	assert_int(strncmp(t->url, U, strlen(U)), 0);
	(void)snprintf(s->nonce, sizeof(s->nonce), "nonce-%u", s->nonce_next++);
	r->nonce = s->nonce;
	if (t->m == ACME_GET && strcmp(path, "dir") == 0)
		r->status = on_directory(s);
	else if (t->m == ACME_HEAD && strcmp(path, "nonce") == 0)
		r->status = 200, s->body[0] = '\0';
	else if (t->m == ACME_GET && strncmp(path, "ari/", 4) == 0)
		r->status = on_ari(t);
	else if (t->m == ACME_POST && s->badnonce > 0) {
		s->badnonce--;
		payload = check_jws(s, t->url, t->body);
		r->status = problem(s, 400, "badNonce");
	} else if (t->m == ACME_POST) {
		payload = check_jws(s, t->url, t->body);
		r->status = post(t, path, payload);
	} else
		r->status = problem(s, 405, "malformed");
	free(payload);
	r->body = s->body;
	r->len = strlen(s->body);
	r->location = s->location[0] ? s->location : NULL;
	r->retry_after = s->retry[0] ? s->retry : NULL;
}

/* pump: answer requests and let poll waits pass until the flow waits
 * longer (bounded) */
static void
pump(struct t *t)
{
	struct acme_resp r;
	int i;

	for (i = 0; i < 300; i++) {
		if (!t->pending && t->wake_ms > 0 && t->wake_ms <= 10000) {
			/* a poll's short wait passes */
			t->now += (time_t)(t->wake_ms / 1000);
			t->wake_ms = 0;
			acme_flow_wake(t->f);
			continue;
		}
		if (!t->pending)
			break;
		memset(&r, 0, sizeof(r));
		t->pending = 0;
		serve(t, &r);
		acme_flow_response(t->f, &r);
	}
	assert_false(t->pending);
}

/* --- the tests ----------------------------------------------------- */

/* make_ca: the test CA (P-256, its key identifier for the AKI) */
static void
make_ca(struct srv *s)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	s->ca_key = acme_key_new();
	s->ca = X509_new();
	X509_set_version(s->ca, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(s->ca), 1);
	X509_gmtime_adj(X509_getm_notBefore(s->ca), -86400);
	X509_gmtime_adj(X509_getm_notAfter(s->ca), 86400L * 3650);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(s->ca), "CN",
				   MBSTRING_ASC, (const uint8_t *)"test CA", -1,
				   -1, 0);
	X509_set_issuer_name(s->ca, X509_get_subject_name(s->ca));
	X509_set_pubkey(s->ca, s->ca_key);
	X509V3_set_ctx(&ctx, s->ca, s->ca, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
	X509_add_ext(s->ca, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(s->ca, s->ca_key, EVP_sha256()) > 0);
}

/* start: a flow for t's options on the test's clock */
static void
start(struct t *t)
{
	struct acme_env env = {
		e_send, e_wake, e_now, e_random, e_installed, t
	};
	struct buf err = BUF_INIT(512);

	acme_flow_free(&t->f);
	t->f = acme_flow_new(&t->o, &env);
	assert_int(acme_flow_start(t->f, &err), 0);
	buf_deinit(&err);
	pump(t);
}

static void
setup(struct t *t)
{
	memset(t, 0, sizeof(*t));
	t->now = 1796618000;
	t->dir = test_tmpdir();
	make_ca(&t->s);
	acme_opts_default(&t->o);
	(void)snprintf(t->o.directory, sizeof(t->o.directory), U "dir");
	(void)snprintf(t->o.state_dir, sizeof(t->o.state_dir), "%s/state",
		       t->dir);
	(void)snprintf(t->o.tls_dir, sizeof(t->o.tls_dir), "%s/state/tls",
		       t->dir);
	(void)snprintf(t->o.names[0], sizeof(t->o.names[0]), "f.test");
	(void)snprintf(t->o.names[1], sizeof(t->o.names[1]), "www.f.test");
	(void)snprintf(t->o.names[2], sizeof(t->o.names[2]), "mta-sts.f.test");
	t->o.nnames = NAMES;
	t->o.agree_tos = 1;
	t->o.backoff_min_s = 60;
	t->o.backoff_max_s = 600;
	t->o.poll_max = 5;
}

static void
teardown(struct t *t)
{
	acme_flow_free(&t->f);
	EVP_PKEY_free(t->s.ca_key);
	EVP_PKEY_free(t->s.acct);
	X509_free(t->s.ca);
	free(t->body);
	test_rmtree(t->dir);
	free(t->dir);
}

/* served: the certificate in the TLS directory is the CA's, for names */
static int
served(struct t *t, struct acme_cert_info *ci)
{
	struct buf err = BUF_INIT(512);
	int r = acme_cert_read(t->o.tls_dir, t->o.names, NAMES, ci, &err);

	if (r < 0)
		print_error("%s\n", buf_cstr(&err));
	buf_deinit(&err);
	return r == 0 && !ci->self_signed;
}

#endif
