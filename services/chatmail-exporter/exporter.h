/*
 * exporter.h: the private header of chatmail-exporter, the relay's one
 * metrics endpoint (docs/DESIGN.md, Metrics).
 *
 *   exporter_text.c  Prometheus text (0.0.4) and OpenMetrics in, merged
 *                    families out: each source's samples get the label
 *                    service="<source>", families of the same name from
 *                    several sources are written once, OpenMetrics-only
 *                    shapes (counter families named without _total,
 *                    info, # EOF) become 0.0.4
 *   exporter.c       the scrape: on GET /metrics every source is read at
 *                    once (Unix-socket and HTTP sources through curl on
 *                    the event loop, files from disk), then merged
 *
 * Untrusted input: the sources' text. The services and Dovecot are the
 * relay's own, but the text is still parsed under limits: a source's
 * body, a line, the families and the output each have a maximum, and a
 * line that does not parse is dropped and counted.
 */
#ifndef EXPORTER_H
#define EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "evloop.h"

#define EXPORTER_SOURCE_MAX (4u << 20) /* one source's text */
#define EXPORTER_LINE_MAX 65536	       /* one line of it */
#define EXPORTER_FAMILIES_MAX 20000    /* distinct families merged */
#define EXPORTER_OUT_MAX (32u << 20)   /* the merged text */
#define EXPORTER_SOURCES_MAX 32	       /* --source flags */
#define EXPORTER_NAME_MAX 64	       /* a source's name */

/* ---- exporter_text.c ---- */

enum exporter_type {
	EXPORTER_UNTYPED,
	EXPORTER_COUNTER,
	EXPORTER_GAUGE,
	EXPORTER_HISTOGRAM,
	EXPORTER_SUMMARY,
};

struct exporter_merge;

/* exporter_merge_new: an empty merge */
struct exporter_merge *exporter_merge_new(void);
void exporter_merge_free(struct exporter_merge **mp);
/* exporter_merge_add: parse text (len bytes, Prometheus text 0.0.4 or
 * OpenMetrics) of the source named service and add its samples, each
 * labelled service="<service>" (a label of that name the source set
 * itself becomes exported_service). Lines that do not parse, samples
 * whose family another source gave another type, and what is over a
 * limit are dropped and counted (exporter_merge_dropped). 0, or -E2BIG
 * when the output limit was reached. */
int exporter_merge_add(struct exporter_merge *m, const char *service,
		       const char *text, size_t len);
/* exporter_merge_dropped: lines and samples dropped so far */
uint64_t exporter_merge_dropped(const struct exporter_merge *m);
/* exporter_merge_render: every family (HELP, TYPE, samples) in the
 * order they first appeared; 0 or -E2BIG */
int exporter_merge_render(const struct exporter_merge *m, struct buf *out);

/* ---- exporter.c ---- */

/* one --source NAME=WHERE */
struct exporter_source {
	char name[EXPORTER_NAME_MAX];
	const char *where; /* "unix:/path", "http://...", "file:/path" */
};

struct exporter_opts {
	const char *listen; /* "host:port" or "unix:/path" */
	struct exporter_source sources[EXPORTER_SOURCES_MAX];
	size_t nsources;
	unsigned timeout_ms; /* per source (5000) */
	const char *check;   /* --check ADDR instead of serving */
};

/* exporter_source_parse: "NAME=unix:/path|http://...|file:/path" into
 * src (where points into spec); 0 or -EINVAL */
int exporter_source_parse(const char *spec, struct exporter_source *src);

struct exporter;
/* exporter_new: serve opts (which must outlive it) on loop; NULL with
 * the reason in err */
struct exporter *exporter_new(struct evloop *loop,
			      const struct exporter_opts *opts,
			      struct buf *err);
void exporter_free(struct exporter **ep);

/* exporter_check: GET /metrics on the service's "unix:/path" within
 * timeout_ms answers 200 (--check, a liveness probe); 0, or -errno
 * with the reason in err */
int exporter_check(const char *addr, unsigned timeout_ms, struct buf *err);

#endif
