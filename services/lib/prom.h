/*
 * prom: a service's own metrics in Prometheus text (exposition format
 * 0.0.4), served on a private listener of its own (docs/DESIGN.md,
 * Metrics).
 *
 * A service keeps its counters as plain fields of a stats struct it
 * owns (uint64_t counters and gauges, struct prom_hist histograms) and
 * increments them where the event happens, beside the log line that
 * names it. A table of struct prom_metric says how to render each
 * field: name, type, help, and its offset in the struct, as the option
 * table does for chatmail.ini. Entries of one family (same name) must
 * be next to each other; the family's HELP and TYPE come from its first
 * entry.
 *
 * prom_server serves GET /metrics on a listener given as "unix:/path"
 * or "host:port" (net_listen_spec) with the services' HTTP server
 * (http.h), on the process's one event loop. The relay's
 * chatmail-exporter scrapes it over the Pod's shared socket directory.
 *
 * Counters never carry an address or a user name as a label: tables
 * hold constant label sets only.
 *
 * Untrusted input: HTTP requests on the metrics listener (http.c bounds
 * them; only the method and path are looked at).
 */
#ifndef CM_PROM_H
#define CM_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "evloop.h"

enum prom_type {
	PROM_COUNTER,	/* uint64_t, only ever increases */
	PROM_GAUGE,	/* uint64_t, set by the owner */
	PROM_HISTOGRAM, /* struct prom_hist */
};

#define PROM_HIST_MAX 16 /* bucket bounds of one histogram at most */

/* one histogram's state: observations per bucket (not cumulative; the
 * renderer sums them), their count and sum */
struct prom_hist {
	uint64_t bucket[PROM_HIST_MAX + 1]; /* the last: above every bound */
	uint64_t count;
	double sum;
};

/* one series of a table */
struct prom_metric {
	const char *name;   /* family name */
	const char *labels; /* NULL, or a constant set: kind="ci" */
	enum prom_type type;
	const char *help; /* the family's, on its first entry */
	size_t off;	  /* of the field in the owner's stats struct */
	const double *le; /* histograms: upper bounds, ascending */
	size_t nle;	  /* at most PROM_HIST_MAX */
};

#define PROM_C(name, labels, st, member, help)                                \
	{                                                                     \
		name, labels, PROM_COUNTER, help, offsetof(st, member), NULL, \
			0                                                     \
	}
#define PROM_G(name, labels, st, member, help)                                \
	{                                                                     \
		name, labels, PROM_GAUGE, help, offsetof(st, member), NULL, 0 \
	}
#define PROM_H(name, st, member, le, help)                                  \
	{                                                                   \
		name, NULL, PROM_HISTOGRAM, help, offsetof(st, member), le, \
			sizeof(le) / sizeof((le)[0])                        \
	}

/* latency bounds in seconds, 1 ms to 60 s, for the services' histograms */
extern const double prom_latency_le[14];

/* prom_hist_observe: count one observation v of a histogram whose
 * bounds are le[0..nle) */
void prom_hist_observe(struct prom_hist *h, const double *le, size_t nle,
		       double v);

/* prom_render: append every series of table[0..n) read from the stats
 * struct at base; 0 or -E2BIG */
int prom_render(struct buf *out, const struct prom_metric *table, size_t n,
		const void *base);
/* prom_render_process: process_resident_memory_bytes and
 * process_start_time_seconds of this process; 0 or -E2BIG */
int prom_render_process(struct buf *out);

/* prom_render_fn: the owner's whole exposition text, appended to out */
typedef int prom_render_fn(void *arg, struct buf *out);

struct prom_server;
/* prom_server_new: serve GET /metrics on listen ("unix:/path", socket
 * mode 0660, or "host:port") with fn; NULL with the reason in err */
struct prom_server *prom_server_new(struct evloop *loop, const char *listen,
				    prom_render_fn *fn, void *arg,
				    struct buf *err);
/* prom_server_free: close the listener and every connection */
void prom_server_free(struct prom_server **sp);

/* the content type of the exposition format */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
