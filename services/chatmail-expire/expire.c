/*
 * expire: chatmail-expire's daily run, upstream's Expiry class
 * (chatmaild expire.py, docs/UPSTREAM.md, Expiry) rule for rule and in
 * the same order:
 *
 *   for every entry with '@' in mailboxes_dir (first --maxnum entries):
 *     password older than delete_inactive_users_after -> remove it whole
 *     no password file                               -> rmdir if empty
 *     every message (cur/new/tmp, subfolders too):
 *       mtime older than delete_mails_after          -> remove
 *       > 200000 bytes, in cur/, older than delete_large_after -> remove
 *     quota trim of cur/ and new/ down to 70 % of max_mailbox_size
 *     anything changed                               -> remove maildirsize
 *
 * with upstream's log phrases and summary line. Differences, on purpose:
 * a dry run (no --remove) deletes nothing at all (upstream's quota trim
 * deletes even then) and its counts are what a real run would do; only
 * the top-level "password" file is a login record; symlinks are never
 * followed; problems are counted and make the exit status 75 instead of
 * ending the run with a traceback.
 *
 * Untrusted input: the whole tree below mailboxes_dir (see maildir.h);
 * names only reach logs, which escape them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expire.h"
#include "log.h"
#include "maildir.h"

#define DAY 86400.0

/* one mailbox's walk */
struct mbox_run {
	const struct expire_params *p;
	struct expire_stats *st;
	struct maildir_mbox *mb;
	int changed;
	uint64_t quota_total; /* S= sizes of what stays in cur/ and new/ */
};

/* day_str: "%b %d" of a timestamp in local time, like upstream */
static void
day_str(double ts, char *out, size_t outsize)
{
	time_t t = (time_t)ts;
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, outsize, "%b %d", &tm) == 0)
		(void)snprintf(out, outsize, "?");
}

/* remove_message: unlink one message (unless dry), upstream's
 * remove_file with its log lines */
static void
remove_message(struct mbox_run *r, const struct maildir_file *f)
{
	char day[32];

	if (r->p->verbose) {
		day_str(f->mtime, day, sizeof(day));
		log_info("removing %s %s", day, f->path);
	}
	if (!r->p->dry && unlinkat(f->dirfd, f->name, 0) < 0) {
		if (errno == ENOENT) {
			log_info("file not found/vanished %s", f->path);
		} else {
			log_error("cannot remove %s: %s", f->path,
				  strerror(errno));
			r->st->errors++;
		}
	}
	r->st->del_files++;
}

/* file_cb: the age rules for one message; sums what the trim will see */
static int
file_cb(void *ctx, const struct maildir_file *f)
{
	struct mbox_run *r = ctx;
	enum expire_verdict v;
	uint64_t ts, size;

	if (f->kind != MAILDIR_MESSAGE)
		return 0;
	r->st->all_files++;
	v = expire_verdict(r->p, f->mtime, f->size, f->sub == MAILDIR_SUB_CUR);
	if (v == EXPIRE_REMOVE) {
		remove_message(r, f);
		r->changed = 1;
		return 0;
	}
	if (v == EXPIRE_KEEP_CHANGED)
		r->changed = 1;
	if (f->top && f->sub != MAILDIR_SUB_TMP &&
	    maildir_parse_name(f->name, &ts, &size))
		r->quota_total = r->quota_total + size < r->quota_total
					 ? UINT64_MAX
					 : r->quota_total + size;
	return 0;
}

/* remove_maildirsize: upstream's remove_file(<mbox>/maildirsize) */
static void
remove_maildirsize(struct mbox_run *r)
{
	const char *path = r->mb->path;

	if (r->p->verbose)
		log_info("removing %s/maildirsize", path);
	if (!r->p->dry && unlinkat(r->mb->fd, "maildirsize", 0) < 0) {
		if (errno == ENOENT) {
			log_info("file not found/vanished %s/maildirsize",
				 path);
		} else {
			log_error("cannot remove %s/maildirsize: %s", path,
				  strerror(errno));
			r->st->errors++;
		}
	}
	r->st->del_files++;
}

/* quota_trim: down to 70 % of max_mailbox_size when over it */
static void
quota_trim(struct mbox_run *r)
{
	const struct expire_params *p = r->p;
	double target = (double)p->max_mailbox_size_mb * 1024.0 * 1024.0 *
			EXPIRE_QUOTA_PERCENT / 100.0;
	unsigned long removed = 0;

	if ((double)r->quota_total <= target)
		return;
	(void)expire_quota_trim(r->mb->fd, r->mb->path, target,
				p->real_now - EXPIRE_QUOTA_GUARD, p, p->dry,
				&removed, &r->st->errors);
	if (removed == 0)
		return;
	r->changed = 1;
	r->st->del_files += removed;
	if (p->verbose)
		log_info("quota-expire: removed %lu message(s) from %s",
			 removed, r->mb->name);
}

/* remove_mailbox: an inactive user's whole directory */
static void
remove_mailbox(const struct expire_params *p, struct expire_stats *st,
	       int rootfd, const struct maildir_mbox *mb)
{
	int r;

	if (p->verbose)
		log_info("removing %s", mb->path);
	if (!p->dry) {
		r = maildir_rmtree_at(rootfd, mb->name);
		if (r < 0) {
			log_error("cannot remove %s: %s", mb->path,
				  strerror(-r));
			st->errors++;
			return;
		}
	}
	st->del_mboxes++;
}

/* remove_empty: a directory without password goes only when empty */
static void
remove_empty(const struct expire_params *p, struct expire_stats *st, int rootfd,
	     const struct maildir_mbox *mb)
{
	if (p->dry)
		return;
	if (unlinkat(rootfd, mb->name, AT_REMOVEDIR) == 0) {
		st->del_mboxes++;
		return;
	}
	if (errno == ENOTEMPTY || errno == EEXIST) {
		log_info("Skipped deleting %s, doesn't have last_login but "
			 "isn't empty",
			 mb->path);
	} else {
		log_error("cannot remove %s: %s", mb->path, strerror(errno));
		st->errors++;
	}
}

/* process_mailbox: upstream's process_mailbox_stat */
static void
process_mailbox(const struct expire_params *p, struct expire_stats *st,
		int rootfd, struct maildir_mbox *mb)
{
	double cutoff_login =
		p->now - (double)p->delete_inactive_users_after * DAY;
	struct mbox_run r;
	char day[32];

	st->all_mboxes++;
	/* upstream tests "last_login and last_login < cutoff": an mtime of
	 * 0 is falsy there and such a mailbox is treated as active */
	if (mb->has_password && mb->last_login != 0 &&
	    mb->last_login < cutoff_login) {
		remove_mailbox(p, st, rootfd, mb);
		return;
	}
	if (!mb->has_password) {
		remove_empty(p, st, rootfd, mb);
		return;
	}
	if (p->verbose) {
		day_str(mb->last_login, day, sizeof(day));
		log_info("checking mailbox %s %s", day, mb->name);
	}
	memset(&r, 0, sizeof(r));
	r.p = p;
	r.st = st;
	r.mb = mb;
	(void)maildir_mbox_walk(mb, file_cb, &r);
	st->errors += mb->errors;
	quota_trim(&r);
	if (r.changed)
		remove_maildirsize(&r);
}

/* expire_run: see expire.h */
void
expire_run(const struct expire_params *p, struct expire_stats *st)
{
	struct maildir_iter *it = NULL;
	struct maildir_mbox *mb;
	int r;

	r = maildir_iter_open(p->mailboxes_dir, p->maxnum, &it);
	if (r == -ENOENT) {
		log_info("no mailboxes found at: %s", p->mailboxes_dir);
		return;
	}
	if (r < 0) {
		log_error("cannot open %s: %s", p->mailboxes_dir, strerror(-r));
		st->errors++;
		return;
	}
	while (maildir_iter_next(it, &mb) == 1)
		process_mailbox(p, st, maildir_iter_dirfd(it), mb);
	st->errors += maildir_iter_errors(it);
	maildir_iter_free(&it);
}

/* expire_summary: see expire.h */
void
expire_summary(const struct expire_stats *st, double seconds, char *out,
	       size_t outsize)
{
	(void)snprintf(out, outsize,
		       "Removed %lu out of %lu mailboxes and %lu out of %lu "
		       "files in existing mailboxes in %2.2f seconds",
		       st->del_mboxes, st->all_mboxes, st->del_files,
		       st->all_files, seconds);
}
