/*
 * fm_tp_stats: filtermail transport's metrics (docs/DESIGN.md, Metrics).
 * Upstream has no names for the transport (its mtail programs count
 * Postfix's and filtermail's log lines only), so these are ours: the
 * LMTP connections (in the family outgoing and incoming use, with
 * listener="lmtp"), Postfix's answers per recipient by class, the
 * messages an MX took by channel, the MX hosts not reached, how long a
 * delivery took, and, read at each scrape, what is open, queued and
 * running now.
 *
 * Untrusted input: none (counters and our own constant names).
 */
#include <stddef.h>

#include "fm_lmtpd.h"
#include "prom.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))
#define FM "chatmail_filtermail_"
#define TP FM "transport_"

static const struct prom_metric count_table[] = {
	PROM_C(FM "connections_total", "listener=\"lmtp\"", struct fm_tp_stats,
	       lmtp_sessions, "Connections accepted, by listener."),
	PROM_C(TP "recipients_total", "result=\"delivered\"",
	       struct fm_tp_stats, rcpt_delivered,
	       "Answers to Postfix per recipient: delivered (2xx), deferred "
	       "(4xx, Postfix retries), rejected (5xx, Postfix bounces)."),
	PROM_C(TP "recipients_total", "result=\"deferred\"", struct fm_tp_stats,
	       rcpt_deferred, ""),
	PROM_C(TP "recipients_total", "result=\"rejected\"", struct fm_tp_stats,
	       rcpt_rejected, ""),
	PROM_C(TP "messages_sent_total", "channel=\"https\"",
	       struct fm_tp_stats, sent_https,
	       "Messages an MX host took, by channel (HTTPS /mxdeliv or SMTP "
	       "on port 25)."),
	PROM_C(TP "messages_sent_total", "channel=\"smtp\"", struct fm_tp_stats,
	       sent_smtp, ""),
	PROM_C(TP "mx_failures_total", NULL, struct fm_tp_stats, mx_failures,
	       "MX hosts that could not be reached over either channel (the "
	       "next one is tried)."),
	PROM_H(TP "delivery_duration_seconds", struct fm_tp_stats, delivery,
	       prom_latency_le,
	       "Time from the start of a delivery to one destination to its "
	       "answer (DNS, every MX host tried)."),
};

/* the gauges, read at each scrape */
struct gauges {
	uint64_t lmtp, waiting, queued, running, dests;
};

static const struct prom_metric gauge_table[] = {
	PROM_G(FM "connections", "listener=\"lmtp\"", struct gauges, lmtp,
	       "Connections open now, by listener."),
	PROM_G(TP "waiting_sessions", NULL, struct gauges, waiting,
	       "LMTP sessions waiting for their deliveries now."),
	PROM_G(TP "queued", NULL, struct gauges, queued,
	       "Deliveries queued behind another to the same destination."),
	PROM_G(TP "running", NULL, struct gauges, running,
	       "Deliveries in progress now."),
	PROM_G(TP "destinations", NULL, struct gauges, dests,
	       "Destinations (recipient domains) with a worker now."),
};

/* fm_tp_stats_count_reply: see fm_tp.h */
void
fm_tp_stats_count_reply(struct fm_tp_stats *st, int code)
{
	if (code >= 200 && code < 300)
		st->rcpt_delivered++;
	else if (code >= 500)
		st->rcpt_rejected++;
	else
		st->rcpt_deferred++;
}

/* fm_tp_stats_render: see fm_lmtpd.h */
int
fm_tp_stats_render(void *arg, struct buf *out)
{
	const struct fm_tp_stats_view *v = arg;
	struct gauges g;
	int r;

	g.lmtp = v->lmtpd != NULL ? fm_lmtpd_sessions(v->lmtpd) : 0;
	g.waiting = v->lmtpd != NULL ? fm_lmtpd_busy(v->lmtpd) : 0;
	g.queued = fm_tp_queued(v->tp);
	g.running = fm_tp_running(v->tp);
	g.dests = fm_tp_dest_count(v->tp);
	r = prom_render(out, count_table, N(count_table), &v->tp->stats);
	if (r == 0)
		r = prom_render(out, gauge_table, N(gauge_table), &g);
	return r;
}
