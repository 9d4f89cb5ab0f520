/*
 * chatmail-backup: a relay's backups with restic (docs/DESIGN.md,
 * Backup and restore; docs/UPSTREAM.md, Moving a relay).
 *
 *   chatmail-backup backup  [--vmail DIR] [--queue DIR] [--dkim FILE]
 *                           [--host NAME] [--keep-daily N]
 *                           [--keep-weekly N] [--keep-monthly N]
 *   chatmail-backup restore [--vmail DIR] [--queue DIR] [--dkim FILE]
 *                           [--snapshot ID] [--owners V:V:P:P:D]
 *   chatmail-backup import  --from DIR [--host NAME]
 *   chatmail-backup export  --to DIR [--snapshot ID]
 *
 * The repository, its password and S3 credentials are restic's own
 * environment (RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, AWS_*);
 * RESTIC_BIN names the restic binary (default: restic from PATH).
 * Defaults are the Pod's paths: /home/vmail, /var/spool/postfix/queue,
 * /etc/dkimkeys/opendkim.private; --queue "" and --dkim "" leave those
 * out. --owners: vmail uid:gid, postfix uid:gid, postdrop gid (default
 * the images' 2000:2000:2001:2001:2002). -v logs restic's commands.
 *
 * Exit: 0 done (restore: also "volumes not empty, nothing to do"), 64
 * usage, 65 an import tree without a mail store, 73 cannot create the
 * staging tree, 74 a file operation failed, 75 restic failed (retry),
 * 78 the relay's DKIM key is not the backup's.
 * Untrusted input: none here (flags are checked with num.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "args.h"
#include "backup.h"
#include "log.h"
#include "num.h"

enum {
	O_VMAIL = 1,
	O_QUEUE,
	O_DKIM,
	O_HOST,
	O_DAILY,
	O_WEEKLY,
	O_MONTHLY,
	O_SNAPSHOT,
	O_OWNERS,
	O_FROM,
	O_TO,
	O_V,
};

static const struct args_opt opts[] = {
	{ "--vmail", ARGS_VALUE, O_VMAIL },
	{ "--queue", ARGS_VALUE, O_QUEUE },
	{ "--dkim", ARGS_VALUE, O_DKIM },
	{ "--host", ARGS_VALUE, O_HOST },
	{ "--keep-daily", ARGS_VALUE, O_DAILY },
	{ "--keep-weekly", ARGS_VALUE, O_WEEKLY },
	{ "--keep-monthly", ARGS_VALUE, O_MONTHLY },
	{ "--snapshot", ARGS_VALUE, O_SNAPSHOT },
	{ "--owners", ARGS_VALUE, O_OWNERS },
	{ "--from", ARGS_VALUE, O_FROM },
	{ "--to", ARGS_VALUE, O_TO },
	{ "-v", ARGS_FLAG, O_V },
	{ NULL, ARGS_FLAG, 0 },
};

/* usage: the synopsis on stderr */
static void
usage(void)
{
	(void)fprintf(
		stderr,
		"usage: chatmail-backup backup|restore [--vmail DIR] "
		"[--queue DIR] [--dkim FILE]\n"
		"         backup:  [--host NAME] [--keep-daily N] "
		"[--keep-weekly N] [--keep-monthly N]\n"
		"         restore: [--snapshot ID] [--owners V:V:P:P:D]\n"
		"       chatmail-backup import --from DIR [--host NAME]\n"
		"       chatmail-backup export --to DIR [--snapshot ID]\n");
}

/* parse_owners: "vuid:vgid:puid:pgid:dgid"; 0 or -1 */
static int
parse_owners(const char *v, struct backup_owners *w)
{
	unsigned n[5];
	char part[16];
	const char *p = v, *colon;
	size_t len;
	int i;

	for (i = 0; i < 5; i++) {
		colon = strchr(p, ':');
		len = colon ? (size_t)(colon - p) : strlen(p);
		if (len == 0 || len >= sizeof(part) || (i < 4) != !!colon)
			return -1;
		memcpy(part, p, len);
		part[len] = '\0';
		if (num_parse_uint(part, 0, 65535, &n[i]) < 0)
			return -1;
		p = colon ? colon + 1 : p + len;
	}
	w->vmail_uid = n[0];
	w->vmail_gid = n[1];
	w->postfix_uid = n[2];
	w->postfix_gid = n[3];
	w->postdrop_gid = n[4];
	return 0;
}

/* keep: a --keep-* count */
static int
keep(const char *v, unsigned *r)
{
	return num_parse_uint(v, 0, 100000, r);
}

/* set_opt: one option into o; 0 or -1 (usage) */
static int
set_opt(int k, const char *v, struct backup_opts *o, int *verbose)
{
	switch (k) {
	case O_VMAIL:
		o->vmail = v;
		return 0;
	case O_QUEUE:
		o->queue = v[0] ? v : NULL;
		return 0;
	case O_DKIM:
		o->dkim = v[0] ? v : NULL;
		return 0;
	case O_HOST:
		o->restic.host = v;
		return 0;
	case O_DAILY:
		return keep(v, &o->keep_daily);
	case O_WEEKLY:
		return keep(v, &o->keep_weekly);
	case O_MONTHLY:
		return keep(v, &o->keep_monthly);
	case O_SNAPSHOT:
		o->snapshot = v;
		return v[0] != '\0' && v[0] != '-' ? 0 : -1;
	case O_OWNERS:
		return parse_owners(v, &o->owners);
	case O_FROM:
		o->from = v;
		return 0;
	case O_TO:
		o->to = v;
		return 0;
	case O_V:
		*verbose = 1;
		return 0;
	default:
		return -1;
	}
}

/* defaults: the Pod's paths and the images' owners */
static void
defaults(struct backup_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->vmail = "/home/vmail";
	o->queue = "/var/spool/postfix/queue";
	o->dkim = "/etc/dkimkeys/" BACKUP_DKIM_NAME;
	o->snapshot = "latest";
	o->keep_daily = 7;
	o->keep_weekly = 4;
	o->keep_monthly = 6;
	o->owners = (struct backup_owners){ 2000, 2001, 2000, 2001, 2002 };
	o->restic.bin = getenv("RESTIC_BIN") ? getenv("RESTIC_BIN") : "restic";
}

int
main(int argc, char **argv)
{
	struct backup_opts o;
	struct args_iter it;
	const char *v, *cmd = NULL;
	int k, verbose = 0;

	defaults(&o);
	args_init(&it, argc, argv);
	while ((k = args_next(&it, opts, &v)) != ARGS_END) {
		if (k == ARGS_POSITIONAL && cmd == NULL) {
			cmd = v;
		} else if (k <= 0 || set_opt(k, v, &o, &verbose) < 0) {
			usage();
			return EX_USAGE;
		}
	}
	log_init("chatmail-backup", verbose);
	(void)umask(077);
	if (cmd != NULL && strcmp(cmd, "backup") == 0)
		return backup_cmd_backup(&o);
	if (cmd != NULL && strcmp(cmd, "restore") == 0)
		return backup_cmd_restore(&o);
	if (cmd != NULL && strcmp(cmd, "import") == 0 && o.from != NULL)
		return backup_cmd_import(&o);
	if (cmd != NULL && strcmp(cmd, "export") == 0 && o.to != NULL)
		return backup_cmd_export(&o);
	usage();
	return EX_USAGE;
}
