/*
 * acme: cert-reloader's ACME client (RFC 8555, with ACME Renewal
 * Information, RFC 9773), the `cert` container's certificate source in
 * the relay's ACME mode (docs/DESIGN.md, Certificates in ACME mode).
 *
 * One account key (ECDSA P-256) is created once in the state directory
 * on the relay's persistent volume and kept; its account URL is kept
 * beside it, so a restart neither registers again nor orders while the
 * certificate is valid. One order covers the relay's names (domain,
 * www., mta-sts.); HTTP-01 challenges are answered by a small HTTP
 * server on loopback (port 402, which nginx's port 80 forwards
 * /.well-known/acme-challenge/ to); each issuance uses a fresh P-256
 * certificate key. The new pair is written into the TLS directory as
 * kubelet writes a Secret volume (a new directory, then the "..data"
 * symlink renamed), so the reloader sees one atomic change and reloads
 * nginx, Dovecot and Postfix.
 *
 * Renewal is due when two thirds of the lifetime have passed, earlier
 * when the server's renewal information says so, with jitter. Errors:
 * badNonce is retried with the fresh nonce (at most 5 times per
 * request), Retry-After (429, 503, renewal info) is respected, every
 * other failure ends the attempt and the next one waits an exponential
 * backoff with a cap (jittered); the old certificate keeps serving and
 * the process never exits for a server's behaviour. A status file
 * (status.json in the state directory) says what the operator shows in
 * the CertificateReady condition.
 *
 * The flow (acme_flow.c) talks to the network through a transport
 * (acme_run.c: libcurl on the evloop; the unit tests: recorded
 * exchanges) and to time through a clock, so it is tested without a
 * server.
 *
 * Untrusted input: every answer of the ACME server (JSON bodies bounded
 * to ACME_BODY_MAX, parsed by cJSON and checked field by field in
 * acme_msg.c; certificates parsed by OpenSSL and checked against the key
 * and names before they are written), and HTTP requests to the
 * challenge server (services/lib/http.c; only GETs of known tokens are
 * answered).
 */
#ifndef CR_ACME_H
#define CR_ACME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "buf.h"

#define ACME_MAX_NAMES 4
#define ACME_NAME_MAX 254
#define ACME_URL_MAX 1024
#define ACME_BODY_MAX (256u * 1024)
#define ACME_MAX_AUTHZ ACME_MAX_NAMES
#define ACME_BADNONCE_RETRIES 5

struct acme_opts {
	char directory[ACME_URL_MAX]; /* the directory URL */
	char state_dir[512];	      /* account key, account.json, status */
	char tls_dir[512];	      /* where the certificate goes */
	char email[256];	      /* "" = no contact */
	int agree_tos;		      /* the spec agreed to the ToS */
	char eab_kid[256];	      /* "" = no external account binding */
	char eab_hmac_file[512];      /* base64url HMAC key */
	char ca_bundle[512];	      /* "" = the system's trust store */
	char names[ACME_MAX_NAMES][ACME_NAME_MAX + 1];
	size_t nnames;
	char listen[64];	/* challenge server, "127.0.0.1:402" */
	unsigned backoff_min_s; /* first retry after a failure (60) */
	unsigned backoff_max_s; /* cap (21600) */
	unsigned poll_ms;	/* authorization and order polls (1000) */
	unsigned poll_max;	/* polls before an attempt gives up (120) */
	unsigned ari_check_s;	/* renewal information re-read (21600) */
	unsigned timeout_s;	/* one request (30) */
	long key_gid;		/* group of tls.key; -1: the directory's */
};

/* acme_opts_default: the defaults above, Let's Encrypt production */
void acme_opts_default(struct acme_opts *o);

/* --- acme_jws.c: keys, JWK, JWS, CSR ------------------------------- */

/* acme_b64url: base64url without padding of p appended to out */
int acme_b64url(const void *p, size_t n, struct buf *out);
/* acme_b64url_decode: into out (max outsize); the length or -EINVAL */
int acme_b64url_decode(const char *s, uint8_t *out, size_t outsize);
/* acme_key_new: a fresh ECDSA P-256 key; NULL only on OpenSSL failure */
EVP_PKEY *acme_key_new(void);
/* acme_key_load: the PEM private key at path (must be EC P-256) into
 * *key_r; with create, a missing file is made (mode 0600) and
 * *created_r set. 0, -ENOENT, -EINVAL (not a P-256 key) */
int acme_key_load(const char *path, int create, EVP_PKEY **key_r,
		  int *created_r, struct buf *err);
/* acme_key_pem: the private key as PEM appended to out */
int acme_key_pem(EVP_PKEY *key, struct buf *out);
/* acme_jwk: the public JWK of an EC P-256 key ({crv,kty,x,y}); caller
 * owns the result; NULL on error */
cJSON *acme_jwk(EVP_PKEY *key);
/* acme_thumbprint: RFC 7638 JWK thumbprint (SHA-256, base64url) */
int acme_thumbprint(EVP_PKEY *key, struct buf *out);
/* acme_jws: the flattened JWS (ES256) of payload for url: with kid, or
 * the key's JWK when kid is NULL; payload "" is a POST-as-GET */
int acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
	     const char *payload, struct buf *out);
/* acme_eab: the externalAccountBinding object (HS256 over the account's
 * JWK, RFC 8555 7.3.4); caller owns it; NULL on error */
cJSON *acme_eab(EVP_PKEY *acct, const char *kid, const uint8_t *hmac,
		size_t hmac_len, const char *url);
/* acme_csr: a CSR for names signed by key, DER base64url into out */
int acme_csr(EVP_PKEY *key, char names[][ACME_NAME_MAX + 1], size_t n,
	     struct buf *out);

/* --- acme_msg.c: the server's JSON ---------------------------------- */

enum acme_status {
	ACME_ST_UNKNOWN,
	ACME_ST_PENDING,
	ACME_ST_READY,
	ACME_ST_PROCESSING,
	ACME_ST_VALID,
	ACME_ST_INVALID,
	ACME_ST_OTHER, /* deactivated, expired, revoked */
};

struct acme_directory {
	char new_nonce[ACME_URL_MAX], new_account[ACME_URL_MAX];
	char new_order[ACME_URL_MAX], renewal_info[ACME_URL_MAX];
	char tos[ACME_URL_MAX];
	int eab_required;
};

struct acme_problem {
	char type[128]; /* the part after urn:ietf:params:acme:error: */
	char detail[512];
};

struct acme_order {
	enum acme_status status;
	size_t nauthz;
	char authz[ACME_MAX_AUTHZ][ACME_URL_MAX];
	char finalize[ACME_URL_MAX], certificate[ACME_URL_MAX];
	struct acme_problem error;
};

struct acme_authz {
	enum acme_status status;
	char name[ACME_NAME_MAX + 1];
	enum acme_status chall_status; /* the http-01 challenge's */
	char chall_url[ACME_URL_MAX], token[256];
	struct acme_problem error; /* the challenge's, when invalid */
};

/* acme_parse_directory etc.: 0, or -EINVAL with the reason in err */
int acme_parse_directory(const char *body, size_t len, struct acme_directory *d,
			 struct buf *err);
/* acme_parse_problem: 1 (a problem document), 0 (not one) */
int acme_parse_problem(const char *body, size_t len, struct acme_problem *p);
int acme_parse_order(const char *body, size_t len, struct acme_order *o,
		     struct buf *err);
int acme_parse_authz(const char *body, size_t len, struct acme_authz *a,
		     struct buf *err);
/* acme_parse_account_status: 0 when the account is valid */
int acme_parse_account(const char *body, size_t len, struct buf *err);
/* acme_parse_renewal_info: the suggested window's start and end */
int acme_parse_renewal_info(const char *body, size_t len, time_t *start_r,
			    time_t *end_r, struct buf *err);
/* acme_parse_time: RFC 3339 into *t_r; 0 or -EINVAL */
int acme_parse_time(const char *s, time_t *t_r);
/* acme_parse_retry_after: delta-seconds or an HTTP-date, as seconds
 * from now (at most a day; 0 for past dates); -EINVAL if neither */
long acme_parse_retry_after(const char *v, time_t now);
/* acme_format_time: RFC 3339 UTC ("2026-12-07T04:00:00Z") */
void acme_format_time(time_t t, char out[32]);

/* --- acme_cert.c: certificates on disk and the status file ---------- */

struct acme_cert_info {
	time_t not_before, not_after;
	int names_ok;	  /* every wanted name is in the SAN */
	int key_ok;	  /* the key belongs to the certificate */
	int self_signed;  /* a placeholder, not an ACME certificate */
	char ari_id[512]; /* RFC 9773 certID, "" without an AKI */
};

/* acme_cert_inspect: check a PEM chain (leaf first) and key against
 * the wanted names. 0 or -EINVAL (reason in err) */
int acme_cert_inspect(const char *cert, size_t clen, const char *key,
		      size_t klen, char names[][ACME_NAME_MAX + 1], size_t n,
		      struct acme_cert_info *ci, struct buf *err);
/* acme_cert_read: the pair in dir (tls.crt, tls.key), inspected;
 * -ENOENT when there is none */
int acme_cert_read(const char *dir, char names[][ACME_NAME_MAX + 1], size_t n,
		   struct acme_cert_info *ci, struct buf *err);
/* acme_cert_store: write the pair into dir atomically as kubelet writes
 * a Secret volume (..<ts> directory, ..data symlink, tls.crt and
 * tls.key symlinks through it); old versions are removed */
int acme_cert_store(const char *dir, const char *cert, size_t clen,
		    const char *key, size_t klen, long gid, struct buf *err);
/* acme_cert_placeholder: unless dir holds a certificate, store a
 * self-signed one for names (a year, a fresh key) so the daemons can
 * start; the flow never treats it as its own. 0 or -errno */
int acme_cert_placeholder(const char *dir, char names[][ACME_NAME_MAX + 1],
			  size_t n, long gid, struct buf *err);
/* acme_renew_at: when a certificate valid from nb to na is due: at two
 * thirds of its lifetime, less up to 1/30 of it by jitter (0..1) */
time_t acme_renew_at(time_t nb, time_t na, double jitter);

struct acme_status_rec {
	int ready; /* a valid certificate is served */
	char names[ACME_MAX_NAMES * (ACME_NAME_MAX + 2)]; /* "a,b,c" */
	time_t not_after, renew_at, next_attempt, updated, issued;
	char last_error[512];	/* "" after a success */
	unsigned failures;	/* since the last success */
	unsigned requests_last; /* by the last successful order */
	char account[ACME_URL_MAX];
};

/* acme_status_write: status.json in dir (atomic) */
int acme_status_write(const char *dir, const struct acme_status_rec *st);
/* acme_status_read: status.json back (for --acme-status); 0 or -errno */
int acme_status_read(const char *path, struct acme_status_rec *st,
		     struct buf *err);

/* --- acme_flow.c: the protocol ------------------------------------- */

enum acme_method { ACME_GET, ACME_HEAD, ACME_POST };

struct acme_req {
	enum acme_method method;
	const char *url;
	const char *body; /* POST: the JWS; else NULL */
};

struct acme_resp {
	int neterr;	  /* 1: no response (text in body) */
	long status;	  /* HTTP status */
	const char *body; /* NUL-terminated */
	size_t len;
	const char *nonce;    /* Replay-Nonce or NULL */
	const char *location; /* Location or NULL */
	const char *retry_after;
};

struct acme_flow;

struct acme_env {
	/* send: start req; the answer comes back through
	 * acme_flow_response (never from inside send). 0 or -errno */
	int (*send)(void *ctx, const struct acme_req *req);
	/* wake: call acme_flow_wake after delay_ms (replaces a pending one) */
	void (*wake)(void *ctx, uint64_t delay_ms);
	time_t (*now)(void *ctx);
	double (*random)(void *ctx); /* uniform in [0, 1) */
	/* installed: a new certificate was stored (may be NULL) */
	void (*installed)(void *ctx);
	void *ctx;
};

/* acme_flow_new: a flow for o; nothing happens until acme_flow_start */
struct acme_flow *acme_flow_new(const struct acme_opts *o,
				const struct acme_env *env);
void acme_flow_free(struct acme_flow **fp);
/* acme_flow_start: load (or create) the account key, look at the
 * certificate in tls_dir and schedule the first attempt; 0, or -errno
 * when the state directory cannot be used (a configuration error) */
int acme_flow_start(struct acme_flow *f, struct buf *err);
/* acme_flow_wake: the wake timer fired */
void acme_flow_wake(struct acme_flow *f);
/* acme_flow_response: the answer to the request in flight */
void acme_flow_response(struct acme_flow *f, const struct acme_resp *r);
/* acme_flow_challenge: the key authorization for an HTTP-01 token of
 * the order in progress, or NULL */
const char *acme_flow_challenge(const struct acme_flow *f, const char *token);
/* acme_flow_status: the current status record */
const struct acme_status_rec *acme_flow_status(const struct acme_flow *f);
/* acme_flow_requests: requests sent since the flow started */
unsigned acme_flow_requests(const struct acme_flow *f);

/* --- acme_run.c: the transport on the evloop ----------------------- */

struct evloop;
struct acme_client;

/* acme_client_new: the flow with libcurl, the challenge server on
 * o->listen and the wake timer; installed is called after a new
 * certificate was stored. NULL with the reason in err */
struct acme_client *acme_client_new(struct evloop *loop,
				    const struct acme_opts *o,
				    void (*installed)(void *), void *arg,
				    struct buf *err);
void acme_client_free(struct acme_client **cp);

#endif
