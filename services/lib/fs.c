/*
 * fs: atomic replacement of small files, mkdir -p, bounded flock(2)
 * waits and bounded whole-file reads (fs.h).
 *
 * Used for the files chatmail keeps per user (password, metadata.json,
 * push queue items), which several processes touch concurrently: writers
 * never leave a half-written file under the real name, and a crash at
 * worst leaves a "<name>.tmp-<random>" behind. Paths come from callers
 * that validated them; files are created with O_NOFOLLOW|O_EXCL so a
 * symlink planted under the temporary name is never followed.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FS_TMP_TRIES 8	   /* O_EXCL collisions before giving up */
#define FS_LOCK_SLEEP_MS 5 /* between two lock attempts */
#define FS_READ_STEP 16384 /* read(2) size when the file size says nothing */

/* tmp_suffix: a random number for a temporary name */
static unsigned
tmp_suffix(void)
{
	static unsigned counter;
	struct timespec ts;
	unsigned r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	/* no entropy yet (early boot): unique enough with O_EXCL retries */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16) ^ ++counter;
}

/* write_all: the whole buffer, across short writes and EINTR */
static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* open_tmp: create "<name>.tmp-<random>" exclusively; name into tmp */
static int
open_tmp(int dirfd, const char *name, mode_t mode, char *tmp, size_t tmpsize,
	 int *fd_r)
{
	int i, n, fd;

	for (i = 0; i < FS_TMP_TRIES; i++) {
		n = snprintf(tmp, tmpsize, "%s.tmp-%u", name, tmp_suffix());
		if (n < 0 || (size_t)n >= tmpsize)
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				    O_CLOEXEC | O_NOCTTY,
			    mode);
		if (fd >= 0) {
			*fd_r = fd;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* fs_write_atomic_at: temporary file, content, mode, rename */
int
fs_write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
		   mode_t mode, int do_fsync)
{
	char tmp[NAME_MAX + 1];
	int fd = -1, e;

	if (*name == '\0' || strchr(name, '/') != NULL)
		return -EINVAL;
	e = open_tmp(dirfd, name, mode, tmp, sizeof(tmp), &fd);
	if (e < 0)
		return e;
	/* the mode as asked, whatever the umask */
	if (fchmod(fd, mode) < 0)
		e = -errno;
	if (e == 0)
		e = write_all(fd, data, len);
	if (e == 0 && do_fsync && fsync(fd) < 0)
		e = -errno;
	if (close(fd) < 0 && e == 0)
		e = -errno;
	if (e == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		e = -errno;
	if (e < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return e;
	}
	if (do_fsync && fsync(dirfd) < 0)
		return -errno;
	return 0;
}

/* fs_write_atomic: split path into directory and name, then write */
int
fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		int do_fsync)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t dn;
	int dfd, e;

	if (slash == NULL) {
		dir[0] = '.';
		dn = 1;
	} else {
		dn = slash == path ? 1 : (size_t)(slash - path);
		if (dn >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, dn);
	}
	dir[dn] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	e = fs_write_atomic_at(dfd, slash != NULL ? slash + 1 : path, data, len,
			       mode, do_fsync);
	(void)close(dfd);
	return e;
}

/* mkdir_one: create one directory; an existing directory is fine */
static int
mkdir_one(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* fs_mkdirs: every missing component, parents first */
int
fs_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), i;
	int e;

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	/* the common case: only the last component is missing */
	e = mkdir_one(buf, mode);
	if (e != -ENOENT)
		return e;
	for (i = 1; i < n; i++) {
		if (buf[i] != '/' || buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		e = mkdir_one(buf, mode);
		buf[i] = '/';
		if (e < 0)
			return e;
	}
	return mkdir_one(buf, mode);
}

/* now_ms: the monotonic clock in milliseconds */
static int64_t
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* fs_lock: non-blocking attempts with short sleeps until the deadline */
int
fs_lock(const char *path, int timeout_ms, int *fd_r)
{
	struct timespec nap;
	int64_t deadline, left;
	int fd;

	*fd_r = -1;
	if (timeout_ms < 0)
		return -EINVAL;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		  0600);
	if (fd < 0)
		return -errno;
	deadline = now_ms() + timeout_ms;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			*fd_r = fd;
			return 0;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = -errno;

			(void)close(fd);
			return e;
		}
		left = deadline - now_ms();
		if (left <= 0) {
			(void)close(fd);
			return -ETIMEDOUT;
		}
		if (left > FS_LOCK_SLEEP_MS)
			left = FS_LOCK_SLEEP_MS;
		nap.tv_sec = 0;
		nap.tv_nsec = (long)left * 1000000L;
		(void)nanosleep(&nap, NULL);
	}
}

/* read_into: read fd to its end straight into b (no copy elsewhere:
 * the files include keys and tokens), step bytes at a time; -EFBIG one
 * byte past b's maximum */
static int
read_into(int fd, struct buf *b, size_t step)
{
	size_t want;
	ssize_t r;
	char *p, extra;

	for (;;) {
		want = buf_room(b) < step ? buf_room(b) : step;
		if (want == 0) {
			/* exactly the maximum is fine; one byte more is not */
			do {
				r = read(fd, &extra, 1);
			} while (r < 0 && errno == EINTR);
			return r > 0 ? -EFBIG : r < 0 ? -errno : 0;
		}
		p = buf_reserve(b, want);
		if (p == NULL)
			return -EFBIG;
		r = read(fd, p, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		buf_commit(b, (size_t)r);
		/* fill what is allocated before growing it: no realloc (no
		 * copy left behind) while the file is the size fstat said */
		step = b->cap - b->len > 1 ? b->cap - b->len - 1 : FS_READ_STEP;
	}
}

/* read_path: path into b; only a regular file unless any (then
 * anything but a directory: a pipe the operator named) */
static int
read_path(const char *path, struct buf *b, int any)
{
	struct stat st;
	size_t step = FS_READ_STEP;
	int fd, e = 0;

	/* O_NONBLOCK: a FIFO where a regular file belongs is refused
	 * below, not waited on in open(2) */
	fd = open(path,
		  O_RDONLY | O_CLOEXEC | O_NOCTTY | (any ? 0 : O_NONBLOCK));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		e = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode) || (!any && !S_ISREG(st.st_mode))) {
		e = -EINVAL;
		goto out;
	}
	/* one allocation when the size holds (one byte more sees the end);
	 * /proc files and pipes say 0 */
	if (S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < SIZE_MAX)
		step = (size_t)st.st_size + 1;
	e = read_into(fd, b, step);
out:
	(void)close(fd);
	return e;
}

/* fs_read_file: read a regular file into b, bounded by b's maximum */
int
fs_read_file(const char *path, struct buf *b)
{
	return read_path(path, b, 0);
}

/* fs_read_stream: read any file but a directory into b */
int
fs_read_stream(const char *path, struct buf *b)
{
	return read_path(path, b, 1);
}
