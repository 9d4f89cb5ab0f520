/*
 * backup_cmd: `chatmail-backup backup` (the relay's backup CronJob) and
 * `chatmail-backup restore` (the relay Pod's restore init container).
 *
 * backup: a consistent copy of the live volumes (backup_tree.c: hard
 * links of the mail volume in <vmail>/.chatmail-backup, a copy of the
 * queue beside them, the DKIM key), one restic snapshot of it, then
 * restic's retention (forget --prune); the copy is removed.
 *
 * restore: only into empty volumes (directories alone do not count),
 * and only once (<vmail>/.chatmail-restored records the snapshot). The
 * snapshot is restored into <vmail>/.chatmail-restore; once restic is
 * done, .complete marks it, so an interrupted restore resumes without
 * asking restic again. The snapshot's DKIM key must be the relay's (a
 * key that differs would sign with a key DNS does not publish): the
 * restore stops (78) and says how to make the Secret from the backup.
 * The queue is copied into its volume, the trees get their owners
 * (vmail, postfix, postdrop), the mail tree is renamed into place.
 *
 * Untrusted input: the volumes and the snapshot's tree (backup_tree.c,
 * backup_fs.c); restic's exit status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "backup.h"
#include "fs.h"
#include "log.h"
#include "xmalloc.h"

static const char *const vmail_skip[] = { BACKUP_STAGING, BACKUP_RESTORE,
					  BACKUP_MARKER, "lost+found", NULL };
/* Postfix's sockets and pid file are its running state, not mail */
static const char *const queue_skip[] = { "pid", "private", "public",
					  "lost+found", NULL };
static const char *const postdrop_dirs[] = { "maildrop", "public", NULL };

char *
backup_path(const char *a, const char *b)
{
	return xasprintf("%s/%s", a, b);
}

/* exists: path is there (not followed) */
static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int
backup_snapshot(const struct backup_opts *o, const char *dir)
{
	static const char *const parts[] = { "vmail", "queue", "dkim", "tls",
					     NULL };
	const char *args[16];
	size_t n = 0, i;
	char *p;
	int rc;

	args[n++] = "backup";
	/* the copy is made anew each time: its hard links change a file's
	 * ctime, the queue's copies have new inodes; size and mtime still
	 * say whether a file changed, so unchanged mail is not read again */
	args[n++] = "--ignore-ctime";
	args[n++] = "--ignore-inode";
	args[n++] = "--tag";
	args[n++] = BACKUP_TAG;
	if (o->restic.host != NULL) {
		args[n++] = "--host";
		args[n++] = o->restic.host;
	}
	for (i = 0; parts[i] != NULL; i++) {
		p = backup_path(dir, parts[i]);
		if (exists(p))
			args[n++] = parts[i];
		free(p);
	}
	args[n] = NULL;
	rc = restic_run(&o->restic, dir, args, -1);
	if (rc != 0) {
		/* 3: some files could not be read: not a whole backup */
		log_error("restic backup failed (exit %d)", rc);
		return EX_TEMPFAIL;
	}
	return EX_OK;
}

int
backup_restore_to(const struct backup_opts *o, const char *dir)
{
	const char *args[] = { "restore", o->snapshot, "--target", dir, NULL };
	int rc = restic_run(&o->restic, NULL, args, -1);

	if (rc != 0) {
		log_error("restic restore of snapshot %s failed (exit %d)",
			  o->snapshot, rc);
		return EX_TEMPFAIL;
	}
	return EX_OK;
}

/* forget: restic's retention over this relay's snapshots */
static int
forget(const struct backup_opts *o)
{
	char d[16], w[16], m[16];
	const char *args[16];
	size_t n = 0;
	int rc;

	(void)snprintf(d, sizeof(d), "%u", o->keep_daily);
	(void)snprintf(w, sizeof(w), "%u", o->keep_weekly);
	(void)snprintf(m, sizeof(m), "%u", o->keep_monthly);
	args[n++] = "forget";
	args[n++] = "--prune";
	args[n++] = "--tag";
	args[n++] = BACKUP_TAG;
	if (o->restic.host != NULL) {
		args[n++] = "--host";
		args[n++] = o->restic.host;
	}
	args[n++] = "--keep-last";
	args[n++] = "1";
	args[n++] = "--keep-daily";
	args[n++] = d;
	args[n++] = "--keep-weekly";
	args[n++] = w;
	args[n++] = "--keep-monthly";
	args[n++] = m;
	args[n] = NULL;
	rc = restic_run(&o->restic, NULL, args, -1);
	if (rc != 0)
		log_error("restic forget --prune failed (exit %d)", rc);
	return rc == 0 ? EX_OK : EX_TEMPFAIL;
}

/* stage: the consistent copy of the volumes in staging */
static int
stage(const struct backup_opts *o, const char *staging, struct buf *err)
{
	struct tree_clone c;
	char *p;
	int r;

	tree_clone_init(&c, TREE_LINK);
	c.skip_maildir_tmp = 1;
	p = backup_path(staging, "vmail");
	r = tree_clone_run(&c, o->vmail, p, vmail_skip, err);
	free(p);
	log_info("mail volume: %lu files, %lu directories", c.files, c.dirs);
	tree_clone_deinit(&c);
	if (r == 0 && o->queue != NULL) {
		tree_clone_init(&c, TREE_COPY);
		p = backup_path(staging, "queue");
		r = tree_clone_run(&c, o->queue, p, queue_skip, err);
		free(p);
		log_info("queue: %lu files", c.files);
		tree_clone_deinit(&c);
	}
	if (r == 0 && o->dkim != NULL) {
		p = backup_path(staging, "dkim");
		r = mkdir(p, 0700) < 0 ? -errno : 0;
		free(p);
		p = backup_path(staging, "dkim/" BACKUP_DKIM_NAME);
		if (r == 0)
			r = file_copy(o->dkim, p, 0600, err);
		free(p);
	}
	return r;
}

int
backup_cmd_backup(const struct backup_opts *o)
{
	struct buf err = BUF_INIT(4096);
	char *staging = backup_path(o->vmail, BACKUP_STAGING);
	int rc = EX_OK;

	if (tree_remove(staging, &err) < 0 || mkdir(staging, 0700) < 0) {
		log_error("cannot make %s: %s %s", staging, buf_cstr(&err),
			  strerror(errno));
		rc = EX_CANTCREAT;
		goto out;
	}
	if (restic_ensure_repo(&o->restic) < 0) {
		rc = EX_TEMPFAIL;
		goto out;
	}
	if (stage(o, staging, &err) < 0) {
		log_error("copying the volumes failed: %s", buf_cstr(&err));
		rc = EX_TEMPFAIL;
		goto out;
	}
	rc = backup_snapshot(o, staging);
	if (rc == EX_OK)
		rc = forget(o);
	if (rc == EX_OK)
		log_info("backup done");
out:
	buf_reset(&err);
	if (tree_remove(staging, &err) < 0)
		log_warn("%s", buf_cstr(&err));
	buf_deinit(&err);
	free(staging);
	return rc;
}

/* check_dkim: the relay's key is the snapshot's; a relay without a key
 * file yet (a local relay) gets the snapshot's. sysexits code */
static int
check_dkim(const struct backup_opts *o, const char *staging, struct buf *err)
{
	char *key = backup_path(staging, "dkim/" BACKUP_DKIM_NAME);
	int rc = EX_OK, same;

	if (o->dkim == NULL || !exists(key)) {
		if (o->dkim != NULL)
			log_warn("the snapshot holds no DKIM key; the relay "
				 "keeps its own");
		goto out;
	}
	if (!exists(o->dkim)) {
		if (file_copy(key, o->dkim, 0600, err) < 0) {
			log_error("%s", buf_cstr(err));
			rc = EX_CANTCREAT;
		}
		goto out;
	}
	same = file_same(key, o->dkim);
	if (same != 1) {
		log_error("the relay's DKIM key %s is not the one in snapshot "
			  "%s: mail signed with it would fail DKIM against "
			  "the published record. Make the Secret from the "
			  "backup (restic dump %s /dkim/" BACKUP_DKIM_NAME
			  ") and name it in spec.dkim.secretName",
			  o->dkim, o->snapshot, o->snapshot);
		rc = EX_CONFIG;
	}
out:
	free(key);
	return rc;
}

/* owners: the restored trees get the relay's users (as root only) */
static int
owners(const struct backup_opts *o, const char *staging, struct buf *err)
{
	const struct backup_owners *w = &o->owners;
	char *p;
	int r = 0;

	if (geteuid() != 0) {
		log_warn("not root: the restored files keep the snapshot's "
			 "owners");
		return 0;
	}
	p = backup_path(staging, "vmail");
	if (exists(p))
		r = tree_chown(p, w->vmail_uid, w->vmail_gid, NULL, 0, 0, err);
	free(p);
	p = backup_path(staging, "queue");
	if (r == 0 && exists(p))
		r = tree_chown(p, w->postfix_uid, w->postfix_gid, postdrop_dirs,
			       w->postdrop_gid, 0, err);
	free(p);
	return r;
}

/* fetch: restic restore into staging, marked complete; sysexits code */
static int
fetch(const struct backup_opts *o, const char *staging, const char *complete,
      struct buf *err)
{
	int has, rc;

	has = tree_has_files(o->vmail, vmail_skip, err);
	if (has == 0 && o->queue != NULL)
		has = tree_has_files(o->queue, queue_skip, err);
	if (has < 0) {
		log_error("%s", buf_cstr(err));
		return EX_IOERR;
	}
	if (has) {
		log_info("the volumes hold mail already: nothing restored");
		return -1;
	}
	if (tree_remove(staging, err) < 0 || mkdir(staging, 0700) < 0) {
		log_error("cannot make %s: %s", staging, buf_cstr(err));
		return EX_CANTCREAT;
	}
	log_info("restoring snapshot %s into empty volumes", o->snapshot);
	if (restic_ensure_repo(&o->restic) < 0)
		return EX_TEMPFAIL;
	if ((rc = backup_restore_to(o, staging)) != EX_OK)
		return rc;
	if (fs_write_atomic(complete, o->snapshot, strlen(o->snapshot), 0600,
			    1) < 0)
		return EX_CANTCREAT;
	return EX_OK;
}

/* put_in_place: the queue copied, the mail renamed into its volume */
static int
put_in_place(const struct backup_opts *o, const char *staging, struct buf *err)
{
	struct tree_clone c;
	char *p = backup_path(staging, "queue");
	int r = 0;

	if (o->queue != NULL && exists(p)) {
		/* queue_directory: root's, 0755 (Postfix's workers enter it) */
		if (mkdir(o->queue, 0755) == 0 && chmod(o->queue, 0755) < 0)
			r = -errno;
		tree_clone_init(&c, TREE_COPY);
		if (r == 0)
			r = tree_clone_run(&c, p, o->queue, NULL, err);
		log_info("queue: %lu files restored", c.files);
		tree_clone_deinit(&c);
	}
	free(p);
	p = backup_path(staging, "vmail");
	if (r == 0 && exists(p))
		r = tree_move_into(p, o->vmail, err);
	free(p);
	return r;
}

int
backup_cmd_restore(const struct backup_opts *o)
{
	struct buf err = BUF_INIT(4096);
	char *marker = backup_path(o->vmail, BACKUP_MARKER);
	char *staging = backup_path(o->vmail, BACKUP_RESTORE);
	char *complete = backup_path(staging, ".complete");
	int rc = EX_OK;

	if (exists(marker)) {
		log_info("restored before (%s): nothing to do", marker);
		(void)tree_remove(staging, &err);
		goto out;
	}
	if (!exists(complete)) {
		rc = fetch(o, staging, complete, &err);
		if (rc != EX_OK) {
			rc = rc < 0 ? EX_OK : rc; /* -1: volumes not empty */
			goto out;
		}
	} else {
		log_info("resuming an interrupted restore");
	}
	if ((rc = check_dkim(o, staging, &err)) != EX_OK)
		goto out;
	if (owners(o, staging, &err) < 0 ||
	    put_in_place(o, staging, &err) < 0) {
		log_error("restore failed: %s", buf_cstr(&err));
		rc = EX_IOERR;
		goto out;
	}
	if (fs_write_atomic(marker, o->snapshot, strlen(o->snapshot), 0644, 1) <
	    0) {
		rc = EX_CANTCREAT;
		goto out;
	}
	buf_reset(&err);
	(void)tree_remove(staging, &err);
	log_info("restored snapshot %s", o->snapshot);
out:
	buf_deinit(&err);
	free(marker);
	free(staging);
	free(complete);
	return rc;
}
