/*
 * backup_fs: the plain tree operations of a restore, an import and an
 * export: remove a tree, ask whether a volume holds anything, move a
 * restored tree into place, give a tree its owners, copy and compare a
 * key file.
 *
 * Untrusted input: the trees (a restored snapshot, an upstream copy):
 * every access is relative to an opened directory, never through a
 * symlink; depth is bounded; key files are read with a bounded buffer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "fs.h"
#include "xmalloc.h"

#define FS_MAX_DEPTH 32
#define KEY_MAX (1u << 20)

/* walk_fn: called for each entry of a directory fd; return <0 to stop */
typedef int (*walk_fn)(int dfd, const char *name, const struct stat *st,
		       int depth, void *arg);

/* walk: every entry below dfd, children before their directory (the
 * order removal needs); fn sees each entry once */
static int
walk(int dfd, int depth, walk_fn fn, void *arg)
{
	int fd = dup(dfd), sub, r = 0;
	DIR *d;
	struct dirent *e;
	struct stat st;

	if (depth > FS_MAX_DEPTH)
		return -ELOOP;
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		r = -errno;
		if (fd >= 0)
			(void)close(fd);
		return r;
	}
	rewinddir(d);
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			sub = openat(dfd, e->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
			if (sub < 0) {
				r = -errno;
				break;
			}
			r = walk(sub, depth + 1, fn, arg);
			(void)close(sub);
		}
		if (r == 0)
			r = fn(dfd, e->d_name, &st, depth, arg);
	}
	(void)closedir(d);
	return r;
}

/* rm_fn: unlink one entry (directories are empty by now) */
static int
rm_fn(int dfd, const char *name, const struct stat *st, int depth, void *arg)
{
	(void)depth;
	(void)arg;
	if (unlinkat(dfd, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0) < 0 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

int
tree_remove(const char *path, struct buf *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ENOTDIR || errno == ELOOP)
			return unlink(path) < 0 ? -errno : 0;
		(void)buf_printf(err, "%s: %s", path, strerror(errno));
		return -errno;
	}
	r = walk(fd, 0, rm_fn, NULL);
	(void)close(fd);
	if (r == 0 && rmdir(path) < 0)
		r = -errno;
	if (r < 0)
		(void)buf_printf(err, "removing %s: %s", path, strerror(-r));
	return r;
}

struct has_arg {
	const char *const *skip;
	int found;
};

/* has_fn: a non-directory anywhere but under a skipped top name */
static int
has_fn(int dfd, const char *name, const struct stat *st, int depth, void *arg)
{
	struct has_arg *h = arg;

	(void)dfd;
	(void)name;
	(void)depth;
	if (!S_ISDIR(st->st_mode))
		h->found = 1;
	return h->found ? 1 : 0; /* stop at the first one */
}

int
tree_has_files(const char *path, const char *const *skip, struct buf *err)
{
	struct has_arg h = { skip, 0 };
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int fd2, r = 0;
	DIR *d;
	struct dirent *e;
	struct stat st;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		(void)buf_printf(err, "%s: %s", path, strerror(errno));
		return -errno;
	}
	/* the top level by hand: skipped names are left out there only */
	fd2 = dup(fd);
	if (fd2 < 0 || (d = fdopendir(fd2)) == NULL) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	while (!h.found && (e = readdir(d)) != NULL) {
		const char *const *s;
		int sub, skipped = 0;

		for (s = skip; s != NULL && *s != NULL; s++)
			skipped |= strcmp(e->d_name, *s) == 0;
		if (skipped || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0 ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			h.found = 1;
			break;
		}
		sub = openat(fd, e->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (sub >= 0) {
			(void)walk(sub, 1, has_fn, &h);
			(void)close(sub);
		}
	}
	(void)closedir(d);
	(void)close(fd);
	return h.found;
}

int
tree_move_into(const char *src, const char *dst, struct buf *err)
{
	int sfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int fd2, r = 0;
	DIR *d;
	struct dirent *e;
	struct stat st;
	char *s2, *d2;

	if (sfd < 0) {
		(void)buf_printf(err, "%s: %s", src, strerror(errno));
		return -errno;
	}
	fd2 = dup(sfd);
	if (fd2 < 0 || (d = fdopendir(fd2)) == NULL) {
		r = -errno;
		(void)close(sfd);
		return r;
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		s2 = backup_path(src, e->d_name);
		d2 = backup_path(dst, e->d_name);
		/* a directory already there (made by a Pod's layout): merge */
		if (lstat(d2, &st) == 0 && S_ISDIR(st.st_mode) &&
		    fstatat(sfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			r = tree_move_into(s2, d2, err);
			if (r == 0)
				(void)rmdir(s2);
		} else if (rename(s2, d2) < 0) {
			r = -errno;
			(void)buf_printf(err, "rename %s -> %s: %s", s2, d2,
					 strerror(errno));
		}
		free(s2);
		free(d2);
	}
	(void)closedir(d);
	(void)close(sfd);
	return r;
}

struct chown_arg {
	uid_t uid;
	gid_t gid, group_gid;
	const char *const *group_dirs;
	int in_group; /* walking under a group_dirs directory */
};

/* chown_fn: one entry to its owner */
static int
chown_fn(int dfd, const char *name, const struct stat *st, int depth, void *arg)
{
	const struct chown_arg *a = arg;
	gid_t g = a->in_group ? a->group_gid : a->gid;
	const char *const *s;

	for (s = a->group_dirs; depth == 0 && s && *s; s++)
		if (strcmp(name, *s) == 0)
			g = a->group_gid;
	(void)st;
	if (fchownat(dfd, name, a->uid, g, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int
tree_chown(const char *path, uid_t uid, gid_t gid,
	   const char *const *group_dirs, gid_t group_gid, int top,
	   struct buf *err)
{
	struct chown_arg a = { uid, gid, group_gid, group_dirs, 0 };
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = 0, sub;
	const char *const *s;

	if (fd < 0) {
		(void)buf_printf(err, "%s: %s", path, strerror(errno));
		return -errno;
	}
	/* the entries under a group directory first, with its group */
	a.in_group = 1;
	for (s = group_dirs; r == 0 && s && *s; s++) {
		sub = openat(fd, *s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (sub < 0)
			continue;
		r = walk(sub, 1, chown_fn, &a);
		(void)close(sub);
	}
	a.in_group = 0;
	if (r == 0)
		r = walk(fd, 0, chown_fn, &a);
	if (r == 0 && top && fchown(fd, uid, gid) < 0)
		r = -errno;
	(void)close(fd);
	if (r < 0)
		(void)buf_printf(err, "chown under %s: %s", path, strerror(-r));
	return r;
}

int
file_copy(const char *src, const char *dst, mode_t mode, struct buf *err)
{
	struct buf b = BUF_INIT(KEY_MAX);
	struct stat st;
	struct timespec ts[2];
	int r = fs_read_file(src, &b);

	if (r == 0)
		r = fs_write_atomic(dst, b.data ? b.data : "", b.len, mode, 1);
	/* the source's mtime: an unchanged key is unchanged to restic */
	if (r == 0 && stat(src, &st) == 0) {
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		if (utimensat(AT_FDCWD, dst, ts, 0) < 0)
			r = -errno;
	}
	if (r < 0)
		(void)buf_printf(err, "copy %s -> %s: %s", src, dst,
				 strerror(-r));
	buf_wipe_deinit(&b); /* a key */
	return r;
}

int
file_same(const char *a, const char *b)
{
	struct buf x = BUF_INIT(KEY_MAX), y = BUF_INIT(KEY_MAX);
	int r = fs_read_file(a, &x);

	if (r == 0)
		r = fs_read_file(b, &y);
	if (r == 0)
		r = x.len == y.len &&
		    (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
	buf_wipe_deinit(&x);
	buf_wipe_deinit(&y);
	return r;
}
