/*
 * fm_policy_int: what fm_policy.c, fm_policy_dkim.c and fm_policy_sign.c
 * share: the policy object and the checks that finish later (the
 * incoming origin check waits for DNS, the outgoing signature for the
 * signer threads). Private to the policy.
 */
#ifndef FM_POLICY_INT_H
#define FM_POLICY_INT_H

#include <stdarg.h>
#include <time.h>

#include "fm_dkim.h"
#include "dns.h"
#include "fm_mime.h"
#include "fm_pgp.h"
#include "fm_policy.h"
#include "fm_sign_pool.h"
#include "llist.h"

struct fm_policy {
	struct evloop *loop;
	const struct chatmail_config *cfg;
	int outgoing;
	int skip_dkim;		       /* FILTERMAIL_SKIP_DKIM (tests) */
	char *rejected_dir;	       /* "" = do not save rejected mail */
	struct fm_dkim_signer *signer; /* outgoing, NULL = do not sign */
	struct fm_sign_pool *signers;  /* NULL: sign on the loop */
	struct dns *dns;	       /* incoming */
	struct buf scratch;	       /* transfer-decoded bodies */
	struct buf prepend; /* a verdict's DKIM-Signature + cleaned section */
	struct buf cleaned; /* the cleaned header section (outgoing) */
	LLIST_HEAD(, fm_check) checks; /* waiting for DNS or a signature */
	time_t (*now)(void);
	struct fm_policy_stats st;
};

/* the head of every check that finishes later, the first member of
 * each kind (the origin check in fm_policy_dkim.c, the signature in
 * fm_policy_sign.c); fm_check_cancel() calls drop */
struct fm_check {
	struct fm_policy *pol;
	LLIST_LINK(fm_check) link; /* in pol->checks, while linked */
	int linked;
	fm_policy_done_fn *done;
	void *arg;
	/* drop: cancel what the check waits for, unlink and free it */
	void (*drop)(struct fm_check *c);
};

/* fm_check_link: count c as pending (in pol->checks) */
void fm_check_link(struct fm_check *c);
/* fm_check_unlink: no longer pending; harmless when not linked */
void fm_check_unlink(struct fm_check *c);

/* fm_policy_pass: the outgoing pass of a message from our user from:
 * the header section cleaned, then DKIM-signed over the cleaned message
 * when it is ours to sign (on the signer threads when there are some);
 * the verdict's prepend = signature (if any) + cleaned section, replacing
 * the message's own. Calls done now (returning NULL) or later from the
 * loop (returning the check). */
struct fm_check *fm_policy_pass(struct fm_policy *pol, const char *from,
				const struct fm_entity *top, const char *msg,
				fm_policy_done_fn *done, void *arg);
/* fm_policy_signers_start: the signer threads for pol->signer (the
 * number from fm_sign_pool_threads_wanted; none: signing stays on the
 * loop); one signature made here first, so a key that cannot sign is a
 * config problem at start; 0 or -errno with the reason in err */
int fm_policy_signers_start(struct fm_policy *pol, struct buf *err);

/* fm_verdict_set: code and printf-style reply text (control characters
 * replaced, so the text stays one reply line) */
void fm_verdict_set(struct fm_verdict *v, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* fm_policy_origin: the incoming origin check (domain literal or DKIM
 * with strict alignment); v carries empty_return_path. Calls done now
 * (returning NULL) or later from the loop (returning the check). */
struct fm_check *fm_policy_origin(struct fm_policy *pol,
				  const struct fm_envelope *env,
				  const char *from, const struct fm_entity *top,
				  const char *msg, size_t len,
				  const struct fm_verdict *v,
				  fm_policy_done_fn *done, void *arg);

/* fm_policy_set_clock: replace the wall clock (DKIM t=/x=, tests) */
void fm_policy_set_clock(struct fm_policy *pol, time_t (*now)(void));
/* fm_policy_dns: the resolver (tests: cache inspection) */
struct dns *fm_policy_dns(struct fm_policy *pol);

#endif
