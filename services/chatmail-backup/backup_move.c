/*
 * backup_move: moving a relay between an upstream host and a cluster
 * (docs/UPSTREAM.md, Moving a relay), both ways through the relay's
 * restic repository.
 *
 * import --from DIR: DIR holds an upstream relay's state at upstream's
 * paths (an rsync of the host): home/vmail (the mail store, and a legacy
 * passdb.sqlite, which doveauth migrates at its first start),
 * etc/dkimkeys/opendkim.private, var/spool/postfix (the message queues)
 * and, optionally, var/lib/acme/live/<domain>/{fullchain,privkey}. It
 * becomes one snapshot in our tree (backup.h), which a new relay's
 * spec.restore brings into its volumes.
 *
 * export --to DIR: a snapshot (of a relay's volumes, or an import) laid
 * out at upstream's paths under DIR, ready to rsync onto a host.
 *
 * The import's staging tree is made of hard links inside DIR (DIR is a
 * copy the admin made), so it costs no space.
 *
 * Untrusted input: DIR's tree (backup_tree.c, backup_fs.c), the
 * snapshot's tree.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "backup.h"
#include "fs.h"
#include "log.h"
#include "xmalloc.h"

#define UP_VMAIL "home/vmail"
#define UP_DKIM "etc/dkimkeys/" BACKUP_DKIM_NAME
#define UP_QUEUE "var/spool/postfix"
#define UP_ACME "var/lib/acme/live"
#define IMPORT_STAGING ".chatmail-import"
#define EXPORT_STAGING ".chatmail-export"

/* the queues that hold messages (and their logs); not Postfix's
 * sockets, pid file or per-destination flush logs */
static const char *const queues[] = { "incoming", "active", "deferred", "hold",
				      "maildrop", "bounce", "defer",	"trace",
				      "corrupt",  NULL };

/* is_dir: path is a directory (not followed) */
static int
is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* one_subdir: the single directory in dir (its name, new string), or
 * NULL when there is none or more than one */
static char *
one_subdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *found = NULL, *p;
	int n = 0;

	if (d == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		p = backup_path(dir, e->d_name);
		if (is_dir(p) && n++ == 0)
			found = xstrdup(e->d_name);
		free(p);
	}
	(void)closedir(d);
	if (n != 1) {
		free(found);
		return NULL;
	}
	return found;
}

/* link_tree: clone src into dst with hard links; 0 or -errno */
static int
link_tree(const char *src, const char *dst, int maildir, struct buf *err)
{
	static const char *const skip[] = { ".chatmail-backup",
					    ".chatmail-restore",
					    ".chatmail-restored", NULL };
	struct tree_clone c;
	int r;

	tree_clone_init(&c, TREE_LINK);
	c.skip_maildir_tmp = maildir;
	r = tree_clone_run(&c, src, dst, skip, err);
	log_info("%s: %lu files", src, c.files);
	tree_clone_deinit(&c);
	return r;
}

/* import_queue: upstream's message queues into staging/queue */
static int
import_queue(const char *from, const char *staging, struct buf *err)
{
	char *q = backup_path(from, UP_QUEUE), *dq, *s, *d;
	size_t i;
	int r = 0;

	dq = backup_path(staging, "queue");
	if (is_dir(q) && mkdir(dq, 0755) < 0)
		r = -errno;
	for (i = 0; r == 0 && is_dir(q) && queues[i] != NULL; i++) {
		s = backup_path(q, queues[i]);
		d = backup_path(dq, queues[i]);
		if (is_dir(s))
			r = link_tree(s, d, 0, err);
		free(s);
		free(d);
	}
	free(q);
	free(dq);
	return r;
}

/* import_tls: an acmetool certificate, when exactly one domain has one */
static int
import_tls(const char *from, const char *staging, struct buf *err)
{
	char *live = backup_path(from, UP_ACME), *dom = one_subdir(live);
	char *src = NULL, *dst = NULL, *t = NULL;
	int r = 0;

	if (dom == NULL)
		goto out;
	t = backup_path(staging, "tls");
	if (mkdir(t, 0700) < 0) {
		r = -errno;
		goto out;
	}
	src = xasprintf("%s/%s/fullchain", live, dom);
	dst = backup_path(t, "tls.crt");
	r = file_copy(src, dst, 0644, err);
	free(src);
	free(dst);
	src = xasprintf("%s/%s/privkey", live, dom);
	dst = backup_path(t, "tls.key");
	if (r == 0)
		r = file_copy(src, dst, 0600, err);
	if (r == 0)
		log_info("certificate of %s imported", dom);
out:
	free(src);
	free(dst);
	free(t);
	free(dom);
	free(live);
	return r;
}

/* import_stage: the staging tree of an import */
static int
import_stage(const struct backup_opts *o, const char *staging, struct buf *err)
{
	char *src = backup_path(o->from, UP_VMAIL), *dst, *key;
	struct stat st;
	int r;

	if (!is_dir(src)) {
		(void)buf_printf(err, "%s: no mail store there", src);
		free(src);
		return -ENOENT;
	}
	dst = backup_path(staging, "vmail");
	r = link_tree(src, dst, 1, err);
	free(src);
	free(dst);
	if (r == 0)
		r = import_queue(o->from, staging, err);
	key = backup_path(o->from, UP_DKIM);
	if (r == 0 && lstat(key, &st) == 0) {
		dst = backup_path(staging, "dkim");
		r = mkdir(dst, 0700) < 0 ? -errno : 0;
		free(dst);
		dst = backup_path(staging, "dkim/" BACKUP_DKIM_NAME);
		if (r == 0)
			r = file_copy(key, dst, 0600, err);
		free(dst);
	} else if (r == 0) {
		log_warn("%s missing: the relay will need a new DKIM key", key);
	}
	free(key);
	if (r == 0)
		r = import_tls(o->from, staging, err);
	return r;
}

int
backup_cmd_import(const struct backup_opts *o)
{
	struct buf err = BUF_INIT(4096);
	char *staging = backup_path(o->from, IMPORT_STAGING);
	int rc;

	if (tree_remove(staging, &err) < 0 || mkdir(staging, 0700) < 0) {
		log_error("cannot make %s: %s", staging, buf_cstr(&err));
		rc = EX_CANTCREAT;
		goto out;
	}
	if (import_stage(o, staging, &err) < 0) {
		log_error("import of %s failed: %s", o->from, buf_cstr(&err));
		rc = EX_DATAERR;
		goto out;
	}
	if (restic_ensure_repo(&o->restic) < 0) {
		rc = EX_TEMPFAIL;
		goto out;
	}
	rc = backup_snapshot(o, staging);
	if (rc == EX_OK)
		log_info("imported %s", o->from);
out:
	buf_reset(&err);
	(void)tree_remove(staging, &err);
	buf_deinit(&err);
	free(staging);
	return rc;
}

/* move_to: staging/rel into to/up (parents made); absent rel is fine */
static int
move_to(const char *staging, const char *rel, const char *to, const char *up,
	struct buf *err)
{
	char *s = backup_path(staging, rel), *d = backup_path(to, up);
	char *parent = xstrdup(d), *slash = strrchr(parent, '/');
	struct stat st;
	int r = 0;

	if (lstat(s, &st) < 0)
		goto out;
	*slash = '\0';
	if ((r = fs_mkdirs(parent, 0755)) < 0) {
		(void)buf_printf(err, "mkdir %s: %s", parent, strerror(-r));
		goto out;
	}
	if (S_ISDIR(st.st_mode) && is_dir(d))
		r = tree_move_into(s, d, err);
	else if (rename(s, d) < 0) {
		r = -errno;
		(void)buf_printf(err, "rename %s: %s", d, strerror(errno));
	}
out:
	free(s);
	free(d);
	free(parent);
	return r;
}

/* export_tls: tls/ as acmetool's files of the mail domain */
static int
export_tls(const char *staging, const char *to, struct buf *err)
{
	char *mail = backup_path(staging, "vmail/mail"),
	     *dom = one_subdir(mail);
	char *up;
	int r = 0;

	if (dom != NULL) {
		up = xasprintf(UP_ACME "/%s/fullchain", dom);
		r = move_to(staging, "tls/tls.crt", to, up, err);
		free(up);
		up = xasprintf(UP_ACME "/%s/privkey", dom);
		if (r == 0)
			r = move_to(staging, "tls/tls.key", to, up, err);
		free(up);
	}
	free(dom);
	free(mail);
	return r;
}

int
backup_cmd_export(const struct backup_opts *o)
{
	struct buf err = BUF_INIT(4096);
	char *staging = backup_path(o->to, EXPORT_STAGING);
	int rc = EX_OK, r;

	if (fs_mkdirs(o->to, 0755) < 0 || tree_remove(staging, &err) < 0 ||
	    mkdir(staging, 0700) < 0) {
		log_error("cannot make %s: %s", staging, buf_cstr(&err));
		rc = EX_CANTCREAT;
		goto out;
	}
	if ((rc = backup_restore_to(o, staging)) != EX_OK)
		goto out;
	r = export_tls(staging, o->to, &err);
	if (r == 0)
		r = move_to(staging, "vmail", o->to, UP_VMAIL, &err);
	if (r == 0)
		r = move_to(staging, "queue", o->to, UP_QUEUE, &err);
	if (r == 0)
		r = move_to(staging, "dkim/" BACKUP_DKIM_NAME, o->to, UP_DKIM,
			    &err);
	if (r < 0) {
		log_error("export failed: %s", buf_cstr(&err));
		rc = EX_IOERR;
		goto out;
	}
	log_info("exported snapshot %s to %s", o->snapshot, o->to);
out:
	buf_reset(&err);
	(void)tree_remove(staging, &err);
	buf_deinit(&err);
	free(staging);
	return rc;
}
