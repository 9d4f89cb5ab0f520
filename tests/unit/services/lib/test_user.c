/* test_user: user directories (path-traversal guard, password file,
 * last login, E2EE marker) and the fs helpers (atomic write, mkdir -p,
 * flock with a bounded wait, bounded reads in one allocation) on a real
 * file system */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "buf.h"
#include "fs.h"
#include "user.h"
#include "xmalloc.h"

/* path2: "<a>/<b>" in one of four static buffers used in turn, so an
 * expression may hold a few at once */
static const char *
path2(const char *a, const char *b)
{
	static char p[4][USER_PATH_MAX];
	static unsigned next;
	char *r = p[next++ % 4];

	int n = snprintf(r, USER_PATH_MAX, "%s/%s", a, b);

	assert_true(n > 0 && n < USER_PATH_MAX);
	return r;
}

/* listing: the names in dir, sorted, joined by ' ' (caller frees) */
static char *
listing(const char *dir)
{
	struct dirent **names;
	struct buf out = BUF_INIT(65536);
	int n, i;

	n = scandir(dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			if (out.len > 0)
				(void)buf_putc(&out, ' ');
			(void)buf_puts(&out, names[i]->d_name);
		}
		free(names[i]);
	}
	free(names);
	return buf_steal(&out, NULL);
}

/* file_text: a whole small file as a string (caller frees) */
static char *
file_text(const char *path)
{
	struct buf b = BUF_INIT(65536);

	assert_int(fs_read_file(path, &b), 0);
	return buf_steal(&b, NULL);
}

/* upstream's get_user guard plus ours: got/want per address */
static void
test_traversal_table(void **state)
{
	static char long_ok[USER_ADDR_MAX + 1], long_bad[USER_ADDR_MAX + 2];
	static const struct {
		const char *addr;
		int want;
	} cases[] = {
		{ "user1@something.testrun.org", 1 },
		{ "a@b", 1 },
		{ "x.y-z_1+tag@chat.example.org", 1 },
		{ "@", 1 },
		{ "", 0 },
		{ ".", 0 },
		{ "..", 0 },
		{ "../some@something.testrun.org", 0 },
		{ "a/b@x.org", 0 },
		{ "a@x.org/", 0 },
		{ "/etc/passwd@x", 0 },
		{ ".hidden@x.org", 0 },
		{ "a..b@x.org", 0 },
		{ "a@x..org", 0 },
		{ "noatsign.org", 0 },
		{ "a\n@x.org", 0 },
		{ "a\t@x.org", 0 },
		{ "a\x7f@x.org", 0 },
		{ "a\x1b[31m@x.org", 0 },
	};
	char out[USER_PATH_MAX];
	size_t i;

	(void)state;
	assert_int(user_addr_valid(NULL), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (user_addr_valid(cases[i].addr) != cases[i].want)
			print_error("case %zu \"%s\"\n", i, cases[i].addr);
		assert_int(user_addr_valid(cases[i].addr), cases[i].want);
		assert_int(user_dir("/m", cases[i].addr, out, sizeof(out)),
			   cases[i].want ? 0 : -EINVAL);
		if (cases[i].want)
			assert_str(out, path2("/m", cases[i].addr));
	}
	memset(long_ok, 'a', USER_ADDR_MAX);
	long_ok[3] = '@';
	memset(long_bad, 'a', USER_ADDR_MAX + 1);
	long_bad[3] = '@';
	assert_int(user_addr_valid(long_ok), 1);
	assert_int(user_addr_valid(long_bad), 0);

	assert_int(user_dir("", "a@b", out, sizeof(out)), -EINVAL);
	assert_int(user_dir(NULL, "a@b", out, sizeof(out)), -EINVAL);
	assert_int(user_dir("/m", "a@b", out, 6), -ENAMETOOLONG);
	assert_int(user_dir("/m", "a@b", out, 7), 0);
	assert_str(out, "/m/a@b");
	assert_int(user_file("/m", "a@b", "password", out, sizeof(out)), 0);
	assert_str(out, "/m/a@b/password");
	assert_int(user_file("/m", "a@b", "..", out, sizeof(out)), -EINVAL);
	assert_int(user_file("/m", "a@b", "x/y", out, sizeof(out)), -EINVAL);
	assert_int(user_file("/m", "../a@b", "password", out, sizeof(out)),
		   -EINVAL);
	assert_int(user_file("/m", "a@b", "password", out, 15), -ENAMETOOLONG);
}

/* create on first login: directories, password (no newline, 0600),
 * marker; read back; upstream's test_no_mailboxes_dir */
static void
test_write_read_password(void **state)
{
	static const char hash[] = "{SHA512-CRYPT}$6$salt$abcdefABCDEF./09";
	char *dir = test_tmpdir(), userdir[USER_PATH_MAX], got[512], *s;
	struct stat st;

	(void)state;
	assert_int(user_dir(path2(dir, "a/mailboxes"), "u1@x.org", userdir,
			    sizeof(userdir)),
		   0);
	assert_int(user_read_password(userdir, got, sizeof(got)), 0);
	assert_int(user_enforces_e2ee(userdir), 0);
	assert_int(user_write_password(userdir, hash), 0);
	assert_int(user_read_password(userdir, got, sizeof(got)), 1);
	assert_str(got, hash);
	assert_int(stat(userdir, &st), 0);
	assert_int(st.st_mode & 07777, 0700);
	assert_int(stat(path2(userdir, "password"), &st), 0);
	assert_int(st.st_mode & 07777, 0600);
	assert_int(st.st_size, strlen(hash));
	assert_int(stat(path2(userdir, "enforceE2EEincoming"), &st), 0);
	assert_int(st.st_size, 0);
	assert_int(user_enforces_e2ee(userdir), 1);
	s = listing(userdir);
	assert_str(s, "enforceE2EEincoming password");
	free(s);

	/* overwrite: still no temporary file left */
	assert_int(user_write_password(userdir, "{PLAIN}second"), 0);
	assert_int(user_read_password(userdir, got, sizeof(got)), 1);
	assert_str(got, "{PLAIN}second");
	s = listing(userdir);
	assert_str(s, "enforceE2EEincoming password");
	free(s);

	/* invalid hashes are refused before anything is touched */
	assert_int(user_write_password(userdir, ""), -EINVAL);
	assert_int(user_write_password(userdir, "a\nb"), -EINVAL);
	assert_int(user_write_password(userdir, "caf\xc3\xa9"), -EINVAL);
	test_rmtree(dir);
	free(dir);
}

/* reading: bytes as stored, empty = absent, limits, wiping */
static void
test_read_password_cases(void **state)
{
	char *dir = test_tmpdir(), got[8];
	const char *pw = path2(dir, "password");

	(void)state;
	assert_int(fs_write_atomic(pw, "", 0, 0600, 0), 0);
	assert_int(user_read_password(dir, got, sizeof(got)), 0);
	assert_str(got, "");
	/* nothing is trimmed: a hand-edited newline stays (blocks login) */
	assert_int(fs_write_atomic(pw, "abc\n", 4, 0600, 0), 0);
	assert_int(user_read_password(dir, got, sizeof(got)), 1);
	assert_str(got, "abc\n");
	/* exactly fits (7 + NUL), one more does not and is wiped */
	assert_int(fs_write_atomic(pw, "1234567", 7, 0600, 0), 0);
	assert_int(user_read_password(dir, got, sizeof(got)), 1);
	assert_str(got, "1234567");
	assert_int(fs_write_atomic(pw, "12345678", 8, 0600, 0), 0);
	assert_int(user_read_password(dir, got, sizeof(got)), -EFBIG);
	assert_int(memcmp(got, "\0\0\0\0\0\0\0\0", 8), 0);
	assert_int(fs_write_atomic(pw, "a\0b", 3, 0600, 0), 0);
	assert_int(user_read_password(dir, got, sizeof(got)), -EINVAL);
	assert_int(user_read_password(dir, got, 0), -EINVAL);
	/* a symlinked password file is not followed */
	assert_int(unlink(pw), 0);
	assert_int(symlink("/etc/hostname", pw), 0);
	assert_int(user_read_password(dir, got, sizeof(got)), -ELOOP);
	assert_int(user_read_password(path2(dir, "none"), got, sizeof(got)), 0);
	test_rmtree(dir);
	free(dir);
}

/* a planted symlink never redirects a write out of the tree */
static void
test_symlinks_not_followed(void **state)
{
	char *dir = test_tmpdir(), outside[USER_PATH_MAX], *s;
	char userdir[USER_PATH_MAX];

	(void)state;
	(void)snprintf(outside, sizeof(outside), "%s/outside", dir);
	assert_int(mkdir(outside, 0700), 0);
	assert_int(mkdir(path2(dir, "mail"), 0700), 0);

	/* the user directory is a symlink */
	(void)snprintf(userdir, sizeof(userdir), "%s/mail/evil@x.org", dir);
	assert_int(symlink(outside, userdir), 0);
	assert_int(user_write_password(userdir, "{PLAIN}x"), -ELOOP);
	s = listing(outside);
	assert_str(s, "");
	free(s);

	/* the marker is a symlink to a file that does not exist yet */
	(void)snprintf(userdir, sizeof(userdir), "%s/mail/m@x.org", dir);
	assert_int(mkdir(userdir, 0700), 0);
	assert_int(symlink(path2(outside, "created"),
			   path2(userdir, "enforceE2EEincoming")),
		   0);
	assert_int(user_write_password(userdir, "{PLAIN}x"), -ELOOP);
	s = listing(outside);
	assert_str(s, "");
	free(s);

	/* the password is a symlink: replaced, the target untouched */
	(void)snprintf(userdir, sizeof(userdir), "%s/mail/p@x.org", dir);
	assert_int(mkdir(userdir, 0700), 0);
	assert_int(fs_write_atomic(path2(outside, "keep"), "keep", 4, 0600, 0),
		   0);
	assert_int(symlink(path2(outside, "keep"), path2(userdir, "password")),
		   0);
	assert_int(user_write_password(userdir, "{PLAIN}new"), 0);
	s = file_text(path2(outside, "keep"));
	assert_str(s, "keep");
	free(s);
	s = file_text(path2(userdir, "password"));
	assert_str(s, "{PLAIN}new");
	free(s);
	/* last-login never touches a symlink's target either */
	assert_int(unlink(path2(userdir, "password")), 0);
	assert_int(symlink(path2(outside, "keep"), path2(userdir, "password")),
		   0);
	assert_int(user_set_last_login(userdir, 86400), -EINVAL);
	test_rmtree(dir);
	free(dir);
}

/* upstream's test_login_timestamp: day precision, only on change */
static void
test_last_login(void **state)
{
	static const struct {
		time_t ts;
		int want;
		time_t mtime;
	} steps[] = {
		{ 100000, 1, 86400 },  { 150000, 0, 86400 },
		{ 172799, 0, 86400 },  { 200000, 1, 172800 },
		{ 172800, 0, 172800 }, { 1767225600 + 5, 1, 1767225600 },
		{ -1, 1, -86400 },
	};
	char *dir = test_tmpdir();
	struct stat st;
	time_t ts;
	size_t i;

	(void)state;
	assert_int(user_set_last_login(dir, 100000), -ENOENT);
	assert_int(user_last_login(dir, &ts), -ENOENT);
	assert_int(user_write_password(dir, "{PLAIN}x"), 0);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_int(user_set_last_login(dir, steps[i].ts),
			   steps[i].want);
		assert_int(user_last_login(dir, &ts), 0);
		assert_int(ts, steps[i].mtime);
		assert_int(stat(path2(dir, "password"), &st), 0);
		assert_int(st.st_atim.tv_sec, steps[i].mtime);
		assert_int(st.st_mtim.tv_nsec, 0);
	}
	test_rmtree(dir);
	free(dir);
}

/* fs_write_atomic: content, mode despite the umask, no leftovers even
 * when the rename fails */
static void
test_atomic_write(void **state)
{
	char *dir = test_tmpdir(), *s;
	struct stat st;
	mode_t old;

	(void)state;
	old = umask(077);
	assert_int(fs_write_atomic(path2(dir, "f"), "hello", 5, 0644, 1), 0);
	(void)umask(old);
	assert_int(stat(path2(dir, "f"), &st), 0);
	assert_int(st.st_mode & 07777, 0644);
	s = file_text(path2(dir, "f"));
	assert_str(s, "hello");
	free(s);

	/* rename onto a directory fails: the temporary file is removed */
	assert_int(mkdir(path2(dir, "d"), 0700), 0);
	assert_int(fs_write_atomic(path2(dir, "d"), "x", 1, 0600, 0), -EISDIR);
	s = listing(dir);
	assert_str(s, "d f");
	free(s);

	assert_int(fs_write_atomic(path2(dir, "nodir/f"), "x", 1, 0600, 0),
		   -ENOENT);
	assert_int(fs_write_atomic_at(AT_FDCWD, "a/b", "x", 1, 0600, 0),
		   -EINVAL);
	assert_int(fs_write_atomic_at(AT_FDCWD, "", "x", 1, 0600, 0), -EINVAL);
	test_rmtree(dir);
	free(dir);
}

/* fs_mkdirs: mkdir -p semantics */
static void
test_mkdirs(void **state)
{
	char *dir = test_tmpdir();
	struct stat st;

	(void)state;
	assert_int(fs_mkdirs(path2(dir, "a/b//c/"), 0700), 0);
	assert_int(stat(path2(dir, "a/b/c"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int(fs_mkdirs(path2(dir, "a/b/c"), 0700), 0); /* exists */
	assert_int(symlink(path2(dir, "a"), path2(dir, "link")), 0);
	assert_int(fs_mkdirs(path2(dir, "link/b/d"), 0700), 0);
	assert_int(stat(path2(dir, "a/b/d"), &st), 0);
	assert_int(fs_write_atomic(path2(dir, "file"), "", 0, 0600, 0), 0);
	assert_int(fs_mkdirs(path2(dir, "file"), 0700), -ENOTDIR);
	assert_int(fs_mkdirs(path2(dir, "file/sub"), 0700), -ENOTDIR);
	assert_int(fs_mkdirs("", 0700), -EINVAL);
	test_rmtree(dir);
	free(dir);
}

/* elapsed_ms: milliseconds since start */
static long
elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* fs_lock: two open files contend; the second times out in bounded
 * time; closing the first releases it */
static void
test_lock_contention(void **state)
{
	char *dir = test_tmpdir();
	const char *lock = path2(dir, "password.lock");
	struct timespec start;
	int fd1, fd2;
	long ms;

	(void)state;
	assert_int(fs_lock(lock, 1000, &fd1), 0);
	assert_true(fd1 >= 0);
	(void)clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int(fs_lock(lock, 60, &fd2), -ETIMEDOUT);
	ms = elapsed_ms(&start);
	assert_int(fd2, -1);
	assert_true(ms >= 55 && ms < 1000);
	(void)clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int(fs_lock(lock, 0, &fd2), -ETIMEDOUT); /* one attempt */
	assert_true(elapsed_ms(&start) < 50);
	assert_int(close(fd1), 0);
	assert_int(fs_lock(lock, 0, &fd2), 0);
	assert_int(close(fd2), 0);
	assert_int(fs_lock(lock, -1, &fd2), -EINVAL);
	assert_int(fs_lock(path2(dir, "no/such"), 10, &fd2), -ENOENT);
	test_rmtree(dir);
	free(dir);
}

/* fs_lock across processes: a child holds the lock for a while, the
 * parent waits for it within its timeout */
static void
test_lock_other_process(void **state)
{
	char *dir = test_tmpdir();
	char lock[USER_PATH_MAX];
	int fd, pipefd[2], status;
	struct timespec start, nap = { 0, 150 * 1000000L };
	char c;
	pid_t pid;

	(void)state;
	(void)snprintf(lock, sizeof(lock), "%s/l", dir);
	assert_int(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (fs_lock(lock, 1000, &fd) != 0)
			_exit(1);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(2);
		(void)nanosleep(&nap, NULL);
		_exit(0); /* exit releases the lock */
	}
	assert_int(read(pipefd[0], &c, 1), 1);
	(void)clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int(fs_lock(lock, 20, &fd), -ETIMEDOUT);
	assert_int(fs_lock(lock, 3000, &fd), 0);
	assert_true(elapsed_ms(&start) >= 100);
	assert_int(close(fd), 0);
	assert_int(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	(void)close(pipefd[0]);
	(void)close(pipefd[1]);
	test_rmtree(dir);
	free(dir);
}

/* fs_read_file: bounded by the buffer, regular files only */
static void
test_read_file(void **state)
{
	char *dir = test_tmpdir();
	struct buf b = BUF_INIT(4);

	(void)state;
	assert_int(fs_write_atomic(path2(dir, "f"), "abcd", 4, 0600, 0), 0);
	assert_int(fs_read_file(path2(dir, "f"), &b), 0);
	assert_str(buf_cstr(&b), "abcd");
	buf_reset(&b);
	assert_int(fs_write_atomic(path2(dir, "f"), "abcde", 5, 0600, 0), 0);
	assert_int(fs_read_file(path2(dir, "f"), &b), -EFBIG);
	buf_reset(&b);
	assert_int(fs_read_file(dir, &b), -EINVAL);
	assert_int(fs_read_file(path2(dir, "none"), &b), -ENOENT);
	buf_deinit(&b);
	test_rmtree(dir);
	free(dir);
}

/* fs_read_file takes regular files only and never waits on a FIFO;
 * fs_read_stream also reads a pipe (a flag's "-f <(...)") */
static void
test_read_stream(void **state)
{
	char *dir = test_tmpdir(), path[64];
	struct buf b = BUF_INIT(64);
	int p[2];

	(void)state;
	assert_int(mkfifo(path2(dir, "fifo"), 0600), 0);
	(void)alarm(10); /* a read that waited for a writer would hang */
	assert_int(fs_read_file(path2(dir, "fifo"), &b), -EINVAL);
	(void)alarm(0);
	assert_int(pipe(p), 0);
	assert_int(write(p[1], "from a pipe", 11), 11);
	assert_int(close(p[1]), 0);
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
	assert_int(fs_read_file(path, &b), -EINVAL);
	assert_int(fs_read_stream(path, &b), 0);
	assert_str(buf_cstr(&b), "from a pipe");
	assert_int(close(p[0]), 0);
	assert_int(fs_read_stream(dir, &b), -EINVAL);
	buf_deinit(&b);
	test_rmtree(dir);
	free(dir);
}

/* fs_read_file: a file of known size is read in one allocation (no
 * copies of a key left in freed memory); /proc files (size 0) too */
static void
test_read_file_one_alloc(void **state)
{
	char *dir = test_tmpdir(), *big = malloc(100000);
	struct buf b = BUF_INIT(1u << 20), p = BUF_INIT(1u << 16);
	unsigned long n;

	(void)state;
	assert_non_null(big);
	memset(big, 'k', 100000);
	assert_int(fs_write_atomic(path2(dir, "key"), big, 100000, 0600, 0), 0);
	n = xmalloc_count();
	assert_int(fs_read_file(path2(dir, "key"), &b), 0);
	assert_int(xmalloc_count() - n, 1);
	assert_int(b.len, 100000);
	assert_int(memcmp(b.data, big, 100000), 0);
	assert_int(fs_read_file("/proc/self/stat", &p), 0);
	assert_true(p.len > 0 && strchr(p.data, ')') != NULL);
	buf_wipe_deinit(&b);
	buf_deinit(&p);
	free(big);
	test_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_traversal_table),
		cmocka_unit_test(test_write_read_password),
		cmocka_unit_test(test_read_password_cases),
		cmocka_unit_test(test_symlinks_not_followed),
		cmocka_unit_test(test_last_login),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_mkdirs),
		cmocka_unit_test(test_lock_contention),
		cmocka_unit_test(test_lock_other_process),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_read_file_one_alloc),
		cmocka_unit_test(test_read_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
