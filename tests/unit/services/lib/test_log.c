/* test_log: logfmt shape, escaping, caps, levels; xmalloc fail hook */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "log.h"
#include "xmalloc.h"

/* capture: run the logger into a pipe and return what it wrote */
static char captured[4096];

static int pipefd[2];

static int
setup(void **state)
{
	(void)state;
	if (pipe(pipefd) < 0)
		return -1;
	log_set_fd(pipefd[1]);
	log_set_timestamps(0);
	log_init("/usr/bin/testprog", 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_set_fd(2);
	close(pipefd[0]);
	close(pipefd[1]);
	return 0;
}

static const char *
drain(void)
{
	ssize_t n = read(pipefd[0], captured, sizeof(captured) - 1);

	captured[n > 0 ? n : 0] = '\0';
	return captured;
}

static void
test_shape(void **state)
{
	(void)state;
	log_info("Created address: %s", "a@b.example");
	assert_str(drain(), "level=info prog=testprog msg=\"Created address: "
			    "a@b.example\"\n");
	log_error("bad %d", 7);
	assert_str(drain(),
		   "level=error prog=testprog func=test_shape msg=\"bad 7\"\n");
}

static void
test_escaping(void **state)
{
	(void)state;
	log_info("user=%s", "evil\nlevel=error msg=\"x\"\t\\\x01\xff");
	assert_str(drain(), "level=info prog=testprog msg=\"user=evil\\nlevel="
			    "error msg=\\\"x\\\"\\t\\\\\\x01\\xff\"\n");
}

static void
test_cap(void **state)
{
	char big[3000];
	const char *out;

	(void)state;
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	out = drain();
	assert_true(strlen(out) < LOG_MSG_MAX + 100);
	assert_non_null(strstr(out, "AAA...\"\n"));
}

static void
test_levels(void **state)
{
	char tmp[8];

	(void)state;
	log_debug("hidden");
	log_info("shown");
	assert_str(drain(), "level=info prog=testprog msg=\"shown\"\n");
	log_init(NULL, 1);
	log_debug("now %s", "visible");
	assert_non_null(strstr(drain(), "level=debug"));
	log_init(NULL, -1);
	log_info("hidden");
	log_warn("w");
	assert_non_null(strstr(drain(), "level=warn"));
	log_init(NULL, 0);
	assert_int(log_escape(tmp, sizeof(tmp), "abcdefghij", 100), 7);
	assert_str(tmp, "abcd...");
}

/* CHATMAIL_LOG_FORMAT=plain: upstream's journal shape, which upstream's
 * mtail regexes (": Created address: (.*)$") match */
static void
test_plain_format(void **state)
{
	(void)state;
	setenv("CHATMAIL_LOG_FORMAT", "plain", 1);
	log_init("doveauth", 0);
	log_info("Created address: %s", "a@b.example");
	assert_str(drain(), "doveauth: Created address: a@b.example\n");
	log_warn("registration rejected: %s", "bad\nname");
	assert_str(drain(),
		   "doveauth: warn: registration rejected: bad\\nname\n");
	unsetenv("CHATMAIL_LOG_FORMAT");
	log_init("testprog", 0);
	log_info("x");
	assert_str(drain(), "level=info prog=testprog msg=\"x\"\n");
}

static jmp_buf oom_jmp;
static size_t oom_size;

static void __attribute__((noreturn)) oom_trap(size_t size)
{
	oom_size = size;
	longjmp(oom_jmp, 1);
}

static void
test_xmalloc_fail_nth(void **state)
{
	char *volatile a = NULL;
	char *volatile b = NULL;

	(void)state;
	xmalloc_set_oom_handler(oom_trap);
	xmalloc_fail_at(2);
	if (setjmp(oom_jmp) == 0) {
		a = xstrdup("first");
		b = xmalloc(77);
		fail_msg("second allocation should have failed");
	}
	assert_non_null(a);
	assert_null(b);
	assert_int(oom_size, 77);
	free(a);
	/* the hook is one-shot */
	a = xasprintf("%s-%d", "x", 5);
	assert_str(a, "x-5");
	free(a);
	xmalloc_set_oom_handler(NULL);
}

static void
test_xmalloc_overflow(void **state)
{
	void *volatile p = NULL;

	(void)state;
	xmalloc_set_oom_handler(oom_trap);
	if (setjmp(oom_jmp) == 0) {
		p = xcalloc(SIZE_MAX / 2, 4);
		fail_msg("overflowing xcalloc returned");
	}
	assert_null(p);
	assert_true(oom_size == SIZE_MAX);
	xmalloc_set_oom_handler(NULL);
	p = xstrndup("abcdef", 3);
	assert_str(p, "abc");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_plain_format),
		cmocka_unit_test(test_xmalloc_fail_nth),
		cmocka_unit_test(test_xmalloc_overflow),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
