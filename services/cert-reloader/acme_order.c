/*
 * acme_order: one issuance (see acme.h): the directory, the account
 * (registered once; its URL kept in account.json so restarts reuse it),
 * the order for every name, the HTTP-01 challenges (all answered first,
 * then the authorizations polled, so the server validates them in
 * parallel), finalization with a fresh P-256 key, and the certificate,
 * checked against that key and the names before it is stored.
 *
 * Untrusted input: the server's answers, parsed by acme_msg.c; the
 * certificate chain (checked by acme_cert_inspect); account.json
 * (size-capped, a URL or nothing).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"
#include "fs.h"
#include "log.h"

static void order_new(struct acme_flow *f, const struct acme_resp *r);
static void authz_next(struct acme_flow *f, const struct acme_resp *r);
static void poll_next(struct acme_flow *f, const struct acme_resp *r);
static void finalize(struct acme_flow *f);
static void order_poll(struct acme_flow *f, const struct acme_resp *r);
static void on_cert(struct acme_flow *f, const struct acme_resp *r);

/* parse_fail: end the attempt with a parser's reason */
static void
parse_fail(struct acme_flow *f, const struct acme_resp *r, struct buf *err)
{
	acme_fail(f, r, "%s (from %s)", buf_cstr(err), f->req.url);
	buf_deinit(err);
}

void
acme_order_load_account(struct acme_flow *f)
{
	struct buf b = BUF_INIT(8192);
	char path[1024], dir[ACME_URL_MAX];
	cJSON *j = NULL;
	const cJSON *u, *d;

	(void)snprintf(path, sizeof(path), "%s/account.json", f->o.state_dir);
	if (fs_read_file(path, &b) < 0)
		goto out;
	j = cJSON_ParseWithLength(b.data, b.len);
	u = cJSON_GetObjectItemCaseSensitive(j, "url");
	d = cJSON_GetObjectItemCaseSensitive(j, "directory");
	(void)snprintf(dir, sizeof(dir), "%s",
		       cJSON_IsString(d) ? d->valuestring : "");
	/* an account belongs to one server */
	if (cJSON_IsString(u) && strlen(u->valuestring) < sizeof(f->kid) &&
	    strcmp(dir, f->o.directory) == 0)
		(void)snprintf(f->kid, sizeof(f->kid), "%s", u->valuestring);
out:
	cJSON_Delete(j);
	buf_deinit(&b);
}

/* save_account: account.json with the account URL and its server */
static void
save_account(struct acme_flow *f)
{
	cJSON *j = cJSON_CreateObject();
	char path[1024], *text;

	cJSON_AddStringToObject(j, "url", f->kid);
	cJSON_AddStringToObject(j, "directory", f->o.directory);
	text = cJSON_Print(j);
	cJSON_Delete(j);
	(void)snprintf(path, sizeof(path), "%s/account.json", f->o.state_dir);
	if (text == NULL ||
	    fs_write_atomic(path, text, strlen(text), 0600, 1) < 0)
		log_warn("cannot write %s: the account is registered again "
			 "after a restart",
			 path);
	cJSON_free(text);
}

/* on_account: newAccount answered: its URL is the kid from now on */
static void
on_account(struct acme_flow *f, const struct acme_resp *r)
{
	struct buf err = BUF_INIT(256);

	if (r->location == NULL || strlen(r->location) >= sizeof(f->kid) ||
	    acme_parse_account(r->body, r->len, &err) < 0) {
		if (err.len == 0)
			(void)buf_puts(&err, "newAccount: no account URL");
		parse_fail(f, r, &err);
		return;
	}
	buf_deinit(&err);
	(void)snprintf(f->kid, sizeof(f->kid), "%s", r->location);
	log_info("%s ACME account %s", r->status == 201 ? "created" : "using",
		 f->kid);
	save_account(f);
	order_new(f, r);
}

/* eab_of: the external account binding, or NULL with reason in err */
static cJSON *
eab_of(struct acme_flow *f, struct buf *err)
{
	struct buf key = BUF_INIT(1024);
	uint8_t hmac[256];
	cJSON *eab = NULL;
	int n;

	if (fs_read_file(f->o.eab_hmac_file, &key) < 0) {
		(void)buf_printf(err, "%s: cannot read the EAB key",
				 f->o.eab_hmac_file);
		goto out;
	}
	key.data[strcspn(key.data, "\r\n")] = '\0';
	n = acme_b64url_decode(key.data, hmac, sizeof(hmac));
	if (n <= 0) {
		(void)buf_printf(err, "%s: the EAB key is not base64url",
				 f->o.eab_hmac_file);
		goto out;
	}
	eab = acme_eab(f->acct, f->o.eab_kid, hmac, (size_t)n,
		       f->dir.new_account);
	explicit_bzero(hmac, sizeof(hmac));
	if (eab == NULL)
		(void)buf_puts(err, "cannot sign the external account binding");
out:
	buf_wipe_deinit(&key);
	return eab;
}

void
acme_account_new(struct acme_flow *f)
{
	struct buf err = BUF_INIT(512);
	cJSON *p = cJSON_CreateObject(), *eab;
	char mailto[300], *text;

	if (f->dir.tos[0] != '\0' && !f->o.agree_tos) {
		acme_fail(f, NULL,
			  "the ACME server's terms of service (%s) "
			  "are not agreed (spec.tls.acmeTermsOfService"
			  "Agreed)",
			  f->dir.tos);
		goto out;
	}
	if (f->dir.eab_required && f->o.eab_kid[0] == '\0') {
		acme_fail(f, NULL,
			  "the ACME server requires an external "
			  "account binding (spec.tls.eabKeyId)");
		goto out;
	}
	cJSON_AddBoolToObject(p, "termsOfServiceAgreed", f->o.agree_tos);
	if (f->o.email[0] != '\0') {
		(void)snprintf(mailto, sizeof(mailto), "mailto:%s", f->o.email);
		cJSON_AddItemToObject(p, "contact", cJSON_CreateArray());
		cJSON_AddItemToArray(cJSON_GetObjectItem(p, "contact"),
				     cJSON_CreateString(mailto));
	}
	if (f->o.eab_kid[0] != '\0') {
		if ((eab = eab_of(f, &err)) == NULL) {
			acme_fail(f, NULL, "%s", err.data);
			goto out;
		}
		cJSON_AddItemToObject(p, "externalAccountBinding", eab);
	}
	text = cJSON_PrintUnformatted(p);
	acme_post(f, f->dir.new_account, text, 1, on_account);
	cJSON_free(text);
out:
	cJSON_Delete(p);
	buf_deinit(&err);
}

/* on_directory: the directory; then the account or straight the order */
static void
on_directory(struct acme_flow *f, const struct acme_resp *r)
{
	struct buf err = BUF_INIT(512);

	if (acme_parse_directory(r->body, r->len, &f->dir, &err) < 0) {
		parse_fail(f, r, &err);
		return;
	}
	buf_deinit(&err);
	if (f->kid[0] == '\0')
		acme_account_new(f);
	else
		order_new(f, r);
}

void
acme_order_begin(struct acme_flow *f)
{
	f->phase = ACME_ORDER;
	f->attempt_requests = 0;
	f->reregistered = 0;
	f->polls = 0;
	memset(f->az, 0, sizeof(f->az));
	memset(f->keyauth, 0, sizeof(f->keyauth));
	log_info("ordering a certificate for %s from %s", f->o.names[0],
		 f->o.directory);
	acme_get(f, ACME_GET, f->o.directory, on_directory);
}

/* all_valid: every authorization of the order was seen valid */
static int
all_valid(const struct acme_flow *f)
{
	size_t i;

	for (i = 0; i < f->order.nauthz; i++)
		if (f->az[i].status != ACME_ST_VALID)
			return 0;
	return f->order.nauthz > 0;
}

/* on_order: an order object (newOrder, a poll or finalize) */
static void
on_order(struct acme_flow *f, const struct acme_resp *r)
{
	struct buf err = BUF_INIT(512);

	if (r->location != NULL && f->order_url[0] == '\0' &&
	    strlen(r->location) < sizeof(f->order_url))
		(void)snprintf(f->order_url, sizeof(f->order_url), "%s",
			       r->location);
	if (acme_parse_order(r->body, r->len, &f->order, &err) < 0) {
		parse_fail(f, r, &err);
		return;
	}
	buf_deinit(&err);
	if (f->order_url[0] == '\0') {
		acme_fail(f, r, "newOrder: no order URL");
		return;
	}
	switch (f->order.status) {
	case ACME_ST_PENDING:
		if (all_valid(f)) { /* the server has not caught up */
			acme_wait(f, f->o.poll_ms, r, order_poll);
			break;
		}
		f->az_i = 0;
		authz_next(f, NULL);
		break;
	case ACME_ST_READY:
		finalize(f);
		break;
	case ACME_ST_PROCESSING:
		acme_wait(f, f->o.poll_ms, r, order_poll);
		break;
	case ACME_ST_VALID:
		acme_post(f, f->order.certificate, NULL, 0, on_cert);
		break;
	default:
		acme_fail(f, r, "order %s is %s: %s %s", f->order_url,
			  f->order.status == ACME_ST_INVALID ? "invalid"
							     : "unusable",
			  f->order.error.type, f->order.error.detail);
		break;
	}
}

/* order_new: POST newOrder for every name */
static void
order_new(struct acme_flow *f, const struct acme_resp *r)
{
	cJSON *p = cJSON_CreateObject(), *ids, *id;
	char *text;
	size_t i;

	(void)r;
	f->order_url[0] = '\0';
	ids = cJSON_AddArrayToObject(p, "identifiers");
	for (i = 0; i < f->o.nnames; i++) {
		id = cJSON_CreateObject();
		cJSON_AddStringToObject(id, "type", "dns");
		cJSON_AddStringToObject(id, "value", f->o.names[i]);
		cJSON_AddItemToArray(ids, id);
	}
	text = cJSON_PrintUnformatted(p);
	cJSON_Delete(p);
	acme_post(f, f->dir.new_order, text, 0, on_order);
	cJSON_free(text);
}

/* set_keyauth: the key authorization served for authz i */
static void
set_keyauth(struct acme_flow *f, size_t i)
{
	char ka[sizeof(f->keyauth[0])];

	(void)snprintf(ka, sizeof(ka), "%s.%s", f->az[i].token, f->thumb);
	memcpy(f->keyauth[i], ka, sizeof(ka));
}

/* on_challenge: the challenge was accepted for validation */
static void
on_challenge(struct acme_flow *f, const struct acme_resp *r)
{
	(void)r;
	f->az_i++;
	authz_next(f, NULL);
}

/* on_authz: one authorization read; answer its challenge if pending */
static void
on_authz(struct acme_flow *f, const struct acme_resp *r)
{
	struct buf err = BUF_INIT(512);
	struct acme_authz *a = &f->az[f->az_i];

	if (acme_parse_authz(r->body, r->len, a, &err) < 0) {
		parse_fail(f, r, &err);
		return;
	}
	buf_deinit(&err);
	if (a->status == ACME_ST_VALID) {
		f->az_i++;
		authz_next(f, NULL);
	} else if (a->status != ACME_ST_PENDING) {
		acme_fail(f, r, "authorization for %s is not pending", a->name);
	} else {
		set_keyauth(f, f->az_i);
		if (a->chall_status == ACME_ST_PENDING)
			acme_post(f, a->chall_url, "{}", 0, on_challenge);
		else
			on_challenge(f, r);
	}
}

/* authz_next: read the next authorization; after the last, poll */
static void
authz_next(struct acme_flow *f, const struct acme_resp *r)
{
	(void)r;
	if (f->az_i < f->order.nauthz) {
		acme_post(f, f->order.authz[f->az_i], NULL, 0, on_authz);
		return;
	}
	poll_next(f, NULL);
}

/* on_poll: an authorization polled */
static void
on_poll(struct acme_flow *f, const struct acme_resp *r)
{
	struct buf err = BUF_INIT(512);
	struct acme_authz a;
	size_t i = f->az_i;

	if (acme_parse_authz(r->body, r->len, &a, &err) < 0) {
		parse_fail(f, r, &err);
		return;
	}
	buf_deinit(&err);
	if (a.status == ACME_ST_VALID) {
		f->az[i].status = ACME_ST_VALID;
		poll_next(f, NULL);
	} else if (a.status == ACME_ST_INVALID) {
		acme_fail(f, r, "validation of %s failed: %s: %s", a.name,
			  a.error.type[0] ? a.error.type : "invalid",
			  a.error.detail);
	} else if (++f->polls > f->o.poll_max) {
		acme_fail(f, r,
			  "validation of %s still pending after %u "
			  "polls",
			  a.name, f->o.poll_max);
	} else {
		acme_wait(f, f->o.poll_ms, r, poll_next);
	}
}

/* poll_next: poll the first authorization not yet valid, or finalize */
static void
poll_next(struct acme_flow *f, const struct acme_resp *r)
{
	size_t i;

	(void)r;
	for (i = 0; i < f->order.nauthz; i++) {
		if (f->az[i].status == ACME_ST_VALID)
			continue;
		f->az_i = i;
		acme_post(f, f->order.authz[i], NULL, 0, on_poll);
		return;
	}
	acme_post(f, f->order_url, NULL, 0, order_poll);
}

/* on_cert: the certificate chain; checked, stored, reloaded */
static void
on_cert(struct acme_flow *f, const struct acme_resp *r)
{
	struct buf key = BUF_INIT(16384), err = BUF_INIT(512);
	struct acme_cert_info ci;
	char na[32];

	if (acme_key_pem(f->cert_key, &key) < 0 ||
	    acme_cert_inspect(r->body, r->len, key.data, key.len, f->o.names,
			      f->o.nnames, &ci, &err) < 0 ||
	    acme_cert_store(f->o.tls_dir, r->body, r->len, key.data, key.len,
			    f->o.key_gid, &err) < 0) {
		acme_fail(f, r, "certificate from %s unusable: %s", f->req.url,
			  buf_cstr(&err));
		goto out;
	}
	f->phase = ACME_IDLE;
	f->st.failures = 0;
	f->st.last_error[0] = '\0';
	f->st.issued = f->env.now(f->env.ctx);
	f->st.requests_last = f->attempt_requests;
	f->backoff_until = 0;
	memset(f->keyauth, 0, sizeof(f->keyauth));
	acme_format_time(ci.not_after, na);
	log_info("certificate for %s installed (%u ACME requests), valid "
		 "until %s",
		 f->o.names[0], f->attempt_requests, na);
	if (f->env.installed != NULL)
		f->env.installed(f->env.ctx);
	acme_plan(f);
out:
	buf_wipe_deinit(&key);
	buf_deinit(&err);
}

/* order_poll: read the order again (bounded by poll_max) */
static void
order_poll(struct acme_flow *f, const struct acme_resp *r)
{
	if (r == NULL) { /* woken: ask again */
		acme_post(f, f->order_url, NULL, 0, order_poll);
		return;
	}
	if (++f->polls > f->o.poll_max) {
		acme_fail(f, r, "order %s not valid after %u polls",
			  f->order_url, f->o.poll_max);
		return;
	}
	on_order(f, r);
}

/* finalize: a fresh key, the CSR, POST finalize */
static void
finalize(struct acme_flow *f)
{
	struct buf csr = BUF_INIT(8192), body = BUF_INIT(8300);

	EVP_PKEY_free(f->cert_key);
	f->cert_key = acme_key_new();
	if (f->cert_key == NULL ||
	    acme_csr(f->cert_key, f->o.names, f->o.nnames, &csr) < 0 ||
	    buf_printf(&body, "{\"csr\":\"%s\"}", csr.data) < 0) {
		acme_fail(f, NULL, "cannot make the certificate request");
		goto out;
	}
	f->polls = 0;
	acme_post(f, f->order.finalize, body.data, 0, order_poll);
out:
	buf_deinit(&csr);
	buf_deinit(&body);
}
