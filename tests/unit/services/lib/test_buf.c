/* test_buf: growth, the hard maximum, consume, steal */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "testutil.h"

#include "buf.h"

static void
test_append_and_nul(void **state)
{
	struct buf b = BUF_INIT(100);

	(void)state;
	assert_str(buf_cstr(&b), "");
	assert_int(buf_puts(&b, "hello"), 0);
	assert_int(buf_putc(&b, ' '), 0);
	assert_int(buf_printf(&b, "%s %d", "world", 42), 0);
	assert_str(buf_cstr(&b), "hello world 42");
	assert_int(b.len, 14);
	assert_int(b.data[b.len], '\0');
	buf_deinit(&b);
}

static void
test_max_exact_and_one_over(void **state)
{
	struct buf b;
	char big[17];

	(void)state;
	memset(big, 'x', sizeof(big));
	buf_init(&b, 16);
	assert_int(buf_append(&b, big, 16), 0);
	assert_int(b.len, 16);
	/* one byte over leaves the buffer unchanged */
	assert_int(buf_putc(&b, 'y'), -E2BIG);
	assert_int(b.len, 16);
	assert_int(buf_printf(&b, "%d", 1), -E2BIG);
	assert_int(b.len, 16);
	buf_reset(&b);
	assert_int(buf_append(&b, big, 17), -E2BIG);
	assert_int(b.len, 0);
	/* storage never grows far past the maximum */
	assert_true(b.cap <= 17 || b.cap <= 64);
	buf_deinit(&b);
}

static void
test_large_growth(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 1 << 20);
	for (i = 0; i < 100000; i++)
		assert_int(buf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int(b.len, 100000);
	assert_int(b.data[99999], 'a' + 99999 % 26);
	buf_deinit(&b);
	assert_null(b.data);
}

static void
test_consume_truncate(void **state)
{
	struct buf b = BUF_INIT(64);

	(void)state;
	buf_puts(&b, "line1\r\nline2\r\n");
	buf_consume(&b, 7);
	assert_str(buf_cstr(&b), "line2\r\n");
	buf_truncate(&b, 5);
	assert_str(buf_cstr(&b), "line2");
	buf_consume(&b, 100);
	assert_int(b.len, 0);
	assert_str(buf_cstr(&b), "");
	buf_deinit(&b);
}

static void
test_reserve_commit(void **state)
{
	struct buf b = BUF_INIT(10);
	char *p;

	(void)state;
	p = buf_reserve(&b, 4);
	assert_non_null(p);
	memcpy(p, "abcd", 4);
	buf_commit(&b, 4);
	assert_str(buf_cstr(&b), "abcd");
	assert_null(buf_reserve(&b, 7));
	assert_int(buf_room(&b), 6);
	buf_deinit(&b);
}

static void
test_steal(void **state)
{
	struct buf b = BUF_INIT(10);
	size_t n;
	char *s;

	(void)state;
	s = buf_steal(&b, &n);
	assert_str(s, "");
	assert_int(n, 0);
	free(s);
	buf_puts(&b, "key");
	s = buf_steal(&b, &n);
	assert_str(s, "key");
	assert_int(n, 3);
	assert_null(b.data);
	free(s);
	buf_puts(&b, "secret");
	buf_wipe_deinit(&b);
	assert_null(b.data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_nul),
		cmocka_unit_test(test_max_exact_and_one_over),
		cmocka_unit_test(test_large_growth),
		cmocka_unit_test(test_consume_truncate),
		cmocka_unit_test(test_reserve_commit),
		cmocka_unit_test(test_steal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
