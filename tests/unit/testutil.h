/*
 * testutil: helpers shared by the cmocka unit tests. Included after
 * <cmocka.h>. Failures print got/want.
 */
#ifndef CM_TESTUTIL_H
#define CM_TESTUTIL_H

#include <stdio.h>
#include <string.h>

/* assert_str: compare two strings, printing both on mismatch */
#define assert_str(got, want)                                       \
	do {                                                        \
		const char *got_ = (got), *want_ = (want);          \
		if (got_ == NULL || want_ == NULL ||                \
		    strcmp(got_, want_) != 0) {                     \
			print_error("got:  \"%s\"\nwant: \"%s\"\n", \
				    got_ ? got_ : "(null)",         \
				    want_ ? want_ : "(null)");      \
			fail();                                     \
		}                                                   \
	} while (0)

/* assert_int: compare two integers, printing both on mismatch */
#define assert_int(got, want)                                                 \
	do {                                                                  \
		long long got_ = (long long)(got), want_ = (long long)(want); \
		if (got_ != want_) {                                          \
			print_error("%s: got %lld, want %lld\n", #got, got_,  \
				    want_);                                   \
			fail();                                               \
		}                                                             \
	} while (0)

/* test_tmpdir: a fresh directory under $TMPDIR for one test; the caller
 * removes it with test_rmtree() */
char *test_tmpdir(void);
void test_rmtree(const char *path);

#ifdef TESTUTIL_IMPL
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

char *
test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;
	size_t n;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	n = strlen(base) + 32;
	path = malloc(n);
	if (path == NULL)
		abort();
	snprintf(path, n, "%s/cmtest.XXXXXX", base);
	if (mkdtemp(path) == NULL)
		abort();
	return path;
}

void
test_rmtree(const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	char sub[4096];

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		chmod(path, 0700);
		d = opendir(path);
		if (d != NULL) {
			while ((de = readdir(d)) != NULL) {
				if (strcmp(de->d_name, ".") == 0 ||
				    strcmp(de->d_name, "..") == 0)
					continue;
				snprintf(sub, sizeof(sub), "%s/%s", path,
					 de->d_name);
				test_rmtree(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}
#endif

#endif
