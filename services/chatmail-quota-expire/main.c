/*
 * chatmail-quota-expire: Dovecot's quota-warning script (upstream's
 * chatmaild expire.py quota_expire_main, docs/UPSTREAM.md, Expiry).
 * Dovecot runs
 *
 *   chatmail-quota-expire <target_mb> <mailbox_path>
 *
 * when a mailbox passes 75 % of its quota (quota_warning = storage=75%%
 * quota-warning <70 % of max in MB> <mailboxes_dir>/%u). It removes the
 * oldest messages of cur/ and new/ (by the timestamp in the Dovecot file
 * name, counting the S= sizes) until the mailbox is at most target_mb,
 * never one younger than 24 h, then removes maildirsize so Dovecot
 * recomputes the quota, and logs upstream's line
 * "quota-expire: removed N message(s) from <name>" (mtail counts it).
 *
 * Exit: 0 done (also when the mailbox does not exist), 64 usage, 75 a
 * message or maildirsize could not be read or removed.
 * Untrusted input: the file names in the mailbox (see expire_quota.c).
 * No chatmail.ini is read: Dovecot passes everything needed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../chatmail-expire/expire.h"
#include "log.h"
#include "maildir.h"
#include "num.h"

/* usage: the synopsis on stderr */
static void
usage(void)
{
	(void)fprintf(
		stderr,
		"usage: chatmail-quota-expire <target_mb> <mailbox_path>\n");
}

int
main(int argc, char **argv)
{
	struct maildir_mbox *mb = NULL;
	unsigned long removed = 0;
	unsigned errors = 0;
	int64_t target_mb;
	int r, rc = 0;

	log_init("chatmail-quota-expire", 0);
	if (argc != 3 || num_parse_i64(argv[1], -(INT64_C(1) << 40),
				       INT64_C(1) << 40, &target_mb) < 0) {
		usage();
		return EX_USAGE;
	}
	r = maildir_mbox_open(argv[2], &mb);
	if (r == -ENOENT)
		return 0; /* upstream: nothing listed, nothing removed */
	if (r < 0) {
		log_error("cannot open mailbox %s: %s", argv[2], strerror(-r));
		return EX_TEMPFAIL;
	}
	(void)expire_quota_trim(mb->fd, mb->path,
				(double)target_mb * 1024.0 * 1024.0,
				(double)time(NULL) - EXPIRE_QUOTA_GUARD, NULL,
				0, &removed, &errors);
	if (removed != 0) {
		if (unlinkat(mb->fd, "maildirsize", 0) < 0 && errno != ENOENT) {
			log_error("cannot remove %s/maildirsize: %s", mb->path,
				  strerror(errno));
			errors++;
		}
		log_info("quota-expire: removed %lu message(s) from %s",
			 removed, mb->name);
	}
	if (errors != 0)
		rc = EX_TEMPFAIL;
	maildir_mbox_free(&mb);
	return rc;
}
