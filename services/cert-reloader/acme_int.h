/*
 * acme_int: the ACME flow's private state, shared by acme_flow.c
 * (requests, nonces, errors, backoff, scheduling, renewal information)
 * and acme_order.c (account, order, challenges, certificate).
 *
 * Untrusted input: none here (declarations).
 */
#ifndef CR_ACME_INT_H
#define CR_ACME_INT_H

#include "acme.h"

struct acme_flow;
typedef void acme_step_fn(struct acme_flow *f, const struct acme_resp *r);

enum acme_phase {
	ACME_IDLE,  /* waiting: renewal due, backoff, or nothing */
	ACME_ORDER, /* an issuance in progress */
	ACME_ARI,   /* reading renewal information */
};

struct acme_flow {
	struct acme_opts o;
	struct acme_env env;
	EVP_PKEY *acct, *cert_key;
	char thumb[64];
	struct acme_directory dir;
	char nonce[256];
	char kid[ACME_URL_MAX];
	char order_url[ACME_URL_MAX];
	struct acme_order order;
	struct acme_authz az[ACME_MAX_AUTHZ];
	char keyauth[ACME_MAX_AUTHZ][320];
	size_t az_i;
	unsigned polls;
	int reregistered; /* the stored account was unknown: once */
	enum acme_phase phase;
	acme_step_fn *on_wake; /* what the wake timer continues */
	/* the request in flight */
	struct {
		int active, is_signed, use_jwk, nonce_fetch;
		enum acme_method method;
		char url[ACME_URL_MAX];
		char *payload; /* owned */
		unsigned badnonce;
		acme_step_fn *ok;
	} req;
	struct buf jws;
	unsigned requests, attempt_requests;
	/* the certificate being served, and when it is due */
	struct acme_cert_info cur;
	int have_cur;
	time_t renew_at;	   /* by lifetime and jitter, for cur */
	time_t ari_start, ari_end; /* the server's window for cur (0: none) */
	time_t ari_next;	   /* next renewal information read */
	time_t backoff_until;
	struct acme_status_rec st;
};

/* acme_flow.c */
void acme_get(struct acme_flow *f, enum acme_method m, const char *url,
	      acme_step_fn *ok);
/* acme_post: a signed request; payload NULL for POST-as-GET */
void acme_post(struct acme_flow *f, const char *url, const char *payload,
	       int use_jwk, acme_step_fn *ok);
/* acme_fail: end the attempt with the reason; backoff (Retry-After
 * of r when it says more) */
void acme_fail(struct acme_flow *f, const struct acme_resp *r, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));
/* acme_wait: call step after ms (a poll) */
void acme_wait(struct acme_flow *f, uint64_t ms, const struct acme_resp *r,
	       acme_step_fn *step);
/* acme_plan: look at the served certificate and schedule what is next */
void acme_plan(struct acme_flow *f);
void acme_status_save(struct acme_flow *f);

/* acme_order.c */
/* acme_order_begin: an issuance from the directory on */
void acme_order_begin(struct acme_flow *f);
/* acme_account_new: register the account key (newAccount) */
void acme_account_new(struct acme_flow *f);
/* acme_order_load_account: account.json of the state directory */
void acme_order_load_account(struct acme_flow *f);

#endif
