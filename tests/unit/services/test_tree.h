/*
 * test_tree: building small mail stores for the unit tests of the jobs
 * that walk them (chatmail-expire, chatmail-metrics). Included after
 * <cmocka.h> and testutil.h by one test file per binary.
 */
#ifndef TEST_TREE_H
#define TEST_TREE_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* tree_put: create base/rel (parents too) with n bytes (sparse) and
 * its mtime and atime at t */
static inline void
tree_put(const char *base, const char *rel, size_t n, time_t t)
{
	char path[8192], *p;
	struct timespec ts[2];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", base, rel);
	for (p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		(void)mkdir(path, 0755);
		*p = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int(ftruncate(fd, (off_t)n), 0);
	ts[0].tv_sec = ts[1].tv_sec = t;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int(futimens(fd, ts), 0);
	(void)close(fd);
}

#endif
