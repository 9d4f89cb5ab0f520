/*
 * test_expire: chatmail-expire's rules on small trees (upstream's
 * test_expire.py and test_delete_inactive_users.py cases, plus dry run,
 * second run, subfolders and symlinks), the quota trim and the summary
 * line. The big generated trees are in tests/integration/jobs/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../test_tree.h"

#include "../../../../services/chatmail-expire/expire.h"
#include "log.h"

#define DAY 86400
#define MB (1024 * 1024)

static time_t now;

/* put: create base/rel (parents too) with n bytes, mtime days ago */
static void
put(const char *base, const char *rel, size_t n, double days)
{
	tree_put(base, rel, n, now - (time_t)(days * DAY));
}

/* exists: whether base/rel exists (not following a last symlink) */
static int
exists(const char *base, const char *rel)
{
	char path[8192];
	struct stat st;

	(void)snprintf(path, sizeof(path), "%s/%s", base, rel);
	return lstat(path, &st) == 0;
}

/* params: upstream's defaults on base */
static struct expire_params
params(const char *base, int dry)
{
	struct expire_params p;

	memset(&p, 0, sizeof(p));
	p.mailboxes_dir = base;
	p.now = p.real_now = (double)now;
	p.delete_mails_after = 20;
	p.delete_large_after = 7;
	p.delete_inactive_users_after = 90;
	p.max_mailbox_size_mb = 500;
	p.dry = dry;
	p.verbose = 1;
	return p;
}

/* verdicts: boundaries of the two age rules */
static void
verdicts(void **state)
{
	struct expire_params p = params("/x", 1);
	double n = (double)now;

	(void)state;
	assert_int(expire_verdict(&p, n - 20 * DAY, 10, 1), EXPIRE_KEEP);
	assert_int(expire_verdict(&p, n - 20 * DAY - 0.5, 10, 0),
		   EXPIRE_REMOVE);
	assert_int(expire_verdict(&p, n - 8 * DAY, 200000, 1), EXPIRE_KEEP);
	assert_int(expire_verdict(&p, n - 8 * DAY, 200001, 1), EXPIRE_REMOVE);
	assert_int(expire_verdict(&p, n - 8 * DAY, 200001, 0),
		   EXPIRE_KEEP_CHANGED);
	assert_int(expire_verdict(&p, n - 7 * DAY, 200001, 1), EXPIRE_KEEP);
	assert_int(expire_verdict(&p, n - 1 * DAY, 300000, 1), EXPIRE_KEEP);
	p.now -= 30 * DAY; /* --days 30: nothing is that old any more */
	assert_int(expire_verdict(&p, n - 21 * DAY, 10, 1), EXPIRE_KEEP);
}

/* fill_mbox: upstream's fill_mbox plus the old/large messages of
 * test_expiry_cli_old_files, a subfolder and a symlink */
static void
fill_mbox(const char *base, const char *outside)
{
	char mb[2048], link[2048];

	(void)snprintf(mb, sizeof(mb), "%s/mailbox1@example.org", base);
	put(mb, "password", 3, 0);
	put(mb, "maildirsize", 3, 0);
	put(mb, "garbagedir/bimbum", 5, 100);
	put(mb, "cur/msg1", 500, 0);
	put(mb, "new/msg2", 600, 0);
	put(mb, "cur/msg_old1", 1000, 21);
	put(mb, "tmp/msg_old2", 1000, 21);
	put(mb, "cur/msg_old_large1", 300000, 8);
	put(mb, "new/msg_old_large2", 300000, 8);
	put(mb, "cur/shouldstay", 300000, 1);
	put(mb, ".Sent/cur/sent_old", 10, 30);
	put(mb, ".Sent/new/sent_new", 10, 1);
	put(outside, "victim", 10, 100);
	(void)snprintf(link, sizeof(link), "%s/victim", outside);
	(void)snprintf(mb, sizeof(mb), "%s/mailbox1@example.org/cur/link_old",
		       base);
	assert_int(symlink(link, mb), 0);
}

/* old_files: exactly the right files go; dry run first, second run */
static void
old_files(void **state)
{
	char *base = test_tmpdir(), *out = test_tmpdir(), mb[2048];
	struct expire_params p = params(base, 1);
	struct expire_stats st;
	static const char *const gone[] = { "cur/msg_old1", "tmp/msg_old2",
					    "cur/msg_old_large1",
					    ".Sent/cur/sent_old",
					    "maildirsize" };
	static const char *const stay[] = {
		"cur/msg1",	      "new/msg2",	    "cur/shouldstay",
		"new/msg_old_large2", ".Sent/new/sent_new", "garbagedir/bimbum",
		"password",	      "cur/link_old",
	};
	size_t i;

	(void)state;
	fill_mbox(base, out);
	(void)snprintf(mb, sizeof(mb), "%s/mailbox1@example.org", base);

	memset(&st, 0, sizeof(st));
	expire_run(&p, &st);
	assert_int(st.all_mboxes, 1);
	assert_int(st.all_files, 9); /* the symlink is not a message */
	assert_int(st.del_files, 5); /* 4 messages + maildirsize */
	assert_int(st.errors, 0);
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		assert_int(exists(mb, gone[i]), 1); /* dry: all still there */

	p.dry = 0;
	memset(&st, 0, sizeof(st));
	expire_run(&p, &st);
	assert_int(st.del_files, 5);
	assert_int(st.errors, 0);
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		if (exists(mb, gone[i]))
			print_error("not removed: %s\n", gone[i]);
		assert_int(exists(mb, gone[i]), 0);
	}
	for (i = 0; i < sizeof(stay) / sizeof(stay[0]); i++) {
		if (!exists(mb, stay[i]))
			print_error("removed: %s\n", stay[i]);
		assert_int(exists(mb, stay[i]), 1);
	}
	assert_int(exists(out, "victim"), 1);

	/* the large message in new/ still marks the mailbox as changed,
	 * as upstream does: maildirsize is "removed" again, nothing else */
	memset(&st, 0, sizeof(st));
	expire_run(&p, &st);
	assert_int(st.all_files, 5);
	assert_int(st.del_files, 1);
	test_rmtree(base);
	test_rmtree(out);
	free(base);
	free(out);
}

/* inactive: upstream's 150 stale of 155 mailboxes, and the empty ones */
static void
inactive(void **state)
{
	char *base = test_tmpdir(), rel[256];
	struct expire_params p = params(base, 0);
	struct expire_stats st;
	int i;

	(void)state;
	for (i = 0; i < 150; i++) {
		(void)snprintf(rel, sizeof(rel), "oldold%03d@c.org/password",
			       i);
		put(base, rel, 5, 91);
		(void)snprintf(rel, sizeof(rel),
			       "oldold%03d@c.org/cur/something/x", i);
		put(base, rel, 5, 91);
	}
	for (i = 0; i < 5; i++) {
		(void)snprintf(rel, sizeof(rel), "newnew%03d@c.org/password",
			       i);
		put(base, rel, 5, 0);
	}
	(void)snprintf(rel, sizeof(rel), "%s/empty@c.org", base);
	assert_int(mkdir(rel, 0755), 0);
	put(base, "full@c.org/cur/x", 5, 0);
	put(base, "nomailbox/password", 5, 900);

	memset(&st, 0, sizeof(st));
	expire_run(&p, &st);
	assert_int(st.all_mboxes, 157);
	assert_int(st.del_mboxes, 151);
	assert_int(st.errors, 0);
	assert_int(exists(base, "oldold000@c.org"), 0);
	assert_int(exists(base, "oldold149@c.org"), 0);
	assert_int(exists(base, "newnew004@c.org/password"), 1);
	assert_int(exists(base, "empty@c.org"), 0);
	assert_int(exists(base, "full@c.org/cur/x"), 1);
	assert_int(exists(base, "nomailbox/password"), 1);
	test_rmtree(base);
	free(base);
}

/* qmsg: a Dovecot-named message of S=size, days old by name and mtime */
static void
qmsg(const char *mb, const char *sub, uint64_t size, double days, size_t disk,
     int seq)
{
	char rel[512];

	(void)snprintf(rel, sizeof(rel),
		       "%s/%lld.M1P1Q%d.host,S=%llu,W=%llu:2,S", sub,
		       (long long)(now - (time_t)(days * DAY)), seq,
		       (unsigned long long)size, (unsigned long long)size);
	put(mb, rel, disk, days);
}

/* quota_trim: upstream's test_expire_to_target */
static void
quota_trim(void **state)
{
	char *mb = test_tmpdir();
	unsigned long removed = 0;
	unsigned errors = 0;
	int fd;

	(void)state;
	qmsg(mb, "cur", MB, 10, 100, 1);
	qmsg(mb, "new", MB, 5, 10, 2);
	qmsg(mb, "cur", MB, 0, 10, 3); /* younger than 24 h: protected */
	put(mb, "cur/not-a-dovecot-name", 10, 100);
	fd = open(mb, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int(expire_quota_trim(fd, mb, MB, (double)now - DAY, NULL, 1,
				     &removed, &errors),
		   0);
	assert_int(removed, 2); /* dry: counted, */
	removed = 0;
	assert_int(expire_quota_trim(fd, mb, 0, (double)now - DAY, NULL, 0,
				     &removed, &errors),
		   0);
	assert_int(removed, 2); /* the protected one stays even at 0 */
	removed = 9;
	assert_int(expire_quota_trim(fd, mb, 0, (double)now - DAY, NULL, 0,
				     &removed, &errors),
		   0);
	assert_int(removed, 0);
	assert_int(errors, 0);
	assert_int(exists(mb, "cur/not-a-dovecot-name"), 1);
	(void)close(fd);
	test_rmtree(mb);
	free(mb);
}

/* daily_quota: the daily run trims to 70 % and drops maildirsize */
static void
daily_quota(void **state)
{
	char *base = test_tmpdir(), mb[2048];
	struct expire_params p = params(base, 0);
	struct expire_stats st;
	int i;

	(void)state;
	p.max_mailbox_size_mb = 10; /* target 7 MiB */
	(void)snprintf(mb, sizeof(mb), "%s/q@x", base);
	put(mb, "password", 1, 0);
	put(mb, "maildirsize", 1, 0);
	for (i = 0; i < 10; i++)
		qmsg(mb, "cur", MB, 2 + i * 0.1, 10, i);
	qmsg(mb, "cur", 5 * MB, 25, 10, 99); /* old: the age rule's */
	memset(&st, 0, sizeof(st));
	expire_run(&p, &st);
	assert_int(st.all_files, 11);
	assert_int(st.del_files, 1 + 3 + 1);
	assert_int(exists(mb, "maildirsize"), 0);
	test_rmtree(base);
	free(base);
}

/* summary: upstream's line */
static void
summary(void **state)
{
	struct expire_stats st = { 1, 2, 3, 4, 0 };
	char line[256];

	(void)state;
	expire_summary(&st, 0.5, line, sizeof(line));
	assert_str(line, "Removed 1 out of 2 mailboxes and 3 out of 4 files in "
			 "existing mailboxes in 0.50 seconds");
}

/* missing: no mailboxes_dir is not an error */
static void
missing(void **state)
{
	struct expire_params p = params("/nonexistent/x", 0);
	struct expire_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	expire_run(&p, &st);
	assert_int(st.all_mboxes + st.errors, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verdicts),    cmocka_unit_test(old_files),
		cmocka_unit_test(inactive),    cmocka_unit_test(quota_trim),
		cmocka_unit_test(daily_quota), cmocka_unit_test(summary),
		cmocka_unit_test(missing),
	};

	now = time(NULL);
	log_init("test_expire", -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
