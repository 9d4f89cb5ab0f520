/*
 * maildir: streaming, symlink-safe walks of mailboxes_dir and Dovecot
 * maildir file-name parsing (see maildir.h for the layout and contract).
 *
 * Role: the one place that walks the mail store, for chatmail-expire,
 * chatmail-quota-expire and chatmail-metrics.
 *
 * Untrusted input: every name below mailboxes_dir (folder and file names
 * come from IMAP clients and remote senders) and the shape of the tree
 * (symlinks, other users' files, directories replaced while we walk).
 * Directories are only ever opened relative to an fd of their parent
 * with O_NOFOLLOW | O_DIRECTORY, so a symlink swapped in at any time
 * makes the open fail instead of leading outside the tree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "xmalloc.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

struct maildir_iter {
	DIR *dir;
	int fd; /* dirfd(dir), owned by dir */
	unsigned long maxnum, seen;
	unsigned errors;
	struct maildir_mbox mb;
	size_t baselen;
	char path[MAILDIR_PATH_MAX];
};

/* a walk in progress: the mailbox, the callback and the log path */
struct walk {
	struct maildir_mbox *mb;
	maildir_file_fn *fn;
	void *ctx;
	size_t len;
	char path[MAILDIR_PATH_MAX];
};

/* digits_sat: parse ASCII digits at *p (at least one), saturating at
 * UINT64_MAX; 1 and advance, or 0 */
static int
digits_sat(const char **p, uint64_t *r)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + d;
	}
	*p = s;
	*r = v;
	return 1;
}

/* maildir_parse_name: see maildir.h. The regex is ".+/(\d+)\..+,S=(\d+)"
 * applied to "cur/<name>": "." never matches a newline, so neither the
 * characters between the dot and ",S=" may be one. */
int
maildir_parse_name(const char *name, uint64_t *ts_r, uint64_t *size_r)
{
	const char *p = name, *last = NULL, *q;
	uint64_t ts, size = 0;

	if (!digits_sat(&p, &ts) || *p != '.')
		return 0;
	p++;
	if (*p == '\0' || *p == '\n')
		return 0;
	for (q = p + 1; *q != '\0' && *q != '\n'; q++) {
		if (q[0] == ',' && q[1] == 'S' && q[2] == '=' && q[3] >= '0' &&
		    q[3] <= '9')
			last = q;
	}
	if (last == NULL)
		return 0;
	q = last + 3;
	(void)digits_sat(&q, &size);
	*ts_r = ts;
	*size_r = size;
	return 1;
}

/* path_push: append "/name" to a log path; returns the old length.
 * A path that would not fit is cut (it only ever goes into logs). */
static size_t
path_push(char *path, size_t *len, const char *name)
{
	size_t old = *len, n = strlen(name);

	if (old + 1 + n + 1 > MAILDIR_PATH_MAX)
		n = old + 2 < MAILDIR_PATH_MAX ? MAILDIR_PATH_MAX - old - 2 : 0;
	if (old + 1 < MAILDIR_PATH_MAX) {
		path[old] = '/';
		memcpy(path + old + 1, name, n);
		path[old + 1 + n] = '\0';
		*len = old + 1 + n;
	}
	return old;
}

/* is_dot: "." or ".." */
static int
is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* sub_of: which maildir subdirectory a name is */
static enum maildir_sub
sub_of(const char *n)
{
	if (strcmp(n, "cur") == 0)
		return MAILDIR_SUB_CUR;
	if (strcmp(n, "new") == 0)
		return MAILDIR_SUB_NEW;
	if (strcmp(n, "tmp") == 0)
		return MAILDIR_SUB_TMP;
	return MAILDIR_SUB_NONE;
}

/* st_mtime_f: mtime as float seconds, like Python's st_mtime */
static double
st_mtime_f(const struct stat *st)
{
	return (double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec / 1e9;
}

/* walk_error: log one problem with the current path and count it */
static void
walk_error(struct walk *w, const char *what, int err)
{
	log_error("cannot %s %s: %s", what, w->path, strerror(err));
	w->mb->errors++;
}

/* emit: stat a regular file and hand it to the callback */
static int
emit(struct walk *w, int dfd, const char *name, const struct stat *st,
     enum maildir_kind kind, enum maildir_sub sub, int top)
{
	struct maildir_file f;

	f.dirfd = dfd;
	f.name = name;
	f.path = w->path;
	f.kind = kind;
	f.sub = sub;
	f.top = top;
	f.mtime = st_mtime_f(st);
	f.size = (uint64_t)st->st_size;
	return w->fn(w->ctx, &f);
}

/* stat_entry: lstat-like fstatat; 1 ok, 0 vanished, -1 error (counted) */
static int
stat_entry(struct walk *w, int dfd, const char *name, struct stat *st)
{
	if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	walk_error(w, "stat", errno);
	return -1;
}

static int walk_dir(struct walk *w, int fd, int depth, enum maildir_sub sub);

/* walk_subdir: open a directory entry safely and walk it as what it is */
static int
walk_subdir(struct walk *w, int dfd, const char *name, int depth)
{
	int fd;

	if (depth + 1 > MAILDIR_MAX_DEPTH) {
		walk_error(w, "descend (too deep)", ELOOP);
		return 0;
	}
	fd = openat(dfd, name, DIR_FLAGS);
	if (fd < 0) {
		/* replaced by a symlink or a file meanwhile: not followed */
		if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR)
			walk_error(w, "open directory", errno);
		return 0;
	}
	return walk_dir(w, fd, depth + 1, sub_of(name));
}

/* msg_entry: one entry of a cur/new/tmp: regular files only; top when
 * that directory is the mailbox's own */
static int
msg_entry(struct walk *w, int fd, const struct dirent *de, enum maildir_sub sub,
	  int top)
{
	struct stat st;

	if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
		return 0;
	if (stat_entry(w, fd, de->d_name, &st) <= 0 || !S_ISREG(st.st_mode))
		return 0;
	return emit(w, fd, de->d_name, &st, MAILDIR_MESSAGE, sub, top);
}

/* walk_entry: one entry of a folder directory */
static int
walk_entry(struct walk *w, int fd, const struct dirent *de, int depth)
{
	struct stat st;
	int type = de->d_type, r;

	if (type == DT_UNKNOWN || type == DT_REG) {
		r = stat_entry(w, fd, de->d_name, &st);
		if (r <= 0)
			return 0;
		if (S_ISDIR(st.st_mode))
			return walk_subdir(w, fd, de->d_name, depth);
		if (!S_ISREG(st.st_mode))
			return 0;
		return emit(w, fd, de->d_name, &st, MAILDIR_EXTRA,
			    MAILDIR_SUB_NONE, 0);
	}
	if (type == DT_DIR)
		return walk_subdir(w, fd, de->d_name, depth);
	return 0; /* symlinks, sockets, fifos, devices */
}

/* walk_dir: the entries of fd, a cur/new/tmp (sub) or a folder (the
 * mailbox itself at depth 0, or below); closes fd */
static int
walk_dir(struct walk *w, int fd, int depth, enum maildir_sub sub)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	size_t old;
	int rc = 0;

	if (d == NULL) {
		walk_error(w, "read directory", errno);
		(void)close(fd);
		return 0;
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (is_dot(de->d_name))
			continue;
		old = path_push(w->path, &w->len, de->d_name);
		if (sub != MAILDIR_SUB_NONE)
			rc = msg_entry(w, fd, de, sub, depth == 1);
		else
			rc = walk_entry(w, fd, de, depth);
		w->path[old] = '\0';
		w->len = old;
		if (rc < 0)
			break;
	}
	if (de == NULL && errno != 0)
		walk_error(w, "read directory", errno);
	(void)closedir(d);
	return rc;
}

/* maildir_mbox_walk: see maildir.h */
int
maildir_mbox_walk(struct maildir_mbox *mb, maildir_file_fn *fn, void *ctx)
{
	struct walk w;
	int fd;

	w.mb = mb;
	w.fn = fn;
	w.ctx = ctx;
	w.len = strlen(mb->path);
	if (w.len >= sizeof(w.path))
		w.len = sizeof(w.path) - 1;
	memcpy(w.path, mb->path, w.len);
	w.path[w.len] = '\0';
	/* a second fd: fdopendir takes ownership and the caller keeps its */
	fd = openat(mb->fd, ".", DIR_FLAGS);
	if (fd < 0) {
		walk_error(&w, "open directory", errno);
		return 0;
	}
	return walk_dir(&w, fd, 0, MAILDIR_SUB_NONE);
}

/* read_password: the top-level password file's mtime; 0 ok, -errno */
static int
read_password(struct maildir_mbox *mb)
{
	struct stat st;

	mb->has_password = 0;
	mb->last_login = 0;
	if (fstatat(mb->fd, "password", &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return -errno;
	}
	if (S_ISREG(st.st_mode)) {
		mb->has_password = 1;
		mb->last_login = st_mtime_f(&st);
	}
	return 0;
}

/* maildir_iter_open: see maildir.h */
int
maildir_iter_open(const char *mailboxes_dir, unsigned long maxnum,
		  struct maildir_iter **it_r)
{
	struct maildir_iter *it;
	size_t n = strlen(mailboxes_dir);
	int fd;

	*it_r = NULL;
	if (n + 2 >= MAILDIR_PATH_MAX)
		return -ENAMETOOLONG;
	fd = open(mailboxes_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	it = xcalloc(1, sizeof(*it));
	it->dir = fdopendir(fd);
	if (it->dir == NULL) {
		int err = errno;

		(void)close(fd);
		free(it);
		return -err;
	}
	it->fd = fd;
	it->maxnum = maxnum;
	it->mb.fd = -1;
	memcpy(it->path, mailboxes_dir, n + 1);
	it->baselen = n;
	*it_r = it;
	return 0;
}

/* iter_close_mb: close the previous mailbox */
static void
iter_close_mb(struct maildir_iter *it)
{
	if (it->mb.fd >= 0)
		(void)close(it->mb.fd);
	it->mb.fd = -1;
	it->path[it->baselen] = '\0';
}

/* iter_try: open one entry as a mailbox; 1 ok, 0 skipped */
static int
iter_try(struct maildir_iter *it, const struct dirent *de)
{
	size_t len = it->baselen;
	int r;

	if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
		return 0;
	(void)path_push(it->path, &len, de->d_name);
	it->mb.fd = openat(it->fd, de->d_name, DIR_FLAGS);
	if (it->mb.fd < 0) {
		if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR) {
			log_error("cannot open mailbox %s: %s", it->path,
				  strerror(errno));
			it->errors++;
		}
		iter_close_mb(it);
		return 0;
	}
	r = read_password(&it->mb);
	if (r < 0) {
		log_error("cannot stat %s/password: %s", it->path,
			  strerror(-r));
		it->errors++;
		iter_close_mb(it);
		return 0;
	}
	it->mb.name = it->path + it->baselen + 1;
	it->mb.path = it->path;
	it->mb.errors = 0;
	return 1;
}

/* maildir_iter_next: see maildir.h */
int
maildir_iter_next(struct maildir_iter *it, struct maildir_mbox **mb_r)
{
	struct dirent *de;

	iter_close_mb(it);
	for (errno = 0; (de = readdir(it->dir)) != NULL; errno = 0) {
		if (is_dot(de->d_name))
			continue;
		if (it->maxnum != 0 && it->seen >= it->maxnum)
			return 0;
		it->seen++;
		if (strchr(de->d_name, '@') == NULL)
			continue;
		if (iter_try(it, de)) {
			*mb_r = &it->mb;
			return 1;
		}
	}
	if (errno != 0) {
		log_error("cannot read %s: %s", it->path, strerror(errno));
		it->errors++;
	}
	return 0;
}

/* maildir_iter_dirfd: see maildir.h */
int
maildir_iter_dirfd(const struct maildir_iter *it)
{
	return it->fd;
}

/* maildir_iter_errors: see maildir.h */
unsigned
maildir_iter_errors(const struct maildir_iter *it)
{
	return it->errors;
}

/* maildir_iter_free: see maildir.h */
void
maildir_iter_free(struct maildir_iter **itp)
{
	struct maildir_iter *it = *itp;

	if (it == NULL)
		return;
	iter_close_mb(it);
	(void)closedir(it->dir);
	free(it);
	*itp = NULL;
}

/* maildir_mbox_open: see maildir.h */
int
maildir_mbox_open(const char *path, struct maildir_mbox **mb_r)
{
	struct maildir_mbox *mb;
	size_t n = strlen(path);
	char *p, *slash;
	int fd, r;

	*mb_r = NULL;
	fd = open(path, DIR_FLAGS);
	if (fd < 0)
		return -errno;
	/* one allocation: the struct, then its copy of the path */
	mb = xcalloc(1, sizeof(*mb) + n + 1);
	mb->fd = fd;
	p = (char *)(mb + 1);
	memcpy(p, path, n + 1);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	slash = strrchr(p, '/');
	mb->path = p;
	mb->name = slash != NULL ? slash + 1 : p;
	r = read_password(mb);
	if (r < 0) {
		maildir_mbox_free(&mb);
		return r;
	}
	*mb_r = mb;
	return 0;
}

/* maildir_mbox_free: see maildir.h */
void
maildir_mbox_free(struct maildir_mbox **mbp)
{
	struct maildir_mbox *mb = *mbp;

	if (mb == NULL)
		return;
	if (mb->fd >= 0)
		(void)close(mb->fd);
	free(mb);
	*mbp = NULL;
}

static int rm_contents(int fd, int depth);

/* rm_entry: remove one entry below dfd, descending into directories */
static int
rm_entry(int dfd, const char *name, int type, int depth)
{
	int fd, rc;

	if (type != DT_DIR && type != DT_UNKNOWN) {
		if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
			return 0;
		if (errno != EISDIR)
			return -errno;
	}
	fd = openat(dfd, name, DIR_FLAGS);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ENOTDIR && errno != ELOOP)
			return -errno;
		/* not a directory (or a symlink to one): unlink the entry */
		if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
			return 0;
		return -errno;
	}
	if (depth + 1 > MAILDIR_MAX_DEPTH) {
		(void)close(fd);
		return -ELOOP;
	}
	rc = rm_contents(fd, depth + 1);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0)
		rc = -errno;
	return rc;
}

/* rm_contents: empty the directory fd (consumed) */
static int
rm_contents(int fd, int depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int rc = 0, r;

	if (d == NULL) {
		rc = -errno;
		(void)close(fd);
		return rc;
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (is_dot(de->d_name))
			continue;
		r = rm_entry(fd, de->d_name, de->d_type, depth);
		if (r < 0 && rc == 0)
			rc = r;
	}
	if (de == NULL && errno != 0 && rc == 0)
		rc = -errno;
	(void)closedir(d);
	return rc;
}

/* maildir_rmtree_at: see maildir.h */
int
maildir_rmtree_at(int dirfd, const char *name)
{
	return rm_entry(dirfd, name, DT_DIR, 0);
}
