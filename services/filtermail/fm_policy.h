/*
 * fm_policy: filtermail's content decision for one message, the seam
 * between the SMTP/HTTP side (which collects the envelope and the
 * dot-unstuffed message) and the checks (MIME, PGP/MIME, OpenPGP packet
 * walk, SecureJoin, Autocrypt Setup Message, DKIM sign and verify).
 *
 * Upstream behaviour (docs/UPSTREAM.md, filtermail), outgoing:
 *   From header required ("500 Invalid FROM header: ..."), equal to MAIL
 *   FROM ignoring case ("500 Invalid FROM <from> for <mail_from>");
 *   encrypted or SecureJoin request passes ("Outgoing: Filtering
 *   encrypted mail."); otherwise ("Outgoing: Filtering unencrypted
 *   mail.") only a self-sent Autocrypt Setup Message passes; everything
 *   else gets "523 Encryption Needed: Invalid Unencrypted Mail" ("Rejected
 *   unencrypted mail from: ..."). A passing message gets the header
 *   cleanup of Postfix's authclean service (fm_clean.h: Subject "[...]",
 *   Received, X-Originating-IP, X-Mailer, User-Agent removed, missing
 *   Date and Message-ID added) and is DKIM-signed over the result: the
 *   DKIM-Signature and the cleaned header section come back as the
 *   verdict's prepend, replacing the message's header section (skip).
 * Incoming: From required; MAIL FROM != From -> empty_return_path;
 *   encrypted, SecureJoin and mailer-daemon reports go to the origin
 *   check; other cleartext gets 523 if any recipient enforces E2EE,
 *   else the origin check; origin check = DKIM with strict alignment
 *   ("554 5.7.1 No DKIM signature found" / "554 5.7.1 No valid DKIM
 *   signature found"), which may wait for DNS.
 *
 * Everything in the message and the envelope is untrusted.
 */
#ifndef FM_POLICY_H
#define FM_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "evloop.h"

struct fm_policy;
struct fm_check;

/* the envelope of one message; every pointer is borrowed for the call */
struct fm_envelope {
	const char *mail_from;	  /* MAIL FROM address without <>, "" = <> */
	const char *const *rcpts; /* RCPT TO addresses without <> */
	size_t nrcpts;
	const char *origin_ip; /* XFORWARD ADDR= ("ipv6:" stripped) or NULL */
};

#define FM_VERDICT_TEXT_MAX 512

/* the decision on one message */
struct fm_verdict {
	int code; /* 250: pass (reinject); else the SMTP code to answer */
	/* the full reply line without CRLF, code first, e.g. "250 OK" or
	 * "523 Encryption Needed: Invalid Unencrypted Mail" */
	char text[FM_VERDICT_TEXT_MAX];
	int empty_return_path; /* incoming: reinject with MAIL FROM:<> */
	/* header block (CRLF-terminated lines) to send before the message
	 * when reinjecting; NULL/0 when none. Outgoing: the DKIM-Signature,
	 * then the cleaned header section (fm_clean.h) that replaces the
	 * message's own. Owned by the policy: valid only while done runs,
	 * so copy it if needed later. */
	const char *prepend;
	size_t prepend_len;
	/* bytes at the start of the message that prepend replaces (the
	 * header section and its empty line, outgoing); reinjection sends
	 * prepend, then the message from this offset on */
	size_t skip;
};

/* fm_policy_new: the policy of one filtermail process; outgoing is 1 for
 * "outgoing", 0 for "incoming". cfg and loop are borrowed and must
 * outlive the policy. Outgoing loads the DKIM key (cfg->dkim_key_file,
 * PEM RSA as opendkim-genkey writes it; an empty dkim_key_file or an
 * IPv4 relay signs nothing). Incoming sets up the DNS resolver
 * (cfg->dns_server, else /etc/resolv.conf). Environment:
 * FILTERMAIL_SKIP_DKIM=1|true disables DKIM verification (tests only,
 * logged "DKIM verification DISABLED!"); FILTERMAIL_REJECTED_DIR sets
 * where messages that failed DKIM verification are saved for debugging
 * (default /tmp/filtermail-rejected as upstream; "" = not saved);
 * FILTERMAIL_SIGN_THREADS (outgoing with a key) sets the DKIM signer
 * threads (fm_sign_pool.h; default the online CPUs, at most 4; 0 signs
 * on the event loop), as chatmail.ini has no such option.
 * Returns NULL with the reason in err (a config problem: exit 78). */
struct fm_policy *fm_policy_new(struct evloop *loop,
				const struct chatmail_config *cfg, int outgoing,
				struct buf *err);
/* fm_policy_free: cancels nothing (cancel checks first), frees, NULLs */
void fm_policy_free(struct fm_policy **pp);

/* fm_policy_done_fn: the verdict; v is valid only during the call */
typedef void fm_policy_done_fn(void *arg, const struct fm_verdict *v);

/* fm_policy_check: decide on one message (dot-unstuffed, CRLF line ends,
 * msg[len] need not be NUL). env is copied as needed; msg must stay
 * valid until done runs or the check is cancelled. done is called
 * exactly once, either
 * before this returns (then NULL is returned) or later from the event
 * loop (incoming: DNS; outgoing: the DKIM signer threads; then a handle
 * is returned). */
struct fm_check *fm_policy_check(struct fm_policy *pol,
				 const struct fm_envelope *env, const char *msg,
				 size_t len, fm_policy_done_fn *done,
				 void *arg);
/* fm_check_cancel: abandon a pending check (client went away); done will
 * not be called; *cp is set to NULL. Harmless on NULL. */
void fm_check_cancel(struct fm_check **cp);

/* fm_policy_sign: DKIM-sign a message given as its header section (hdr,
 * CRLF lines, without the empty line) and body, as it is (no cleanup):
 * the milter path for the mail Postfix generates itself (bounces). Signs
 * when the policy has a key and the From address is in our domain (as
 * OpenDKIM's SigningTable "*@<domain>"); the "DKIM-Signature: ...\r\n"
 * field is appended to out. 1 signed, 0 not ours to sign (no key, no
 * From, another domain), -EIO with the reason in err. */
int fm_policy_sign(struct fm_policy *pol, const char *hdr, size_t hlen,
		   const char *body, size_t blen, struct buf *out,
		   struct buf *err);

/* fm_policy_pending: checks waiting for DNS or a signature (tests) */
size_t fm_policy_pending(const struct fm_policy *pol);

/* the decisions counted where upstream's mtail programs count their log
 * lines (docs/UPSTREAM.md, Metrics): each field moves with one line */
struct fm_policy_stats {
	uint64_t encrypted;	       /* "<Dir>: Filtering encrypted mail." */
	uint64_t unencrypted;	       /* "... Filtering unencrypted mail." */
	uint64_t filtered;	       /* either of the two */
	uint64_t mailer_daemon;	       /* "... mailer-daemon message from" */
	uint64_t rejected_unencrypted; /* "Rejected unencrypted mail" */
	uint64_t dkim_signed;	       /* "DKIM-Signature field added" */
};
/* fm_policy_stats: the counters so far (valid as long as pol) */
const struct fm_policy_stats *fm_policy_stats(const struct fm_policy *pol);

#endif
