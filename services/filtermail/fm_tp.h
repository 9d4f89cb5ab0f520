/*
 * fm_tp.h: the private header of filtermail's transport mode, the
 * remote delivery Postfix hands every non-local message to
 * (default_transport = lmtp-filtermail:...; docs/UPSTREAM.md, Remote
 * delivery).
 *
 * The pieces, all on the process's one event loop:
 *   fm_lmtpd.c      the LMTP server Postfix talks to (10083): slots are
 *                   reserved at RCPT, the message is read at DATA, one
 *                   job per destination, per-recipient replies
 *   fm_tp.c         destinations ("workers"): slots, the queue of jobs,
 *                   one delivery at a time each, idle expiry, the kept
 *                   SMTP connection, the SMTP preference of MX hosts
 *   fm_tp_run.c     one job's delivery: MX lookup, then per MX host
 *                   HTTPS POST /mxdeliv, then SMTP on port 25
 *   fm_tp_https.c   the HTTPS channel (libcurl through curlloop)
 *   fm_tp_smtp.c    the SMTP channel: STARTTLS, pipelining, reuse
 *   fm_tp_conn.c    TCP to several addresses at once, TLS on the fd
 *
 * Never losing mail: a recipient gets 250 only after the remote side
 * took the message (HTTP 200 with an SMTP 2xx reply, or 250 to the
 * final dot); everything in doubt is 4xx, so Postfix keeps it queued.
 */
#ifndef FM_TP_H
#define FM_TP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "evloop.h"
#include "dns.h"
#include "llist.h"
#include "net.h"
#include "prom.h"

#define FM_TP_TEXT_MAX 512    /* one reply line we hand to Postfix */
#define FM_TP_HOST_MAX 256    /* a destination or MX host name */
#define FM_TP_MAX_MX 16	      /* MX hosts tried per delivery */
#define FM_TP_MAX_ADDRS 8     /* addresses tried per MX host */
#define FM_TP_PREFER_MAX 4096 /* MX hosts remembered as SMTP-only */

/* upstream's texts (filtermail's src/smtp_responses.rs) */
#define FM_TP_OK_HTTPS "250 OK (HTTPS)"
#define FM_TP_OK_SMTP "250 OK (SMTP)"
#define FM_TP_BUSY "421 Transport busy"
#define FM_TP_LOCAL_ERROR "451 Local error"
#define FM_TP_DRAINING "421 4.3.2 Transport shutting down; nothing sent yet"

struct fm_tp_opts {
	char helo[256];		 /* EHLO name: mail_domain, as upstream */
	uint64_t max_size;	 /* max_message_size */
	int ipv6;		 /* look up and use AAAA (not disable_ipv6) */
	unsigned smtp_port;	 /* 25 */
	unsigned https_port;	 /* 443 */
	uint64_t timeout_ms;	 /* HTTPS request, SMTP connect and each
				  * SMTP step: 60 s */
	uint64_t prefer_smtp_ms; /* HTTPS skipped after an SMTP success:
				  * 30 min */
	size_t queue_size;	 /* slots per destination: 30 */
	size_t max_dests;	 /* destinations at once: 500 */
	uint64_t idle_ms;	 /* an idle destination lives: 60 s */
	uint64_t conn_idle_ms;	 /* an idle SMTP connection is kept: 100 s */
	char ca_file[512];	 /* "" = the system's trust store */
	/* FILTERMAIL_PEER_CA_FILE: CAs trusted besides the system's store
	 * for SMTP and HTTPS (the relay's tls.peerCABundle); "" none */
	char peer_ca_file[512];
};

/* fm_tp_opts_default: upstream's limits and timeouts */
void fm_tp_opts_default(struct fm_tp_opts *o);

/* one message from Postfix, shared by its per-destination jobs */
struct fm_tp_msg {
	unsigned refs;
	char *mail_from; /* "" for <> */
	char *data;	 /* dot-unstuffed, CRLF line ends */
	size_t len;
};

/* fm_tp_msg_new: takes data (malloc'd) over; one reference */
struct fm_tp_msg *fm_tp_msg_new(const char *mail_from, char *data, size_t len);
void fm_tp_msg_unref(struct fm_tp_msg **mp);

/* the answer for one recipient */
struct fm_tp_result {
	int code;
	char text[FM_TP_TEXT_MAX];
};

/* fm_tp_result_set: code and printf text (one line, capped) */
void fm_tp_result_set(struct fm_tp_result *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* fm_tp_reply_code: the code of an SMTP reply line "ddd[ -]...", or
 * -1 when it is none */
int fm_tp_reply_code(const char *s, size_t n);

/* fm_tp_addr_dest: the destination of a recipient address: its domain
 * lower-cased, or an address literal as "[192.0.2.1]" / "[2001:db8::1]"
 * ("IPv6:" dropped). 0, or -EINVAL for an address without a usable
 * domain. outsize >= FM_TP_HOST_MAX. */
int fm_tp_addr_dest(const char *addr, char *out, size_t outsize);

/* ---- fm_tp.c: the transport and its destinations ---- */

struct fm_tp;
struct fm_tp_dest;
struct fm_tp_job;
struct fm_tp_run;
struct fm_conn;

/* fm_tp_new: the transport over loop and dns (borrowed); NULL + err when
 * TLS or libcurl cannot start */
struct fm_tp *fm_tp_new(struct evloop *loop, struct dns *dns,
			const struct fm_tp_opts *o, struct buf *err);
/* fm_tp_free: cancels every job (no callbacks), closes connections */
void fm_tp_free(struct fm_tp **tpp);
/* fm_tp_drain: the transport is stopping: every job that has sent
 * nothing to a remote yet (its DNS lookups, or queued), and every later
 * one, ends at once with FM_TP_DRAINING, so Postfix keeps the message
 * for the next transport. Delivering it during the drain instead would
 * be a duplicate when Postfix has already gone (a Pod's containers all
 * get SIGTERM at once). A transfer under way finishes. */
void fm_tp_drain(struct fm_tp *tp);
/* fm_tp_dest_count: destinations alive; fm_tp_running: deliveries now */
size_t fm_tp_dest_count(const struct fm_tp *tp);
size_t fm_tp_running(const struct fm_tp *tp);

/* fm_tp_reserve: a slot in dest's queue (made if there is room for
 * another destination): 1 with *d_r, 0 when the queue or the pool is
 * full. A reservation is used by fm_tp_submit or given back. */
int fm_tp_reserve(struct fm_tp *tp, const char *dest, struct fm_tp_dest **d_r);
void fm_tp_unreserve(struct fm_tp_dest *d);

/* fm_tp_done_fn: the job ended: res[i] answers rcpts[i] */
typedef void fm_tp_done_fn(void *arg, const struct fm_tp_result *res, size_t n);

/* fm_tp_submit: deliver msg (a reference is taken) to rcpts (copied), all
 * of d's destination, on d's reservation. done runs from the loop,
 * never from fm_tp_submit. */
struct fm_tp_job *fm_tp_submit(struct fm_tp_dest *d, struct fm_tp_msg *msg,
			       const char *const *rcpts, size_t n,
			       fm_tp_done_fn *done, void *arg);
/* fm_tp_job_cancel: done will not run; a queued job is dropped, a
 * running one is left to finish (stopping it mid-transfer gains
 * nothing: the remote may have the message already) */
void fm_tp_job_cancel(struct fm_tp_job **jp);

/* fm_tp_prefers_smtp: host had an SMTP success less than
 * prefer_smtp_ms ago (upstream: then HTTPS is skipped) */
int fm_tp_prefers_smtp(struct fm_tp *tp, const char *host);
/* fm_tp_prefer_smtp: remember (on) or forget (off) that */
void fm_tp_prefer_smtp(struct fm_tp *tp, const char *host, int on);

/* fm_tp_queued: jobs waiting in the destinations' queues (not running) */
size_t fm_tp_queued(const struct fm_tp *tp);

/* the transport's own counters (fm_tp_stats.c renders them; never an
 * address or a domain as a label) */
struct fm_tp_stats {
	uint64_t lmtp_sessions;	   /* LMTP connections accepted */
	uint64_t rcpt_delivered;   /* answered 2xx to Postfix, per recipient */
	uint64_t rcpt_deferred;	   /* 4xx: Postfix retries */
	uint64_t rcpt_rejected;	   /* 5xx: Postfix bounces */
	uint64_t sent_https;	   /* messages an MX took over HTTPS */
	uint64_t sent_smtp;	   /* and over SMTP */
	uint64_t mx_failures;	   /* MX hosts not reached: the next tried */
	struct prom_hist delivery; /* seconds from a job's start to its end */
};

/* fm_tp_stats_count_reply: count one reply to Postfix by its code */
void fm_tp_stats_count_reply(struct fm_tp_stats *st, int code);

/* ---- what fm_tp.c hands to the delivery code ---- */

struct fm_tp {
	struct evloop *loop;
	struct dns *dns;
	struct curlloop *curl;
	SSL_CTX *tls; /* client context, TLS 1.2 and up */
	struct fm_tp_opts o;
	LLIST_HEAD(, fm_tp_dest) dests;
	size_t running;
	int draining; /* fm_tp_drain was called */
	struct fm_tp_prefer {
		char *host;
		uint64_t until; /* loop ms */
	} * prefer;
	size_t nprefer;
	struct fm_tp_stats stats;
};

struct fm_tp_job {
	LLIST_LINK(fm_tp_job) link; /* in dest->queue while queued */
	struct fm_tp_dest *dest;
	struct fm_tp_msg *msg;
	char **rcpts;
	size_t nrcpts;
	struct fm_tp_result *res;
	fm_tp_done_fn *done; /* NULL once cancelled */
	void *arg;
	struct fm_tp_run *run; /* while delivering */
	uint64_t started;      /* loop ms when its run started */
	struct evloop_timer report;
};

/* fm_tp_job_finished: the run filled job->res; report it and start the
 * destination's next job */
void fm_tp_job_finished(struct fm_tp_job *job);
/* fm_tp_take_conn: dest's kept SMTP connection to host, if any (owned
 * by the caller afterwards) */
struct fm_conn *fm_tp_take_conn(struct fm_tp_dest *d, const char *host);
/* fm_tp_keep_conn: keep c (idle, after a transaction) for dest's next
 * job; an older kept one is closed */
void fm_tp_keep_conn(struct fm_tp_dest *d, struct fm_conn *c);
/* fm_tp_dest_name: the destination's key */
const char *fm_tp_dest_name(const struct fm_tp_dest *d);

/* ---- fm_tp_run.c: one job's delivery ---- */

/* fm_tp_run_start: deliver job; ends in fm_tp_job_finished (from the
 * loop, never from here) */
void fm_tp_run_start(struct fm_tp *tp, struct fm_tp_job *job);
/* fm_tp_run_cancel: stop (transport shutting down); no report */
void fm_tp_run_cancel(struct fm_tp_run **rp);
/* fm_tp_run_drain: end the run with FM_TP_DRAINING (reported from the
 * loop) unless it has started a transfer; 1 when it did end it */
int fm_tp_run_drain(struct fm_tp_run *r);

/* ---- fm_tp_https.c: POST https://<mx>/mxdeliv ---- */

enum fm_tp_outcome {
	FM_TP_SENT,    /* the remote took it: 250 for everyone */
	FM_TP_REFUSED, /* the remote answered 4xx/5xx: final */
	FM_TP_FAILED,  /* no answer about the message: try on */
	FM_TP_DOUBT,   /* the remote may have it: final 4xx */
};

/* fm_https_done_fn: outcome; code and text for REFUSED and DOUBT (the
 * reply to hand on), the reason for FAILED */
typedef void fm_https_done_fn(void *arg, enum fm_tp_outcome outcome, int code,
			      const char *text);

struct fm_https;
/* fm_https_start: POST msg for rcpts to https://host/mxdeliv, connecting
 * to addrs (text, from our resolver); relaxed accepts any certificate.
 * Everything is borrowed until done runs or the request is cancelled;
 * done runs from the loop. NULL when curl cannot start a request at
 * all (logged; the caller goes on as if it had failed). */
struct fm_https *fm_https_start(struct fm_tp *tp, const char *host,
				const char *const *addrs, size_t naddrs,
				int relaxed, const struct fm_tp_msg *msg,
				const char *const *rcpts, size_t nrcpts,
				fm_https_done_fn *done, void *arg);
void fm_https_cancel(struct fm_https **hp);
/* fm_https_loop_new: the transport's curl multi handle on its loop (its
 * HTTP/2 connections are shared by every delivery); NULL if curl cannot
 * start */
struct curlloop *fm_https_loop_new(struct fm_tp *tp);

/* what came back from one POST */
struct fm_https_answer {
	int curl_rc;	      /* CURLE_OK: a whole answer arrived */
	const char *curl_err; /* curl's text for curl_rc */
	long status;	      /* HTTP status, 0 if none came */
	const char *body;     /* the body (NUL-terminated), at most 4 KiB */
	size_t len;
	int truncated; /* the body was longer: the transfer was stopped */
	int sent_all;  /* the whole message went out */
	const char *host;
};

/* fm_https_classify: what an answer means (the rules of
 * docs/UPSTREAM.md, Remote delivery); *code_r and text: the reply to
 * hand on (SENT, REFUSED, DOUBT) or the reason (FAILED) */
enum fm_tp_outcome fm_https_classify(const struct fm_https_answer *a,
				     int *code_r, char *text, size_t textsize);

/* ---- fm_tp_smtp.c: SMTP on port 25 ---- */

enum fm_smtp_tls {
	FM_SMTP_VERIFY,	 /* STARTTLS required, certificate verified */
	FM_SMTP_RELAXED, /* STARTTLS required, any certificate */
	FM_SMTP_PLAIN,	 /* no TLS (nauta.cu, as upstream) */
};

/* fm_smtp_done_fn: SENT (res filled per recipient: 250, or the remote's
 * refusal of that RCPT), REFUSED (res filled), FAILED (reason in text:
 * try the next MX), DOUBT (res filled with the 4xx) */
typedef void fm_smtp_done_fn(void *arg, enum fm_tp_outcome outcome,
			     const char *text);

struct fm_smtp;
/* fm_smtp_start: one transaction with host at addrs (or on c, a kept
 * connection to host, taken over). res has nrcpts entries. Borrowed
 * until done runs or it is cancelled; done runs from the loop. After a
 * success the connection goes to fm_tp_keep_conn(d). */
struct fm_smtp *fm_smtp_start(struct fm_tp *tp, struct fm_tp_dest *d,
			      struct fm_conn *c, const char *host,
			      const struct net_addr *addrs, size_t naddrs,
			      enum fm_smtp_tls tls, const struct fm_tp_msg *msg,
			      const char *const *rcpts, size_t nrcpts,
			      struct fm_tp_result *res, fm_smtp_done_fn *done,
			      void *arg);
void fm_smtp_cancel(struct fm_smtp **sp);

/* fm_smtp_reply_step: feed reply bytes; 1 with one complete reply (its
 * code, its lines joined into text, and the EHLO keywords seen in
 * *caps_r when caps_r is not NULL), 0 need more, -1 malformed or too
 * long. Consumes what it used from in. */
int fm_smtp_reply_step(struct buf *in, int *code_r, char *text, size_t textsize,
		       unsigned *caps_r);

#define FM_SMTP_CAP_PIPELINING 1u
#define FM_SMTP_CAP_STARTTLS 2u
#define FM_SMTP_CAP_8BITMIME 4u

/* ---- fm_tp_conn.c: connections ---- */

struct fm_conn {
	int fd;
	SSL *ssl; /* after STARTTLS */
	char host[FM_TP_HOST_MAX];
	char peer[64]; /* "192.0.2.1:25" */
	unsigned caps; /* EHLO keywords (after TLS, if any) */
	struct evloop_timer idle;
	struct fm_tp_dest *kept; /* while kept idle by this destination */
};

/* fm_conn_connect_fn: connected (c owned by the callee) or not (c NULL,
 * err says why) */
typedef void fm_conn_connect_fn(void *arg, struct fm_conn *c, const char *err);
struct fm_connect;
/* fm_conn_connect: connect to every address at once; the first to
 * answer wins. fn runs from the loop. */
struct fm_connect *fm_conn_connect(struct evloop *loop, const char *host,
				   const struct net_addr *addrs, size_t n,
				   uint64_t timeout_ms, fm_conn_connect_fn *fn,
				   void *arg);
void fm_conn_connect_cancel(struct fm_connect **cp);

/* fm_conn_close: close (after a QUIT when quit is set); NULL is fine */
void fm_conn_close(struct evloop *loop, struct fm_conn **cp, int quit);
/* fm_conn_tls_begin: TLS on c (SNI host unless it is an IP address;
 * verify: the chain and the name). 0 or -1 + err */
int fm_conn_tls_begin(struct fm_conn *c, SSL_CTX *ctx, int verify,
		      struct buf *err);
/* fm_conn_tls_step: drive the handshake: 1 done, 0 call again when
 * *want_r (EV_READ/EV_WRITE) is ready, -1 failed + err */
int fm_conn_tls_step(struct fm_conn *c, unsigned *want_r, struct buf *err);
/* fm_conn_read, fm_conn_write: bytes, 0 (read: the peer closed),
 * -EAGAIN (*want_r says for what), -EIO */
long fm_conn_read(struct fm_conn *c, void *p, size_t n, unsigned *want_r);
long fm_conn_write(struct fm_conn *c, const void *p, size_t n,
		   unsigned *want_r);
/* fm_tls_ctx_new: the client context (TLS 1.2+, the system's trust
 * store, plus ca_file if not "") or NULL + err */
SSL_CTX *fm_tls_ctx_new(const char *ca_file, const char *peer_ca_file,
			struct buf *err);

#endif
