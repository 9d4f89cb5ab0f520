/*
 * fm_stats: filtermail's metrics (docs/DESIGN.md, Metrics): the
 * policy's decisions under the names upstream's mtail programs give the
 * log lines they count (docs/UPSTREAM.md, Metrics), which differ by
 * mode, then the process's own health: connections, messages by
 * result, what is in flight, and the latency of the check and of the
 * reinjection into Postfix.
 *
 * Untrusted input: none (counters and our own constant names).
 */
#include <stddef.h>
#include <time.h>

#include "filtermail.h"
#include "prom.h"

/* upstream's names, outgoing (chatmail/relay's delivered_mail.mtail) */
static const struct prom_metric outgoing_table[] = {
	PROM_C("outgoing_encrypted_mail_count", NULL, struct fm_policy_stats,
	       encrypted, "Outgoing messages filtered as encrypted."),
	PROM_C("outgoing_unencrypted_mail_count", NULL, struct fm_policy_stats,
	       unencrypted, "Outgoing messages filtered as unencrypted."),
	PROM_C("filtered_outgoing_mail_count", NULL, struct fm_policy_stats,
	       filtered, "Outgoing messages filtered."),
	PROM_C("rejected_unencrypted_mail_count", NULL, struct fm_policy_stats,
	       rejected_unencrypted,
	       "Messages rejected for being unencrypted."),
	PROM_C("dkim_signed", NULL, struct fm_policy_stats, dkim_signed,
	       "Messages DKIM-signed (outgoing mail and bounces)."),
};

/* upstream's names, incoming */
static const struct prom_metric incoming_table[] = {
	PROM_C("incoming_encrypted_mail_count", NULL, struct fm_policy_stats,
	       encrypted, "Incoming messages filtered as encrypted."),
	PROM_C("incoming_unencrypted_mail_count", NULL, struct fm_policy_stats,
	       unencrypted, "Incoming messages filtered as unencrypted."),
	PROM_C("filtered_incoming_mail_count", NULL, struct fm_policy_stats,
	       filtered, "Incoming messages filtered."),
	PROM_C("incoming_mailer_daemon_mail_count", NULL,
	       struct fm_policy_stats, mailer_daemon,
	       "Incoming delivery reports from a mailer-daemon."),
	PROM_C("rejected_unencrypted_mail_count", NULL, struct fm_policy_stats,
	       rejected_unencrypted,
	       "Messages rejected for being unencrypted."),
};

#define N(t) (sizeof(t) / sizeof((t)[0]))
#define FM "chatmail_filtermail_"

static const struct prom_metric own_table[] = {
	PROM_C(FM "connections_total", "listener=\"smtp\"", struct fm_stats,
	       smtp_sessions, "Connections accepted, by listener."),
	PROM_C(FM "connections_total", "listener=\"http\"", struct fm_stats,
	       http_requests, ""),
	PROM_C(FM "connections_total", "listener=\"milter\"", struct fm_stats,
	       milter_sessions, ""),
	PROM_C(FM "messages_total", "result=\"accepted\"", struct fm_stats,
	       accepted,
	       "Messages by answer: accepted (Postfix took them), rejected "
	       "(5xx), deferred (4xx, the sender retries)."),
	PROM_C(FM "messages_total", "result=\"rejected\"", struct fm_stats,
	       rejected, ""),
	PROM_C(FM "messages_total", "result=\"deferred\"", struct fm_stats,
	       deferred, ""),
	PROM_C(FM "reinject_errors_total", NULL, struct fm_stats,
	       reinject_errors,
	       "Reinjections into Postfix that were not accepted."),
	PROM_C(FM "rate_limited_total", NULL, struct fm_stats, rate_limited,
	       "MAIL FROM refused over the sender's rate "
	       "(max_user_send_per_minute)."),
	PROM_H(FM "check_duration_seconds", struct fm_stats, check,
	       prom_latency_le,
	       "Time from the end of DATA to the policy's verdict (DKIM "
	       "signing or DNS included)."),
	PROM_H(FM "reinject_duration_seconds", struct fm_stats, reinject,
	       prom_latency_le,
	       "Time Postfix took to take a reinjected message."),
};

/* the gauges, read from the servers at each scrape */
struct gauges {
	uint64_t smtp, milter, in_flight, pending, idle, senders;
};

static const struct prom_metric gauge_table[] = {
	PROM_G(FM "connections", "listener=\"smtp\"", struct gauges, smtp,
	       "Connections open now, by listener."),
	PROM_G(FM "connections", "listener=\"milter\"", struct gauges, milter,
	       ""),
	PROM_G(FM "in_flight", NULL, struct gauges, in_flight,
	       "Messages being checked or reinjected now."),
	PROM_G(FM "checks_pending", NULL, struct gauges, pending,
	       "Checks waiting for DNS or a DKIM signer thread now."),
	PROM_G(FM "reinject_idle_connections", NULL, struct gauges, idle,
	       "Idle connections to Postfix kept for reuse."),
	PROM_G(FM "rate_limited_senders", NULL, struct gauges, senders,
	       "Senders the rate limit tracks now."),
};

/* fm_stats_now: see filtermail.h */
double
fm_stats_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fm_stats_job: see filtermail.h */
void
fm_stats_job(struct fm_stats *st, int code, double check_s, double reinject_s)
{
	if (st == NULL)
		return;
	if (code >= 200 && code < 300)
		st->accepted++;
	else if (code >= 500)
		st->rejected++;
	else
		st->deferred++;
	if (check_s >= 0)
		prom_hist_observe(&st->check, prom_latency_le,
				  N(prom_latency_le), check_s);
	if (reinject_s >= 0) {
		prom_hist_observe(&st->reinject, prom_latency_le,
				  N(prom_latency_le), reinject_s);
		if (code < 200 || code >= 300)
			st->reinject_errors++;
	}
}

/* collect: the gauges of view now */
static void
collect(const struct fm_stats_view *v, struct gauges *g)
{
	const struct fm_ctx *ctx = v->ctx;

	g->smtp = v->smtpd != NULL ? fm_smtpd_sessions(v->smtpd) : 0;
	g->milter = v->milter != NULL ? fm_milter_sessions(v->milter) : 0;
	g->in_flight = (v->smtpd != NULL ? fm_smtpd_busy(v->smtpd) : 0) +
		       (v->httpd != NULL ? fm_httpd_busy(v->httpd) : 0);
	g->pending = v->policy != NULL ? fm_policy_pending(v->policy) : 0;
	g->idle = ctx->pool != NULL ? fm_reinject_pool_idle(ctx->pool) : 0;
	g->senders = ctx->rl != NULL ? fm_ratelimit_keys(ctx->rl) : 0;
}

/* fm_stats_render: see filtermail.h */
int
fm_stats_render(void *arg, struct buf *out)
{
	const struct fm_stats_view *v = arg;
	const struct fm_ctx *ctx = v->ctx;
	struct gauges g;
	int r = 0;

	if (v->policy != NULL)
		r = ctx->outgoing ? prom_render(out, outgoing_table,
						N(outgoing_table),
						fm_policy_stats(v->policy))
				  : prom_render(out, incoming_table,
						N(incoming_table),
						fm_policy_stats(v->policy));
	if (r == 0 && ctx->stats != NULL)
		r = prom_render(out, own_table, N(own_table), ctx->stats);
	collect(v, &g);
	if (r == 0)
		r = prom_render(out, gauge_table, N(gauge_table), &g);
	return r;
}
