/*
 * fs: small file-system helpers with the care mail stores need.
 *
 *   fs_write_atomic   replace a file so readers see the old or the new
 *                     content, never a mix: "<name>.tmp-<random>" in the
 *                     same directory, then rename(2) (upstream's
 *                     write_bytes_atomic); the temporary file is created
 *                     with O_EXCL|O_NOFOLLOW and removed on any failure
 *   fs_mkdirs         mkdir -p
 *   fs_lock           an exclusive flock(2) with a bounded wait; the
 *                     same lock Python's filelock takes (upstream's
 *                     password.lock, metadata.json.lock)
 *   fs_read_file      a whole regular file into a bounded buffer
 *   fs_read_stream    the same for a file the operator named on the
 *                     command line, which may be a pipe
 *
 * Names and paths come from callers that have validated them (user.h
 * for user directories); these functions never follow a symlink in the
 * last component of a file they create. Returns are 0 or -errno.
 */
#ifndef CM_FS_H
#define CM_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* fs_write_atomic: write data to path via "<path>.tmp-<random>" and
 * rename(2), mode applied to the new file (umask ignored); fsync of the
 * file and its directory when do_fsync */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    int do_fsync);
/* fs_write_atomic_at: the same for name (no '/') in the directory dirfd */
int fs_write_atomic_at(int dirfd, const char *name, const void *data,
		       size_t len, mode_t mode, int do_fsync);
/* fs_mkdirs: mkdir -p with mode (less the umask) for the directories it
 * creates; existing components may be directories or symlinks to them;
 * -ENOTDIR if one is something else */
int fs_mkdirs(const char *path, mode_t mode);
/* fs_lock: open (creating, mode 0600, not through a symlink) path and
 * take an exclusive flock(2), trying again every few milliseconds for at
 * most timeout_ms (0: one attempt); the fd through fd_r, close it to
 * unlock. The parent directory must exist. 0, -ETIMEDOUT, or -errno */
int fs_lock(const char *path, int timeout_ms, int *fd_r);
/* fs_read_file: append the whole regular file at path to b (read into
 * b's storage directly, in one allocation when the file's size holds, so
 * keys and tokens leave no copies behind; wipe b for them); -EFBIG if it
 * does not fit b's maximum (b then holds a prefix), -EINVAL if not a
 * regular file, else 0 or -errno */
int fs_read_file(const char *path, struct buf *b);
/* fs_read_stream: like fs_read_file, but path may also be a pipe or a
 * device (a flag's "-f <(...)", /dev/stdin); -EINVAL for a directory */
int fs_read_stream(const char *path, struct buf *b);

#endif
