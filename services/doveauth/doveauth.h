/*
 * doveauth: private interface of the doveauth program (docs/UPSTREAM.md,
 * doveauth).
 *
 * doveauth answers Dovecot's passdb and userdb dict lookups for the
 * relay's own domain and creates an account on its first login:
 *
 *   doveauth.c         the dict handlers: key parsing, lookups, iterate
 *   doveauth_create.c  creation rules, the limits' check, SHA512-CRYPT,
 *                      the locked first write of the password file
 *   doveauth_limits.c  the figures the limits are checked against: the
 *                      container's cgroup, else the node
 *   doveauth_migrate.c upstream's one-time import of a legacy SQLite
 *                      password database (passdb_path)
 *
 * Untrusted input: the dict keys (they carry the cleartext password of
 * a login attempt, which is wiped after use and never logged).
 */
#ifndef DOVEAUTH_H
#define DOVEAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "dict.h"

#define AUTH_PASSWORD_MAX 1024 /* longest cleartext password handled */
#define AUTH_HASH_MAX 256      /* "{SHA512-CRYPT}$6$<salt>$<86>" fits */

enum auth_key_type {
	AUTH_KEY_PASSDB,
	AUTH_KEY_USERDB,
};

/* a parsed lookup key; user and password point into the parsed copy */
struct auth_key {
	enum auth_key_type type;
	const char *user;
	const char *password; /* passdb only */
};

/* auth_parse_key: parse (in place) "shared/passdb/<pw>\"<user>" or
 * "shared/userdb/<user>" the way upstream does: split on the first two
 * '/', then split the rest on unescaped '"' and drop backslash escapes.
 * 0, -ENOENT for another namespace or type (upstream answers F), or
 * -EINVAL for a broken key (a dangling backslash, a passdb key without
 * a user). */
int auth_parse_key(char *key, struct auth_key *out);

/* where doveauth's cgroup is, per hierarchy (doveauth_limits.c);
 * version 0: not found (the node's figures count) */
#define AUTH_CG_PATH_MAX 1024
struct auth_cgroup {
	int mem_version, cpu_version; /* 0, 1 (cgroup v1) or 2 */
	char mem_dir[AUTH_CG_PATH_MAX], mem_top[AUTH_CG_PATH_MAX];
	char cpu_dir[AUTH_CG_PATH_MAX], cpu_top[AUTH_CG_PATH_MAX];
};

/* what the system has left, for the creation limits; each reader
 * returns 0 or -errno (then that limit is not checked, as upstream) */
struct auth_probe {
	char root[256]; /* prefix of every path read: "" on a system */
	struct auth_cgroup cg;
	int (*load1)(const struct auth_probe *p, double *load_r);
	int (*mem_avail_mb)(const struct auth_probe *p, uint64_t *mb_r);
	int (*disk_free_mb)(const struct auth_probe *p, const char *dir,
			    uint64_t *mb_r);
};

struct doveauth {
	const struct chatmail_config *cfg;
	char *mailboxes_dir; /* cfg's, without trailing '/' */
	const char *nocreate_file;
	struct auth_probe probe;
	/* since start, as upstream's mtail counts them (docs/UPSTREAM.md,
	 * Metrics): "Created address:" lines, with and without "ci-" in
	 * the address, and "registration rejected:" lines */
	uint64_t created, created_ci, created_nonci;
	uint64_t rejected_registrations;
};

/* doveauth_metrics: the counters above as Prometheus text (upstream's
 * names) appended to out; 0 or -E2BIG */
int doveauth_metrics(const struct doveauth *auth, struct buf *out);

/* doveauth_new: state for cfg (which must outlive it) */
struct doveauth *doveauth_new(const struct chatmail_config *cfg);
void doveauth_free(struct doveauth **authp);
/* doveauth_ops: the dict ops table; ctx is the struct doveauth */
extern const struct dict_ops doveauth_ops;

/* doveauth_lookup_userdb: the userdb JSON of addr into json.
 * 1 found, 0 not (no or empty password file), -1 error */
int doveauth_lookup_userdb(struct doveauth *auth, const char *addr,
			   struct buf *json);
/* doveauth_lookup_passdb: like userdb, but creates the account first
 * when it does not exist and may be created */
int doveauth_lookup_passdb(struct doveauth *auth, const char *addr,
			   const char *password, struct buf *json);

/* auth_may_create: upstream's is_allowed_to_create(): nocreate file,
 * password length, one '@', localpart length and charset; each refusal
 * logged as upstream does. 1 allowed, 0 not. */
int auth_may_create(const struct doveauth *auth, const char *addr,
		    const char *password);
/* auth_has_resources: upstream's has_sufficient_resources(): 1 when
 * load, memory and disk are within limits, else 0 and the log line
 * "registration rejected: <reason>" */
int auth_has_resources(const struct doveauth *auth);
/* auth_hash_password: "{SHA512-CRYPT}$6$<16 random salt chars>$..."
 * via crypt_r(3) with a salt from getrandom(2); 0 or -errno */
int auth_hash_password(const char *password, char *out, size_t outsize);
/* auth_create: under <userdir>/password.lock, write the password file
 * unless another login created it first; 1 created, 0 it existed,
 * -errno */
int auth_create(struct doveauth *auth, const char *addr, const char *userdir,
		const char *password);
/* auth_migrate_sqlite: upstream's migrate_from_db_to_maildir: when the
 * SQLite database at path exists, write the password file of each of its
 * users under mailboxes_dir (not the "ci-"/"ac_" ones; the mtime from
 * the last login), then rename it to <path>.old and remove its
 * "<name>-*" files; progress logged every chunk rows (0: 10000). 0
 * (migrated, or no database), or -errno (logged; the database stays). */
int auth_migrate_sqlite(const char *path, const char *mailboxes_dir,
			unsigned chunk);

/* --- doveauth_limits.c: the figures of the container ------------- */

/* auth_probe_init: the real readers below root ("" on a system): the
 * cgroup doveauth runs in (found once, logged), else the node's
 * /proc/loadavg and /proc/meminfo; statvfs for the disk */
void auth_probe_init(struct auth_probe *probe, const char *root);
/* auth_cgroup_find: the cgroup of this process from root's
 * /proc/self/cgroup and /proc/self/mountinfo: for memory the v2 one when
 * it has the memory controller, else v1's memory hierarchy; for the CPU
 * likewise (v2 cpu.max or cpu.pressure, else v1's cpu). 0 or -errno
 * (no /proc); a hierarchy not found has version 0 */
int auth_cgroup_find(const char *root, struct auth_cgroup *cg);
/* auth_cgroup_mem_room: the smallest headroom (limit - usage + inactive
 * page cache, in bytes) of cg's memory cgroup and its visible
 * ancestors; 1, 0 (no limit anywhere), or -errno (ours unreadable) */
int auth_cgroup_mem_room(const char *root, const struct auth_cgroup *cg,
			 uint64_t *room_r);
/* auth_cgroup_cpu_limit: the smallest CPU limit (quota / period, in
 * CPUs) of cg's cpu cgroup and its visible ancestors; 1 or 0 (none) */
int auth_cgroup_cpu_limit(const char *root, const struct auth_cgroup *cg,
			  double *cores_r);
/* auth_cgroup_cpu_pressure: "some avg60" of cgroup v2's cpu.pressure,
 * percent; 0 or -errno (v1, or PSI off) */
int auth_cgroup_cpu_pressure(const char *root, const struct auth_cgroup *cg,
			     double *avg60_r);

#endif
