/*
 * user: a chatmail user's directory under mailboxes_dir, and the files
 * in it whose format is shared with upstream (reference §2.9):
 *
 *   <mailboxes_dir>/<addr>/password             "{SHA512-CRYPT}$6$..."
 *                                                (no newline; mtime = last
 *                                                login, day precision)
 *   <mailboxes_dir>/<addr>/enforceE2EEincoming  empty marker
 *   <mailboxes_dir>/<addr>/password.lock        lock for account creation
 *
 * Addresses are untrusted: user_dir() refuses anything that could leave
 * mailboxes_dir (empty, no '@', '/', a leading '.', "..", control
 * characters), so nothing is ever written outside the user's directory.
 */
#ifndef CM_USER_H
#define CM_USER_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define USER_PATH_MAX 4096

/* user_addr_valid: 1 if addr is safe to use as a directory name */
int user_addr_valid(const char *addr);
/* user_dir: "<mailboxes_dir>/<addr>" into out; -EINVAL for an unsafe
 * address, -ENAMETOOLONG if it does not fit */
int user_dir(const char *mailboxes_dir, const char *addr, char *out,
	     size_t outsize);
/* user_file: "<mailboxes_dir>/<addr>/<name>" likewise */
int user_file(const char *mailboxes_dir, const char *addr, const char *name,
	      char *out, size_t outsize);

/* user_read_password: the stored hash into out (NUL-terminated).
 * 1 found (non-empty), 0 no password file or empty, -errno on error. */
int user_read_password(const char *userdir, char *out, size_t outsize);
/* user_write_password: mkdir -p userdir (0700), write password
 * atomically (tmp + rename, no newline), create enforceE2EEincoming */
int user_write_password(const char *userdir, const char *hash);
/* user_set_last_login: set password's atime and mtime to ts rounded
 * down to the day, only if the mtime differs; 1 changed, 0 unchanged,
 * -errno (-ENOENT without a password file) */
int user_set_last_login(const char *userdir, time_t ts);
/* user_last_login: password mtime, or -errno */
int user_last_login(const char *userdir, time_t *ts_r);

/* fs_write_atomic: write data to path via "<path>.tmp-<random>" and
 * rename(2), mode applied to the new file; fsync when do_fsync */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    int do_fsync);
/* fs_mkdirs: mkdir -p with mode for the directories it creates */
int fs_mkdirs(const char *path, mode_t mode);
/* fs_lock: open (creating) path and take an exclusive flock(2),
 * waiting at most timeout_ms; the fd through fd_r, close it to unlock.
 * 0, -ETIMEDOUT, or -errno */
int fs_lock(const char *path, int timeout_ms, int *fd_r);

#endif
