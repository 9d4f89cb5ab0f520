/*
 * expire_quota: the quota trim (upstream's expire_to_target) and the age
 * rules of one message, shared by chatmail-expire (daily, down to 70 %
 * of max_mailbox_size) and chatmail-quota-expire (Dovecot's
 * quota-warning script at 75 %, down to the target it is given).
 *
 * Untrusted input: the file names in a mailbox's cur/ and new/ (Dovecot
 * names them, but a client can APPEND with odd flags and anything can be
 * dropped there); they are parsed with maildir_parse_name and removed
 * with unlinkat relative to the directory fd, never by path.
 *
 * Memory: the candidate list of one mailbox only (its cur/ and new/),
 * and the daily run builds it only for mailboxes over the target.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expire.h"
#include "log.h"
#include "maildir.h"
#include "xmalloc.h"

#define DAY 86400.0

struct qentry {
	uint64_t ts, size;
	int sub; /* 0 = cur, 1 = new: sorts like the "cur/"/"new/" paths */
	char *name;
};

struct qlist {
	struct qentry *v;
	size_t n, cap;
	uint64_t total;
};

static const char *const qsubs[2] = { "cur", "new" };

/* expire_verdict: see expire.h */
enum expire_verdict
expire_verdict(const struct expire_params *p, double mtime, uint64_t size,
	       int in_cur)
{
	double cutoff_mails = p->now - (double)p->delete_mails_after * DAY;
	double cutoff_large = p->now - (double)p->delete_large_after * DAY;

	if (mtime < cutoff_mails)
		return EXPIRE_REMOVE;
	if (size > EXPIRE_LARGE_SIZE && mtime < cutoff_large)
		return in_cur ? EXPIRE_REMOVE : EXPIRE_KEEP_CHANGED;
	return EXPIRE_KEEP;
}

/* qentry_cmp: upstream sorts (ts, size, "cur|new/<name>") tuples */
static int
qentry_cmp(const void *a, const void *b)
{
	const struct qentry *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	if (x->sub != y->sub)
		return x->sub < y->sub ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* qlist_add: remember one candidate */
static void
qlist_add(struct qlist *l, uint64_t ts, uint64_t size, int sub,
	  const char *name)
{
	if (l->n == l->cap) {
		l->cap = l->cap != 0 ? l->cap * 2 : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].ts = ts;
	l->v[l->n].size = size;
	l->v[l->n].sub = sub;
	l->v[l->n].name = xstrdup(name);
	l->n++;
	l->total = l->total + size < l->total ? UINT64_MAX : l->total + size;
}

/* qlist_free: free every candidate */
static void
qlist_free(struct qlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* counts: whether one directory entry takes part in the trim */
static int
counts(int dfd, const struct dirent *de, const struct expire_params *rules,
       int sub, const char *path, unsigned *errors)
{
	struct stat st;
	double mtime;

	if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
		return 0;
	if (rules == NULL && de->d_type == DT_REG)
		return 1;
	if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			log_error("cannot stat %s/%s/%s: %s", path, qsubs[sub],
				  de->d_name, strerror(errno));
			(*errors)++;
		}
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	if (rules == NULL)
		return 1;
	mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
	/* in a real run these are gone already; in a dry run they would be */
	return expire_verdict(rules, mtime, (uint64_t)st.st_size, sub == 0) !=
	       EXPIRE_REMOVE;
}

/* scan_sub: collect the Dovecot-named messages of cur/ or new/ */
static int
scan_sub(int mbfd, int sub, const char *path, const struct expire_params *rules,
	 struct qlist *l, unsigned *errors)
{
	struct dirent *de;
	uint64_t ts, size;
	DIR *d;
	int fd;

	fd = openat(mbfd, qsubs[sub],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return 0;
		return -errno;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		int err = errno;

		(void)close(fd);
		return -err;
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (!maildir_parse_name(de->d_name, &ts, &size))
			continue;
		if (counts(fd, de, rules, sub, path, errors))
			qlist_add(l, ts, size, sub, de->d_name);
	}
	if (errno != 0) {
		log_error("cannot read %s/%s: %s", path, qsubs[sub],
			  strerror(errno));
		(*errors)++;
	}
	(void)closedir(d);
	return 0;
}

/* remove_one: unlink sub/name below the mailbox; 0 or -errno */
static int
remove_one(int mbfd, const struct qentry *e)
{
	char rel[512];

	if ((size_t)snprintf(rel, sizeof(rel), "%s/%s", qsubs[e->sub],
			     e->name) >= sizeof(rel))
		return -ENAMETOOLONG;
	if (unlinkat(mbfd, rel, 0) == 0 || errno == ENOENT)
		return 0;
	return -errno;
}

/* expire_quota_trim: see expire.h */
int
expire_quota_trim(int mbfd, const char *path, double target_bytes,
		  double guard_ts, const struct expire_params *rules, int dry,
		  unsigned long *removed_r, unsigned *errors)
{
	struct qlist l = { NULL, 0, 0, 0 };
	uint64_t total;
	size_t i;
	int sub, r, rc = 0;

	*removed_r = 0;
	for (sub = 0; sub < 2; sub++) {
		r = scan_sub(mbfd, sub, path, rules, &l, errors);
		if (r < 0) {
			log_error("cannot read %s/%s: %s", path, qsubs[sub],
				  strerror(-r));
			(*errors)++;
			rc = r;
		}
	}
	total = l.total;
	if (l.n == 0 || (double)total <= target_bytes)
		goto out;
	qsort(l.v, l.n, sizeof(*l.v), qentry_cmp);
	for (i = 0; i < l.n; i++) {
		if ((double)total <= target_bytes)
			break;
		if ((double)l.v[i].ts > guard_ts)
			break;
		r = dry ? 0 : remove_one(mbfd, &l.v[i]);
		if (r < 0) {
			log_error("cannot remove %s/%s/%s: %s", path,
				  qsubs[l.v[i].sub], l.v[i].name, strerror(-r));
			(*errors)++;
		} else {
			(*removed_r)++;
		}
		/* a failed removal still counts as gone: never trim more
		 * than upstream would have */
		total -= l.v[i].size < total ? l.v[i].size : total;
	}
out:
	qlist_free(&l);
	return rc;
}
