/*
 * reconcile_secrets: the Secrets of a relay that are not applied with
 * server-side apply.
 *
 *   DKIM key     generated once (a key from the env's keygen,
 *                made off the loop) and created with POST; never
 *                replaced. With storage.mail.keepOnDelete it has no
 *                owner reference: the key is state like the mail, and
 *                DNS publishes it.
 *   SelfSigned   a P-256 certificate for the domain (cheap: made here),
 *                created once
 *   TURN         <relay>-turn, chatmail-turn's shared secret (32 random
 *                bytes, base64), created once while TURN runs; only the
 *                turn container mounts it
 *   user's own   spec.tls.secretName / spec.dkim.secretName must exist;
 *                the DKIM record is read from the user's key
 *
 * A created Secret that already exists (a cache behind the server) is
 * left alone: the freshly made key is dropped.
 *
 * Untrusted input: a Secret the user names (its key is parsed by
 * OpenSSL; a key it cannot read is reported, not trusted).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "reconcile.h"

/* wipe_strings: erase every string value of a JSON tree */
static void
wipe_strings(cJSON *v)
{
	cJSON *ch;

	if (cJSON_IsString(v) && v->valuestring != NULL)
		explicit_bzero(v->valuestring, strlen(v->valuestring));
	cJSON_ArrayForEach(ch, v)
	{
		wipe_strings(ch);
	}
}

/* created: a POST of a created-once Secret finished */
static void
created(struct rec *r, struct rec_call *call, struct kube_result *res)
{
	const char *what = call->dkim == SECRET_DKIM   ? "DKIM"
			   : call->dkim == SECRET_TURN ? "TURN"
						       : "self-signed TLS";

	if (res->err == 0) {
		/* the status can carry the DKIM record at once, not one
		 * status write later when the watch shows the Secret */
		if (call->dkim == SECRET_DKIM)
			(void)snprintf(r->dkim_txt, sizeof(r->dkim_txt), "%s",
				       r->dkim_new);
		log_info("created %s Secret %s/%s", what, r->ns, call->name);
		rec_event(r, "Normal",
			  call->dkim == SECRET_DKIM   ? "DKIMKeyGenerated"
			  : call->dkim == SECRET_TURN ? "TURNSecretGenerated"
						      : "CertificateGenerated",
			  "Create",
			  "generated the %s Secret %s; it is never replaced "
			  "by the operator",
			  what, call->name);
	} else if (res->err != -EEXIST) {
		if (res->retry_after > r->retry_after)
			r->retry_after = res->retry_after;
		rec_fail(r, "SecretFailed", "Secret %s: %s", call->name,
			 res->message);
	}
}

/* create_secret: POST a Secret (wiped and freed here) */
static void
create_secret(struct rec *r, cJSON *sec, int dkim)
{
	struct rec_call *call;
	struct buf p = BUF_INIT(1024);

	call = rec_call_new(r, OK_SECRET, util_get_str(sec, "metadata.name"));
	call->dkim = dkim;
	if (kube_path(&p, &KUBE_SECRET, r->ns, NULL, NULL) < 0)
		abort();
	r->writes++;
	rec_call_start(r, KV_CREATE, buf_cstr(&p), sec, created, call);
	wipe_strings(sec); /* the request holds its own copy */
	cJSON_Delete(sec);
	buf_deinit(&p);
}

/* dkim_secret: the relay's DKIM key, once */
static void
dkim_secret(struct rec *r, const struct desired_in *in)
{
	struct buf pem = BUF_INIT(16384), txt = BUF_INIT(4096);
	struct desired_in keep = *in;
	struct child c;
	int got;

	if (rec_child(r, OK_SECRET, r->dkim_secret, &c)) {
		rec_child_clear(&c);
		r->env->ops->key_forget(r->env->arg, r->key);
		return;
	}
	got = r->env->ops->key_take(r->env->arg, r->key, &pem);
	if (got < 0) {
		/* still queued: told again when a retry makes the key */
		r->dkim_pending = 1;
		rec_fail(r, "KeyGenerationFailed", "%s",
			 r->env->ops->key_error(r->env->arg));
	} else if (got == 0) {
		/* the keygen re-queues this relay when its key is ready */
		r->dkim_pending = 1;
	} else {
		if (keys_dkim_txt(pem.data, pem.len, &txt) == 0)
			(void)snprintf(r->dkim_new, sizeof(r->dkim_new), "%s",
				       buf_cstr(&txt));
		if (r->spec->storage.mail.keep_on_delete)
			keep.uid = NULL;
		create_secret(r,
			      desired_secret(&keep, r->dkim_secret, "Opaque",
					     "dkim", "opendkim.private",
					     pem.data, pem.len, NULL, NULL, 0),
			      1);
	}
	buf_wipe_deinit(&pem);
	buf_deinit(&txt);
}

/* tls_secret: the self-signed certificate of a SelfSigned relay */
static void
tls_secret(struct rec *r, const struct desired_in *in)
{
	struct buf cert = BUF_INIT(16384), key = BUF_INIT(16384);
	struct child c;

	if (rec_child(r, OK_SECRET, r->tls_secret, &c)) {
		rec_child_clear(&c);
		return;
	}
	if (keys_self_signed(r->spec->domain, 36500, &cert, &key) < 0)
		rec_fail(r, "KeyGenerationFailed", "cannot make a certificate");
	else
		create_secret(r,
			      desired_secret(in, r->tls_secret,
					     "kubernetes.io/tls", "tls",
					     "tls.crt", cert.data, cert.len,
					     "tls.key", key.data, key.len),
			      0);
	buf_deinit(&cert);
	buf_wipe_deinit(&key);
}

/* turn_secret: chatmail-turn's shared secret, once, while TURN runs */
static void
turn_secret(struct rec *r, const struct desired_in *in)
{
	struct buf txt = BUF_INIT(128);
	char name[128];
	struct child c;

	desired_turn_secret_name(in->name, name, sizeof(name));
	if (rec_child(r, OK_SECRET, name, &c)) {
		rec_child_clear(&c);
		return;
	}
	if (keys_turn_secret(&txt) < 0)
		rec_fail(r, "KeyGenerationFailed", "no random TURN secret");
	else
		create_secret(r,
			      desired_secret(in, name, "Opaque", "turn",
					     "secret", txt.data, txt.len, NULL,
					     NULL, 0),
			      SECRET_TURN);
	buf_wipe_deinit(&txt);
}

/* user_read: a Secret the user names arrived (or not) */
static void
user_read(struct rec *r, struct rec_call *call, struct kube_result *res)
{
	struct buf pem = BUF_INIT(65536), txt = BUF_INIT(4096);
	const cJSON *v;

	if (res->err < 0) {
		rec_fail(r,
			 call->dkim ? "DKIMSecretMissing" : "TLSSecretMissing",
			 "Secret %s: %s", call->name, res->message);
	} else if (call->dkim) {
		v = cJSON_GetObjectItemCaseSensitive(
			util_get(res->body, "data"), "opendkim.private");
		if (!cJSON_IsString(v) ||
		    util_b64_decode(v->valuestring, strlen(v->valuestring),
				    &pem) < 0 ||
		    keys_dkim_txt(pem.data, pem.len, &txt) < 0)
			rec_fail(r, "DKIMSecretInvalid",
				 "Secret %s has no RSA key opendkim.private",
				 call->name);
		else
			(void)snprintf(r->dkim_txt, sizeof(r->dkim_txt), "%s",
				       buf_cstr(&txt));
	}
	wipe_strings(res->body); /* it held key material */
	buf_wipe_deinit(&pem);
	buf_deinit(&txt);
}

/* user_secret: GET a Secret the user names */
static void
user_secret(struct rec *r, const char *name, int dkim)
{
	struct rec_call *call = rec_call_new(r, OK_SECRET, name);
	struct buf p = BUF_INIT(1024);

	call->dkim = dkim;
	if (kube_path(&p, &KUBE_SECRET, r->ns, name, NULL) < 0)
		abort();
	rec_call_start(r, KV_GET, buf_cstr(&p), NULL, user_read, call);
	buf_deinit(&p);
}

void
rec_secrets(struct rec *r, const struct desired_in *in)
{
	if (r->spec->dkim.secret_name[0] == '\0') {
		dkim_secret(r, in);
	} else {
		r->env->ops->key_forget(r->env->arg, r->key);
		user_secret(r, r->dkim_secret, 1);
	}
	if (r->spec->tls.mode == SPEC_TLS_SELF_SIGNED)
		tls_secret(r, in);
	else if (r->spec->tls.mode == SPEC_TLS_SECRET)
		user_secret(r, r->tls_secret, 0);
	if (spec_turn_address(r->spec) != NULL)
		turn_secret(r, in);
}
