/*
 * fm_policy: filtermail's decision on one message, outgoing or incoming
 * (rules, reply texts and log phrases of upstream filtermail,
 * docs/UPSTREAM.md, filtermail; see fm_policy.h). The classifier is
 * fm_pgp_classify(); the outgoing cleanup and signature live in
 * fm_policy_sign.c, the incoming origin check in fm_policy_dkim.c.
 *
 * Role: called by the SMTP and HTTP side after DATA. Untrusted input:
 * the envelope and the message. Reply texts quoting the message (the
 * From header) are capped and have control characters replaced, so a
 * sender cannot inject lines into the SMTP answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fm_policy_int.h"
#include "log.h"
#include "user.h"
#include "xmalloc.h"

#define REPLY_523 "523 Encryption Needed: Invalid Unencrypted Mail"
#define REPLY_552_HEADER "552 5.3.4 Message header size exceeds limit"

/* real_now: the default wall clock */
static time_t
real_now(void)
{
	return time(NULL);
}

/* env_true: FILTERMAIL_SKIP_DKIM style switches */
static int
env_true(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

struct fm_policy *
fm_policy_new(struct evloop *loop, const struct chatmail_config *cfg,
	      int outgoing, struct buf *err)
{
	struct fm_policy *pol = xcalloc(1, sizeof(*pol));
	const char *rej = getenv("FILTERMAIL_REJECTED_DIR");

	pol->loop = loop;
	pol->cfg = cfg;
	pol->outgoing = outgoing;
	pol->now = real_now;
	buf_init(&pol->scratch, cfg->max_message_size + 1024);
	/* the cleaned header section can be as large as the message, and
	 * "Subject: [...]" longer than a short Subject field (the buffers
	 * grow only as far as a message needs) */
	buf_init(&pol->cleaned, 2 * cfg->max_message_size + 4096);
	buf_init(&pol->prepend, 2 * cfg->max_message_size + (1 << 16));
	pol->rejected_dir =
		xstrdup(rej != NULL ? rej : "/tmp/filtermail-rejected");
	if (outgoing && !cfg->ipv4_relay && cfg->dkim_key_file != NULL &&
	    cfg->dkim_key_file[0] != '\0') {
		pol->signer = fm_dkim_signer_new(
			cfg->dkim_key_file, cfg->mail_domain_bare,
			cfg->dkim_selector ? cfg->dkim_selector : "opendkim",
			err);
		if (pol->signer == NULL ||
		    fm_policy_signers_start(pol, err) < 0)
			goto fail;
	} else if (outgoing) {
		/* upstream's ini: OpenDKIM signs (docs/UPSTREAM.md, DKIM) */
		log_info("DKIM signing off: %s",
			 cfg->ipv4_relay ? "an IPv4 relay"
					 : "no dkim_key_file in chatmail.ini");
	}
	if (!outgoing) {
		pol->skip_dkim = env_true("FILTERMAIL_SKIP_DKIM");
		if (pol->skip_dkim)
			log_warn("DKIM verification DISABLED!");
		pol->dns = dns_new(loop, cfg->dns_server, NULL, err);
		if (pol->dns == NULL)
			goto fail;
	}
	return pol;
fail:
	fm_policy_free(&pol);
	return NULL;
}

void
fm_policy_free(struct fm_policy **pp)
{
	struct fm_policy *pol = *pp;

	if (pol == NULL)
		return;
	while (!LLIST_EMPTY(&pol->checks)) {
		struct fm_check *c = LLIST_FIRST(&pol->checks);

		fm_check_cancel(&c);
	}
	fm_sign_pool_free(&pol->signers); /* joins the threads */
	fm_dkim_signer_free(&pol->signer);
	dns_free(&pol->dns);
	fm_dkim_key_cache_clear();
	buf_deinit(&pol->scratch);
	buf_deinit(&pol->prepend);
	buf_deinit(&pol->cleaned);
	free(pol->rejected_dir);
	free(pol);
	*pp = NULL;
}

void
fm_policy_set_clock(struct fm_policy *pol, time_t (*now)(void))
{
	pol->now = now;
}

struct dns *
fm_policy_dns(struct fm_policy *pol)
{
	return pol->dns;
}

size_t
fm_policy_pending(const struct fm_policy *pol)
{
	return LLIST_COUNT(&pol->checks);
}

const struct fm_policy_stats *
fm_policy_stats(const struct fm_policy *pol)
{
	return &pol->st;
}

void
fm_verdict_set(struct fm_verdict *v, int code, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	v->code = code;
	va_start(ap, fmt);
	(void)vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
	for (i = 0; v->text[i] != '\0'; i++)
		if ((unsigned char)v->text[i] < 0x20 || v->text[i] == 0x7f)
			v->text[i] = '?'; /* never a second reply line */
}

/* cleartext_ok: upstream's is_cleartext_ok(): an address user.h refuses
 * as a directory name, or one whose user has enforceE2EEincoming, may
 * not receive cleartext (an unreadable marker counts as present) */
static int
cleartext_ok(const struct chatmail_config *cfg, const char *rcpt)
{
	char dir[USER_PATH_MAX];

	if (user_dir(cfg->mailboxes_dir, rcpt, dir, sizeof(dir)) < 0)
		return 0;
	return user_enforces_e2ee(dir) == 0;
}

/* is_asm: upstream's self-sent Autocrypt Setup Message: one recipient,
 * the envelope sender itself (compared exactly, as upstream), Subject
 * (RFC 2047 words decoded) "Autocrypt Setup Message", multipart/mixed */
static int
is_asm(const struct fm_envelope *env, const struct fm_entity *top,
       const struct fm_class *c)
{
	struct buf subject = BUF_INIT(256);
	char raw[256];
	int yes = 0;

	if (env->nrcpts != 1 || strcmp(env->rcpts[0], env->mail_from) != 0 ||
	    !c->multipart_mixed ||
	    !fm_mime_header_get(top, "Subject", raw, sizeof(raw)))
		goto out;
	yes = fm_mime_decode_words(raw, &subject) == 0 &&
	      strcmp(buf_cstr(&subject), "Autocrypt Setup Message") == 0;
out:
	buf_deinit(&subject);
	return yes;
}

/* outgoing: upstream's OutgoingBeforeQueueHandler::check_data after the
 * From checks: 1 when the message passes (sign it), 0 when v is set */
static int
outgoing(struct fm_policy *pol, const struct fm_envelope *env,
	 const struct fm_entity *top, const char *msg, size_t len,
	 struct fm_verdict *v)
{
	struct fm_class c;

	fm_pgp_classify(msg, len, 1, &pol->scratch, &c);
	pol->st.filtered++;
	if (c.encrypted || c.securejoin) {
		pol->st.encrypted++;
		log_info("Outgoing: Filtering encrypted mail.");
		return 1;
	}
	pol->st.unencrypted++;
	log_info("Outgoing: Filtering unencrypted mail.");
	if (is_asm(env, top, &c))
		return 1;
	pol->st.rejected_unencrypted++;
	log_warn("Rejected unencrypted mail from: %s", env->mail_from);
	fm_verdict_set(v, 523, REPLY_523);
	return 0;
}

/* incoming: upstream's IncomingBeforeQueueHandler::check_data after the
 * From checks; 1 when v is decided, 0 to continue with the origin check */
static int
incoming(struct fm_policy *pol, const struct fm_envelope *env, const char *from,
	 const char *msg, size_t len, struct fm_verdict *v)
{
	struct fm_class c;
	size_t i;

	fm_pgp_classify(msg, len, 0, &pol->scratch, &c);
	pol->st.filtered++;
	if (c.encrypted || c.securejoin) {
		pol->st.encrypted++;
		log_info("Incoming: Filtering encrypted mail.");
		return 0;
	}
	pol->st.unencrypted++;
	log_info("Incoming: Filtering unencrypted mail.");
	if (c.mailer_daemon_report &&
	    strncmp(from, "mailer-daemon@", 14) == 0) {
		pol->st.mailer_daemon++;
		log_info("Incoming: Filtering mailer-daemon message from %s",
			 from);
		return 0;
	}
	for (i = 0; i < env->nrcpts; i++) {
		if (!cleartext_ok(pol->cfg, env->rcpts[i])) {
			pol->st.rejected_unencrypted++;
			log_warn("Rejected unencrypted mail from: %s",
				 env->mail_from);
			fm_verdict_set(v, 523, REPLY_523);
			return 1;
		}
	}
	return 0;
}

struct fm_check *
fm_policy_check(struct fm_policy *pol, const struct fm_envelope *env,
		const char *msg, size_t len, fm_policy_done_fn *done, void *arg)
{
	struct fm_verdict v;
	struct fm_entity top;
	char fromhdr[1024], from[512];

	memset(&v, 0, sizeof(v));
	fm_mime_split(msg, len, &top);
	if (fm_mime_longest_field(&top) > FM_HEADER_FIELD_MAX) {
		log_warn("Rejected mail with a header field over %d bytes "
			 "from: %s",
			 FM_HEADER_FIELD_MAX, env->mail_from);
		fm_verdict_set(&v, 552, REPLY_552_HEADER);
		goto decided;
	}
	if (!fm_mime_header_get(&top, "From", fromhdr, sizeof(fromhdr)))
		fromhdr[0] = '\0';
	if (!fm_mime_first_address(fromhdr, from, sizeof(from))) {
		fm_verdict_set(&v, 500, "500 Invalid FROM header: %.200s",
			       fromhdr);
		goto decided;
	}
	if (pol->outgoing) {
		if (strcasecmp(env->mail_from, from) != 0) {
			fm_verdict_set(&v, 500,
				       "500 Invalid FROM <%.200s> for <%.200s>",
				       from, env->mail_from);
			goto decided;
		}
		if (outgoing(pol, env, &top, msg, len, &v))
			return fm_policy_pass(pol, from, &top, msg, done, arg);
		goto decided;
	}
	/* a forwarded or forged return path: keep the mail, never bounce */
	v.empty_return_path = strcasecmp(env->mail_from, from) != 0;
	if (incoming(pol, env, from, msg, len, &v))
		goto decided;
	return fm_policy_origin(pol, env, from, &top, msg, len, &v, done, arg);
decided:
	done(arg, &v);
	return NULL;
}
