/* test_num: the checked number parser and the cursor parsers */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "cursor.h"
#include "num.h"

static void
test_u64_table(void **state)
{
	static const struct {
		const char *in;
		uint64_t min, max;
		int want;
		uint64_t val;
	} cases[] = {
		{ "0", 0, 10, 0, 0 },
		{ "10", 0, 10, 0, 10 },
		{ "11", 0, 10, -ERANGE, 0 },
		{ "", 0, 10, -EINVAL, 0 },
		{ " 1", 0, 10, -EINVAL, 0 },
		{ "1 ", 0, 10, -EINVAL, 0 },
		{ "+1", 0, 10, -EINVAL, 0 },
		{ "-1", 0, 10, -EINVAL, 0 },
		{ "1x", 0, 10, -EINVAL, 0 },
		{ "0x10", 0, 100, -EINVAL, 0 },
		{ "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", 0, UINT64_MAX, -ERANGE, 0 },
		{ "99999999999999999999999", 0, UINT64_MAX, -ERANGE, 0 },
		{ "5", 6, 10, -ERANGE, 0 },
	};
	size_t i;
	uint64_t v;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		assert_int(num_parse_u64(cases[i].in, cases[i].min,
					 cases[i].max, &v),
			   cases[i].want);
		if (cases[i].want == 0)
			assert_int(v, cases[i].val);
		else
			assert_int(v, 12345);
	}
}

static void
test_i64_and_int(void **state)
{
	int64_t v;
	int iv;
	unsigned uv;

	(void)state;
	assert_int(
		num_parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v),
		0);
	assert_true(v == INT64_MIN);
	assert_int(
		num_parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v),
		-ERANGE);
	assert_int(num_parse_i64("-", INT64_MIN, INT64_MAX, &v), -EINVAL);
	assert_int(num_parse_int("-5", -10, 10, &iv), 0);
	assert_int(iv, -5);
	assert_int(num_parse_int("2147483648", 0, 2147483647, &iv), -ERANGE);
	assert_int(num_parse_uint("65535", 1, 65535, &uv), 0);
	assert_int(uv, 65535);
	assert_int(num_parse_uint("0", 1, 65535, &uv), -ERANGE);
}

static void
test_double_and_bool(void **state)
{
	double d;
	int b;

	(void)state;
	assert_int(num_parse_double("5", 0, 1000, &d), 0);
	assert_true(d == 5.0);
	assert_int(num_parse_double("1.5", 0, 1000, &d), 0);
	assert_true(d == 1.5);
	assert_int(num_parse_double("nan", 0, 1000, &d), -EINVAL);
	assert_int(num_parse_double("inf", 0, 1000, &d), -EINVAL);
	assert_int(num_parse_double(" 1", 0, 1000, &d), -EINVAL);
	assert_int(num_parse_double("0x1p3", 0, 1000, &d), -EINVAL);
	assert_int(num_parse_double("1e9", 0, 1000, &d), -EINVAL);
	assert_int(num_parse_double("2000", 0, 1000, &d), -ERANGE);
	assert_int(num_parse_bool("True", &b), 0);
	assert_int(b, 1);
	assert_int(num_parse_bool("off", &b), 0);
	assert_int(b, 0);
	assert_int(num_parse_bool("maybe", &b), -EINVAL);
}

static void
test_octal(void **state)
{
	unsigned v = 1;

	(void)state;
	assert_int(num_parse_octal("0660", 0777, &v), 0);
	assert_int(v, 0660);
	assert_int(num_parse_octal("7", 0777, &v), 0);
	assert_int(v, 7);
	assert_int(num_parse_octal("1000", 0777, &v), -ERANGE);
	assert_int(num_parse_octal("0668", 0777, &v), -EINVAL);
	assert_int(num_parse_octal("", 0777, &v), -EINVAL);
	assert_int(num_parse_octal("-1", 0777, &v), -EINVAL);
	assert_int(num_parse_octal("77777777777777777777", 0777, &v), -ERANGE);
}

static void
test_cursor(void **state)
{
	const char *s = "MAIL FROM:<a@b> SIZE=123 rest";
	const char *p = s, *tok;
	uint64_t v;
	size_t n;

	(void)state;
	assert_int(cur_lit(&p, "MAIL"), 1);
	assert_int(cur_lit(&p, "FROM"), 0);
	assert_int(cur_skip_ws(&p), 1);
	assert_int(cur_lit_ci(&p, "from:"), 1);
	assert_int(cur_char(&p, '<'), 1);
	n = cur_until(&p, '>', &tok);
	assert_int(n, 3);
	assert_memory_equal(tok, "a@b", 3);
	assert_int(cur_char(&p, '>'), 1);
	cur_skip_ws(&p);
	assert_int(cur_lit(&p, "SIZE="), 1);
	assert_int(cur_u64(&p, 1000, &v), 1);
	assert_int(v, 123);
	assert_int(cur_u64(&p, 1000, &v), 0); /* no digits: unchanged */
	assert_int(cur_span(&p, " "), 1);
	n = cur_until(&p, '>', &tok);
	assert_int(n, 4);
	assert_true(cur_eol(&p));
	p = "99999";
	assert_int(cur_u64(&p, 1000, &v), -1);
	assert_str(p, "99999");
	p = "18446744073709551616";
	assert_int(cur_u64(&p, UINT64_MAX, &v), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64_table),
		cmocka_unit_test(test_i64_and_int),
		cmocka_unit_test(test_double_and_bool),
		cmocka_unit_test(test_octal),
		cmocka_unit_test(test_cursor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
