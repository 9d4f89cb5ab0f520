/*
 * fm_policy_dkim: the incoming origin check (upstream's verify_origin):
 * a domain-literal sender must match the XFORWARD origin IP; a domain
 * sender needs a DKIM signature that verifies and whose d= equals the
 * From domain (strict alignment). Replies as upstream: "554 5.7.1 No
 * DKIM signature found" (none at all), "554 5.7.1 No valid DKIM
 * signature found" (none verifies aligned). One deliberate difference:
 * when no signature passed and a key lookup failed temporarily (timeout,
 * SERVFAIL), we answer 451 so the sender retries, instead of upstream's
 * 554, because mail is never lost for a passing DNS problem.
 *
 * Only aligned signatures are verified (others cannot make the message
 * pass), so a message costs at most one key lookup per aligned signature;
 * lookups run in parallel on the event loop. A key that fails is dropped
 * from the cache, as upstream does. Rejected messages are saved under
 * <rejected_dir>/dkim-verify/ for debugging, as upstream.
 *
 * Untrusted input: the message, its signatures, the DNS answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fm_policy_int.h"
#include "log.h"
#include "xmalloc.h"

enum { SJ_WAIT, SJ_PASS, SJ_FAIL, SJ_TEMP };

struct origin;

struct sigjob {
	struct origin *c;
	struct dns_query *q;
	int state;
	char name[330]; /* <s>._domainkey.<d> */
};

/* the origin check: the head first (fm_policy_int.h) */
struct origin {
	struct fm_check base;
	const char *msg;
	size_t len;
	struct fm_entity top;
	struct fm_verdict v;
	size_t nsig, waiting;
	int starting;
	struct fm_dkim_sig sig[FM_DKIM_MAX_SIGS];
	struct sigjob job[FM_DKIM_MAX_SIGS];
};

/* save_rejected: keep a copy of a rejected message for debugging */
static void
save_rejected(const struct fm_policy *pol, const char *msg, size_t len)
{
	char dir[2048], path[2200];
	uint32_t rnd = 0;
	ssize_t w = 0;
	size_t off = 0;
	int fd;

	if (pol->rejected_dir[0] == '\0')
		return;
	(void)snprintf(dir, sizeof(dir), "%s", pol->rejected_dir);
	(void)mkdir(dir, 0700);
	(void)snprintf(dir, sizeof(dir), "%s/dkim-verify", pol->rejected_dir);
	(void)mkdir(dir, 0700);
	/* a name clash only makes O_EXCL fail: no need to retry */
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (unsigned)getpid();
	(void)snprintf(path, sizeof(path), "%s/%lld-%08x.eml", dir,
		       (long long)pol->now(), rnd);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	while (fd >= 0 && off < len &&
	       (w = write(fd, msg + off, len - off)) > 0)
		off += (size_t)w;
	if (fd < 0 || off < len) {
		log_error("Failed to save rejected message to file: %s",
			  strerror(errno));
	} else {
		log_info("Rejected message stored at: %s", path);
	}
	if (fd >= 0)
		(void)close(fd);
}

/* check_free: cancel lookups, unlink and free */
static void
check_free(struct origin *c)
{
	size_t i;

	for (i = 0; i < c->nsig; i++)
		dns_cancel(&c->job[i].q);
	fm_check_unlink(&c->base);
	free(c);
}

/* origin_drop: fm_check's drop for the origin check */
static void
origin_drop(struct fm_check *c)
{
	check_free((struct origin *)c);
}

/* maybe_finish: decide once a signature passed or all lookups ended;
 * 1 if the check is finished (and freed) */
static int
maybe_finish(struct origin *c)
{
	struct fm_verdict v = c->v;
	size_t i, pass = 0, temp = 0;

	for (i = 0; i < c->nsig; i++) {
		pass += c->job[i].state == SJ_PASS;
		temp += c->job[i].state == SJ_TEMP;
	}
	if (!pass && c->waiting > 0)
		return 0;
	if (pass) {
		fm_verdict_set(&v, 250, "250 OK");
	} else if (temp) {
		fm_verdict_set(&v, 451,
			       "451 4.7.1 DKIM key lookup failed, try again "
			       "later");
	} else {
		save_rejected(c->base.pol, c->msg, c->len);
		fm_verdict_set(&v, 554,
			       "554 5.7.1 No valid DKIM signature "
			       "found");
	}
	{
		fm_policy_done_fn *done = c->base.done;
		void *arg = c->base.arg;

		check_free(c);
		done(arg, &v);
	}
	return 1;
}

/* on_key: a key lookup ended; verify the signature with each record */
static void
on_key(void *arg, int status, const struct dns_rrs *txt)
{
	struct sigjob *j = arg;
	struct origin *c = j->c;
	const struct fm_dkim_sig *sig = &c->sig[j - c->job];
	struct buf err = BUF_INIT(256);
	size_t i;

	j->q = NULL;
	c->waiting--;
	j->state = status < 0 ? SJ_TEMP : SJ_FAIL;
	for (i = 0; status == 1 && i < txt->n && j->state != SJ_PASS; i++) {
		buf_reset(&err);
		if (fm_dkim_verify_sig(sig, c->top.hdr, c->top.hlen,
				       c->top.body, c->top.blen, txt->rr[i],
				       txt->len[i], c->base.pol->now(),
				       &err) == FM_DKIM_PASS)
			j->state = SJ_PASS;
		else
			log_debug("Signature d=%s s=%s: %s", sig->d, sig->s,
				  buf_cstr(&err));
	}
	if (status == 1 && j->state != SJ_PASS)
		dns_invalidate(c->base.pol->dns, j->name);
	buf_deinit(&err);
	if (!c->starting)
		(void)maybe_finish(c);
}

/* field_start: the start of the header field whose value is at val */
static const char *
field_start(const struct fm_entity *top, const char *val)
{
	while (val > top->hdr && val[-1] != '\n')
		val--;
	return val;
}

/* collect: the aligned, well-formed signatures; how many fields there
 * were at all through nfields_r */
static void
collect(struct origin *c, const char *domain, size_t *nfields_r)
{
	struct buf err = BUF_INIT(256);
	const char *val, *f;
	size_t vlen, k;

	for (k = 0;
	     fm_mime_header_find(&c->top, "DKIM-Signature", k, &val, &vlen);
	     k++) {
		struct fm_dkim_sig *s = &c->sig[c->nsig];

		if (c->nsig == FM_DKIM_MAX_SIGS)
			continue;
		f = field_start(&c->top, val);
		buf_reset(&err);
		if (fm_dkim_parse_sig(f, (size_t)(val + vlen - f), s, &err) <
		    0) {
			log_debug("Signature %zu: %s", k, buf_cstr(&err));
			continue;
		}
		if (strcmp(s->d, domain) != 0) {
			log_debug("Signature %zu: Domain different than in "
				  "From header, skipping",
				  k);
			continue;
		}
		c->nsig++;
	}
	*nfields_r = k;
	buf_deinit(&err);
}

/* literal_origin: a domain-literal sender must come from that IP */
static void
literal_origin(const char *lit, const struct fm_envelope *env,
	       struct fm_verdict *v)
{
	char ip[128];
	size_t n = strlen(lit);
	const char *origin = env->origin_ip ? env->origin_ip : "";

	if (n < 2 || lit[n - 1] != ']')
		n = 2;
	(void)snprintf(ip, sizeof(ip), "%.*s", (int)(n - 2), lit + 1);
	if (strncasecmp(ip, "ipv6:", 5) == 0)
		memmove(ip, ip + 5, strlen(ip + 5) + 1);
	if (strcasecmp(ip, origin) != 0) {
		log_warn("Received invalid origin address: %s, actual: %s", ip,
			 origin);
		fm_verdict_set(v, 500,
			       "500 Invalid FROM domain literal: %.100s does "
			       "not match origin IP %.100s",
			       ip, origin);
		return;
	}
	fm_verdict_set(v, 250, "250 OK");
}

/* start_lookups: one key lookup per aligned signature; 1 if finished */
static int
start_lookups(struct origin *c)
{
	size_t i;

	c->starting = 1;
	c->waiting = c->nsig;
	for (i = 0; i < c->nsig; i++) {
		struct sigjob *j = &c->job[i];

		j->c = c;
		j->state = SJ_WAIT;
		(void)snprintf(j->name, sizeof(j->name), "%s._domainkey.%s",
			       c->sig[i].s, c->sig[i].d);
	}
	for (i = 0; i < c->nsig; i++)
		c->job[i].q = dns_lookup_txt(c->base.pol->dns, c->job[i].name,
					     on_key, &c->job[i]);
	c->starting = 0;
	return maybe_finish(c);
}

struct fm_check *
fm_policy_origin(struct fm_policy *pol, const struct fm_envelope *env,
		 const char *from, const struct fm_entity *top, const char *msg,
		 size_t len, const struct fm_verdict *v0,
		 fm_policy_done_fn *done, void *arg)
{
	const char *at = strrchr(from, '@');
	struct fm_verdict v = *v0;
	struct origin *c;
	size_t nfields = 0;

	if (at == NULL || at[1] == '\0') {
		fm_verdict_set(&v, 500, "500 Invalid FROM domain");
		goto decided;
	}
	if (at[1] == '[') {
		literal_origin(at + 1, env, &v);
		goto decided;
	}
	if (pol->skip_dkim) {
		fm_verdict_set(&v, 250, "250 OK");
		goto decided;
	}
	c = xcalloc(1, sizeof(*c));
	c->base.pol = pol;
	c->base.done = done;
	c->base.arg = arg;
	c->base.drop = origin_drop;
	c->msg = msg;
	c->len = len;
	c->top = *top;
	c->v = v;
	collect(c, at + 1, &nfields);
	if (c->nsig == 0) {
		free(c);
		save_rejected(pol, msg, len);
		fm_verdict_set(&v, 554,
			       nfields == 0
				       ? "554 5.7.1 No DKIM signature found"
				       : "554 5.7.1 No valid DKIM signature "
					 "found");
		goto decided;
	}
	fm_check_link(&c->base);
	return start_lookups(c) ? NULL : &c->base;
decided:
	done(arg, &v);
	return NULL;
}
