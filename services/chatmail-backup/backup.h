/*
 * backup.h: chatmail-backup's private interface (docs/DESIGN.md,
 * Backup and restore): the tree operations on the mail store and the
 * Postfix queue (backup_tree.c, backup_fs.c), the restic runner
 * (backup_restic.c), and the four commands (backup_cmd.c: backup and
 * restore; backup_move.c: import from and export to upstream's layout).
 *
 * A snapshot's tree is the same whoever made it:
 *   /vmail/...                  the mail volume (/home/vmail): mail/,
 *                               passdb.sqlite, metrics/, ...
 *   /queue/<active|deferred|...>  the Postfix queue (queue_directory)
 *   /dkim/opendkim.private      the DKIM key
 *   /tls/tls.crt, /tls/tls.key  a certificate (imports only)
 */
#ifndef CM_BACKUP_H
#define CM_BACKUP_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* names chatmail-backup keeps at the top of the mail volume; never
 * backed up, never counted as content */
#define BACKUP_STAGING ".chatmail-backup"
#define BACKUP_RESTORE ".chatmail-restore"
#define BACKUP_MARKER ".chatmail-restored"
#define BACKUP_DKIM_NAME "opendkim.private"
#define BACKUP_TAG "chatmail"

/* the owners restore gives the trees (the images' IDs by default) */
struct backup_owners {
	uid_t vmail_uid, postfix_uid;
	gid_t vmail_gid, postfix_gid, postdrop_gid;
};

/* how tree_clone puts a file into the destination */
enum tree_mode {
	TREE_LINK, /* a hard link (same file system; the mail volume) */
	TREE_COPY, /* a copy keeping mode, owner (as root) and mtime */
};

/* one clone of a tree: files are identified by (device, inode), so a
 * file that moves while the walk goes on (maildir new/ -> cur/, Postfix
 * active -> deferred) is taken once, and a second pass takes what the
 * first one missed */
struct tree_clone {
	enum tree_mode mode;
	int skip_maildir_tmp; /* contents of directories named tmp */
	unsigned long files, dirs, skipped;
	/* the (device, inode) set, open addressing */
	unsigned long long *keys;
	size_t nkeys, cap;
};

/* tree_clone_init / tree_clone_deinit */
void tree_clone_init(struct tree_clone *c, enum tree_mode mode);
void tree_clone_deinit(struct tree_clone *c);
/* tree_clone_run: clone the directory src into dst (created), two
 * passes; names in skip (NULL-terminated, may be NULL) are left out at
 * the top; files that vanish during the walk are not an error.
 * 0 or -errno with err */
int tree_clone_run(struct tree_clone *c, const char *src, const char *dst,
		   const char *const *skip, struct buf *err);

/* tree_remove: rm -rf path (never follows a symlink); 0 if absent */
int tree_remove(const char *path, struct buf *err);
/* tree_has_files: 1 if the tree holds anything but directories (names
 * in skip left out at the top), 0 if not, -errno with err */
int tree_has_files(const char *path, const char *const *skip, struct buf *err);
/* tree_move_into: move every entry of src into dst (rename; a directory
 * that exists in dst is merged), then src is empty. 0 or -errno */
int tree_move_into(const char *src, const char *dst, struct buf *err);
/* tree_chown: every entry under path (and path itself when top) to
 * uid:gid, the group of entries under a top-level directory named in
 * group_dirs to group_gid instead. 0 or -errno */
int tree_chown(const char *path, uid_t uid, gid_t gid,
	       const char *const *group_dirs, gid_t group_gid, int top,
	       struct buf *err);
/* file_copy: copy the regular file src to dst (mode, atomic, src's
 * mtime). 0 or -errno */
int file_copy(const char *src, const char *dst, mode_t mode, struct buf *err);
/* file_same: 1 if both files hold the same bytes, 0 if not (or one is
 * missing: -ENOENT), -errno */
int file_same(const char *a, const char *b);

/* restic: the binary and what it is told besides its own environment
 * (RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, AWS_*, RESTIC_CACHE_DIR) */
struct restic {
	const char *bin;  /* "restic" from PATH by default */
	const char *host; /* --host of new snapshots, NULL: restic's */
};

/* restic_run: run restic with args (NULL-terminated, without the
 * program) in cwd (NULL: ours), its stdout to out_fd (-1: our stderr).
 * Its exit status, or -errno if it could not be started */
int restic_run(const struct restic *r, const char *cwd, const char *const *args,
	       int out_fd);
/* restic_ensure_repo: open the repository, initialising it when it has
 * no config yet. 0 or -EIO (logged) */
int restic_ensure_repo(const struct restic *r);

/* the commands; each returns a sysexits code */
struct backup_opts {
	const char *vmail, *queue, *dkim; /* the volumes and the key */
	const char *from, *to;		  /* import / export trees */
	const char *snapshot;		  /* "latest" by default */
	unsigned keep_daily, keep_weekly, keep_monthly;
	struct backup_owners owners;
	struct restic restic;
};
int backup_cmd_backup(const struct backup_opts *o);
int backup_cmd_restore(const struct backup_opts *o);
int backup_cmd_import(const struct backup_opts *o);
int backup_cmd_export(const struct backup_opts *o);

/* helpers shared by the commands (backup_cmd.c) */
/* backup_snapshot: restic backup of the staging directory dir (its
 * vmail, queue, dkim and tls entries that exist). sysexits code */
int backup_snapshot(const struct backup_opts *o, const char *dir);
/* backup_restore_to: restic restore of the snapshot into dir. sysexits */
int backup_restore_to(const struct backup_opts *o, const char *dir);
/* backup_path: "<a>/<b>" into a new string */
char *backup_path(const char *a, const char *b);

#endif
