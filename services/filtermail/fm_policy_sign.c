/*
 * fm_policy_sign: the outgoing pass of a message that passed the checks
 * (header cleanup as Postfix's authclean, then the DKIM signature over
 * the cleaned message), the milter's signing of Postfix's own mail, and
 * the bookkeeping of checks that finish later (fm_policy_int.h).
 *
 * The RSA operation of an outgoing signature runs on the signer threads
 * (fm_sign_pool.h, which says why) when there are any: the hashes are
 * made here, on the loop, and the check waits for the signature. The
 * milter's signatures (bounces, rare) stay on the loop. A failed
 * signature is "451 4.3.0 Local error: DKIM signing failed", so Postfix
 * keeps the message and retries.
 *
 * Role: outgoing filtermail. Untrusted input: the message (header
 * section and body, from an authenticated local user).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fm_clean.h"
#include "fm_policy_int.h"
#include "log.h"
#include "xmalloc.h"

#define REPLY_SIGN_FAILED "451 4.3.0 Local error: DKIM signing failed"

/* a signature waiting for the signer threads: the head first */
struct sign_check {
	struct fm_check base;
	struct fm_sign_job *job;
	struct buf field;   /* the DKIM-Signature up to "b=" */
	struct buf cleaned; /* the cleaned header section, own copy */
	size_t skip;	    /* the verdict's skip */
};

void
fm_check_link(struct fm_check *c)
{
	struct fm_policy *pol = c->pol;

	LLIST_PREPEND(&pol->checks, c, link);
	c->linked = 1;
}

void
fm_check_unlink(struct fm_check *c)
{
	struct fm_policy *pol = c->pol;

	if (!c->linked)
		return;
	LLIST_REMOVE(&pol->checks, c, link);
	c->linked = 0;
}

/* fm_check_cancel: see fm_policy.h */
void
fm_check_cancel(struct fm_check **cp)
{
	struct fm_check *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	c->drop(c);
}

/* ours: whether mail from this address is ours to sign: we have a key
 * and it is in our domain, like OpenDKIM's SigningTable "*@<domain>" */
static int
ours(const struct fm_policy *pol, const char *from)
{
	const char *at = strrchr(from, '@');

	return pol->signer != NULL && at != NULL &&
	       strcasecmp(at + 1, pol->cfg->mail_domain_bare) == 0;
}

/* log_signed: OpenDKIM's phrase, which upstream's mtail counts as
 * dkim_signed, and our count of it */
static void
log_signed(struct fm_policy *pol)
{
	pol->st.dkim_signed++;
	log_info("DKIM-Signature field added (s=%s, d=%s)",
		 pol->cfg->dkim_selector ? pol->cfg->dkim_selector : "opendkim",
		 pol->cfg->mail_domain_bare);
}

/* sign_if_ours: the DKIM-Signature field for (hdr, body), made on the
 * loop, appended to out when it is ours to sign; 1 signed, 0 not ours
 * to sign, -EIO */
static int
sign_if_ours(struct fm_policy *pol, const char *from, const char *hdr,
	     size_t hlen, const char *body, size_t blen, struct buf *out,
	     struct buf *err)
{
	if (!ours(pol, from))
		return 0;
	if (fm_dkim_sign_parts(pol->signer, hdr, hlen, body, blen, pol->now(),
			       out, err) < 0)
		return -EIO;
	log_signed(pol);
	return 1;
}

/* fm_policy_sign: see fm_policy.h */
int
fm_policy_sign(struct fm_policy *pol, const char *hdr, size_t hlen,
	       const char *body, size_t blen, struct buf *out, struct buf *err)
{
	struct fm_entity e = { hdr, hlen, body, blen };
	char fromhdr[1024], from[512];

	if (!fm_mime_header_get(&e, "From", fromhdr, sizeof(fromhdr)) ||
	    !fm_mime_first_address(fromhdr, from, sizeof(from)))
		return 0;
	return sign_if_ours(pol, from, hdr, hlen, body, blen, out, err);
}

/* clean_into: pol->cleaned = the header section of top cleaned as
 * Postfix's authclean would (fm_clean.h), then the empty line if top had
 * one; the length without that line through hlen_r. 0 or -E2BIG. */
static int
clean_into(struct fm_policy *pol, const struct fm_entity *top, size_t *hlen_r)
{
	buf_reset(&pol->cleaned);
	if (fm_clean_header(top->hdr, top->hlen, pol->now(),
			    pol->cfg->mail_domain_bare, &pol->cleaned) < 0)
		return -E2BIG;
	*hlen_r = pol->cleaned.len;
	if (top->body > top->hdr + top->hlen)
		return buf_puts(&pol->cleaned, "\r\n");
	return 0;
}

/* sign_check_drop: fm_check's drop: the job cancelled (a thread never
 * reaches this check afterwards), unlinked, freed */
static void
sign_check_drop(struct fm_check *c)
{
	struct sign_check *sc = (struct sign_check *)c;

	fm_sign_pool_cancel(c->pol->signers, &sc->job);
	fm_check_unlink(c);
	buf_deinit(&sc->field);
	buf_deinit(&sc->cleaned);
	free(sc);
}

/* on_signed: the signer threads are done with a check's signature */
static void
on_signed(void *arg, int rc, const unsigned char *sig, size_t siglen)
{
	struct sign_check *sc = arg;
	struct fm_policy *pol = sc->base.pol;
	fm_policy_done_fn *done = sc->base.done;
	void *darg = sc->base.arg;
	struct buf err = BUF_INIT(256);
	struct fm_verdict v;

	sc->job = NULL; /* reported: the pool frees it */
	memset(&v, 0, sizeof(v));
	fm_verdict_set(&v, 250, "250 OK");
	buf_reset(&pol->prepend);
	if (rc < 0)
		(void)buf_puts(&err, "DKIM signing failed");
	if (rc < 0 ||
	    fm_dkim_sign_finish(&sc->field, sig, siglen, &pol->prepend, &err) <
		    0 ||
	    buf_append(&pol->prepend, sc->cleaned.data, sc->cleaned.len) < 0) {
		log_error("Can't sign message: %s", buf_cstr(&err));
		fm_verdict_set(&v, 451, REPLY_SIGN_FAILED);
	} else {
		log_signed(pol);
		v.prepend = pol->prepend.data;
		v.prepend_len = pol->prepend.len;
		v.skip = sc->skip;
	}
	sign_check_drop(&sc->base);
	buf_deinit(&err);
	done(darg, &v);
}

/* sign_later: hash on the loop, sign on the threads; the check, or
 * NULL with v set to the failure */
static struct fm_check *
sign_later(struct fm_policy *pol, size_t hlen, const struct fm_entity *top,
	   const char *msg, fm_policy_done_fn *done, void *arg,
	   struct fm_verdict *v)
{
	struct sign_check *sc = xcalloc(1, sizeof(*sc));
	struct buf err = BUF_INIT(256);
	unsigned char hh[32];

	sc->base.pol = pol;
	sc->base.done = done;
	sc->base.arg = arg;
	sc->base.drop = sign_check_drop;
	buf_init(&sc->field, 1 << 21);
	buf_init(&sc->cleaned, pol->cleaned.max);
	if (fm_dkim_sign_prepare(pol->signer, pol->cleaned.data, hlen,
				 top->body, top->blen, pol->now(), &sc->field,
				 hh, &err) < 0 ||
	    buf_append(&sc->cleaned, pol->cleaned.data, pol->cleaned.len) < 0) {
		log_error("Can't sign message: %s", buf_cstr(&err));
		fm_verdict_set(v, 451, REPLY_SIGN_FAILED);
		sign_check_drop(&sc->base);
		sc = NULL;
		goto out;
	}
	sc->skip = (size_t)(top->body - msg);
	sc->job = fm_sign_pool_submit(pol->signers, hh, on_signed, sc);
	fm_check_link(&sc->base);
out:
	explicit_bzero(hh, sizeof(hh));
	buf_deinit(&err);
	return sc != NULL ? &sc->base : NULL;
}

/* fm_policy_pass: see fm_policy_int.h */
struct fm_check *
fm_policy_pass(struct fm_policy *pol, const char *from,
	       const struct fm_entity *top, const char *msg,
	       fm_policy_done_fn *done, void *arg)
{
	struct buf err = BUF_INIT(256);
	struct fm_check *c = NULL;
	struct fm_verdict v;
	size_t hlen = 0;
	int r;

	memset(&v, 0, sizeof(v));
	fm_verdict_set(&v, 250, "250 OK");
	buf_reset(&pol->prepend);
	if (clean_into(pol, top, &hlen) < 0) {
		log_error("Can't clean message header: too large");
		fm_verdict_set(&v, 451,
			       "451 4.3.0 Local error: header too large");
		goto decided;
	}
	if (pol->signers != NULL && ours(pol, from)) {
		c = sign_later(pol, hlen, top, msg, done, arg, &v);
		if (c != NULL)
			goto out;
		goto decided;
	}
	r = sign_if_ours(pol, from, pol->cleaned.data, hlen, top->body,
			 top->blen, &pol->prepend, &err);
	if (r < 0 || buf_append(&pol->prepend, pol->cleaned.data,
				pol->cleaned.len) < 0) {
		log_error("Can't sign message: %s", buf_cstr(&err));
		fm_verdict_set(&v, 451, REPLY_SIGN_FAILED);
		goto decided;
	}
	v.prepend = pol->prepend.data;
	v.prepend_len = pol->prepend.len;
	v.skip = (size_t)(top->body - msg);
decided:
	done(arg, &v);
out:
	buf_deinit(&err);
	return c;
}

/* sign_work: fm_sign_work_fn over a DKIM signer (thread safe) */
static int
sign_work(const void *key, const unsigned char hh[32], unsigned char *sig,
	  size_t *siglen)
{
	return fm_dkim_sign_digest(key, hh, sig, siglen);
}

/* fm_policy_signers_start: see fm_policy_int.h */
int
fm_policy_signers_start(struct fm_policy *pol, struct buf *err)
{
	unsigned char hh[32], sig[FM_SIGN_SIG_MAX];
	size_t siglen = sizeof(sig);
	unsigned n = 0;

	if (fm_sign_pool_threads_wanted(&n, err) < 0)
		return -EINVAL;
	/* also fills whatever OpenSSL caches in the key on first use
	 * before threads share it */
	memset(hh, 0, sizeof(hh));
	if (fm_dkim_sign_digest(pol->signer, hh, sig, &siglen) < 0) {
		(void)buf_printf(err, "DKIM key %s cannot sign",
				 pol->cfg->dkim_key_file);
		return -EINVAL;
	}
	if (n == 0)
		return 0;
	/* a queue of 4 per thread keeps them busy between loop rounds */
	pol->signers = fm_sign_pool_new(pol->loop, sign_work, pol->signer, n,
					4 * (size_t)n, err);
	if (pol->signers == NULL)
		return -EAGAIN;
	log_debug("DKIM signing on %u threads", n);
	return 0;
}
