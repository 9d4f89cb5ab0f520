/*
 * test_doveauth: key parsing and unescaping, the creation rules table,
 * the system limits with injected readings, SHA512-CRYPT hashes, lookups
 * and creation in a temporary mailboxes_dir (reply JSON byte for byte),
 * the dict wire format, and concurrent creation from forked processes.
 */
#define _GNU_SOURCE /* crypt_r */
#include <crypt.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../dict_client.h"

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "doveauth.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "user.h"
#include "xmalloc.h"

/* limits no test machine reaches (upstream's plugin.py does the same) */
#define PERMISSIVE                                        \
	"max_load_1m = 99999\nmin_available_memory = 0\n" \
	"min_free_disk_space = 0\n"

struct fx {
	char *dir;
	char mbox[512], nocreate[512];
	struct chatmail_config cfg;
	struct doveauth *auth;
};

/* load: a config for chat.example.org with extra lines */
static void
load(struct fx *f, const char *extra)
{
	struct buf text = BUF_INIT(4096), err = BUF_INIT(4096);

	config_deinit(&f->cfg);
	(void)buf_printf(&text,
			 "[params]\nmail_domain = chat.example.org\n"
			 "mailboxes_dir = %s\nnocreate_file = %s\n%s",
			 f->mbox, f->nocreate, extra);
	if (config_load_string(&f->cfg, buf_cstr(&text), 0, &err) < 0)
		fail_msg("config: %s", buf_cstr(&err));
	doveauth_free(&f->auth);
	f->auth = doveauth_new(&f->cfg);
	buf_deinit(&text);
	buf_deinit(&err);
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	log_init("test_doveauth", getenv("V") ? 1 : -2);
	f->dir = test_tmpdir();
	(void)snprintf(f->mbox, sizeof(f->mbox), "%s/mail", f->dir);
	(void)snprintf(f->nocreate, sizeof(f->nocreate), "%s/nocreate", f->dir);
	assert_int(mkdir(f->mbox, 0700), 0);
	load(f, PERMISSIVE);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	doveauth_free(&f->auth);
	config_deinit(&f->cfg);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* --- keys ------------------------------------------------------------ */

static void
test_parse_key(void **state)
{
	static const struct {
		const char *key;
		int ret;
		enum auth_key_type type;
		const char *user, *password;
	} cases[] = {
		/* upstream's test: password with \ " ' / (%Ew-escaped) */
		{ "shared/passdb/laksjdlaksjdlak\\\\sjdlk\\\"12j\\'3l1/"
		  "k2j3123\""
		  "some42123@chat.example.org",
		  0, AUTH_KEY_PASSDB, "some42123@chat.example.org",
		  "laksjdlaksjdlak\\sjdlk\"12j'3l1/k2j3123" },
		{ "shared/passdb/pw\"a@b", 0, AUTH_KEY_PASSDB, "a@b", "pw" },
		{ "shared/passdb/\"a@b", 0, AUTH_KEY_PASSDB, "a@b", "" },
		{ "shared/passdb/p\"a@b\"extra", 0, AUTH_KEY_PASSDB, "a@b",
		  "p" },
		{ "shared/userdb/a@b", 0, AUTH_KEY_USERDB, "a@b", NULL },
		{ "shared/userdb/", 0, AUTH_KEY_USERDB, "", NULL },
		{ "shared/passdb/nouser", -EINVAL, 0, NULL, NULL },
		{ "shared/passdb/pw\\", -EINVAL, 0, NULL, NULL },
		{ "shared/passdb", -EINVAL, 0, NULL, NULL },
		{ "", -EINVAL, 0, NULL, NULL },
		{ "private/passdb/pw\"a@b", -ENOENT, 0, NULL, NULL },
		{ "shared/other/a@b", -ENOENT, 0, NULL, NULL },
	};
	struct auth_key k;
	char copy[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		(void)snprintf(copy, sizeof(copy), "%s", cases[i].key);
		assert_int(auth_parse_key(copy, &k), cases[i].ret);
		if (cases[i].ret != 0)
			continue;
		assert_int(k.type, cases[i].type);
		assert_str(k.user, cases[i].user);
		if (cases[i].password != NULL)
			assert_str(k.password, cases[i].password);
	}
}

/* --- creation rules -------------------------------------------------- */

static void
test_rules_table(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *addr, *pw;
		int ok;
	} cases[] = {
		/* lengths 6..10 as in upstream's test_invalid_username_length */
		{ "a1234@chat.example.org", "zequ0Aimuchoodaechik", 0 },
		{ "012345@chat.example.org", "zequ0Aimuchoodaechik", 1 },
		{ "0123456789@chat.example.org", "zequ0Aimuchoodaechik", 1 },
		{ "0123456789x@chat.example.org", "zequ0Aimuchoodaechik", 0 },
		/* charset (test_invalid_localpart_characters) */
		{ "a.b-c_d@chat.example.org", "zequ0Aimuchoodaechik", 1 },
		{ "Abc123@chat.example.org", "zequ0Aimuchoodaechik", 0 },
		{ "a b cd@chat.example.org", "zequ0Aimuchoodaechik", 0 },
		{ "abc+def@chat.example.org", "zequ0Aimuchoodaechik", 0 },
		{ "abc!def@chat.example.org", "zequ0Aimuchoodaechik", 0 },
		{ "ab@cdef@chat.example.org", "zequ0Aimuchoodaechik", 0 },
		{ "abc/def@chat.example.org", "zequ0Aimuchoodaechik", 0 },
		{ "abc\\def@chat.example.org", "zequ0Aimuchoodaechik", 0 },
		{ "abc\xc3\xa9"
		  "de@chat.example.org",
		  "zequ0Aimuchoodaechik", 0 },
		/* password length counts characters, as Python's len() */
		{ "abcdefg@chat.example.org", "12345678", 0 },
		{ "abcdefg@chat.example.org", "123456789", 1 },
		{ "abcdefg@chat.example.org",
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 0 },
		{ "abcdefg@chat.example.org", "", 0 },
		{ "abcdefg", "123456789", 0 },
	};

	load(f, PERMISSIVE "username_min_length = 6\n"
			   "username_max_length = 10\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		if (auth_may_create(f->auth, cases[i].addr, cases[i].pw) !=
		    cases[i].ok) {
			print_error("case %zu: %s\n", i, cases[i].addr);
			fail();
		}
	}
	/* the nocreate file blocks everything while it exists */
	assert_int(auth_may_create(f->auth, "012345@chat.example.org",
				   "zequ0Aimuchoodaechik"),
		   1);
	fclose(fopen(f->nocreate, "w"));
	assert_int(auth_may_create(f->auth, "012345@chat.example.org",
				   "zequ0Aimuchoodaechik"),
		   0);
}

/* injected system readings */
static double fake_load;
static uint64_t fake_mem, fake_disk;
static int fake_err;

static int
p_load(const struct auth_probe *p, double *r)
{
	(void)p;
	*r = fake_load;
	return fake_err & 1 ? -EIO : 0;
}

static int
p_mem(const struct auth_probe *p, uint64_t *r)
{
	(void)p;
	*r = fake_mem;
	return fake_err & 2 ? -EIO : 0;
}

static int
p_disk(const struct auth_probe *p, const char *dir, uint64_t *r)
{
	(void)p;
	(void)dir;
	*r = fake_disk;
	return fake_err & 4 ? -EIO : 0;
}

static void
test_limits(void **state)
{
	struct fx *f = *state;
	static const struct {
		double load;
		uint64_t mem, disk;
		int err, ok;
	} cases[] = {
		{ 1.0, 500, 5000, 0, 1 },  { 5.0, 200, 1024, 0, 1 },
		{ 5.01, 500, 5000, 0, 0 }, { 1.0, 199, 5000, 0, 0 },
		{ 1.0, 500, 1023, 0, 0 },  { 99.0, 0, 0, 7, 1 },
		{ 99.0, 500, 5000, 1, 1 }, { 1.0, 0, 5000, 1, 0 },
		{ 1.0, 500, 0, 3, 0 },
	};

	load(f, "max_load_1m = 5\nmin_available_memory = 200M\n"
		"min_free_disk_space = 1G\n");
	f->auth->probe.load1 = p_load;
	f->auth->probe.mem_avail_mb = p_mem;
	f->auth->probe.disk_free_mb = p_disk;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		fake_load = cases[i].load;
		fake_mem = cases[i].mem;
		fake_disk = cases[i].disk;
		fake_err = cases[i].err;
		assert_int(auth_has_resources(f->auth), cases[i].ok);
	}
	fake_err = 0;
}

/* the real readers work on this machine (its cgroup: test_limits.c) */
static void
test_probe_system(void **state)
{
	struct auth_probe p;
	double l;
	uint64_t m, d;

	(void)state;
	auth_probe_init(&p, "");
	assert_int(p.load1(&p, &l), 0);
	assert_int(p.mem_avail_mb(&p, &m), 0);
	assert_true(m > 0);
	assert_int(p.disk_free_mb(&p, "/", &d), 0);
	assert_true(p.disk_free_mb(&p, "/nonexistent/dir", &d) < 0);
}

static void
test_hash(void **state)
{
	char h1[AUTH_HASH_MAX], h2[AUTH_HASH_MAX];
	struct crypt_data cd;
	const char *salt_end;

	(void)state;
	assert_int(auth_hash_password("q9mr3faue", h1, sizeof(h1)), 0);
	assert_int(auth_hash_password("q9mr3faue", h2, sizeof(h2)), 0);
	assert_true(strncmp(h1, "{SHA512-CRYPT}$6$", 17) == 0);
	salt_end = strchr(h1 + 17, '$');
	assert_non_null(salt_end);
	assert_int(salt_end - (h1 + 17), 16);
	assert_int(strlen(salt_end + 1), 86);
	assert_true(strcmp(h1, h2) != 0); /* random salts */
	/* it verifies as Dovecot's SHA512-CRYPT does: crypt(pw, hash) */
	memset(&cd, 0, sizeof(cd));
	assert_str(crypt_r("q9mr3faue", h1 + 14, &cd), h1 + 14);
	assert_true(strcmp(crypt_r("wrong", h1 + 14, &cd), h1 + 14) != 0);
	assert_int(auth_hash_password("x", h1, 20), -ENAMETOOLONG);
}

/* --- lookups and creation -------------------------------------------- */

/* read_file: a small file's content */
static void
read_file(const char *path, char *out, size_t size)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	assert_non_null(fp);
	n = fread(out, 1, size - 1, fp);
	out[n] = '\0';
	(void)fclose(fp);
}

static void
test_create_and_lookup(void **state)
{
	struct fx *f = *state;
	struct buf j1 = BUF_INIT(8192), j2 = BUF_INIT(8192);
	char path[1024], pw[256], want[1024];
	struct stat st;

	/* nothing yet */
	assert_int(doveauth_lookup_userdb(f->auth, "abcdefghi@chat.example.org",
					  &j1),
		   0);
	/* first login creates */
	assert_int(doveauth_lookup_passdb(f->auth, "abcdefghi@chat.example.org",
					  "q9mr3faue", &j1),
		   1);
	assert_int(f->auth->created, 1);
	(void)snprintf(path, sizeof(path),
		       "%s/abcdefghi@chat.example.org/password", f->mbox);
	read_file(path, pw, sizeof(pw));
	assert_true(strncmp(pw, "{SHA512-CRYPT}$6$", 17) == 0);
	assert_null(strchr(pw, '\n')); /* no newline, as upstream */
	(void)snprintf(want, sizeof(want),
		       "{\"addr\": \"abcdefghi@chat.example.org\", \"home\": "
		       "\"%s/abcdefghi@chat.example.org\", \"uid\": \"vmail\", "
		       "\"gid\": \"vmail\", \"password\": \"%s\"}",
		       f->mbox, pw);
	assert_str(buf_cstr(&j1), want);
	(void)snprintf(path, sizeof(path),
		       "%s/abcdefghi@chat.example.org/enforceE2EEincoming",
		       f->mbox);
	assert_int(stat(path, &st), 0);
	/* userdb now finds the same */
	assert_int(doveauth_lookup_userdb(f->auth, "abcdefghi@chat.example.org",
					  &j2),
		   1);
	assert_str(buf_cstr(&j2), want);
	/* a wrong password gets the stored hash, nothing is overwritten */
	buf_reset(&j2);
	assert_int(doveauth_lookup_passdb(f->auth, "abcdefghi@chat.example.org",
					  "kajdslqwe", &j2),
		   1);
	assert_str(buf_cstr(&j2), want);
	assert_int(f->auth->created, 1);
	/* refused creations create nothing */
	assert_int(doveauth_lookup_passdb(f->auth, "short@chat.example.org",
					  "q9mr3faue", &j2),
		   0);
	assert_int(doveauth_lookup_passdb(f->auth, "abcdefghj@chat.example.org",
					  "short", &j2),
		   0);
	(void)snprintf(path, sizeof(path), "%s/abcdefghj@chat.example.org",
		       f->mbox);
	assert_true(stat(path, &st) < 0);
	/* path tricks are never looked up */
	assert_int(doveauth_lookup_passdb(f->auth, "../../etc@chat.example.org",
					  "q9mr3faue", &j2),
		   0);
	buf_deinit(&j1);
	buf_deinit(&j2);
}

/* upstream's test_insufficient_resources_block_creation_not_existing */
static void
test_limits_block_only_creation(void **state)
{
	struct fx *f = *state;
	struct buf j = BUF_INIT(8192);

	assert_int(doveauth_lookup_passdb(f->auth, "abcdefghi@chat.example.org",
					  "q9mr3faue", &j),
		   1);
	f->auth->probe.load1 = p_load;
	f->auth->probe.mem_avail_mb = p_mem;
	f->auth->probe.disk_free_mb = p_disk;
	fake_load = 1e9;
	fake_err = 0;
	buf_reset(&j);
	assert_int(doveauth_lookup_passdb(f->auth, "newaddr12@chat.example.org",
					  "q9mr3faue", &j),
		   0);
	assert_int(doveauth_lookup_passdb(f->auth, "abcdefghi@chat.example.org",
					  "q9mr3faue", &j),
		   1);
	buf_deinit(&j);
}

/* an existing empty password file counts as no account (upstream) */
static void
test_empty_password_file(void **state)
{
	struct fx *f = *state;
	struct buf j = BUF_INIT(8192);
	char path[1024];

	(void)snprintf(path, sizeof(path), "%s/abcdefghi@chat.example.org",
		       f->mbox);
	assert_int(mkdir(path, 0700), 0);
	(void)snprintf(path, sizeof(path),
		       "%s/abcdefghi@chat.example.org/password", f->mbox);
	fclose(fopen(path, "w"));
	assert_int(doveauth_lookup_userdb(f->auth, "abcdefghi@chat.example.org",
					  &j),
		   0);
	assert_int(doveauth_lookup_passdb(f->auth, "abcdefghi@chat.example.org",
					  "q9mr3faue", &j),
		   1);
	buf_deinit(&j);
}

/* --- the wire ---------------------------------------------------------- */

/* converse: send text to a doveauth dict server, return what it said */
static char *
converse(struct fx *f, const char *text)
{
	return dict_converse_new("auth", &doveauth_ops, f->auth, text);
}

static void
test_wire(void **state)
{
	struct fx *f = *state;
	char *out;

	/* hello alone: nothing (test_handle_dovecot_protocol_hello...) */
	out = converse(f, "H3\t2\t0\t\tauth\n");
	assert_str(out, "");
	free(out);
	out = converse(f, "H3\t2\t0\t\tauth\nLshared/userdb/foobar@chat."
			  "example.org\tfoobar@chat.example.org\n");
	assert_str(out, "N\n");
	free(out);
	/* other domains and namespaces */
	out = converse(f, "H3\t2\t0\t\tauth\nLshared/passdb/q9mr3faue\""
			  "abcdefghi@other.org\nLprivate/x/y\n"
			  "Lshared/passdb/broken\n");
	assert_str(out, "N\nF\nFbroken key\n");
	free(out);
	/* create two, iterate (the last line lacks its LF, as upstream's
	 * test sends it) */
	out = converse(f,
		       "H3\t2\t0\t\tauth\n"
		       "Lshared/passdb/q9mr3faue\"asdf00000@chat.example.org\n"
		       "Lshared/passdb/q9mr3faue\"asdf11111@chat.example.org\n"
		       "I0\t0\tshared/userdb/");
	assert_true(strncmp(out, "O{\"addr\": \"asdf00000@", 21) == 0);
	assert_non_null(
		strstr(out, "\nOshared/userdb/asdf00000@chat.example.org\t\n"));
	assert_non_null(
		strstr(out, "\nOshared/userdb/asdf11111@chat.example.org\t\n"));
	assert_true(strcmp(out + strlen(out) - 2, "\n\n") == 0);
	free(out);
}

/* ten processes create the same account at once: one password */
static void
test_concurrent_creation(void **state)
{
	struct fx *f = *state;
	char path[1024], first[256], now[256];
	struct buf j = BUF_INIT(8192);
	pid_t pids[10];
	int status, created = 0;

	for (int i = 0; i < 10; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			int r = doveauth_lookup_passdb(
				f->auth, "racetest1@chat.example.org",
				"zequ0Aimuchoodaechik", &j);
			_exit(r == 1 ? (int)f->auth->created : 99);
		}
	}
	for (int i = 0; i < 10; i++) {
		assert_int(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
		created += WEXITSTATUS(status);
	}
	assert_int(created, 1);
	(void)snprintf(path, sizeof(path),
		       "%s/racetest1@chat.example.org/password", f->mbox);
	read_file(path, first, sizeof(first));
	assert_int(doveauth_lookup_passdb(f->auth, "racetest1@chat.example.org",
					  "zequ0Aimuchoodaechik", &j),
		   1);
	read_file(path, now, sizeof(now));
	assert_str(now, first);
	buf_deinit(&j);
}

/* test_counters: upstream's mtail counters move with their log lines:
 * created (ci- or not) once per account, rejected_registrations when
 * the system limits refuse one; the metrics text carries them */
static void
test_counters(void **state)
{
	struct fx *f = *state;
	struct buf j = BUF_INIT(8192), out = BUF_INIT(8192);

	assert_int(doveauth_lookup_passdb(f->auth, "ci-abcdef@chat.example.org",
					  "q9mr3faue", &j),
		   1);
	assert_int(doveauth_lookup_passdb(f->auth, "abcdefghi@chat.example.org",
					  "q9mr3faue", &j),
		   1);
	assert_int(doveauth_lookup_passdb(f->auth, "abcdefghi@chat.example.org",
					  "q9mr3faue", &j),
		   1);
	assert_int(f->auth->created, 2);
	assert_int(f->auth->created_ci, 1);
	assert_int(f->auth->created_nonci, 1);
	assert_int(f->auth->rejected_registrations, 0);
	/* refused by the rules: not a rejected registration upstream */
	assert_int(doveauth_lookup_passdb(f->auth, "short@chat.example.org",
					  "q9mr3faue", &j),
		   0);
	assert_int(f->auth->rejected_registrations, 0);
	f->auth->probe.load1 = p_load;
	f->auth->probe.mem_avail_mb = p_mem;
	f->auth->probe.disk_free_mb = p_disk;
	fake_load = 1e9;
	fake_err = 0;
	assert_int(doveauth_lookup_passdb(f->auth, "newaddr12@chat.example.org",
					  "q9mr3faue", &j),
		   0);
	assert_int(f->auth->rejected_registrations, 1);
	assert_int(f->auth->created, 2);
	assert_int(doveauth_metrics(f->auth, &out), 0);
	assert_non_null(strstr(buf_cstr(&out), "\ncreated_accounts 2\n"));
	assert_non_null(strstr(buf_cstr(&out), "\ncreated_ci_accounts 1\n"));
	assert_non_null(strstr(buf_cstr(&out), "\ncreated_nonci_accounts 1\n"));
	assert_non_null(strstr(buf_cstr(&out), "\nrejected_registrations 1\n"));
	assert_non_null(
		strstr(buf_cstr(&out), "# TYPE created_accounts counter\n"));
	/* no address in the text */
	assert_null(strstr(buf_cstr(&out), "@"));
	buf_deinit(&j);
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_key),
		cmocka_unit_test(test_probe_system),
		cmocka_unit_test(test_hash),
		cmocka_unit_test_setup_teardown(test_rules_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_and_lookup, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_limits_block_only_creation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_password_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_creation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
