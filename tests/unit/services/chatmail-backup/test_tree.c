/*
 * test_tree: chatmail-backup's copy of a live tree (backup_tree.c) and
 * its restore helpers (backup_fs.c) on a store the test builds in a
 * temporary directory: hard links keep inode and mtime; a message
 * present under two names (moved new/ -> cur/ during the walk) is taken
 * once; maildir tmp/ contents, symlinks and FIFOs are left out; a copy
 * keeps mode and mtime; a volume with only directories is empty; a
 * restored tree merges into directories that exist; keys compare by
 * content.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../test_tree.h"
#include "backup.h"

static char base[256];

/* at: base/rel in a static buffer (one at a time) */
static const char *
at(const char *rel)
{
	static char p[2][512];
	static int i;

	i ^= 1;
	(void)snprintf(p[i], sizeof(p[i]), "%s/%s", base, rel);
	return p[i];
}

/* exists: rel exists under base (not followed) */
static int
exists(const char *rel)
{
	struct stat st;

	return lstat(at(rel), &st) == 0;
}

static int
setup(void **state)
{
	(void)state;
	(void)snprintf(base, sizeof(base), "/tmp/test_tree.XXXXXX");
	assert_non_null(mkdtemp(base));
	tree_put(base, "src/mail/d/u/cur/1.m:2,S", 10, 1000000);
	tree_put(base, "src/mail/d/u/password", 5, 2000000);
	tree_put(base, "src/mail/d/u/tmp/unfinished", 3, 3000000);
	assert_int(mkdir(at("src/mail/d/u/new"), 0700), 0);
	/* the same message under a new/ and a cur/ name, as seen
	 * mid-rename */
	assert_int(link(at("src/mail/d/u/cur/1.m:2,S"),
			at("src/mail/d/u/new/1.m")),
		   0);
	assert_int(symlink("/etc/passwd", at("src/mail/d/u/evil")), 0);
	assert_int(mkfifo(at("src/mail/d/u/fifo"), 0600), 0);
	return 0;
}

static int
teardown(void **state)
{
	struct buf err = BUF_INIT(1024);

	(void)state;
	assert_int(tree_remove(base, &err), 0);
	assert_false(exists(""));
	buf_deinit(&err);
	return 0;
}

static void
test_link_clone(void **state)
{
	static const char *const skip[] = { "skipme", NULL };
	struct tree_clone c;
	struct buf err = BUF_INIT(1024);
	struct stat a, b;

	(void)state;
	tree_put(base, "src/skipme/x", 1, 0);
	tree_clone_init(&c, TREE_LINK);
	c.skip_maildir_tmp = 1;
	assert_int(tree_clone_run(&c, at("src"), at("dst"), skip, &err), 0);
	/* new/ is walked first: the message is taken once, from there */
	assert_true(exists("dst/mail/d/u/new/1.m"));
	assert_false(exists("dst/mail/d/u/cur/1.m:2,S"));
	assert_int(lstat(at("dst/mail/d/u/new/1.m"), &a), 0);
	assert_int(lstat(at("src/mail/d/u/cur/1.m:2,S"), &b), 0);
	assert_true(a.st_ino == b.st_ino);
	assert_int(lstat(at("dst/mail/d/u/password"), &a), 0);
	assert_int((int)a.st_mtime, 2000000);
	assert_true(exists("dst/mail/d/u/tmp"));
	assert_false(exists("dst/mail/d/u/tmp/unfinished"));
	assert_false(exists("dst/mail/d/u/evil"));
	assert_false(exists("dst/mail/d/u/fifo"));
	assert_false(exists("dst/skipme"));
	assert_int((int)c.files, 2);
	assert_int((int)c.skipped, 4); /* the link and the FIFO, each pass */
	tree_clone_deinit(&c);
	buf_deinit(&err);
}

static void
test_copy_and_restore(void **state)
{
	struct tree_clone c;
	struct buf err = BUF_INIT(1024);
	struct stat st;

	(void)state;
	tree_put(base, "q/deferred/A/ABC", 7, 4000000);
	assert_int(chmod(at("q/deferred/A/ABC"), 0700), 0);
	tree_clone_init(&c, TREE_COPY);
	assert_int(tree_clone_run(&c, at("q"), at("q2"), NULL, &err), 0);
	assert_int(lstat(at("q2/deferred/A/ABC"), &st), 0);
	assert_int((int)(st.st_mode & 07777), 0700);
	assert_int((int)st.st_mtime, 4000000);
	assert_int((int)st.st_size, 7);
	assert_int(file_same(at("q/deferred/A/ABC"), at("q2/deferred/A/ABC")),
		   1);
	tree_clone_deinit(&c);

	/* an empty volume: directories only; a file makes it hold mail */
	assert_int(mkdir(at("vol"), 0755), 0);
	assert_int(mkdir(at("vol/mail"), 0700), 0);
	tree_put(base, "vol/lost+found/x", 1, 0);
	{
		static const char *const skip[] = { "lost+found", NULL };

		assert_int(tree_has_files(at("vol"), skip, &err), 0);
		assert_int(tree_has_files(at("vol"), NULL, &err), 1);
	}
	/* a restored tree merges into the directory that exists */
	tree_put(base, "restored/mail/d/u/password", 5, 0);
	tree_put(base, "restored/passdb.sqlite", 5, 0);
	assert_int(tree_move_into(at("restored"), at("vol"), &err), 0);
	assert_true(exists("vol/mail/d/u/password"));
	assert_true(exists("vol/passdb.sqlite"));
	assert_false(exists("restored/mail"));
	assert_int(file_same(at("vol/passdb.sqlite"), at("q/deferred/A/ABC")),
		   0);
	assert_int(file_same(at("vol/none"), at("vol/passdb.sqlite")), -ENOENT);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_link_clone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_copy_and_restore, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
