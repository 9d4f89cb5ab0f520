/*
 * test_migrate: upstream's one-time import of a legacy SQLite password
 * database (services/doveauth/doveauth_migrate.c) on databases the test
 * makes with libsqlite3: upstream's own test_migration (500 accounts
 * with a last login, 500 without), plus the CI accounts it leaves out,
 * odd rows, the companion files it removes, an old two-column table, no
 * database at all, and a failing write that must leave the database in
 * place.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "doveauth.h"
#include "log.h"
#include "user.h"
#include "xmalloc.h"

struct fx {
	char *dir;
	char db[512], mbox[512];
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	log_init("test_migrate", getenv("V") ? 1 : -2);
	f->dir = test_tmpdir();
	(void)snprintf(f->db, sizeof(f->db), "%s/passdb.sqlite", f->dir);
	(void)snprintf(f->mbox, sizeof(f->mbox), "%s/mail/c.example.org",
		       f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* sql: run statements on the database at path */
static void
sql(const char *path, const char *stmts)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, stmts, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("sqlite: %s", msg);
	assert_int(sqlite3_close(db), SQLITE_OK);
}

/* insert: one row (last_login NULL: "") */
static void
insert(sqlite3_stmt *st, const char *addr, const char *pw, long long ll)
{
	assert_int(sqlite3_bind_text(st, 1, addr, -1, SQLITE_TRANSIENT),
		   SQLITE_OK);
	assert_int(sqlite3_bind_text(st, 2, pw, -1, SQLITE_TRANSIENT),
		   SQLITE_OK);
	if (ll >= 0)
		assert_int(sqlite3_bind_int64(st, 3, ll), SQLITE_OK);
	else
		assert_int(sqlite3_bind_text(st, 3, "", -1, SQLITE_STATIC),
			   SQLITE_OK);
	assert_int(sqlite3_step(st), SQLITE_DONE);
	assert_int(sqlite3_reset(st), SQLITE_OK);
}

/* make_upstream_db: upstream's test_migration database: somsomNNN with
 * passwoNNN and a last login of NNN days, pompomNNN with wopassNNN and
 * an empty one; plus two CI accounts and two rows that cannot be used */
static void
make_upstream_db(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char addr[64], pw[64];
	int i;

	sql(path, "CREATE TABLE users (addr TEXT PRIMARY KEY, password TEXT, "
		  "last_login INTEGER)");
	assert_int(sqlite3_open(path, &db), SQLITE_OK);
	assert_int(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int(sqlite3_prepare_v2(db,
				      "INSERT INTO users (addr, password, "
				      "last_login) VALUES (?, ?, ?)",
				      -1, &st, NULL),
		   SQLITE_OK);
	for (i = 0; i < 500; i++) {
		(void)snprintf(addr, sizeof(addr), "somsom%03d@c.example.org",
			       i);
		(void)snprintf(pw, sizeof(pw), "passwo%03d", i);
		insert(st, addr, pw, (long long)i * 86400);
		(void)snprintf(addr, sizeof(addr), "pompom%03d@c.example.org",
			       i);
		(void)snprintf(pw, sizeof(pw), "wopass%03d", i);
		insert(st, addr, pw, -1);
	}
	insert(st, "ci-abcdef@c.example.org", "{SHA512-CRYPT}x", 86400);
	insert(st, "ac_abcdef@c.example.org", "{SHA512-CRYPT}y", 86400);
	insert(st, "../escape@c.example.org", "{SHA512-CRYPT}z", 86400);
	insert(st, "nopassword@c.example.org", "", 86400);
	assert_int(sqlite3_finalize(st), SQLITE_OK);
	assert_int(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int(sqlite3_close(db), SQLITE_OK);
}

/* check_user: addr's password file holds pw, mtime day (or -1: any) */
static void
check_user(const struct fx *f, const char *addr, const char *pw, long long day)
{
	char dir[1024], got[256];
	time_t ts;

	assert_int(user_dir(f->mbox, addr, dir, sizeof(dir)), 0);
	assert_int(user_read_password(dir, got, sizeof(got)), 1);
	assert_str(got, pw);
	assert_int(user_enforces_e2ee(dir), 1);
	if (day >= 0) {
		assert_int(user_last_login(dir, &ts), 0);
		assert_int(ts, day);
	}
}

/* exists: path names something */
static int
exists(const char *dir, const char *name)
{
	char path[1024];

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* upstream's test_migration, and what it leaves out and removes */
static void
test_upstream_migration(void **state)
{
	struct fx *f = *state;
	char addr[64], pw[64], dir[1024];
	int i;

	make_upstream_db(f->db);
	(void)snprintf(dir, sizeof(dir), "%s-wal", f->db);
	(void)fclose(fopen(dir, "w"));
	(void)snprintf(dir, sizeof(dir), "%s-shm", f->db);
	(void)fclose(fopen(dir, "w"));
	assert_int(auth_migrate_sqlite(f->db, f->mbox, 500), 0);
	for (i = 0; i < 500; i++) {
		(void)snprintf(addr, sizeof(addr), "somsom%03d@c.example.org",
			       i);
		(void)snprintf(pw, sizeof(pw), "passwo%03d", i);
		check_user(f, addr, pw, i == 0 ? -1 : (long long)i * 86400);
		(void)snprintf(addr, sizeof(addr), "pompom%03d@c.example.org",
			       i);
		(void)snprintf(pw, sizeof(pw), "wopass%03d", i);
		check_user(f, addr, pw, -1);
	}
	/* not transferred */
	assert_false(exists(f->mbox, "ci-abcdef@c.example.org"));
	assert_false(exists(f->mbox, "ac_abcdef@c.example.org"));
	assert_false(exists(f->mbox, "nopassword@c.example.org"));
	assert_false(exists(f->dir, "mail/escape@c.example.org"));
	/* the database moved, its companions gone */
	assert_false(exists(f->dir, "passdb.sqlite"));
	assert_true(exists(f->dir, "passdb.sqlite.old"));
	assert_false(exists(f->dir, "passdb.sqlite-wal"));
	assert_false(exists(f->dir, "passdb.sqlite-shm"));
	/* once: the next start finds nothing to do */
	assert_int(auth_migrate_sqlite(f->db, f->mbox, 0), 0);
}

/* an old table without last_login; a last login stored as text */
static void
test_two_columns(void **state)
{
	struct fx *f = *state;

	sql(f->db, "CREATE TABLE users (addr TEXT PRIMARY KEY, password "
		   "TEXT);"
		   "INSERT INTO users VALUES ('abcdefghi@c.example.org', "
		   "'{SHA512-CRYPT}$6$abc');");
	assert_int(auth_migrate_sqlite(f->db, f->mbox, 0), 0);
	check_user(f, "abcdefghi@c.example.org", "{SHA512-CRYPT}$6$abc", -1);
	(void)snprintf(f->db, sizeof(f->db), "%s/second.sqlite", f->dir);
	sql(f->db, "CREATE TABLE users (addr TEXT, password TEXT, last_login);"
		   "INSERT INTO users VALUES ('jklmnopqr@c.example.org', "
		   "'{SHA512-CRYPT}$6$def', '172800');");
	assert_int(auth_migrate_sqlite(f->db, f->mbox, 0), 0);
	check_user(f, "jklmnopqr@c.example.org", "{SHA512-CRYPT}$6$def",
		   172800);
}

/* nothing there: nothing done; a write that fails: the database stays
 * for the next start; a file that is not a database: an error too */
static void
test_failures(void **state)
{
	struct fx *f = *state;
	char path[1024];

	assert_int(auth_migrate_sqlite(f->db, f->mbox, 0), 0);
	assert_false(exists(f->dir, "mail"));
	sql(f->db, "CREATE TABLE users (addr TEXT, password TEXT, "
		   "last_login INTEGER);"
		   "INSERT INTO users VALUES ('abcdefghi@c.example.org', "
		   "'{SHA512-CRYPT}$6$abc', 0);");
	/* mailboxes_dir's parent is a file: no directory can be made */
	(void)snprintf(path, sizeof(path), "%s/mail", f->dir);
	(void)fclose(fopen(path, "w"));
	assert_true(auth_migrate_sqlite(f->db, f->mbox, 0) < 0);
	assert_true(exists(f->dir, "passdb.sqlite"));
	assert_int(unlink(path), 0);
	assert_int(auth_migrate_sqlite(f->db, f->mbox, 0), 0);
	check_user(f, "abcdefghi@c.example.org", "{SHA512-CRYPT}$6$abc", -1);
	(void)snprintf(f->db, sizeof(f->db), "%s/garbage.sqlite", f->dir);
	(void)snprintf(path, sizeof(path), "%s", f->db);
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		assert_true(fputs("not a database at all, no", fp) >= 0);
		assert_int(fclose(fp), 0);
	}
	assert_true(auth_migrate_sqlite(f->db, f->mbox, 0) < 0);
	assert_true(exists(f->dir, "garbage.sqlite"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upstream_migration, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_columns, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
