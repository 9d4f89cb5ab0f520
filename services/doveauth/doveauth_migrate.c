/*
 * doveauth_migrate: upstream's one-time import of a legacy SQLite
 * password database (chatmaild's migrate_db.py, relays from before July
 * 2024; docs/UPSTREAM.md, doveauth), run at start before serving.
 *
 * When passdb_path exists: read every row of its table users (address,
 * password hash, last login) read-only; leave out the CI accounts whose
 * address starts with "ci-" or "ac_"; for each other row write the
 * password file of the address as account creation does (mkdir, atomic
 * write, the enforceE2EEincoming marker), and set its mtime to the last
 * login rounded down to the day when the row has one; then rename the
 * database to <passdb_path>.old and remove its "<name>-*" companions
 * (-wal, -shm, -journal). Upstream's log lines, progress every 10000.
 *
 * Where upstream would stop with a traceback on one odd row, this goes
 * on: a row with an address that is not a safe directory name, or a
 * hash that is empty or not printable ASCII, is logged and left out. A
 * write that fails (full disk, permissions) leaves the database where
 * it is and fails the start (exit 75): the next start tries again, as
 * upstream's restart would.
 *
 * Untrusted input: the database's contents (addresses become directory
 * names only through user_dir(); hashes are checked before writing).
 */
#include "doveauth.h"

#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "num.h"
#include "user.h"

/* one row as upstream reads it */
struct mig_row {
	const char *addr, *hash;
	long long last_login; /* 0: none */
};

/* row_last_login: column 2 when the table has one and it is truthy
 * (upstream: `if len(row) == 3 and row[2]: int(row[2])`) */
static long long
row_last_login(sqlite3_stmt *st)
{
	const unsigned char *t;
	int64_t v;

	if (sqlite3_column_count(st) < 3)
		return 0;
	switch (sqlite3_column_type(st, 2)) {
	case SQLITE_INTEGER:
		return sqlite3_column_int64(st, 2);
	case SQLITE_FLOAT:
		return (long long)sqlite3_column_double(st, 2);
	case SQLITE_TEXT:
		t = sqlite3_column_text(st, 2);
		if (t != NULL &&
		    num_parse_i64((const char *)t, 0, INT64_MAX, &v) == 0)
			return v;
		return 0;
	default:
		return 0;
	}
}

/* migrate_row: the password file (and mtime) of one row; 1 written, 0
 * left out (logged), -errno a write failed */
static int
migrate_row(const char *mailboxes_dir, const struct mig_row *row)
{
	char dir[USER_PATH_MAX];
	int r;

	if (row->addr == NULL || strchr(row->addr, '@') == NULL ||
	    user_dir(mailboxes_dir, row->addr, dir, sizeof(dir)) < 0) {
		log_warn("migration: left out a row with an unusable address "
			 "'%s'",
			 row->addr != NULL ? row->addr : "(null)");
		return 0;
	}
	if (row->hash == NULL || row->hash[0] == '\0') {
		log_warn("migration: left out %s: empty password", row->addr);
		return 0;
	}
	r = user_write_password(dir, row->hash);
	if (r == -EINVAL) {
		log_warn("migration: left out %s: the password is not ASCII",
			 row->addr);
		return 0;
	}
	if (r == 0 && row->last_login > 0)
		r = user_set_last_login(dir, (time_t)row->last_login);
	if (r < 0) {
		log_error("migration: could not write password for: %s: %s",
			  row->addr, strerror(-r));
		return r;
	}
	return 1;
}

/* is_ci: the accounts upstream does not transfer */
static int
is_ci(const char *addr)
{
	return addr != NULL &&
	       (strncmp(addr, "ci-", 3) == 0 || strncmp(addr, "ac_", 3) == 0);
}

/* count_ci: rows of the CI accounts, for upstream's first log line */
static long long
count_ci(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	long long n = 0;

	if (sqlite3_prepare_v2(db, "SELECT * FROM users", -1, &st, NULL) !=
	    SQLITE_OK)
		return 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		n += is_ci((const char *)sqlite3_column_text(st, 0));
	(void)sqlite3_finalize(st);
	return n;
}

/* import_rows: every row of db; 0 or -errno (a failed write) */
static int
import_rows(sqlite3 *db, const char *path, const char *mailboxes_dir,
	    unsigned chunk)
{
	sqlite3_stmt *st = NULL;
	struct mig_row row;
	long long ci = count_ci(db), n = 0, i = 0;
	int rc, r = 0;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM users", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	(void)sqlite3_finalize(st);
	log_info("ignoring %lld CI accounts", ci);
	log_info("migrating %lld sqlite database passwords to user dirs",
		 n - ci);
	if (sqlite3_prepare_v2(db, "SELECT * FROM users", -1, &st, NULL) !=
	    SQLITE_OK) {
		log_error("migration: %s: %s", path, sqlite3_errmsg(db));
		return -EIO;
	}
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row.addr = (const char *)sqlite3_column_text(st, 0);
		if (is_ci(row.addr))
			continue;
		row.hash = sqlite3_column_count(st) > 1
				   ? (const char *)sqlite3_column_text(st, 1)
				   : NULL;
		row.last_login = row_last_login(st);
		r = migrate_row(mailboxes_dir, &row);
		r = r > 0 ? 0 : r;
		if (r == 0 && ++i % chunk == 0)
			log_info("migration-progress: %lld passwords "
				 "transferred",
				 i);
	}
	if (r == 0 && rc != SQLITE_DONE) {
		log_error("migration: %s: %s", path, sqlite3_errmsg(db));
		r = -EIO;
	}
	(void)sqlite3_finalize(st);
	return r;
}

/* remove_companions: "<name>-*" next to the database, as upstream */
static void
remove_companions(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dirpath[USER_PATH_MAX], file[USER_PATH_MAX * 2];
	const char *name = slash != NULL ? slash + 1 : path;
	size_t n = strlen(name);
	struct dirent *de;
	DIR *d;

	(void)snprintf(dirpath, sizeof(dirpath), "%.*s",
		       slash != NULL ? (int)(slash - path) : 1,
		       slash != NULL ? path : ".");
	if (dirpath[0] == '\0')
		(void)snprintf(dirpath, sizeof(dirpath), "/");
	if ((d = opendir(dirpath)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, name, n) != 0 || de->d_name[n] != '-')
			continue;
		(void)snprintf(file, sizeof(file), "%s/%s", dirpath,
			       de->d_name);
		if (unlink(file) < 0)
			log_warn("migration: cannot remove %s: %s", file,
				 strerror(errno));
	}
	(void)closedir(d);
}

int
auth_migrate_sqlite(const char *path, const char *mailboxes_dir, unsigned chunk)
{
	char uri[USER_PATH_MAX + 32], old[USER_PATH_MAX + 8];
	sqlite3 *db = NULL;
	int r;

	if (access(path, F_OK) < 0)
		return errno == ENOENT ? 0 : -errno;
	(void)snprintf(uri, sizeof(uri), "file:%s?mode=ro", path);
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
			    NULL) != SQLITE_OK) {
		log_error("migration: cannot open %s: %s", path,
			  db != NULL ? sqlite3_errmsg(db) : "out of memory");
		r = -EIO;
		goto out;
	}
	(void)sqlite3_busy_timeout(db, 60000); /* upstream's timeout=60 */
	if ((r = import_rows(db, path, mailboxes_dir, chunk ? chunk : 10000)) <
	    0)
		goto out;
	log_info("migration: all passwords migrated");
	(void)sqlite3_close(db);
	db = NULL;
	(void)snprintf(old, sizeof(old), "%s.old", path);
	if (rename(path, old) < 0) {
		r = -errno;
		log_error("migration: cannot rename %s: %s", path,
			  strerror(errno));
		goto out;
	}
	remove_companions(path);
	log_info("migration: moved database to '%s'", old);
out:
	(void)sqlite3_close(db);
	return r;
}
