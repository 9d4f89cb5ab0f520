/*
 * doveauth_create: creating an account on its first login (upstream's
 * doveauth.py is_allowed_to_create/lookup_passdb, syslimits.py and
 * user.py set_password), in upstream's order:
 *
 *   1. the rules: no nocreate file, password length, exactly one '@',
 *      localpart length and charset [a-z0-9._-]
 *   2. the system limits: 1-minute load, available memory, free disk
 *      (doveauth_limits.c reads them from the container's cgroup)
 *   3. under <userdir>/password.lock (the flock upstream's filelock
 *      takes, so our doveauth and upstream's can even run side by side),
 *      check again, then write "{SHA512-CRYPT}$6$..." atomically and the
 *      enforceE2EEincoming marker, and log "Created address: <addr>".
 *
 * Untrusted input: the address and the cleartext password of a login
 * attempt (never logged; crypt's scratch space is wiped after use).
 */
#define _GNU_SOURCE /* crypt_r */
#include "doveauth.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "num.h"
#include "user.h"
#include "xmalloc.h"

#define LOCK_TIMEOUT_MS 5000 /* upstream's FileLock(timeout=5) */

/* utf8_len: characters (not bytes) in s, as Python's len() counts */
static size_t
utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

int
auth_may_create(const struct doveauth *auth, const char *addr,
		const char *password)
{
	const struct chatmail_config *cfg = auth->cfg;
	const char *at = strchr(addr, '@');
	size_t len;

	if (auth->nocreate_file != NULL && *auth->nocreate_file != '\0' &&
	    access(auth->nocreate_file, F_OK) == 0) {
		log_warn("blocked account creation because '%s' exists.",
			 auth->nocreate_file);
		return 0;
	}
	if (utf8_len(password) < cfg->password_min_length) {
		log_warn("Password needs to be at least %u characters long",
			 cfg->password_min_length);
		return 0;
	}
	if (at == NULL || strchr(at + 1, '@') != NULL) {
		log_warn("user '%s' is not a proper e-mail address", addr);
		return 0;
	}
	len = utf8_len(addr) - utf8_len(at);
	if (len > cfg->username_max_length || len < cfg->username_min_length) {
		log_warn("localpart %.*s has to be between %u and %u chars "
			 "long",
			 (int)(at - addr), addr, cfg->username_min_length,
			 cfg->username_max_length);
		return 0;
	}
	if (at == addr ||
	    strspn(addr, "abcdefghijklmnopqrstuvwxyz0123456789._-") !=
		    (size_t)(at - addr)) {
		log_warn("localpart '%.*s' contains invalid characters",
			 (int)(at - addr), addr);
		return 0;
	}
	return 1;
}

int
auth_has_resources(const struct doveauth *auth)
{
	const struct chatmail_config *cfg = auth->cfg;
	double load;
	uint64_t mem, disk;
	int r;

	if ((r = auth->probe.load1(&auth->probe, &load)) < 0) {
		log_warn("ignoring unreadable system limit: load: %s",
			 strerror(-r));
	} else if (load > cfg->max_load_1m) {
		log_warn("registration rejected: load avg %.2f > %.2f", load,
			 cfg->max_load_1m);
		return 0;
	}
	if ((r = auth->probe.mem_avail_mb(&auth->probe, &mem)) < 0) {
		log_warn("ignoring unreadable system limit: memory: %s",
			 strerror(-r));
	} else if (mem < cfg->min_available_memory_mb) {
		log_warn("registration rejected: available memory %lluMB < "
			 "%lluMB",
			 (unsigned long long)mem,
			 (unsigned long long)cfg->min_available_memory_mb);
		return 0;
	}
	if ((r = auth->probe.disk_free_mb(&auth->probe, auth->mailboxes_dir,
					  &disk)) < 0) {
		log_warn("ignoring unreadable system limit: disk: %s",
			 strerror(-r));
	} else if (disk < cfg->min_free_disk_space_mb) {
		log_warn("registration rejected: free disk %lluMB < %lluMB",
			 (unsigned long long)disk,
			 (unsigned long long)cfg->min_free_disk_space_mb);
		return 0;
	}
	return 1;
}

int
auth_hash_password(const char *password, char *out, size_t outsize)
{
	static const char salt_chars[] = "./0123456789ABCDEFGHIJKLMNOPQRSTU"
					 "VWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[16];
	char setting[3 + sizeof(rnd) + 1] = "$6$";
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h;
	int r = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		r = -EIO;
		goto out;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		setting[3 + i] = salt_chars[rnd[i] & 63];
	setting[3 + sizeof(rnd)] = '\0';
	h = crypt_r(password, setting, cd);
	if (h == NULL || strncmp(h, "$6$", 3) != 0) {
		r = -EINVAL;
		goto out;
	}
	if ((size_t)snprintf(out, outsize, "{SHA512-CRYPT}%s", h) >= outsize)
		r = -ENAMETOOLONG;
out:
	explicit_bzero(cd, sizeof(*cd));
	explicit_bzero(rnd, sizeof(rnd));
	free(cd);
	return r;
}

int
auth_create(struct doveauth *auth, const char *addr, const char *userdir,
	    const char *password)
{
	char lockpath[USER_PATH_MAX], hash[AUTH_HASH_MAX];
	int fd = -1, r;

	if ((size_t)snprintf(lockpath, sizeof(lockpath), "%s/password.lock",
			     userdir) >= sizeof(lockpath))
		return -ENAMETOOLONG;
	/* the lock lives in the user's directory: make it first */
	r = fs_mkdirs(userdir, 0700);
	if (r == 0)
		r = fs_lock(lockpath, LOCK_TIMEOUT_MS, &fd);
	if (r < 0) {
		log_error("cannot lock %s: %s", lockpath, strerror(-r));
		return r;
	}
	/* another login (or another doveauth) may have been first */
	r = user_read_password(userdir, hash, sizeof(hash));
	if (r != 0) {
		r = r > 0 ? 0 : r; /* it exists now, or cannot be read */
		goto out;
	}
	r = auth_hash_password(password, hash, sizeof(hash));
	if (r == 0)
		r = user_write_password(userdir, hash);
	if (r < 0) {
		log_error("could not write password for: %s: %s", addr,
			  strerror(-r));
		goto out;
	}
	/* upstream's mtail counts this line, and a "ci-" in the address
	 * as an account of continuous integration */
	auth->created++;
	if (strstr(addr, "ci-") != NULL)
		auth->created_ci++;
	else
		auth->created_nonci++;
	log_info("Created address: %s", addr);
	r = 1;
out:
	explicit_bzero(hash, sizeof(hash));
	(void)close(fd);
	return r;
}
