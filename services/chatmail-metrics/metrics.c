/*
 * metrics: upstream fsreport's Report (chatmaild fsreport.py): one
 * streaming walk of mailboxes_dir accumulating storage totals, the
 * message-size buckets and the login-age buckets, then the three
 * outputs: the Prometheus textfile with upstream's metric names, the
 * legacy gauges, and the summary text, byte for byte as upstream's
 * (its number formats included).
 *
 * Role: what the relay's metrics CronJob runs; nginx serves the file.
 * Untrusted input: the mail store (see maildir.h). Names never reach the
 * Prometheus text (label values are upstream's fixed ones), but label
 * and HELP text still go through the escapers.
 *
 * Differences, on purpose: only the top-level "password" file is a login
 * record, and symlinks are not followed (upstream's os.stat follows
 * them and counts their targets).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "metrics.h"

#define DAY 86400.0
#define KIB 1024ULL
#define MIB (1024ULL * KIB)

const uint64_t metrics_sizes[METRICS_NSIZES] = {
	0, 100 * KIB, MIB / 2, 1 * MIB, 2 * MIB, 5 * MIB, 10 * MIB,
};
const unsigned metrics_days[METRICS_NDAYS] = { 1, 10, 30, 40, 80, 100, 150 };

/* one mailbox's walk */
struct mbox_acc {
	struct metrics_report *r;
	int buckets; /* count message sizes for this mailbox */
};

/* add_sat: a + b, saturating */
static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* metrics_report_init: see metrics.h */
void
metrics_report_init(struct metrics_report *r, double now,
		    unsigned min_login_age, const char *mdir)
{
	memset(r, 0, sizeof(*r));
	r->now = now;
	r->min_login_age = min_login_age;
	if (mdir != NULL)
		(void)snprintf(r->mdir_needle, sizeof(r->mdir_needle), "/%s/",
			       mdir);
}

/* file_cb: one file of a mailbox */
static int
file_cb(void *ctx, const struct maildir_file *f)
{
	struct mbox_acc *a = ctx;
	struct metrics_report *r = a->r;
	size_t i;

	if (f->kind == MAILDIR_EXTRA) {
		r->size_extra = add_sat(r->size_extra, f->size);
		return 0;
	}
	r->size_messages = add_sat(r->size_messages, f->size);
	if (!a->buckets)
		return 0;
	if (r->mdir_needle[0] != '\0' &&
	    strstr(f->path, r->mdir_needle) == NULL)
		return 0;
	for (i = 0; i < METRICS_NSIZES; i++) {
		if (f->size >= metrics_sizes[i]) {
			r->message_bytes[i] =
				add_sat(r->message_bytes[i], f->size);
			r->message_count[i]++;
		}
	}
	return 0;
}

/* add_mailbox: upstream's process_mailbox_stat */
static void
add_mailbox(struct metrics_report *r, struct maildir_mbox *mb)
{
	double cutoff = r->now - (double)r->min_login_age * DAY;
	struct mbox_acc a;
	size_t i;

	/* "if last_login:" in upstream: a zero mtime counts as none */
	if (mb->has_password && mb->last_login != 0) {
		r->num_all_logins++;
		if (strncmp(mb->name, "ci-", 3) == 0) {
			r->num_ci_logins++;
		} else {
			for (i = 0; i < METRICS_NDAYS; i++)
				if (mb->last_login >=
				    r->now - metrics_days[i] * DAY)
					r->login_buckets[i]++;
		}
	}
	a.r = r;
	a.buckets = mb->has_password && mb->last_login != 0 &&
		    mb->last_login <= cutoff;
	(void)maildir_mbox_walk(mb, file_cb, &a);
	r->errors += mb->errors;
}

/* metrics_run: see metrics.h */
void
metrics_run(struct metrics_report *r, const char *mailboxes_dir,
	    unsigned long maxnum)
{
	struct maildir_iter *it = NULL;
	struct maildir_mbox *mb;
	int rc;

	rc = maildir_iter_open(mailboxes_dir, maxnum, &it);
	if (rc == -ENOENT) {
		log_info("no mailboxes found at: %s", mailboxes_dir);
		return;
	}
	if (rc < 0) {
		log_error("cannot open %s: %s", mailboxes_dir, strerror(-rc));
		r->errors++;
		return;
	}
	while (maildir_iter_next(it, &mb) == 1)
		add_mailbox(r, mb);
	r->errors += maildir_iter_errors(it);
	maildir_iter_free(&it);
}

/* metrics_escape_label: see metrics.h */
int
metrics_escape_label(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		if (*s == '\\')
			rc = buf_puts(out, "\\\\");
		else if (*s == '"')
			rc = buf_puts(out, "\\\"");
		else if (*s == '\n')
			rc = buf_puts(out, "\\n");
		else
			rc = buf_putc(out, *s);
	}
	return rc;
}

/* metrics_escape_help: see metrics.h */
int
metrics_escape_help(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		if (*s == '\\')
			rc = buf_puts(out, "\\\\");
		else if (*s == '\n')
			rc = buf_puts(out, "\\n");
		else
			rc = buf_putc(out, *s);
	}
	return rc;
}

/* family: "# HELP name help" and "# TYPE name gauge" */
static int
family(struct buf *out, const char *name, const char *help)
{
	int rc = buf_printf(out, "# HELP %s ", name);

	if (rc == 0)
		rc = metrics_escape_help(out, help);
	if (rc == 0)
		rc = buf_printf(out, "\n# TYPE %s gauge\n", name);
	return rc;
}

/* sample: name{label="value"} number */
static int
sample(struct buf *out, const char *name, const char *label, const char *value,
       uint64_t v)
{
	int rc = buf_printf(out, "%s{%s=\"", name, label);

	if (rc == 0)
		rc = metrics_escape_label(out, value);
	if (rc == 0)
		rc = buf_printf(out, "\"} %llu\n", (unsigned long long)v);
	return rc;
}

/* sample_u: sample with a numeric label value */
static int
sample_u(struct buf *out, const char *name, const char *label, uint64_t lv,
	 uint64_t v)
{
	char value[32];

	(void)snprintf(value, sizeof(value), "%llu", (unsigned long long)lv);
	return sample(out, name, label, value, v);
}

/* metrics_prom: see metrics.h */
int
metrics_prom(const struct metrics_report *r, struct buf *out)
{
	unsigned long users = r->num_all_logins - r->num_ci_logins;
	int rc;
	size_t i;

	rc = family(out, "chatmail_storage_bytes", "Mailbox storage in bytes.");
	rc |= sample(out, "chatmail_storage_bytes", "kind", "messages",
		     r->size_messages);
	rc |= sample(out, "chatmail_storage_bytes", "kind", "extra",
		     r->size_extra);
	rc |= sample(out, "chatmail_storage_bytes", "kind", "total",
		     add_sat(r->size_extra, r->size_messages));
	rc |= family(out, "chatmail_messages_bytes",
		     "Sum of msg bytes >= threshold.");
	for (i = 0; i < METRICS_NSIZES; i++)
		rc |= sample_u(out, "chatmail_messages_bytes", "min_size",
			       metrics_sizes[i], r->message_bytes[i]);
	rc |= family(out, "chatmail_messages_count",
		     "Number of msgs >= size threshold.");
	for (i = 0; i < METRICS_NSIZES; i++)
		rc |= sample_u(out, "chatmail_messages_count", "min_size",
			       metrics_sizes[i], r->message_count[i]);
	rc |= family(out, "chatmail_accounts", "Number of accounts.");
	rc |= sample(out, "chatmail_accounts", "kind", "all",
		     r->num_all_logins);
	rc |= sample(out, "chatmail_accounts", "kind", "ci", r->num_ci_logins);
	rc |= sample(out, "chatmail_accounts", "kind", "user", users);
	rc |= family(out, "chatmail_accounts_active",
		     "Non-CI accounts active within N days.");
	for (i = 0; i < METRICS_NDAYS; i++)
		rc |= sample_u(out, "chatmail_accounts_active", "days",
			       metrics_days[i], r->login_buckets[i]);
	return rc != 0 ? -E2BIG : 0;
}

/* metrics_legacy: see metrics.h (upstream's lines, HELP quirks kept) */
int
metrics_legacy(const struct metrics_report *r, struct buf *out)
{
	return buf_printf(out,
			  "# HELP total number of accounts\n"
			  "# TYPE accounts gauge\n"
			  "accounts %lu\n"
			  "# HELP number of CI accounts\n"
			  "# TYPE ci_accounts gauge\n"
			  "ci_accounts %lu\n"
			  "# HELP number of non-CI accounts\n"
			  "# TYPE nonci_accounts gauge\n"
			  "nonci_accounts %lu\n",
			  r->num_all_logins, r->num_ci_logins,
			  r->num_all_logins - r->num_ci_logins);
}

/* metrics_hsize: see metrics.h */
void
metrics_hsize(uint64_t size, char *out, size_t outsize)
{
	double s = (double)size;

	if (size < 10000)
		(void)snprintf(out, outsize, "%5.2fK", s / 1000);
	else if (size < 1000 * 1000)
		(void)snprintf(out, outsize, "%5.0fK", s / 1000);
	else if (size < 1000 * 1000 * 1000)
		(void)snprintf(out, outsize, "%5.0fM",
			       (double)(uint64_t)(s / 1000000));
	else
		(void)snprintf(out, outsize, "%5.2fG", s / 1000000000);
}

/* date_ref: Python's str(datetime.fromtimestamp(now)), local time */
static void
date_ref(double now, char *out, size_t outsize)
{
	time_t t = (time_t)now;
	long usec = (long)((now - (double)t) * 1e6 + 0.5);
	struct tm tm;
	char base[64];

	if (usec >= 1000000) {
		t++;
		usec -= 1000000;
	}
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		base[0] = '\0';
	if (usec != 0)
		(void)snprintf(out, outsize, "%s.%06ld", base, usec);
	else
		(void)snprintf(out, outsize, "%s", base);
}

/* summary_storage: the storage part of the summary */
static int
summary_storage(const struct metrics_report *r, struct buf *out)
{
	uint64_t all = r->size_messages, total = add_sat(r->size_extra, all);
	char a[32], b[32], c[32], pref[24] = "";
	double pct =
		total != 0 ? (double)r->size_extra / (double)total * 100 : 100;
	int rc;
	size_t i;

	metrics_hsize(total, a, sizeof(a));
	metrics_hsize(all, b, sizeof(b));
	metrics_hsize(r->size_extra, c, sizeof(c));
	rc = buf_printf(out,
			"\n## Mailbox storage use analysis\n"
			"Mailbox data total size: %s\n"
			"Messages total size    : %s\n"
			"Extra files : %s (%.2f%%)\n\n",
			a, b, c, pct);
	/* upstream's "[cur] " prefix for --mdir cur */
	if (r->mdir_needle[0] != '\0')
		(void)snprintf(pref, sizeof(pref), "[%.*s] ",
			       (int)strlen(r->mdir_needle) - 2,
			       r->mdir_needle + 1);
	if (r->min_login_age != 0)
		rc |= buf_printf(out,
				 "### Message storage for %u days old logins\n",
				 r->min_login_age);
	for (i = 0; i < METRICS_NSIZES; i++) {
		pct = all != 0 ? (double)r->message_bytes[i] / (double)all * 100
			       : 0;
		metrics_hsize(metrics_sizes[i], a, sizeof(a));
		metrics_hsize(r->message_bytes[i], b, sizeof(b));
		rc |= buf_printf(out,
				 "%slarger than %s: %s (%.2f%%), %lu msgs\n",
				 pref, a, b, pct, r->message_count[i]);
	}
	return rc;
}

/* metrics_summary: see metrics.h */
int
metrics_summary(const struct metrics_report *r, struct buf *out)
{
	unsigned long users = r->num_all_logins - r->num_ci_logins;
	char a[32], date[64];
	int rc;
	size_t i;

	rc = summary_storage(r, out);
	date_ref(r->now, date, sizeof(date));
	rc |= buf_printf(out, "\n## Login stats, from date reference %s\n",
			 date);
	metrics_hsize(r->num_all_logins, a, sizeof(a));
	rc |= buf_printf(out, "all:     %s\n", a);
	metrics_hsize(users, a, sizeof(a));
	rc |= buf_printf(out, "non-ci:  %s\n", a);
	metrics_hsize(r->num_ci_logins, a, sizeof(a));
	rc |= buf_printf(out, "ci:      %s\n", a);
	for (i = 0; i < METRICS_NDAYS; i++) {
		metrics_hsize(r->login_buckets[i], a, sizeof(a));
		if (users != 0)
			rc |= buf_printf(out, "last %3u days: %s (%2.2f%%)\n",
					 metrics_days[i], a,
					 (double)r->login_buckets[i] /
						 (double)users * 100);
		else
			rc |= buf_printf(out, "last %3u days: %s 100%%\n",
					 metrics_days[i], a);
	}
	return rc != 0 ? -E2BIG : 0;
}

/* metrics_write_atomic: see metrics.h */
int
metrics_write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[4096], dir[4096];
	const char *slash = strrchr(path, '/');
	size_t off = 0;
	ssize_t n;
	int fd, rc = 0;

	if (slash == NULL)
		(void)snprintf(dir, sizeof(dir), ".");
	else
		(void)snprintf(dir, sizeof(dir), "%.*s",
			       (int)(slash - path) > 0 ? (int)(slash - path)
						       : 1,
			       path);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.fsreport.XXXXXX", dir) >=
	    sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0 && fchmod(fd, 0644) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		(void)unlink(tmp);
	return rc;
}
