/*
 * expire.h: private header of chatmail-expire and chatmail-quota-expire.
 *
 * chatmail-expire (expire.c) is upstream's daily expiry (chatmaild
 * expire.py, docs/UPSTREAM.md, Expiry); the quota trim (expire_quota.c)
 * is shared with chatmail-quota-expire, Dovecot's quota-warning script.
 */
#ifndef EXPIRE_H
#define EXPIRE_H

#include <stddef.h>
#include <stdint.h>

/* messages above this size (bytes) in cur/ expire after delete_large_after */
#define EXPIRE_LARGE_SIZE 200000
/* the daily quota trim goes down to 70 % of max_mailbox_size */
#define EXPIRE_QUOTA_PERCENT 70
/* the quota trim never removes messages younger than this (seconds) */
#define EXPIRE_QUOTA_GUARD (24 * 3600)

struct expire_params {
	const char *mailboxes_dir;
	double now;	 /* the reference time: now - --days */
	double real_now; /* the clock, for the quota trim's 24 h guard */
	unsigned delete_mails_after;	      /* days */
	unsigned delete_large_after;	      /* days */
	unsigned delete_inactive_users_after; /* days */
	uint64_t max_mailbox_size_mb;
	unsigned long maxnum; /* directory entries to look at, 0 = all */
	int dry;	      /* count, log, delete nothing */
	int verbose;	      /* log every removal, as upstream's -v */
};

struct expire_stats {
	unsigned long del_mboxes, all_mboxes;
	unsigned long del_files, all_files;
	unsigned errors; /* problems met (logged); exit 75 when not 0 */
};

/* what the age rules say about one message */
enum expire_verdict {
	EXPIRE_KEEP,
	EXPIRE_REMOVE,
	/* large and old but not in cur/: kept, yet upstream counts the
	 * mailbox as changed (maildirsize is removed) */
	EXPIRE_KEEP_CHANGED,
};

/* expire_verdict: upstream's two age rules for one message */
enum expire_verdict expire_verdict(const struct expire_params *p, double mtime,
				   uint64_t size, int in_cur);

/* expire_run: the whole daily run over mailboxes_dir, in upstream's
 * order; totals into st. Problems are logged and counted in st->errors
 * and the run goes on. */
void expire_run(const struct expire_params *p, struct expire_stats *st);

/* expire_summary: upstream's summary line (no newline) */
void expire_summary(const struct expire_stats *st, double seconds, char *out,
		    size_t outsize);

/* expire_quota_trim: upstream's expire_to_target on the open mailbox
 * mbfd: the messages of its own cur/ and new/ with Dovecot names, oldest
 * first by the timestamp in the name (then S= size, then path), removed
 * until the S= sizes sum to at most target_bytes, stopping at the first
 * message whose timestamp is after guard_ts. With rules (the daily run),
 * messages the age rules remove do not count (a dry run then sees what a
 * real run would). Nothing is deleted when dry. Removed count through
 * removed_r; problems are logged and added to *errors. 0 or -errno. */
int expire_quota_trim(int mbfd, const char *path, double target_bytes,
		      double guard_ts, const struct expire_params *rules,
		      int dry, unsigned long *removed_r, unsigned *errors);

#endif
