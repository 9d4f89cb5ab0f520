/*
 * backup_tree: the consistent copy of a live tree (the mail volume while
 * Dovecot delivers, the Postfix queue while Postfix runs) that a backup
 * reads instead of the tree itself.
 *
 * A file is identified by (device, inode), not by name: a maildir
 * message renamed from new/ to cur/ while the walk goes on, or a queue
 * file moved from active/ to deferred/, keeps its inode. Inside a
 * maildir new/ is walked before cur/, so a message moved between the
 * two is seen in one of them (new/ before the move, cur/ after it); a
 * second pass over the whole tree takes every inode the first missed
 * (Postfix moves files back and forth between its queues). An inode is
 * taken once, so nothing is doubled. Hard links on the mail volume make
 * this copy cost no space and keep each file's mtime (message ages,
 * last logins); the queue, on a volume of its own, is copied.
 *
 * Untrusted input: the trees (names and kinds of entries): every access
 * is relative to an opened directory with O_NOFOLLOW; symlinks, sockets
 * and FIFOs are skipped; depth is bounded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "log.h"
#include "xmalloc.h"

#define TREE_MAX_DEPTH 32

void
tree_clone_init(struct tree_clone *c, enum tree_mode mode)
{
	memset(c, 0, sizeof(*c));
	c->mode = mode;
}

void
tree_clone_deinit(struct tree_clone *c)
{
	free(c->keys);
	memset(c, 0, sizeof(*c));
}

/* key_of: one 64-bit key for (device, inode); 0 is the empty slot */
static unsigned long long
key_of(const struct stat *st)
{
	unsigned long long k = (unsigned long long)st->st_ino ^
			       ((unsigned long long)st->st_dev << 40);

	return k == 0 ? 1 : k;
}

/* seen_add: 1 if k was new (now added), 0 if it was there */
static int
seen_add(struct tree_clone *c, unsigned long long k)
{
	size_t i, j;

	if ((c->nkeys + 1) * 2 > c->cap) {
		unsigned long long *old = c->keys;
		size_t ocap = c->cap;

		c->cap = ocap ? ocap * 2 : 1024;
		c->keys = xcalloc(c->cap, sizeof(*c->keys));
		c->nkeys = 0;
		for (j = 0; j < ocap; j++)
			if (old[j] != 0)
				(void)seen_add(c, old[j]);
		free(old);
	}
	for (i = (size_t)(k * 0x9e3779b97f4a7c15ULL) & (c->cap - 1);
	     c->keys[i] != 0; i = (i + 1) & (c->cap - 1))
		if (c->keys[i] == k)
			return 0;
	c->keys[i] = k;
	c->nkeys++;
	return 1;
}

/* rank: maildir order, new/ before cur/, then by name */
static int
rank(const char *n)
{
	if (strcmp(n, "new") == 0)
		return 0;
	if (strcmp(n, "cur") == 0)
		return 1;
	return 2;
}

/* cmp_names: qsort order of directory entries */
static int
cmp_names(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int d = rank(x) - rank(y);

	return d != 0 ? d : strcmp(x, y);
}

/* list_dir: the names in dirfd (without . and ..), sorted; count in *n */
static int
list_dir(int dirfd, char ***names_r, size_t *n_r)
{
	int fd = dup(dirfd);
	DIR *d;
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, cap = 0;

	*names_r = NULL;
	*n_r = 0;
	if (fd < 0)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = xstrdup(e->d_name);
	}
	(void)closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_names);
	*names_r = v;
	*n_r = n;
	return 0;
}

/* free_names: what list_dir returned */
static void
free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* copy_file_at: copy name from sfd into dfd, keeping mode, owner and
 * times; an existing destination is replaced */
static int
copy_file_at(int sfd, int dfd, const char *name, const struct stat *st)
{
	char blk[65536];
	int in, out, r = 0;
	ssize_t n;
	struct timespec ts[2];

	in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return -errno;
	(void)unlinkat(dfd, name, 0);
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
		     st->st_mode & 07777);
	if (out < 0) {
		r = -errno;
		(void)close(in);
		return r;
	}
	while ((n = read(in, blk, sizeof(blk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(out, blk, (size_t)n) != n) {
			r = -EIO;
			break;
		}
	}
	if (fchown(out, st->st_uid, st->st_gid) < 0)
		log_debug("%s: owner kept (%s)", name, strerror(errno));
	(void)fchmod(out, st->st_mode & 07777);
	ts[0] = st->st_atim;
	ts[1] = st->st_mtim;
	(void)futimens(out, ts);
	if (close(out) < 0 && r == 0)
		r = -errno;
	(void)close(in);
	return r;
}

/* take_file: put one regular file into dfd, unless its inode is taken */
static int
take_file(struct tree_clone *c, int sfd, int dfd, const char *name,
	  const struct stat *st)
{
	int r;

	if (!seen_add(c, key_of(st)))
		return 0;
	if (c->mode == TREE_LINK) {
		r = linkat(sfd, name, dfd, name, 0) < 0 ? -errno : 0;
		if (r == -EEXIST) { /* a newer file under an old name */
			(void)unlinkat(dfd, name, 0);
			r = linkat(sfd, name, dfd, name, 0) < 0 ? -errno : 0;
		}
	} else {
		r = copy_file_at(sfd, dfd, name, st);
	}
	if (r == -ENOENT) /* gone since the listing: expired or moved */
		return 0;
	if (r == 0)
		c->files++;
	return r;
}

static int clone_dir(struct tree_clone *c, int sfd, int dfd, int depth,
		     const char *const *skip, const char *dname,
		     struct buf *err);

/* clone_entry: one entry of a directory being cloned */
static int
clone_entry(struct tree_clone *c, int sfd, int dfd, const char *name, int depth,
	    const char *dname, struct buf *err)
{
	struct stat st;
	int s2, d2, r;

	if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode)) {
		if (c->skip_maildir_tmp && dname && strcmp(dname, "tmp") == 0)
			return 0; /* a delivery not finished */
		r = take_file(c, sfd, dfd, name, &st);
		if (r < 0)
			(void)buf_printf(err, "%s: %s", name, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		c->skipped++;
		log_debug("skipped %s (not a file or directory)", name);
		return 0;
	}
	if (depth >= TREE_MAX_DEPTH) {
		(void)buf_printf(err, "%s: deeper than %d levels", name,
				 TREE_MAX_DEPTH);
		return -ELOOP;
	}
	if (mkdirat(dfd, name, st.st_mode & 07777) == 0) {
		c->dirs++;
		if (fchownat(dfd, name, st.st_uid, st.st_gid,
			     AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(dfd, name, st.st_mode & 07777, 0) < 0)
			log_debug("%s: owner or mode kept", name);
	} else if (errno != EEXIST) {
		(void)buf_printf(err, "mkdir %s: %s", name, strerror(errno));
		return -errno;
	}
	s2 = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s2 < 0)
		return errno == ENOENT ? 0 : -errno;
	d2 = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d2 < 0) {
		r = -errno;
		(void)close(s2);
		return r;
	}
	r = clone_dir(c, s2, d2, depth + 1, NULL, name, err);
	(void)close(s2);
	(void)close(d2);
	return r;
}

/* in_list: name is one of the NULL-terminated list */
static int
in_list(const char *name, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return 1;
	return 0;
}

/* clone_dir: every entry of sfd into dfd */
static int
clone_dir(struct tree_clone *c, int sfd, int dfd, int depth,
	  const char *const *skip, const char *dname, struct buf *err)
{
	char **names = NULL;
	size_t n = 0, i;
	int r;

	if ((r = list_dir(sfd, &names, &n)) < 0) {
		(void)buf_printf(err, "listing %s: %s", dname ? dname : ".",
				 strerror(-r));
		return r;
	}
	for (i = 0; i < n && r == 0; i++)
		if (!in_list(names[i], skip))
			r = clone_entry(c, sfd, dfd, names[i], depth, dname,
					err);
	free_names(names, n);
	return r;
}

int
tree_clone_run(struct tree_clone *c, const char *src, const char *dst,
	       const char *const *skip, struct buf *err)
{
	struct stat st;
	int sfd = -1, dfd = -1, r, pass;
	unsigned long before;

	sfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0 || fstat(sfd, &st) < 0) {
		r = -errno;
		(void)buf_printf(err, "%s: %s", src, strerror(errno));
		goto out;
	}
	/* a destination that exists keeps its owner and mode (a volume's
	 * root, Postfix's queue_directory) */
	if (mkdir(dst, st.st_mode & 07777) == 0) {
		if (chown(dst, st.st_uid, st.st_gid) < 0 ||
		    chmod(dst, st.st_mode & 07777) < 0)
			log_debug("%s: owner or mode kept", dst);
	} else if (errno != EEXIST) {
		r = -errno;
		(void)buf_printf(err, "mkdir %s: %s", dst, strerror(errno));
		goto out;
	}
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		(void)buf_printf(err, "%s: %s", dst, strerror(errno));
		goto out;
	}
	for (pass = 1, r = 0; pass <= 2 && r == 0; pass++) {
		before = c->files;
		r = clone_dir(c, sfd, dfd, 0, skip, NULL, err);
		log_debug("%s pass %d: %lu files", src, pass,
			  c->files - before);
	}
out:
	if (sfd >= 0)
		(void)close(sfd);
	if (dfd >= 0)
		(void)close(dfd);
	return r;
}
