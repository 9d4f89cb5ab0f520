/*
 * fm_lmtpd.h: filtermail transport's LMTP server (fm_lmtpd.c) and the
 * transport mode's run function (fm_tp_main.c): what main.c and the
 * tests see of transport mode. The delivery itself is behind fm_tp.h.
 */
#ifndef FM_LMTPD_H
#define FM_LMTPD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "evloop.h"
#include "fm_tp.h"

struct fm_lmtpd_opts {
	uint64_t max_size;   /* max_message_size */
	uint64_t cmd_ms;     /* Postfix idle between commands / DATA bytes */
	size_t max_sessions; /* concurrent LMTP connections */
};

/* fm_lmtpd_opts_default: 30 MiB, 300 s, 1000 sessions (Postfix runs at
 * most 500 lmtp-filtermail clients) */
void fm_lmtpd_opts_default(struct fm_lmtpd_opts *o);

struct fm_lmtpd;
/* fm_lmtpd_new: serve LMTP on the listening fd lfd (owned afterwards),
 * delivering through tp (borrowed); NULL if lfd cannot be watched */
struct fm_lmtpd *fm_lmtpd_new(struct evloop *loop, struct fm_tp *tp,
			      const struct fm_lmtpd_opts *o, int lfd);
/* fm_lmtpd_free: close every session (their jobs cancelled) */
void fm_lmtpd_free(struct fm_lmtpd **sp);
/* fm_lmtpd_adopt: serve the connected, non-blocking fd (owned) as if
 * accepted (tests, fuzzing) */
void fm_lmtpd_adopt(struct fm_lmtpd *srv, int fd);
/* fm_lmtpd_close_listener: accept no more connections (shutdown) */
void fm_lmtpd_close_listener(struct fm_lmtpd *srv);
/* fm_lmtpd_busy: sessions waiting for their deliveries */
size_t fm_lmtpd_busy(const struct fm_lmtpd *srv);
/* fm_lmtpd_sessions: open sessions */
size_t fm_lmtpd_sessions(const struct fm_lmtpd *srv);

/* fm_tp_opts_from_config: the transport's options from chatmail.ini and
 * our environment variables (FILTERMAIL_SMTP_PREFER_SECONDS,
 * FILTERMAIL_TRANSPORT_TIMEOUT, SSL_CERT_FILE; docs/UPSTREAM.md,
 * filtermail); 0 or -1 + err */
int fm_tp_opts_from_config(struct fm_tp_opts *o,
			   const struct chatmail_config *cfg, struct buf *err);

/* what fm_tp_stats_render reads: the transport and its LMTP server
 * (NULL: none yet) */
struct fm_tp_stats_view {
	struct fm_tp *tp;
	struct fm_lmtpd *lmtpd;
};

/* fm_tp_stats_render: prom_render_fn over a struct fm_tp_stats_view:
 * the transport's counters and gauges (fm_tp_stats.c) */
int fm_tp_stats_render(void *arg, struct buf *out);

/* fm_transport_run: filtermail <ini> transport: LMTP on
 * filtermail_smtp_host:filtermail_lmtp_port_transport until SIGTERM or
 * SIGINT, and the counters on metrics ("unix:/path" or "host:port";
 * NULL: not served); the exit code */
int fm_transport_run(struct evloop *loop, const struct chatmail_config *cfg,
		     const char *metrics);

#endif
