/*
 * fm_policy_int: what fm_policy.c and fm_policy_dkim.c share: the policy
 * object and the asynchronous origin check. Private to the policy.
 */
#ifndef FM_POLICY_INT_H
#define FM_POLICY_INT_H

#include <stdarg.h>
#include <time.h>

#include "fm_dkim.h"
#include "fm_dns.h"
#include "fm_mime.h"
#include "fm_pgp.h"
#include "fm_policy.h"

struct fm_policy {
	struct evloop *loop;
	const struct chatmail_config *cfg;
	int outgoing;
	int skip_dkim;		       /* FILTERMAIL_SKIP_DKIM (tests) */
	char *rejected_dir;	       /* "" = do not save rejected mail */
	struct fm_dkim_signer *signer; /* outgoing, NULL = do not sign */
	struct fm_dns *dns;	       /* incoming */
	struct buf scratch;	       /* transfer-decoded bodies */
	struct buf prepend; /* a verdict's DKIM-Signature + cleaned section */
	struct buf cleaned; /* the cleaned header section (outgoing) */
	struct fm_check *checks; /* waiting for DNS */
	size_t npending;
	time_t (*now)(void);
};

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
struct fm_dns *fm_policy_dns(struct fm_policy *pol);

#endif
