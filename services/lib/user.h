/*
 * user: a chatmail user's directory under mailboxes_dir, and the files
 * in it whose format is shared with upstream (docs/UPSTREAM.md, Mail
 * store on disk):
 *
 *   <mailboxes_dir>/<addr>/password             "{SHA512-CRYPT}$6$..."
 *                                                (no newline; mtime = last
 *                                                login, day precision)
 *   <mailboxes_dir>/<addr>/enforceE2EEincoming  empty marker
 *   <mailboxes_dir>/<addr>/password.lock        lock for account creation
 *
 * Addresses are untrusted: user_dir() refuses anything that could leave
 * mailboxes_dir (empty, no '@', '/', a leading '.', "..", control
 * characters, longer than USER_ADDR_MAX), so nothing is ever written
 * outside the user's directory. Upstream's Config.get_user refuses
 * empty, '@'-less and '/'-holding addresses; the other rules are ours.
 * Files in a user directory are created with O_NOFOLLOW and the user
 * directory itself is refused when it is a symlink, so a planted link
 * cannot redirect a write out of the tree. Passwords (hashes) read here
 * are wiped from buffers on error paths; callers wipe theirs.
 */
#ifndef CM_USER_H
#define CM_USER_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "fs.h" /* fs_write_atomic, fs_mkdirs, fs_lock (declared there) */

#define USER_PATH_MAX 4096
#define USER_ADDR_MAX 254 /* bytes in an address (RFC 5321 path) */

/* user_addr_valid: 1 if addr is safe to use as a directory name */
int user_addr_valid(const char *addr);
/* user_dir: "<mailboxes_dir>/<addr>" into out; -EINVAL for an unsafe
 * address, -ENAMETOOLONG if it does not fit */
int user_dir(const char *mailboxes_dir, const char *addr, char *out,
	     size_t outsize);
/* user_file: "<mailboxes_dir>/<addr>/<name>" likewise */
int user_file(const char *mailboxes_dir, const char *addr, const char *name,
	      char *out, size_t outsize);

/* user_read_password: the stored hash into out (NUL-terminated, bytes
 * as stored: upstream writes no newline and nothing is trimmed).
 * 1 found (non-empty), 0 no password file or empty, -EFBIG if it does
 * not fit out, -EINVAL if it holds a NUL byte, -errno on error. */
int user_read_password(const char *userdir, char *out, size_t outsize);
/* user_write_password: mkdir -p userdir (0700), write password
 * atomically (password.tmp-<random> + rename, mode 0600, no newline),
 * create enforceE2EEincoming (0600). hash must be non-empty printable
 * ASCII (-EINVAL); -ELOOP if userdir is a symlink. */
int user_write_password(const char *userdir, const char *hash);
/* user_set_last_login: set password's atime and mtime to ts rounded
 * down to the day, only if the mtime differs; 1 changed, 0 unchanged,
 * -errno (-ENOENT without a password file) */
int user_set_last_login(const char *userdir, time_t ts);
/* user_last_login: password mtime through ts_r; 0 or -errno */
int user_last_login(const char *userdir, time_t *ts_r);
/* user_enforces_e2ee: 1 if userdir/enforceE2EEincoming exists (incoming
 * cleartext is refused), 0 if not, -errno on error */
int user_enforces_e2ee(const char *userdir);

#endif
