/* test_clean: the authclean header cleanup filtermail outgoing applies
 * before signing (fm_clean.c): table-driven input/output pairs (dropped
 * fields with their continuations, Subject replaced however folded or
 * spelled, Postfix's end of the header section at a non-header line,
 * orphan continuations, line ends), Date and Message-ID added only when
 * missing, Postfix's is_header() rule, idempotence (authclean after us
 * changes nothing), and a full output buffer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/fm_clean.h"

/* 2026-11-28 12:00:00 UTC, a Saturday */
#define NOW ((time_t)1795867200)
#define DATE "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
#define HAVE "Date: x\r\nMessage-ID: <m@x>\r\n"

/* clean: fm_clean_header over in (a NUL-terminated section) into a
 * static string; the Message-ID's random part replaced by "R" */
static const char *
clean(const char *in)
{
	static char got[8192];
	struct buf out = BUF_INIT(1 << 20);
	char *r;

	assert_int(fm_clean_header(in, strlen(in), NOW, "example.org", &out),
		   0);
	(void)snprintf(got, sizeof(got), "%s", buf_cstr(&out));
	buf_deinit(&out);
	r = strstr(got, "Message-ID: <20261128120000.");
	if (r != NULL && strlen(r) >= 28 + 16 &&
	    strncmp(r + 28 + 16, "@example.org>\r\n", 15) == 0) {
		r[28] = 'R';
		memmove(r + 29, r + 28 + 16, strlen(r + 28 + 16) + 1);
	}
	return got;
}

static const struct {
	const char *in, *want;
} cases[] = {
	/* the four fields go, with their continuation lines */
	{ "Received: from a\r\n\tby b\r\nFrom: a@x\r\n"
	  "X-Originating-IP: [1.2.3.4]\r\nX-Mailer: m\r\n  more\r\n"
	  "User-Agent: u\r\nTo: b@y\r\n" HAVE,
	  "From: a@x\r\nTo: b@y\r\n" HAVE },
	/* any case, blanks before the colon */
	{ "RECEIVED: a\r\nx-mailer : b\r\nuser-AGENT\t: c\r\n" HAVE, HAVE },
	/* Subject, folded or not, any case, each one */
	{ "Subject: hello\r\n" HAVE, "Subject: [...]\r\n" HAVE },
	{ "From: a@x\r\nsubject: a long\r\n  folded\r\n\tsubject\r\n"
	  "To: b@y\r\n" HAVE,
	  "From: a@x\r\nSubject: [...]\r\nTo: b@y\r\n" HAVE },
	{ "Subject :x\r\nSubject: [...]\r\nSUBJECT:\r\n" HAVE,
	  "Subject: [...]\r\nSubject: [...]\r\nSubject: [...]\r\n" HAVE },
	/* names that only start like the dropped ones stay */
	{ "Received-SPF: pass\r\nX-Mailer2: y\r\nSubjects: z\r\n" HAVE,
	  "Received-SPF: pass\r\nX-Mailer2: y\r\nSubjects: z\r\n" HAVE },
	/* a leading continuation line would join Postfix's own Received */
	{ " orphan\r\n\tagain\r\nFrom: a@x\r\n" HAVE, "From: a@x\r\n" HAVE },
	/* Date and Message-ID added when missing, at the end */
	{ "From: a@x\r\n", "From: a@x\r\n" DATE
			   "Message-ID: <20261128120000.R@example.org>\r\n" },
	{ "From: a@x\r\ndate: y\r\n",
	  "From: a@x\r\ndate: y\r\n"
	  "Message-ID: <20261128120000.R@example.org>\r\n" },
	{ "Message-Id: <a@b>\r\nFrom: a@x\r\n",
	  "Message-Id: <a@b>\r\nFrom: a@x\r\n" DATE },
	/* a non-header line ends Postfix's header section: it and all
	 * after it stay as they are, missing fields go before it */
	{ "From: a@x\r\nno header here\r\nSubject: s\r\nX-Mailer: m\r\n",
	  "From: a@x\r\n" DATE "Message-ID: <20261128120000.R@example.org>\r\n"
	  "no header here\r\nSubject: s\r\nX-Mailer: m\r\n" },
	{ "From: a@x\r\n" HAVE ":colon first\r\nSubject: s\r\n",
	  "From: a@x\r\n" HAVE ":colon first\r\nSubject: s\r\n" },
	{ "From: a@x\r\n" HAVE "S\xc3\xbc"
	  "bject: 8bit name\r\nSubject: s\r\n",
	  "From: a@x\r\n" HAVE "S\xc3\xbc"
	  "bject: 8bit name\r\nSubject: s\r\n" },
	/* bare LF and a missing last line end become CRLF */
	{ "From: a@x\nSubject: s\n" HAVE "To: b@y",
	  "From: a@x\r\nSubject: [...]\r\n" HAVE "To: b@y\r\n" },
	/* 8-bit values are kept byte for byte */
	{ "From: \"J\xc3\xb6rg\" <a@x>\r\n" HAVE,
	  "From: \"J\xc3\xb6rg\" <a@x>\r\n" HAVE },
};

/* test_cases: the table */
static void
test_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		assert_str(clean(cases[i].in), cases[i].want);
	}
}

/* test_is_field: Postfix's is_header() */
static void
test_is_field(void **state)
{
	static const struct {
		const char *line;
		size_t want;
	} t[] = {
		{ "Subject: x", 7 },   { "Subject :x", 7 },
		{ "Subject\t\t:", 7 }, { "X-A.b_c~!: y", 9 },
		{ ": x", 0 },	       { " Subject: x", 0 },
		{ "\tx: y", 0 },       { "Sub ject: x", 0 },
		{ "Subject", 0 },      { "Subject x", 0 },
		{ "S\x7fj: x", 0 },    { "S\x01j: x", 0 },
		{ "\xc3\xa4: x", 0 },  { "", 0 },
		{ "A:", 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		print_message("%s\n", t[i].line);
		assert_int(fm_clean_is_field(t[i].line, strlen(t[i].line)),
			   t[i].want);
	}
	/* the length bounds the scan */
	assert_int(fm_clean_is_field("Subject: x", 7), 0);
	assert_int(fm_clean_is_field("Subject: x", 8), 7);
}

/* test_idempotent: cleaning what we sent changes nothing, which is what
 * Postfix's authclean does after us */
static void
test_idempotent(void **state)
{
	struct buf a = BUF_INIT(1 << 20), b = BUF_INIT(1 << 20);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&a);
		buf_reset(&b);
		assert_int(fm_clean_header(cases[i].in, strlen(cases[i].in),
					   NOW, "example.org", &a),
			   0);
		assert_int(fm_clean_header(a.data, a.len, NOW + 5,
					   "example.org", &b),
			   0);
		assert_int(a.len, b.len);
		assert_memory_equal(a.data, b.data, a.len);
	}
	buf_deinit(&a);
	buf_deinit(&b);
}

/* test_message_id: the added Message-ID differs per message */
static void
test_message_id(void **state)
{
	struct buf a = BUF_INIT(4096), b = BUF_INIT(4096);

	(void)state;
	assert_int(fm_clean_header("", 0, NOW, "example.org", &a), 0);
	assert_int(fm_clean_header("", 0, NOW, "example.org", &b), 0);
	assert_int(strncmp(buf_cstr(&a), DATE "Message-ID: <20261128120000.",
			   39 + 28),
		   0);
	assert_int(a.len, strlen(DATE) + 59);
	assert_int(strcmp(buf_cstr(&a), buf_cstr(&b)) != 0, 1);
	buf_deinit(&a);
	buf_deinit(&b);
}

/* test_full: an output buffer too small gives -E2BIG */
static void
test_full(void **state)
{
	static const char in[] = "From: a@x\r\nTo: b@y\r\n" HAVE;
	struct buf out = BUF_INIT(16);

	(void)state;
	assert_int(fm_clean_header(in, strlen(in), NOW, "x", &out), -E2BIG);
	buf_deinit(&out);
	buf_init(&out, strlen(in));
	assert_int(fm_clean_header(in, strlen(in), NOW, "x", &out), 0);
	assert_str(buf_cstr(&out), in);
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_is_field),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_message_id),
		cmocka_unit_test(test_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
