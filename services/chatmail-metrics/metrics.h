/*
 * metrics.h: private header of chatmail-metrics, upstream's
 * chatmail-fsreport (chatmaild fsreport.py, docs/UPSTREAM.md, Metrics):
 * storage totals, message-size buckets and login-age buckets of all
 * mailboxes, as a summary (stdout), a Prometheus textfile and the legacy
 * gauges.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define METRICS_NSIZES 7
#define METRICS_NDAYS 7

/* upstream's bucket boundaries: bytes (0, 100 KiB, 512 KiB, 1, 2, 5,
 * 10 MiB) and days (1, 10, 30, 40, 80, 100, 150) */
extern const uint64_t metrics_sizes[METRICS_NSIZES];
extern const unsigned metrics_days[METRICS_NDAYS];

struct metrics_report {
	/* parameters */
	double now;		/* reference time (now - --days) */
	unsigned min_login_age; /* days; sizes only of logins this old */
	char mdir_needle[16];	/* "/cur/" etc. for --mdir, or "" */
	/* figures, as upstream's Report */
	uint64_t size_extra, size_messages;
	unsigned long num_all_logins, num_ci_logins;
	unsigned long login_buckets[METRICS_NDAYS];
	uint64_t message_bytes[METRICS_NSIZES];
	unsigned long message_count[METRICS_NSIZES];
	unsigned errors; /* entries that could not be read (logged) */
};

/* metrics_report_init: empty report; mdir is NULL or cur/new/tmp */
void metrics_report_init(struct metrics_report *r, double now,
			 unsigned min_login_age, const char *mdir);

/* metrics_run: walk mailboxes_dir (the first maxnum entries; 0 = all)
 * into r; a missing directory is logged like upstream and is empty */
void metrics_run(struct metrics_report *r, const char *mailboxes_dir,
		 unsigned long maxnum);

/* metrics_prom: the Prometheus textfile (upstream's metric names) */
int metrics_prom(const struct metrics_report *r, struct buf *out);
/* metrics_legacy: the legacy metrics.py gauges */
int metrics_legacy(const struct metrics_report *r, struct buf *out);
/* metrics_summary: upstream's human-readable summary */
int metrics_summary(const struct metrics_report *r, struct buf *out);

/* metrics_hsize: upstream's HSize ("%5.2fK", "%5.0fK", "%5.0fM",
 * "%5.2fG") into out */
void metrics_hsize(uint64_t size, char *out, size_t outsize);

/* metrics_escape_label: a Prometheus label value (\\, \", \n) */
int metrics_escape_label(struct buf *out, const char *s);
/* metrics_escape_help: a Prometheus HELP text (\\, \n) */
int metrics_escape_help(struct buf *out, const char *s);

/* metrics_write_atomic: data to path via a temporary file in the same
 * directory and rename(2), mode 0644; 0 or -errno */
int metrics_write_atomic(const char *path, const char *data, size_t len);

#endif
