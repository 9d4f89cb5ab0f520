/*
 * test_maildir: Dovecot file-name parsing (table-driven, upstream's regex
 * semantics), the mailbox iterator, the classifying walk and the
 * race-free rmtree on small trees built in a temporary directory,
 * including symlinks that point outside the tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "maildir.h"

struct name_case {
	const char *name;
	int match;
	uint64_t ts, size;
};

static const struct name_case name_cases[] = {
	{ "1775324677.M448978P3029757.exam,S=3235,W=3305:2,S", 1, 1775324677,
	  3235 },
	{ "1.x,S=0", 1, 1, 0 },
	{ "12.a,S=12,S=x", 1, 12, 12 },	     /* last ",S=<digit>" wins */
	{ "12.a,S=1,W=2,S=3:2,", 1, 12, 3 }, /* greedy .+ */
	{ "12.a,S=7abc", 1, 12, 7 },
	{ "msg_without_structure", 0, 0, 0 },
	{ "12.,S=5", 0, 0, 0 }, /* .+ needs one character */
	{ "12.xx,S=5", 1, 12, 5 },
	{ "12x,S=5", 0, 0, 0 },
	{ ".12.x,S=5", 0, 0, 0 },
	{ "12.x,S=", 0, 0, 0 },
	{ "12.x,s=5", 0, 0, 0 },
	{ "12.x\n,S=5", 0, 0, 0 }, /* "." does not match a newline */
	{ "12.x,S=5\n", 1, 12, 5 },
	{ "", 0, 0, 0 },
	{ "99999999999999999999999.x,S=99999999999999999999999", 1, UINT64_MAX,
	  UINT64_MAX },
};

/* parse_table: every row of name_cases */
static void
parse_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		uint64_t ts = 0, size = 0;
		int r = maildir_parse_name(c->name, &ts, &size);

		if (r != c->match)
			print_error("case %zu: %s\n", i, c->name);
		assert_int(r, c->match);
		if (r) {
			assert_int(ts == c->ts, 1);
			assert_int(size == c->size, 1);
		}
	}
}

/* mkfile: create dir/rel with n bytes and an mtime */
static void
mkfile(const char *dir, const char *rel, size_t n, time_t mtime)
{
	char path[4096], *buf;
	struct timespec ts[2];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	buf = calloc(1, n + 1);
	assert_int(write(fd, buf, n), (long long)n);
	free(buf);
	ts[0].tv_sec = ts[1].tv_sec = mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int(futimens(fd, ts), 0);
	(void)close(fd);
}

/* mkd: mkdir dir/rel */
static void
mkd(const char *dir, const char *rel)
{
	char path[4096];

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int(mkdir(path, 0755), 0);
}

/* mkl: symlink dir/rel -> target */
static void
mkl(const char *dir, const char *rel, const char *target)
{
	char path[4096];

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int(symlink(target, path), 0);
}

struct tally {
	unsigned messages, extra, top, cur, newm, tmp;
	uint64_t bytes;
	char seen[2048];
};

/* count_cb: record what the walk reports */
static int
count_cb(void *ctx, const struct maildir_file *f)
{
	struct tally *t = ctx;
	size_t n = strlen(t->seen);

	if (f->kind == MAILDIR_MESSAGE) {
		t->messages++;
		t->cur += f->sub == MAILDIR_SUB_CUR;
		t->newm += f->sub == MAILDIR_SUB_NEW;
		t->tmp += f->sub == MAILDIR_SUB_TMP;
		t->top += f->top;
	} else {
		t->extra++;
	}
	t->bytes += f->size;
	(void)snprintf(t->seen + n, sizeof(t->seen) - n, "%s;", f->name);
	return 0;
}

/* build_tree: base/a@x (full mailbox), base/b@x (no password),
 * base/notamailbox, base/link@x -> outside, base/file@x (a file) */
static void
build_tree(const char *base, const char *outside)
{
	char mb[4096];

	(void)snprintf(mb, sizeof(mb), "%s/a@x", base);
	assert_int(mkdir(mb, 0700), 0);
	mkfile(mb, "password", 10, 1000000);
	mkfile(mb, "maildirsize", 3, 1000);
	mkd(mb, "cur");
	mkd(mb, "new");
	mkd(mb, "tmp");
	mkfile(mb, "cur/1.a,S=5:2,S", 5, 1000);
	mkfile(mb, "new/2.b,S=6", 6, 1000);
	mkfile(mb, "tmp/3.c", 7, 1000);
	mkd(mb, "cur/subdir");
	mkfile(mb, "cur/subdir/ignored", 100, 1000);
	mkd(mb, ".Sent");
	mkd(mb, ".Sent/cur");
	mkfile(mb, ".Sent/cur/4.d,S=8", 8, 1000);
	mkfile(mb, ".Sent/dovecot-uidlist", 9, 1000);
	mkd(mb, "garbagedir");
	mkfile(mb, "garbagedir/bimbum", 5, 1000);
	mkl(mb, "cur/evil", "/etc/passwd");
	mkl(mb, ".Evil", outside);
	mkl(mb, "new2", outside);

	(void)snprintf(mb, sizeof(mb), "%s/b@x", base);
	assert_int(mkdir(mb, 0700), 0);
	mkd(mb, "cur");
	mkfile(base, "notamailbox", 1, 1000);
	mkl(base, "link@x", outside);
	mkfile(base, "file@x", 1, 1000);
}

/* walk_tree: classification, symlinks skipped, password mtime */
static void
walk_tree(void **state)
{
	char *base = test_tmpdir(), *out = test_tmpdir();
	struct maildir_iter *it = NULL;
	struct maildir_mbox *mb;
	struct tally t;
	unsigned n = 0;

	(void)state;
	mkfile(out, "secret", 1000, 1000);
	build_tree(base, out);
	assert_int(maildir_iter_open(base, 0, &it), 0);
	while (maildir_iter_next(it, &mb) == 1) {
		n++;
		memset(&t, 0, sizeof(t));
		assert_int(maildir_mbox_walk(mb, count_cb, &t), 0);
		assert_int(mb->errors, 0);
		if (strcmp(mb->name, "a@x") == 0) {
			assert_int(mb->has_password, 1);
			assert_int((long long)mb->last_login, 1000000);
			assert_int(t.messages, 4);
			assert_int(t.top, 3);
			assert_int(t.cur, 2);
			assert_int(t.newm, 1);
			assert_int(t.tmp, 1);
			assert_int(t.extra, 4); /* password maildirsize uidlist
						   bimbum */
			assert_int(t.bytes, 5 + 6 + 7 + 8 + 10 + 3 + 9 + 5);
			assert_null(strstr(t.seen, "secret"));
			assert_null(strstr(t.seen, "ignored"));
			assert_null(strstr(t.seen, "evil"));
		} else {
			assert_str(mb->name, "b@x");
			assert_int(mb->has_password, 0);
			assert_int(t.messages + t.extra, 0);
		}
	}
	assert_int(n, 2);
	assert_int(maildir_iter_errors(it), 0);
	maildir_iter_free(&it);
	assert_null(it);
	test_rmtree(base);
	test_rmtree(out);
	free(base);
	free(out);
}

/* iter_maxnum: maxnum counts directory entries, not mailboxes */
static void
iter_maxnum(void **state)
{
	char *base = test_tmpdir();
	struct maildir_iter *it = NULL;
	struct maildir_mbox *mb;
	unsigned n = 0, i;
	char name[64];

	(void)state;
	for (i = 0; i < 10; i++) {
		(void)snprintf(name, sizeof(name), "u%u@x", i);
		mkd(base, name);
	}
	assert_int(maildir_iter_open(base, 4, &it), 0);
	while (maildir_iter_next(it, &mb) == 1)
		n++;
	assert_int(n, 4);
	maildir_iter_free(&it);
	test_rmtree(base);
	free(base);
}

/* iter_missing: a missing mailboxes_dir is -ENOENT */
static void
iter_missing(void **state)
{
	struct maildir_iter *it = NULL;

	(void)state;
	assert_int(maildir_iter_open("/nonexistent/mailboxes", 0, &it),
		   -ENOENT);
	assert_null(it);
	maildir_iter_free(&it);
}

/* rmtree: everything goes, symlink targets outside stay */
static void
rmtree(void **state)
{
	char *base = test_tmpdir(), *out = test_tmpdir(), path[4096];
	struct stat st;
	int fd;

	(void)state;
	mkfile(out, "secret", 10, 1000);
	mkd(out, "dir");
	mkfile(out, "dir/keep", 10, 1000);
	build_tree(base, out);
	fd = open(base, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int(maildir_rmtree_at(fd, "a@x"), 0);
	assert_int(maildir_rmtree_at(fd, "link@x"), 0); /* the link only */
	assert_int(maildir_rmtree_at(fd, "gone@x"), 0);
	(void)close(fd);
	(void)snprintf(path, sizeof(path), "%s/a@x", base);
	assert_int(lstat(path, &st), -1);
	(void)snprintf(path, sizeof(path), "%s/link@x", base);
	assert_int(lstat(path, &st), -1);
	(void)snprintf(path, sizeof(path), "%s/secret", out);
	assert_int(stat(path, &st), 0);
	(void)snprintf(path, sizeof(path), "%s/dir/keep", out);
	assert_int(stat(path, &st), 0);
	test_rmtree(base);
	test_rmtree(out);
	free(base);
	free(out);
}

/* mbox_open: name from the path, trailing slashes, no symlink */
static void
mbox_open(void **state)
{
	char *base = test_tmpdir(), path[4096];
	struct maildir_mbox *mb = NULL;
	int r;

	(void)state;
	build_tree(base, "/nonexistent");
	(void)snprintf(path, sizeof(path), "%s/a@x//", base);
	assert_int(maildir_mbox_open(path, &mb), 0);
	assert_str(mb->name, "a@x");
	assert_int(mb->has_password, 1);
	maildir_mbox_free(&mb);
	assert_null(mb);
	(void)snprintf(path, sizeof(path), "%s/link@x", base);
	r = maildir_mbox_open(path, &mb);
	assert_true(r == -ELOOP || r == -ENOTDIR);
	test_rmtree(base);
	free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_table), cmocka_unit_test(walk_tree),
		cmocka_unit_test(iter_maxnum), cmocka_unit_test(iter_missing),
		cmocka_unit_test(rmtree),      cmocka_unit_test(mbox_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
