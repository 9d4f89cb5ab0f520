/* test_ini: the INI dialect of chatmail.ini, as Python iniconfig reads it */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "testutil.h"

#include "buf.h"
#include "ini.h"

/* render: the parsed entries as "[sec]|key=value|..." ('\n' shown as
 * "\n" literally), or "ERR:<message>" */
static char *
render(const char *text, size_t len)
{
	struct buf out = BUF_INIT(1 << 20), err = BUF_INIT(4096);
	struct ini *ini = NULL;
	const char *v;
	size_t i;

	if (ini_parse(text, len, &ini, &err) < 0) {
		(void)buf_printf(&out, "ERR:%s", buf_cstr(&err));
		if (out.len > 0 && out.data[out.len - 1] == '\n')
			buf_truncate(&out, out.len - 1);
		assert_null(ini);
		buf_deinit(&err);
		return buf_steal(&out, NULL);
	}
	for (i = 0; i < ini->n; i++) {
		const struct ini_entry *en = &ini->entries[i];

		if (i > 0)
			(void)buf_putc(&out, '|');
		if (en->key == NULL) {
			(void)buf_printf(&out, "[%s]", en->section);
			continue;
		}
		(void)buf_printf(&out, "%s=", en->key);
		for (v = en->value; *v != '\0'; v++)
			(void)(*v == '\n' ? buf_puts(&out, "\\n")
					  : buf_putc(&out, *v));
	}
	ini_free(&ini);
	assert_null(ini);
	buf_deinit(&err);
	return buf_steal(&out, NULL);
}

/* parse_cases: text in, entries (as render() shows them) out */
static const struct {
	const char *in, *want;
} parse_cases[] = {
	{ "", "" },
	{ "[params]\nmail_domain = x.org\n", "[params]|mail_domain=x.org" },
	/* comments and blanks anywhere, indented comments too */
	{ "# c\n; c\n[a]\n  # c\n\t; c\n\n k1 = v\n",
	  "ERR:line 7: "
	  "unexpected value continuation" },
	{ "# c\n; c\n[a]\n  # c\n\t; c\n\nk1 = v\n", "[a]|k1=v" },
	/* no inline comments in values, but in section headers */
	{ "[a] # c ; d\nk = v # not a comment ; x\n",
	  "[a]|k=v # not a comment ; x" },
	{ "[a;b]\nk=v\n", "ERR:line 1: unexpected value continuation" },
	/* separators: first '=', unless the key part has a ':' */
	{ "[a]\nk=v=w\nj: x = y\nl:m\n", "[a]|k=v=w|j=x = y|l=m" },
	{ "[a]\nk = \n", "[a]|k=" },
	{ "[a]\n= v\n", "[a]|=v" },
	{ "[a]\nnovalue\n", "ERR:line 2: unexpected line 'novalue'" },
	/* whitespace around keys and values, tabs, trailing blanks */
	{ "[a]\n\tk\t=\tv \t\nj   =   w   \n",
	  "ERR:line 2: unexpected value continuation" },
	{ "[a]\nk\t=\tv \t\nj   =   w   \n", "[a]|k=v|j=w" },
	/* line breaks: CRLF, CR, VT, FF, NEL, LS, PS */
	{ "[a]\r\nk = v\r\nj = w\r\n", "[a]|k=v|j=w" },
	{ "[a]\rk = v\rj = w", "[a]|k=v|j=w" },
	{ "[a]\vk=v\fj=w\x1ci=x", "[a]|k=v|j=w|i=x" },
	{ "[a]\xc2\x85k=v\xe2\x80\xa8j=w\xe2\x80\xa9i=x", "[a]|k=v|j=w|i=x" },
	/* a byte order mark is skipped (iniconfig would fail) */
	{ "\xef\xbb\xbf[a]\nk=v\n", "[a]|k=v" },
	/* continuations: append with \n, replace an empty value,
	 * survive blank and comment lines */
	{ "[a]\nk = one\n  two\n\n# c\n\tthree\nj=x\n",
	  "[a]|k=one\\ntwo\\nthree|j=x" },
	{ "[a]\nk =\n  first\n  second\n", "[a]|k=first\\nsecond" },
	{ "[a]\n  orphan\n", "ERR:line 2: unexpected value continuation" },
	{ "  orphan\n", "ERR:line 1: unexpected value continuation" },
	/* '[' without ']' continues the previous value */
	{ "[a]\nk = v\n[oops\n", "[a]|k=v\\n[oops" },
	/* section rules */
	{ "k = v\n", "ERR:line 1: no section header defined" },
	{ "[]\n", "ERR:line 1: empty section name" },
	{ "[a]\n[b]\n[a]\n", "ERR:line 3: duplicate section 'a'" },
	{ "[ a ]\nk=v\n", "[ a ]|k=v" },
	{ "[a]\nk=1\nk=2\n", "ERR:line 3: duplicate name 'k'" },
	{ "[a]\nk=1\n[b]\nk=2\n", "[a]|k=1|[b]|k=2" },
	/* NUL bytes are refused */
	{ "[a]\nk=v\0x\n", "ERR:NUL byte in text" },
};

static void
test_parse_table(void **state)
{
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		size_t len = strlen(parse_cases[i].in);

		if (strstr(parse_cases[i].want, "NUL") != NULL)
			len += 3;
		got = render(parse_cases[i].in, len);
		if (strcmp(got, parse_cases[i].want) != 0)
			print_error("case %zu: %s\n", i, parse_cases[i].in);
		assert_str(got, parse_cases[i].want);
		free(got);
	}
}

static void
test_line_kinds(void **state)
{
	static const struct {
		const char *in;
		enum ini_kind kind;
		const char *name, *value;
	} cases[] = {
		{ "\n", INI_BLANK, NULL, NULL },
		{ "   \t\n", INI_BLANK, NULL, NULL },
		{ "  ; x\n", INI_BLANK, NULL, NULL },
		{ "[s]\n", INI_SECTION, "s", NULL },
		{ "[s]]\n", INI_SECTION, "s]", NULL },
		{ "[s # x]\n", INI_CONT, NULL, "[s # x]" },
		{ "k = v\n", INI_PAIR, "k", "v" },
		{ "k:v=w\n", INI_PAIR, "k", "v=w" },
		{ "  cont  \n", INI_CONT, NULL, "cont" },
		{ "junk\n", INI_BAD, NULL, "junk" },
	};
	struct ini_token tok;
	const char *p, *end;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = cases[i].in;
		end = p + strlen(p);
		assert_int(ini_line(&p, end, &tok), 1);
		assert_true(p == end);
		assert_int(tok.kind, cases[i].kind);
		if (cases[i].name != NULL) {
			assert_int(tok.name_len, strlen(cases[i].name));
			assert_memory_equal(tok.name, cases[i].name,
					    tok.name_len);
		}
		if (cases[i].value != NULL) {
			assert_int(tok.value_len, strlen(cases[i].value));
			assert_memory_equal(tok.value, cases[i].value,
					    tok.value_len);
		}
		assert_int(ini_line(&p, end, &tok), 0);
	}
}

/* huge lines and values, and too many entries, are errors, not crashes */
static void
test_limits(void **state)
{
	size_t n = INI_LINE_MAX + 100, i;
	char *text = malloc(n + 64), *got;
	struct buf b = BUF_INIT(1 << 22);

	(void)state;
	assert_non_null(text);
	memcpy(text, "[a]\nk = ", 8);
	memset(text + 8, 'x', n - 8);
	text[n] = '\n';
	got = render(text, n + 1);
	assert_str(got, "ERR:line 2: line too long");
	free(got);
	/* just under the limit is fine */
	text[4 + INI_LINE_MAX] = '\n';
	got = render(text, 4 + INI_LINE_MAX + 1);
	assert_int(strlen(got), strlen("[a]|k=") + INI_LINE_MAX - 4);
	free(got);
	free(text);

	/* continuations past INI_VALUE_MAX */
	(void)buf_puts(&b, "[a]\nk = v\n");
	for (i = 0; i < INI_VALUE_MAX / 1000 + 2; i++) {
		(void)buf_putc(&b, ' ');
		memset(buf_reserve(&b, 1000), 'y', 1000);
		buf_commit(&b, 1000);
		(void)buf_putc(&b, '\n');
	}
	got = render(b.data, b.len);
	assert_non_null(strstr(got, "ERR:line "));
	assert_non_null(strstr(got, ": value too long"));
	free(got);

	buf_reset(&b);
	(void)buf_puts(&b, "[a]\n");
	for (i = 0; i < INI_ENTRIES_MAX + 1; i++)
		(void)buf_printf(&b, "k%zu = v\n", i);
	got = render(b.data, b.len);
	assert_str(got, "ERR:line 4097: too many entries");
	free(got);
	buf_deinit(&b);
}

static void
test_get(void **state)
{
	static const char text[] = "[params]\nmail_domain = a.org\n"
				   "[other]\nmail_domain = b.org\nx=\n";
	struct ini *ini = NULL;
	const char *v = NULL;

	(void)state;
	assert_int(ini_parse(text, sizeof(text) - 1, &ini, NULL), 0);
	assert_int(ini_has_section(ini, "params"), 1);
	assert_int(ini_has_section(ini, "nope"), 0);
	assert_int(ini_get(ini, "params", "mail_domain", &v), 1);
	assert_str(v, "a.org");
	assert_int(ini_get(ini, "other", "mail_domain", &v), 1);
	assert_str(v, "b.org");
	assert_int(ini_get(ini, "other", "x", &v), 1);
	assert_str(v, "");
	assert_int(ini_get(ini, "params", "x", &v), 0);
	assert_int(ini_get(ini, "nope", "x", &v), 0);
	assert_int(ini->entries[1].line, 2);
	assert_int(ini->entries[3].line, 4);
	ini_free(&ini);
	ini_free(&ini); /* NULL is fine */
	/* err may be NULL on failure too */
	assert_int(ini_parse("x", 1, &ini, NULL), -EINVAL);
	assert_null(ini);
}

/* every prefix of a valid file parses or fails cleanly (no reads past
 * the end: ASan checks), byte by byte */
static void
test_every_prefix(void **state)
{
	static const char text[] = "\xef\xbb\xbf[params]\r\nmail_domain = a.org"
				   "\r\n  more\r\n# c\r\n[x]\xe2\x80\xa8k: v\r";
	size_t n;
	char *copy, *got;

	(void)state;
	for (n = 0; n <= sizeof(text) - 1; n++) {
		copy = malloc(n + 1);
		assert_non_null(copy);
		memcpy(copy, text, n);
		got = render(copy, n); /* no NUL terminator in bounds */
		assert_non_null(got);
		free(got);
		free(copy);
	}
	got = render(text, sizeof(text) - 1);
	assert_str(got, "[params]|mail_domain=a.org\\nmore|[x]|k=v");
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_line_kinds),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_every_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
