/*
 * test_lastlogin: key/value parsing, and B/S/C transactions over the
 * dict protocol setting the day-rounded mtime of the password file
 * (upstream's test_lastlogin.py and test_user.py timestamps).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../dict_client.h"

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "evloop.h"
#include "lastlogin.h"
#include "log.h"
#include "net.h"
#include "xmalloc.h"

static void
test_parse(void **state)
{
	static const struct {
		const char *key, *value;
		int ret;
		const char *addr;
		int64_t ts;
	} cases[] = {
		{ "shared/last-login/a@b.org", "1700000000", 0, "a@b.org",
		  1700000000 },
		{ "shared/last-login/a@b.org", "0", 0, "a@b.org", 0 },
		{ "shared/last-login/a@b.org", "", -EINVAL, NULL, 0 },
		{ "shared/last-login/a@b.org", "12x", -EINVAL, NULL, 0 },
		{ "shared/last-login/a@b.org", "-5", -EINVAL, NULL, 0 },
		{ "shared/last-login/", "1", -EINVAL, NULL, 0 },
		{ "shared/last-login/a/b", "1", -EINVAL, NULL, 0 },
		{ "priv/guid/last-login/a@b", "1", -EINVAL, NULL, 0 },
	};
	const char *addr;
	int64_t ts;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		assert_int(lastlogin_parse(cases[i].key, cases[i].value, &addr,
					   &ts),
			   cases[i].ret);
		if (cases[i].ret == 0) {
			assert_str(addr, cases[i].addr);
			assert_int(ts, cases[i].ts);
		}
	}
}

/* converse: text to a lastlogin dict server; what it answered */
static char *
converse(struct lastlogin *ll, const char *text)
{
	return dict_converse_new("lastlogin", &lastlogin_ops, ll, text);
}

/* make_user: user.name@chat.example.org under dir, with a password
 * file, whose path goes to path */
static void
make_user(const char *dir, char *path, size_t pathsize)
{
	FILE *fp;

	(void)snprintf(path, pathsize, "%s/user.name@chat.example.org", dir);
	assert_int(mkdir(path, 0700), 0);
	(void)snprintf(path, pathsize, "%s/user.name@chat.example.org/password",
		       dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	(void)fputs("{SHA512-CRYPT}$6$x$y", fp);
	(void)fclose(fp);
}

static void
test_wire(void **state)
{
	struct chatmail_config cfg = { 0 };
	struct buf text = BUF_INIT(1024), err = BUF_INIT(1024);
	char *dir = test_tmpdir(), path[1024], *out;
	struct lastlogin *ll;
	struct stat st;
	time_t now = time(NULL), day = now / 86400 * 86400;

	(void)state;
	log_init("test_lastlogin", getenv("V") ? 1 : -2);
	(void)buf_printf(&text,
			 "[params]\nmail_domain = chat.example.org\n"
			 "mailboxes_dir = %s\n",
			 dir);
	assert_int(config_load_string(&cfg, buf_cstr(&text), 0, &err), 0);
	ll = lastlogin_new(&cfg);
	make_user(dir, path, sizeof(path));

	/* the transaction upstream's test sends */
	buf_reset(&text);
	(void)buf_printf(&text,
			 "H3\t2\t0\t\tlastlogin\nB1111\tuser.name@chat.example."
			 "org\nS1111\tshared/last-login/user.name@chat.example."
			 "org\t%lld\nC1111\n",
			 (long long)now);
	out = converse(ll, buf_cstr(&text));
	assert_str(out, "O1111\n");
	free(out);
	assert_int(stat(path, &st), 0);
	assert_int(st.st_mtime, day);
	assert_int(st.st_atime, day);
	assert_int(ll->updates, 1);
	/* the same day again touches nothing */
	out = converse(ll, buf_cstr(&text));
	assert_str(out, "O1111\n");
	free(out);
	assert_int(ll->updates, 1);
	/* 100000 and 200000 as in upstream's test_login_timestamp */
	out = converse(ll, "H3\t2\t0\t\tlastlogin\nB1\tu\nS1\tshared/last-"
			   "login/user.name@chat.example.org\t100000\nC1\n"
			   "B2\tu\nS2\tshared/last-login/user.name@chat."
			   "example.org\t200000\nC2\n");
	assert_str(out, "O1\nO2\n");
	free(out);
	assert_int(stat(path, &st), 0);
	assert_int(st.st_mtime, 2 * 86400);
	/* no password file: logged, still O; other keys: F */
	out = converse(ll, "H3\t2\t0\t\tlastlogin\nB1\tu\nS1\tshared/last-"
			   "login/nobody@chat.example.org\t100000\nC1\n"
			   "B2\tu\nS2\tshared/other/x\t1\nC2\n"
			   "B3\tu\nS3\tshared/last-login/../x@y\t1\nC3\n");
	assert_str(out, "O1\nF2\tset failed\nF3\tset failed\n");
	free(out);
	lastlogin_free(&ll);
	config_deinit(&cfg);
	buf_deinit(&text);
	buf_deinit(&err);
	test_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
