/*
 * filtermail.h: the private header of filtermail's transport side: the
 * SMTP server Postfix's smtpd_proxy_filter talks to (fm_smtpd*.c), the
 * HTTP /mxdeliv endpoint (fm_httpd.c), the per-sender rate limit
 * (fm_ratelimit.c), and the path every accepted message takes: policy
 * check, then reinjection into Postfix (fm_reinject*.c); and the milter
 * that DKIM-signs Postfix's own bounces (fm_milter.c). The content
 * decision itself is behind fm_policy.h.
 *
 * One process, one event loop, any number of sessions; a session holds
 * a few hundred bytes plus, while a message is in flight, the message.
 */
#ifndef FILTERMAIL_H
#define FILTERMAIL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "evloop.h"
#include "fm_policy.h"
#include "net.h"
#include "prom.h"

#define FM_ADDR_MAX 320	     /* longest address we take (RFC 5321 path) */
#define FM_MAX_RCPTS 1000    /* Postfix's smtpd_recipient_limit */
#define FM_CMD_LINE_MAX 4096 /* longest command line, CRLF excluded */

/* the content check as a pair of functions, so unit tests can plug in a
 * policy of their own; main() plugs in fm_policy_check/fm_check_cancel */
typedef struct fm_check *fm_check_fn(void *policy,
				     const struct fm_envelope *env,
				     const char *msg, size_t len,
				     fm_policy_done_fn *done, void *arg);
typedef void fm_cancel_fn(struct fm_check **cp);
/* the milter's signing as a function: main() plugs in fm_policy_sign */
typedef int fm_sign_fn(void *policy, const char *hdr, size_t hlen,
		       const char *body, size_t blen, struct buf *out,
		       struct buf *err);

struct fm_timeouts {
	uint64_t cmd_ms;     /* client idle between commands / DATA bytes */
	uint64_t connect_ms; /* reinject: TCP connect */
	uint64_t reply_ms;   /* reinject: each reply, and write progress */
	uint64_t total_ms;   /* reinject: all of it */
};

/* the process's own counters (fm_stats.c renders them with the
 * policy's; docs/DESIGN.md, Metrics) */
struct fm_stats {
	uint64_t smtp_sessions;	   /* SMTP connections accepted */
	uint64_t http_requests;	   /* /mxdeliv requests */
	uint64_t milter_sessions;  /* milter connections accepted */
	uint64_t accepted;	   /* 250: Postfix took the message */
	uint64_t rejected;	   /* answered 5xx (the policy, or Postfix) */
	uint64_t deferred;	   /* answered 4xx: the sender retries */
	uint64_t reinject_errors;  /* reinjection not answered 2xx */
	uint64_t rate_limited;	   /* MAIL FROM over the sender's rate */
	struct prom_hist check;	   /* seconds from DATA to the verdict */
	struct prom_hist reinject; /* seconds Postfix took to accept */
};

/* fm_ctx: what every session of the process shares (borrowed by all) */
struct fm_ctx {
	struct evloop *loop;
	int outgoing;		  /* 1 outgoing, 0 incoming */
	uint64_t max_size;	  /* max_message_size */
	struct net_addr reinject; /* Postfix's reinject smtpd */
	char helo[256];		  /* the name we EHLO with */
	fm_check_fn *check;	  /* the content policy */
	fm_cancel_fn *cancel;
	fm_sign_fn *sign; /* outgoing: the milter's signing, else NULL */
	void *policy;
	struct fm_ratelimit *rl;       /* outgoing only, else NULL */
	struct fm_reinject_pool *pool; /* idle reinject connections */
	struct fm_timeouts t;
	size_t max_sessions;	/* concurrent SMTP sessions */
	struct fm_stats *stats; /* main()'s; NULL: not counted (tests) */
};

/* fm_ctx_init: defaults (timeouts, limits) for loop; the caller sets
 * mode, size, reinject address and policy */
void fm_ctx_init(struct fm_ctx *ctx, struct evloop *loop);

/* ---- fm_ratelimit.c: GCRA per key (sender) ---- */

struct fm_ratelimit;
/* fm_ratelimit_new: per_minute messages a minute, burst at once; at most
 * max_keys senders tracked (senders whose bucket is full again are
 * forgotten first). per_minute 0 disables the limit. */
struct fm_ratelimit *fm_ratelimit_new(unsigned per_minute, unsigned burst,
				      size_t max_keys);
void fm_ratelimit_free(struct fm_ratelimit **rlp);
/* fm_ratelimit_check: one message by key at now_ms: 1 allowed (and
 * counted), 0 limited with *wait_ms_r until the next one is allowed */
int fm_ratelimit_check(struct fm_ratelimit *rl, const char *key,
		       uint64_t now_ms, uint64_t *wait_ms_r);
/* fm_ratelimit_keys: senders tracked now */
size_t fm_ratelimit_keys(const struct fm_ratelimit *rl);

/* ---- fm_reinject.c: SMTP client to Postfix ---- */

/* what to reinject; every pointer borrowed until done or cancel */
struct fm_reinject_msg {
	const char *mail_from; /* "" for <> */
	const char *const *rcpts;
	size_t nrcpts;
	const char *origin_ip; /* sent as XFORWARD ADDR= when offered */
	const char *prepend;   /* header lines put before the message */
	size_t prepend_len;
	const char *msg; /* dot-unstuffed, CRLF line ends */
	size_t len;
};

/* fm_reinject_done_fn: code 250 and "250 ..." when Postfix took the
 * message; else the code and reply line to hand back (Postfix's own
 * 4xx/5xx, or 451 when the connection or a timeout failed). Called from
 * the loop, never from fm_reinject_start. */
typedef void fm_reinject_done_fn(void *arg, int code, const char *text);

struct fm_reinject;
struct fm_reinject *fm_reinject_start(const struct fm_ctx *ctx,
				      const struct fm_reinject_msg *m,
				      fm_reinject_done_fn *done, void *arg);
/* fm_reinject_cancel: abandon; done is not called; if the data was
 * not complete yet, the connection is dropped so Postfix discards it */
void fm_reinject_cancel(struct fm_reinject **rp);

/* fm_dot_stuff: copy src into dst, doubling a '.' at the start of each
 * line (*bol: the next byte starts a line; start with 1). Stops when
 * dst is full; returns bytes of src used, *out_r bytes written. */
size_t fm_dot_stuff(const char *src, size_t n, int *bol, char *dst,
		    size_t dstsize, size_t *out_r);

/* ---- fm_reinject_pool.c: idle connections to Postfix, reused ---- */

#define FM_CAP_PIPELINING 1u
#define FM_CAP_XFORWARD 2u
#define FM_CAP_8BITMIME 4u

struct fm_reinject_pool;
/* fm_reinject_pool_new: keep at most max_idle connections, idle_ms each */
struct fm_reinject_pool *
fm_reinject_pool_new(struct evloop *loop, size_t max_idle, uint64_t idle_ms);
/* fm_reinject_pool_free: QUIT and close every idle connection */
void fm_reinject_pool_free(struct fm_reinject_pool **pp);
/* fm_reinject_pool_get: 1 and an idle connection (no longer watched by
 * the pool) with its EHLO capabilities (FM_CAP_*), or 0 */
int fm_reinject_pool_get(struct fm_reinject_pool *p, int *fd_r,
			 unsigned *caps_r);
/* fm_reinject_pool_put: keep fd, which ended a transaction and which
 * the caller no longer watches; closed at once when the pool is full */
void fm_reinject_pool_put(struct fm_reinject_pool *p, int fd, unsigned caps);
size_t fm_reinject_pool_idle(const struct fm_reinject_pool *p);

/* ---- fm_reinject_job.c: policy check, then reinjection ---- */

/* fm_job_done_fn: the final answer for the client: code and reply line
 * ("250 OK", the policy's rejection, or a reinjection failure) */
typedef void fm_job_done_fn(void *arg, int code, const char *text);

struct fm_job;
/* fm_job_start: check msg with the policy and, if it passes, reinject
 * it. env and msg are borrowed until done runs or the job is cancelled;
 * done always runs from the loop, never from fm_job_start. */
struct fm_job *fm_job_start(const struct fm_ctx *ctx,
			    const struct fm_envelope *env, const char *msg,
			    size_t len, fm_job_done_fn *done, void *arg);
void fm_job_cancel(struct fm_job **jp);

/* ---- fm_smtpd.c: the SMTP server ---- */

struct fm_smtpd;
/* fm_smtpd_new: serve SMTP on the listening fd lfd (owned afterwards) */
struct fm_smtpd *fm_smtpd_new(const struct fm_ctx *ctx, int lfd);
/* fm_smtpd_free: close every session (jobs cancelled) and the listener */
void fm_smtpd_free(struct fm_smtpd **sp);
/* fm_smtpd_sessions: open sessions */
size_t fm_smtpd_sessions(const struct fm_smtpd *srv);
/* fm_smtpd_busy: sessions whose message is being checked or reinjected */
size_t fm_smtpd_busy(const struct fm_smtpd *srv);
/* fm_smtpd_close_listener: accept no more connections (shutdown) */
void fm_smtpd_close_listener(struct fm_smtpd *srv);

/* fm_smtp_parse_path: the address of "<addr> params" or "addr params"
 * into out (outsize >= FM_ADDR_MAX + 1): 1 found, 0 malformed */
int fm_smtp_parse_path(const char *arg, char *out, size_t outsize);

/* ---- fm_smtpd_data.c: the DATA phase ---- */

struct fm_unstuffer {
	int state;
	int last_cr;	/* the last stored byte was CR */
	int overflow;	/* the message buffer is full: only counting */
	uint64_t total; /* message bytes seen (stored or not) */
};

void fm_unstuff_init(struct fm_unstuffer *u);
/* fm_unstuff: take DATA bytes: message bytes (leading dots removed) go
 * to msg while they fit its maximum; *used_r bytes were consumed.
 * 1: the final "." line was consumed (the message is complete; bytes
 * after it are the next command), 0: need more, -1: a bare LF. */
int fm_unstuff(struct fm_unstuffer *u, const char *p, size_t n, struct buf *msg,
	       size_t *used_r);

/* ---- fm_httpd.c: POST /mxdeliv ---- */

struct fm_httpd;
/* fm_httpd_new: serve /mxdeliv on the listening fd lfd (owned) */
struct fm_httpd *fm_httpd_new(const struct fm_ctx *ctx, int lfd);
void fm_httpd_free(struct fm_httpd **hp);
/* fm_httpd_close_listener: accept no more connections (shutdown) */
void fm_httpd_close_listener(struct fm_httpd *h);
/* fm_httpd_busy: requests being checked or reinjected */
size_t fm_httpd_busy(const struct fm_httpd *h);

/* ---- fm_stats.c: the metrics endpoint's text ---- */

/* what the render reads; any but ctx may be NULL */
struct fm_stats_view {
	const struct fm_ctx *ctx;
	const struct fm_policy *policy; /* ctx->policy when it is one */
	const struct fm_smtpd *smtpd;
	const struct fm_httpd *httpd;
	const struct fm_milter *milter;
};
/* fm_stats_render: prom_render_fn over a struct fm_stats_view: the
 * policy's counters under upstream's names for the mode, then ours */
int fm_stats_render(void *arg, struct buf *out);
/* fm_stats_job: count a finished job: the code answered, and the
 * seconds its check and its reinjection took (< 0: that step did not
 * run); st may be NULL */
void fm_stats_job(struct fm_stats *st, int code, double check_s,
		  double reinject_s);
/* fm_stats_now: a monotonic clock in seconds, for the latencies */
double fm_stats_now(void);

/* ---- fm_milter.c: DKIM-signing milter for Postfix's own mail ---- */

#define FM_MILTER_PKT_MAX (1u << 20) /* longest milter packet we take */

struct fm_milter;
/* fm_milter_new: serve the milter protocol on the listening fd lfd
 * (owned); signs with ctx->sign */
struct fm_milter *fm_milter_new(const struct fm_ctx *ctx, int lfd);
/* fm_milter_free: close every session and the listener */
void fm_milter_free(struct fm_milter **mp);
/* fm_milter_close_listener: accept no more connections (shutdown) */
void fm_milter_close_listener(struct fm_milter *srv);
/* fm_milter_adopt: serve the connected, non-blocking fd (owned) as if
 * accepted (fuzzing) */
void fm_milter_adopt(struct fm_milter *srv, int fd);
/* fm_milter_sessions: open sessions */
size_t fm_milter_sessions(const struct fm_milter *srv);

#endif
