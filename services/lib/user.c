/*
 * user: per-user directories under mailboxes_dir and the files upstream
 * keeps in them (user.h): the password hash, whose mtime is the last
 * login (day precision), and the enforceE2EEincoming marker.
 *
 * Addresses come from the network (Dovecot dict keys, SMTP recipients):
 * user_addr_valid() is the one gate that keeps them to a single safe
 * directory name. Files are opened and created relative to the user
 * directory opened with O_NOFOLLOW, so a symlinked user directory or a
 * symlink planted as one of its files never redirects a write. The
 * password hash is a secret: it is wiped from buffers on failure.
 */
#include "user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

#define USER_PASSWORD "password"
#define USER_E2EE "enforceE2EEincoming"
#define USER_SECS_PER_DAY 86400

/* user_addr_valid: one safe directory name holding an '@' */
int
user_addr_valid(const char *addr)
{
	const char *p;

	if (addr == NULL || *addr == '\0' || *addr == '.')
		return 0;
	if (strchr(addr, '@') == NULL || strstr(addr, "..") != NULL)
		return 0;
	for (p = addr; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '/' || c < 0x20 || c == 0x7f)
			return 0;
		if (p - addr >= USER_ADDR_MAX)
			return 0;
	}
	return 1;
}

/* name_valid: a plain file name (no '/', not "." or "..") */
static int
name_valid(const char *name)
{
	return name != NULL && *name != '\0' && strchr(name, '/') == NULL &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* user_dir: "<mailboxes_dir>/<addr>" for a safe address */
int
user_dir(const char *mailboxes_dir, const char *addr, char *out, size_t outsize)
{
	int n;

	if (mailboxes_dir == NULL || *mailboxes_dir == '\0' ||
	    !user_addr_valid(addr))
		return -EINVAL;
	n = snprintf(out, outsize, "%s/%s", mailboxes_dir, addr);
	if (n < 0 || (size_t)n >= outsize)
		return -ENAMETOOLONG;
	return 0;
}

/* user_file: "<mailboxes_dir>/<addr>/<name>" */
int
user_file(const char *mailboxes_dir, const char *addr, const char *name,
	  char *out, size_t outsize)
{
	int n;

	if (mailboxes_dir == NULL || *mailboxes_dir == '\0' ||
	    !user_addr_valid(addr) || !name_valid(name))
		return -EINVAL;
	n = snprintf(out, outsize, "%s/%s/%s", mailboxes_dir, addr, name);
	if (n < 0 || (size_t)n >= outsize)
		return -ENAMETOOLONG;
	return 0;
}

/* join: "<userdir>/<name>" into out (USER_PATH_MAX bytes) */
static int
join(const char *userdir, const char *name, char *out)
{
	int n = snprintf(out, USER_PATH_MAX, "%s/%s", userdir, name);

	if (n < 0 || n >= USER_PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* read_fd: read all of fd into out (outsize - 1 bytes at most) */
static int
read_fd(int fd, char *out, size_t outsize, size_t *len_r)
{
	size_t len = 0;
	ssize_t r;
	char extra;

	while (len < outsize - 1) {
		r = read(fd, out + len, outsize - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len == outsize - 1) {
		do {
			r = read(fd, &extra, 1);
		} while (r < 0 && errno == EINTR);
		if (r != 0)
			return r < 0 ? -errno : -EFBIG;
	}
	out[len] = '\0';
	*len_r = len;
	return 0;
}

/* user_read_password: the hash as stored, 1 if non-empty */
int
user_read_password(const char *userdir, char *out, size_t outsize)
{
	char path[USER_PATH_MAX];
	size_t len = 0;
	int fd, e;

	if (outsize == 0)
		return -EINVAL;
	out[0] = '\0';
	e = join(userdir, USER_PASSWORD, path);
	if (e < 0)
		return e;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	e = read_fd(fd, out, outsize, &len);
	(void)close(fd);
	if (e == 0 && memchr(out, '\0', len) != NULL)
		e = -EINVAL;
	if (e < 0) {
		explicit_bzero(out, outsize);
		return e;
	}
	return len > 0;
}

/* hash_valid: non-empty printable ASCII (upstream encodes it "ascii") */
static int
hash_valid(const char *hash)
{
	const char *p;

	if (*hash == '\0')
		return 0;
	for (p = hash; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	return 1;
}

/* user_write_password: mkdir -p, atomic password, E2EE marker */
int
user_write_password(const char *userdir, const char *hash)
{
	int dfd = -1, fd, e;

	if (!hash_valid(hash))
		return -EINVAL;
	e = fs_mkdirs(userdir, 0700);
	if (e < 0)
		return e;
	dfd = open(userdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* fs_mkdirs found a directory: ENOTDIR here means a symlink */
	if (dfd < 0)
		return errno == ENOTDIR ? -ELOOP : -errno;
	e = fs_write_atomic_at(dfd, USER_PASSWORD, hash, strlen(hash), 0600, 0);
	if (e < 0)
		goto out;
	fd = openat(dfd, USER_E2EE,
		    O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		    0600);
	if (fd < 0) {
		e = -errno;
		goto out;
	}
	(void)close(fd);
out:
	(void)close(dfd);
	return e;
}

/* day_floor: ts rounded down to the day, like Python's ts // 86400 */
static time_t
day_floor(time_t ts)
{
	time_t d = ts / USER_SECS_PER_DAY;

	if (ts % USER_SECS_PER_DAY < 0)
		d--;
	return d * USER_SECS_PER_DAY;
}

/* user_set_last_login: day-rounded atime and mtime, only on change */
int
user_set_last_login(const char *userdir, time_t ts)
{
	char path[USER_PATH_MAX];
	struct timespec tv[2];
	struct stat st;
	time_t day = day_floor(ts);
	int e;

	e = join(userdir, USER_PASSWORD, path);
	if (e < 0)
		return e;
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_mtim.tv_sec == day)
		return 0;
	tv[0].tv_sec = tv[1].tv_sec = day;
	tv[0].tv_nsec = tv[1].tv_nsec = 0;
	if (utimensat(AT_FDCWD, path, tv, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 1;
}

/* user_last_login: the password file's mtime */
int
user_last_login(const char *userdir, time_t *ts_r)
{
	char path[USER_PATH_MAX];
	struct stat st;
	int e;

	e = join(userdir, USER_PASSWORD, path);
	if (e < 0)
		return e;
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	*ts_r = st.st_mtim.tv_sec;
	return 0;
}

/* user_enforces_e2ee: whether the marker exists (Path.exists()) */
int
user_enforces_e2ee(const char *userdir)
{
	char path[USER_PATH_MAX];
	struct stat st;
	int e;

	e = join(userdir, USER_E2EE, path);
	if (e < 0)
		return e;
	if (stat(path, &st) == 0)
		return 1;
	return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
}
