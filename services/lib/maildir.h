/*
 * maildir: streaming walks of a relay's mailboxes_dir and Dovecot maildir
 * file-name parsing, shared by chatmail-expire, chatmail-quota-expire and
 * chatmail-metrics.
 *
 * Layout (upstream chatmaild expire.py, docs/UPSTREAM.md, Mail store on
 * disk):
 *
 *   <mailboxes_dir>/<addr>/password            mtime = last login
 *   <mailboxes_dir>/<addr>/{cur,new,tmp}/<msg> messages
 *   <mailboxes_dir>/<addr>/.Sent/{cur,new,tmp}/<msg>  subfolders, any depth
 *   <mailboxes_dir>/<addr>/<anything else>     "extra" files
 *
 * Everything below mailboxes_dir is untrusted (users create folders and
 * Dovecot names files after client input): directories are opened with
 * openat(O_NOFOLLOW | O_DIRECTORY) relative to their parent's fd, files
 * are examined with fstatat(AT_SYMLINK_NOFOLLOW), symlinks are never
 * followed, counted or deleted through, and nothing outside mailboxes_dir
 * is touched. Memory does not grow with the number of mailboxes or files:
 * one open directory per level of depth, one path buffer.
 */
#ifndef CM_MAILDIR_H
#define CM_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* deepest directory level walked below a mailbox (deeper is an error) */
#define MAILDIR_MAX_DEPTH 32
/* longest path built for logs: mailboxes_dir plus a few names */
#define MAILDIR_PATH_MAX 4096

/* maildir_parse_name: upstream's _dovecot_fn_rex on a file name in cur/
 * or new/: "<ts>.<at least one char>,S=<size>...", e.g.
 * "1775324677.M448978P3029757.host,S=3235,W=3305:2,S". The last ",S="
 * followed by a digit wins, as with the greedy regex. Numbers too big
 * for 64 bits saturate. 1 matched, 0 not a Dovecot name. */
int maildir_parse_name(const char *name, uint64_t *ts_r, uint64_t *size_r);

/* where a regular file lies inside a mailbox */
enum maildir_kind {
	MAILDIR_MESSAGE, /* directly inside a cur/, new/ or tmp/ directory */
	MAILDIR_EXTRA,	 /* anything else (password, dovecot.index, ...) */
};

enum maildir_sub {
	MAILDIR_SUB_NONE,
	MAILDIR_SUB_CUR,
	MAILDIR_SUB_NEW,
	MAILDIR_SUB_TMP,
};

/* one regular file met during a walk; valid during the callback only */
struct maildir_file {
	int dirfd;	  /* its directory: unlinkat(dirfd, name, 0) */
	const char *name; /* file name */
	const char *path; /* "<mailboxes_dir>/<addr>/<rel>" for logs */
	enum maildir_kind kind;
	enum maildir_sub sub; /* parent directory for messages */
	int top;	      /* in the mailbox's own cur/new/tmp (depth 0) */
	double mtime;	      /* seconds, with the nanoseconds */
	uint64_t size;	      /* st_size */
};

/* return 0 to go on, negative to stop the walk with that value */
typedef int maildir_file_fn(void *ctx, const struct maildir_file *f);

/* one mailbox directory ("<addr>", a name containing '@') */
struct maildir_mbox {
	int fd;		   /* the mailbox directory, O_NOFOLLOW */
	const char *name;  /* "<addr>" */
	const char *path;  /* "<mailboxes_dir>/<addr>" */
	int has_password;  /* a regular file "password" at the top */
	double last_login; /* its mtime (0 without one) */
	unsigned errors;   /* problems met while walking it (logged) */
};

struct maildir_iter;

/* maildir_iter_open: start listing mailboxes_dir (the configured path
 * itself may be a symlink; nothing below it is followed). maxnum limits
 * how many directory entries are looked at, like upstream's
 * listdir()[:maxnum] (0 = no limit). -ENOENT when it does not exist,
 * other -errno when it cannot be opened. */
int maildir_iter_open(const char *mailboxes_dir, unsigned long maxnum,
		      struct maildir_iter **it_r);
/* maildir_iter_next: the next entry whose name contains '@' and that is
 * a real directory, opened, with its password mtime. 1 found (valid until
 * the next call), 0 done. Entries that cannot be opened or examined are
 * logged, counted in maildir_iter_errors() and skipped; symlinks and
 * other non-directories are skipped silently. */
int maildir_iter_next(struct maildir_iter *it, struct maildir_mbox **mb_r);
/* maildir_iter_dirfd: the fd of mailboxes_dir (for unlinkat of mailboxes) */
int maildir_iter_dirfd(const struct maildir_iter *it);
/* maildir_iter_errors: entries skipped because of errors so far */
unsigned maildir_iter_errors(const struct maildir_iter *it);
/* maildir_iter_free: close everything; NULLs *it */
void maildir_iter_free(struct maildir_iter **it);

/* maildir_mbox_walk: call fn for every regular file in the mailbox, as
 * upstream's MailboxStat.scandir classifies them: names cur/new/tmp hold
 * messages (only their regular files; nothing below them), every other
 * directory is descended into, every other regular file is extra.
 * Unreadable directories and failed stats are logged and counted in
 * mb->errors, and the walk goes on. Returns 0, or what fn returned. */
int maildir_mbox_walk(struct maildir_mbox *mb, maildir_file_fn *fn, void *ctx);

/* maildir_mbox_open: open one mailbox directory given by path (for
 * chatmail-quota-expire); the last component must not be a symlink.
 * Caller frees with maildir_mbox_free. -errno on failure. */
int maildir_mbox_open(const char *path, struct maildir_mbox **mb_r);
void maildir_mbox_free(struct maildir_mbox **mb);

/* maildir_rmtree_at: remove name (a directory) below dirfd and
 * everything in it, race-free: every directory is opened with O_NOFOLLOW
 * relative to its parent's fd, symlinks are unlinked, never followed.
 * Keeps going past failures; 0, or the first -errno met. */
int maildir_rmtree_at(int dirfd, const char *name);

#endif
