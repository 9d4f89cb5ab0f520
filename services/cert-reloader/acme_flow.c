/*
 * acme_flow: the ACME client's requests and time (see acme.h): one
 * request in flight at a time; signed requests take the last
 * Replay-Nonce or fetch one (HEAD newNonce); badNonce is retried with the
 * nonce of the error answer; every other error answer or a network
 * failure ends the attempt with a capped, jittered exponential backoff
 * (Retry-After when the server asks for longer), for a renewal at most a
 * quarter of the served certificate's remaining life. Between attempts the
 * flow plans from the certificate being served: due at two thirds of its
 * lifetime or at a random point of the server's renewal window (RFC
 * 9773, re-read every ari_check_s or when Retry-After says).
 *
 * Untrusted input: the server's answers (acme_resp: status, bounded
 * body, headers); parsed in acme_msg.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"
#include "fs.h"
#include "log.h"
#include "xmalloc.h"

void
acme_opts_default(struct acme_opts *o)
{
	memset(o, 0, sizeof(*o));
	(void)snprintf(o->directory, sizeof(o->directory),
		       "https://acme-v02.api.letsencrypt.org/directory");
	(void)snprintf(o->state_dir, sizeof(o->state_dir),
		       "/var/lib/chatmail-acme");
	(void)snprintf(o->tls_dir, sizeof(o->tls_dir), "/etc/chatmail/tls");
	(void)snprintf(o->listen, sizeof(o->listen), "127.0.0.1:402");
	o->backoff_min_s = 60;
	o->backoff_max_s = 21600;
	o->poll_ms = 1000;
	o->poll_max = 120;
	o->ari_check_s = 21600;
	o->timeout_s = 30;
	o->key_gid = -1;
}

struct acme_flow *
acme_flow_new(const struct acme_opts *o, const struct acme_env *env)
{
	struct acme_flow *f = xcalloc(1, sizeof(*f));

	f->o = *o;
	f->env = *env;
	buf_init(&f->jws, ACME_BODY_MAX);
	return f;
}

void
acme_flow_free(struct acme_flow **fp)
{
	struct acme_flow *f = *fp;

	if (f == NULL)
		return;
	EVP_PKEY_free(f->acct);
	EVP_PKEY_free(f->cert_key);
	free(f->req.payload);
	buf_deinit(&f->jws);
	free(f);
	*fp = NULL;
}

/* send_now: sign (if needed) and send the request in f->req */
static void
send_now(struct acme_flow *f)
{
	struct acme_req q = { .method = f->req.method, .url = f->req.url };
	int r;

	if (f->req.is_signed && f->nonce[0] == '\0') {
		f->req.nonce_fetch = 1;
		q.method = ACME_HEAD;
		q.url = f->dir.new_nonce;
	} else if (f->req.is_signed) {
		buf_reset(&f->jws);
		r = acme_jws(f->acct, f->req.use_jwk ? NULL : f->kid, f->nonce,
			     f->req.url, f->req.payload ? f->req.payload : "",
			     &f->jws);
		f->nonce[0] = '\0'; /* one use */
		if (r < 0) {
			acme_fail(f, NULL, "cannot sign the request to %s",
				  f->req.url);
			return;
		}
		q.body = f->jws.data;
	}
	f->req.active = 1;
	f->requests++;
	f->attempt_requests++;
	log_debug("%s %s",
		  q.method == ACME_GET	  ? "GET"
		  : q.method == ACME_HEAD ? "HEAD"
					  : "POST",
		  q.url);
	if (f->env.send(f->env.ctx, &q) < 0) {
		f->req.active = 0;
		acme_fail(f, NULL, "cannot send a request to %s", q.url);
	}
}

/* start: a new request (the previous one is over) */
static void
start(struct acme_flow *f, enum acme_method m, const char *url,
      const char *payload, int is_signed, int use_jwk, acme_step_fn *ok)
{
	free(f->req.payload);
	memset(&f->req, 0, sizeof(f->req));
	f->req.method = m;
	(void)snprintf(f->req.url, sizeof(f->req.url), "%s", url);
	f->req.payload = payload ? xstrdup(payload) : NULL;
	f->req.is_signed = is_signed;
	f->req.use_jwk = use_jwk;
	f->req.ok = ok;
	send_now(f);
}

void
acme_get(struct acme_flow *f, enum acme_method m, const char *url,
	 acme_step_fn *ok)
{
	start(f, m, url, NULL, 0, 0, ok);
}

void
acme_post(struct acme_flow *f, const char *url, const char *payload,
	  int use_jwk, acme_step_fn *ok)
{
	start(f, ACME_POST, url, payload, 1, use_jwk, ok);
}

/* backoff_s: the wait after the failures-th failure in a row */
static uint64_t
backoff_s(struct acme_flow *f, const struct acme_resp *r)
{
	uint64_t d = f->o.backoff_min_s ? f->o.backoff_min_s : 1, half;
	time_t now = f->env.now(f->env.ctx);
	unsigned i;
	long ra;

	for (i = 1; i < f->st.failures && d < f->o.backoff_max_s; i++)
		d *= 2;
	if (d > f->o.backoff_max_s)
		d = f->o.backoff_max_s;
	/* equal jitter: half fixed, half random */
	half = d / 2;
	d = half + (uint64_t)(f->env.random(f->env.ctx) * (double)(d - half));
	/* a renewal that fails tries again within a quarter of the served
	 * certificate's remaining life: several attempts before it
	 * expires, however short-lived it is */
	if (f->have_cur && f->cur.not_after > now &&
	    d > (uint64_t)(f->cur.not_after - now) / 4)
		d = (uint64_t)(f->cur.not_after - now) / 4;
	if (d == 0)
		d = 1;
	ra = r ? acme_parse_retry_after(r->retry_after, now) : -1;
	if (ra > 0 && (uint64_t)ra > d)
		d = (uint64_t)ra;
	return d;
}

void
acme_fail(struct acme_flow *f, const struct acme_resp *r, const char *fmt, ...)
{
	time_t now = f->env.now(f->env.ctx);
	uint64_t d;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(f->st.last_error, sizeof(f->st.last_error), fmt, ap);
	va_end(ap);
	f->req.active = 0;
	if (f->phase == ACME_ARI) {
		/* renewal information is advice: no backoff of issuance */
		log_warn("renewal information: %s", f->st.last_error);
		f->st.last_error[0] = '\0';
		f->ari_next = now + (time_t)f->o.ari_check_s;
		f->phase = ACME_IDLE;
		acme_plan(f);
		return;
	}
	f->st.failures++;
	d = backoff_s(f, r);
	f->backoff_until = now + (time_t)d;
	f->phase = ACME_IDLE;
	memset(f->az, 0, sizeof(f->az));
	memset(f->keyauth, 0, sizeof(f->keyauth));
	log_warn("certificate for %s not issued: %s; next attempt in %llu s",
		 f->o.names[0], f->st.last_error, (unsigned long long)d);
	acme_plan(f);
}

void
acme_wait(struct acme_flow *f, uint64_t ms, const struct acme_resp *r,
	  acme_step_fn *step)
{
	long ra = r ? acme_parse_retry_after(r->retry_after,
					     f->env.now(f->env.ctx))
		    : -1;

	if (ra > 0 && (uint64_t)ra * 1000 > ms)
		ms = (uint64_t)ra * 1000;
	if (ms > 60000)
		ms = 60000; /* polls stay bounded by poll_max */
	f->on_wake = step;
	f->env.wake(f->env.ctx, ms);
}

/* problem_of: the problem document of an error answer, or a made-up one */
static void
problem_of(const struct acme_resp *r, struct acme_problem *p)
{
	if (!acme_parse_problem(r->body, r->len, p)) {
		(void)snprintf(p->type, sizeof(p->type), "http");
		(void)snprintf(p->detail, sizeof(p->detail), "HTTP status %ld",
			       r->status);
	}
}

/* on_error: an error answer to the request in flight */
static void
on_error(struct acme_flow *f, const struct acme_resp *r)
{
	struct acme_problem p;

	problem_of(r, &p);
	if (strcmp(p.type, "badNonce") == 0 && f->req.is_signed &&
	    f->req.badnonce < ACME_BADNONCE_RETRIES) {
		f->req.badnonce++;
		log_info("badNonce from %s: retrying with a fresh nonce",
			 f->req.url);
		send_now(f);
		return;
	}
	if (strcmp(p.type, "accountDoesNotExist") == 0 && f->kid[0] != '\0' &&
	    !f->reregistered) {
		/* the stored account is gone (another server, a reset) */
		log_warn("account %s unknown to the server: registering",
			 f->kid);
		f->kid[0] = '\0';
		f->reregistered = 1;
		acme_account_new(f);
		return;
	}
	acme_fail(f, r, "%s: %s (HTTP %ld from %s)", p.type, p.detail,
		  r->status, f->req.url);
}

void
acme_flow_response(struct acme_flow *f, const struct acme_resp *r)
{
	if (!f->req.active)
		abort(); /* an answer nobody asked for */
	f->req.active = 0;
	if (r->nonce != NULL && strlen(r->nonce) < sizeof(f->nonce) &&
	    r->nonce[strspn(r->nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				      "opqrstuvwxyz0123456789-_")] == '\0')
		(void)snprintf(f->nonce, sizeof(f->nonce), "%s", r->nonce);
	if (r->neterr) {
		acme_fail(f, NULL, "cannot reach the ACME server at %s: %s",
			  f->req.nonce_fetch ? f->dir.new_nonce : f->req.url,
			  r->body ? r->body : "no answer");
		return;
	}
	if (f->req.nonce_fetch) {
		f->req.nonce_fetch = 0;
		if (f->nonce[0] == '\0') {
			acme_fail(f, r, "newNonce: no Replay-Nonce (HTTP %ld)",
				  r->status);
			return;
		}
		send_now(f);
		return;
	}
	if (r->status >= 400 || r->status < 200) {
		on_error(f, r);
		return;
	}
	f->req.ok(f, r);
}

void
acme_flow_wake(struct acme_flow *f)
{
	acme_step_fn *step = f->on_wake;

	if (f->req.active)
		return; /* a request is in flight; its answer continues */
	f->on_wake = NULL;
	if (step != NULL) {
		step(f, NULL);
		return;
	}
	acme_plan(f);
}

/* renewal info ---------------------------------------------------- */

/* on_ari: the suggested window of the served certificate */
static void
on_ari(struct acme_flow *f, const struct acme_resp *r)
{
	struct buf err = BUF_INIT(512);
	time_t s, e, now = f->env.now(f->env.ctx);
	long ra = acme_parse_retry_after(r->retry_after, now);

	if (acme_parse_renewal_info(r->body, r->len, &s, &e, &err) < 0) {
		acme_fail(f, r, "%s", err.data);
		buf_deinit(&err);
		return;
	}
	buf_deinit(&err);
	if (s != f->ari_start || e != f->ari_end) {
		f->ari_start = s;
		f->ari_end = e;
		/* a random point of the window, once per window */
		f->renew_at = acme_renew_at(f->cur.not_before, f->cur.not_after,
					    f->env.random(f->env.ctx));
		s += (time_t)(f->env.random(f->env.ctx) * (double)(e - s));
		if (s < f->renew_at)
			f->renew_at = s;
	}
	f->ari_next = now + (ra > 0 ? ra : (long)f->o.ari_check_s);
	f->phase = ACME_IDLE;
	acme_plan(f);
}

/* ari_get: GET renewalInfo/<certID> */
static void
ari_get(struct acme_flow *f, const struct acme_resp *r)
{
	struct buf url = BUF_INIT(ACME_URL_MAX * 2);
	struct buf err = BUF_INIT(512);

	if (r != NULL && f->dir.new_nonce[0] == '\0' &&
	    acme_parse_directory(r->body, r->len, &f->dir, &err) < 0) {
		acme_fail(f, r, "%s", err.data);
		goto out;
	}
	if (f->dir.renewal_info[0] == '\0') {
		/* the server offers none: only the lifetime counts */
		f->ari_next = 0;
		f->phase = ACME_IDLE;
		acme_plan(f);
		goto out;
	}
	if (buf_printf(&url, "%s%s%s", f->dir.renewal_info,
		       f->dir.renewal_info[strlen(f->dir.renewal_info) - 1] ==
				       '/'
			       ? ""
			       : "/",
		       f->cur.ari_id) < 0 ||
	    url.len >= ACME_URL_MAX) {
		acme_fail(f, NULL, "renewalInfo URL too long");
		goto out;
	}
	acme_get(f, ACME_GET, url.data, on_ari);
out:
	buf_deinit(&url);
	buf_deinit(&err);
}

/* ari_begin: read the renewal information (the directory first) */
static void
ari_begin(struct acme_flow *f)
{
	f->phase = ACME_ARI;
	if (f->dir.new_nonce[0] != '\0')
		ari_get(f, NULL);
	else
		acme_get(f, ACME_GET, f->o.directory, ari_get);
}

/* plan --------------------------------------------------------- */

/* look: the served certificate into f->cur; a new one gets a fresh
 * renewal time */
static void
look(struct acme_flow *f)
{
	struct acme_cert_info ci;
	struct buf err = BUF_INIT(512);

	if (acme_cert_read(f->o.tls_dir, f->o.names, f->o.nnames, &ci, &err) <
		    0 ||
	    (ci.self_signed &&
	     buf_puts(&err, "self-signed placeholder") == 0)) {
		if (f->have_cur || err.len > 0)
			log_info("no usable certificate in %s%s%s",
				 f->o.tls_dir, err.len ? ": " : "",
				 buf_cstr(&err));
		f->have_cur = 0;
	} else if (!f->have_cur || ci.not_after != f->cur.not_after ||
		   strcmp(ci.ari_id, f->cur.ari_id) != 0) {
		f->cur = ci;
		f->have_cur = 1;
		f->ari_start = f->ari_end = 0;
		f->ari_next = 0;
		f->renew_at = acme_renew_at(ci.not_before, ci.not_after,
					    f->env.random(f->env.ctx));
	}
	buf_deinit(&err);
}

void
acme_status_save(struct acme_flow *f)
{
	size_t i;
	int n = 0;

	f->st.updated = f->env.now(f->env.ctx);
	for (i = 0; i < f->o.nnames; i++)
		n += snprintf(f->st.names + n, sizeof(f->st.names) - (size_t)n,
			      "%s%s", i ? "," : "", f->o.names[i]);
	(void)snprintf(f->st.account, sizeof(f->st.account), "%s", f->kid);
	if (acme_status_write(f->o.state_dir, &f->st) < 0)
		log_warn("cannot write %s/status.json", f->o.state_dir);
}

/* due: seconds until the next thing to do, 0 = now; *what_r 1 for an
 * issuance, 2 for renewal information */
static time_t
due(struct acme_flow *f, time_t now, int *what_r)
{
	time_t t;

	*what_r = 1;
	if (!f->have_cur || now >= f->renew_at || now >= f->cur.not_after)
		t = f->backoff_until;
	else
		t = f->renew_at;
	if (f->have_cur && t > now && f->cur.ari_id[0] != '\0' &&
	    f->ari_next < t) {
		t = f->ari_next;
		*what_r = 2;
	}
	return t > now ? t - now : 0;
}

void
acme_plan(struct acme_flow *f)
{
	time_t now = f->env.now(f->env.ctx), wait;
	int what;

	look(f);
	wait = due(f, now, &what);
	f->st.ready = f->have_cur && now < f->cur.not_after;
	f->st.not_after = f->have_cur ? f->cur.not_after : 0;
	f->st.renew_at = f->have_cur ? f->renew_at : 0;
	f->st.next_attempt = now + wait;
	acme_status_save(f);
	f->on_wake = NULL;
	if (wait > 0) {
		f->env.wake(f->env.ctx, (uint64_t)wait * 1000);
		return;
	}
	if (what == 2)
		ari_begin(f);
	else
		acme_order_begin(f);
}

int
acme_flow_start(struct acme_flow *f, struct buf *err)
{
	struct buf tp = BUF_INIT(64);
	int created = 0, r;
	char path[1024];

	if ((r = fs_mkdirs(f->o.state_dir, 0755)) < 0) {
		(void)buf_printf(err, "%s: %s", f->o.state_dir, strerror(-r));
		return r;
	}
	(void)snprintf(path, sizeof(path), "%s/account.key", f->o.state_dir);
	r = acme_key_load(path, 1, &f->acct, &created, err);
	if (r < 0)
		return r;
	if (acme_thumbprint(f->acct, &tp) < 0) {
		buf_deinit(&tp);
		(void)buf_printf(err, "%s: no thumbprint", path);
		return -EINVAL;
	}
	(void)snprintf(f->thumb, sizeof(f->thumb), "%s", tp.data);
	buf_deinit(&tp);
	if (created)
		log_info("created the ACME account key %s", path);
	acme_order_load_account(f);
	acme_plan(f);
	return 0;
}

const char *
acme_flow_challenge(const struct acme_flow *f, const char *token)
{
	size_t i;

	for (i = 0; i < ACME_MAX_AUTHZ; i++)
		if (f->keyauth[i][0] != '\0' &&
		    strcmp(f->az[i].token, token) == 0)
			return f->keyauth[i];
	return NULL;
}

const struct acme_status_rec *
acme_flow_status(const struct acme_flow *f)
{
	return &f->st;
}

unsigned
acme_flow_requests(const struct acme_flow *f)
{
	return f->requests;
}
