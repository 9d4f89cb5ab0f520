/*
 * doveauth: the passdb/userdb dict handlers (docs/UPSTREAM.md, doveauth;
 * upstream's chatmaild doveauth.py AuthDictProxy and user.py
 * get_userdb_dict).
 *
 * Dovecot's auth.conf makes the keys
 *   passdb: shared/passdb/<%Ew password>"<%Eu user>
 *   userdb: shared/userdb/<%Eu user>
 * and reads the JSON object we answer as passdb/userdb fields. Only the
 * relay's own domain is served. Dovecot compares the submitted password
 * with the stored hash itself: a wrong password for an existing account
 * still gets the stored hash (and is refused by Dovecot).
 *
 * Untrusted input: the keys (cleartext passwords inside are copied once,
 * wiped after the lookup and never logged) and directory names under
 * mailboxes_dir when iterating.
 */
#include "doveauth.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "prom.h"
#include "user.h"
#include "xmalloc.h"

#define AUTH_JSON_MAX 8192

/* split_unescape: split s in place on unescaped '"', dropping the
 * backslash of "\x"; up to max part starts into parts; the count of
 * parts, or -EINVAL for a backslash at the very end */
static int
split_unescape(char *s, char **parts, int max)
{
	char *r = s, *w = s;
	int n = 1;

	parts[0] = s;
	for (; *r != '\0'; r++) {
		if (*r == '\\') {
			if (*++r == '\0')
				return -EINVAL;
			*w++ = *r;
		} else if (*r == '"') {
			*w++ = '\0';
			if (n < max)
				parts[n] = w;
			n++;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return n;
}

int
auth_parse_key(char *key, struct auth_key *out)
{
	char *type, *args, *parts[2];
	int n;

	memset(out, 0, sizeof(*out));
	type = strchr(key, '/');
	if (type == NULL || (args = strchr(type + 1, '/')) == NULL)
		return -EINVAL;
	*type++ = '\0';
	*args++ = '\0';
	if (strcmp(key, "shared") != 0)
		return -ENOENT;
	if (strcmp(type, "passdb") == 0)
		out->type = AUTH_KEY_PASSDB;
	else if (strcmp(type, "userdb") == 0)
		out->type = AUTH_KEY_USERDB;
	else
		return -ENOENT;
	n = split_unescape(args, parts, 2);
	if (n < 0 || (out->type == AUTH_KEY_PASSDB && n < 2))
		return -EINVAL;
	if (out->type == AUTH_KEY_PASSDB) {
		out->password = parts[0];
		out->user = parts[1];
	} else {
		out->user = parts[0];
	}
	return 0;
}

/* own_domain: addr ends in "@<mail_domain>" (upstream's endswith) */
static int
own_domain(const struct doveauth *auth, const char *addr)
{
	const char *dom = auth->cfg->mail_domain;
	size_t al = strlen(addr), dl = strlen(dom);

	return al > dl && addr[al - dl - 1] == '@' &&
	       strcmp(addr + al - dl, dom) == 0;
}

/* userdb_json: upstream's get_userdb_dict() as json.dumps writes it */
static int
userdb_json(const char *addr, const char *home, const char *hash,
	    struct buf *json)
{
	int r = 0;

	(void)buf_reserve(json, 2 * strlen(home) + strlen(hash) + 128);
	r |= buf_puts(json, "{\"addr\": ");
	r |= dict_json_string(json, addr);
	r |= buf_puts(json, ", \"home\": ");
	r |= dict_json_string(json, home);
	r |= buf_puts(json, ", \"uid\": \"vmail\", \"gid\": \"vmail\", "
			    "\"password\": ");
	r |= dict_json_string(json, hash);
	r |= buf_putc(json, '}');
	return r < 0 ? -1 : 0;
}

/* lookup: the account's JSON; 1, 0, -1. With password set, create the
 * account first if it does not exist and may be created. */
static int
lookup(struct doveauth *auth, const char *addr, const char *password,
       struct buf *json)
{
	char userdir[USER_PATH_MAX], hash[AUTH_HASH_MAX];
	int r;

	if (user_dir(auth->mailboxes_dir, addr, userdir, sizeof(userdir)) < 0) {
		log_warn("invalid address %s", addr);
		return 0;
	}
	r = user_read_password(userdir, hash, sizeof(hash));
	if (r == 0 && password != NULL) {
		if (!auth_may_create(auth, addr, password))
			goto out;
		if (!auth_has_resources(auth)) {
			auth->rejected_registrations++;
			goto out;
		}
		if (auth_create(auth, addr, userdir, password) < 0) {
			r = -1;
			goto out;
		}
		r = user_read_password(userdir, hash, sizeof(hash));
	}
	if (r < 0) {
		log_error("cannot read password of %s: %s", addr, strerror(-r));
		r = -1;
	} else if (r > 0 && userdb_json(addr, userdir, hash, json) < 0) {
		log_error("reply for %s too long", addr);
		r = -1;
	}
out:
	explicit_bzero(hash, sizeof(hash));
	return r;
}

int
doveauth_lookup_userdb(struct doveauth *auth, const char *addr,
		       struct buf *json)
{
	return lookup(auth, addr, NULL, json);
}

int
doveauth_lookup_passdb(struct doveauth *auth, const char *addr,
		       const char *password, struct buf *json)
{
	return lookup(auth, addr, password, json);
}

/* auth_lookup: the dict lookup handler */
static void
auth_lookup(void *ctx, struct dict_req *req, const char *key, const char *user)
{
	struct doveauth *auth = ctx;
	struct buf json = BUF_INIT(AUTH_JSON_MAX);
	size_t keylen = strlen(key);
	char *copy = xmemdup(key, keylen + 1);
	struct auth_key k;
	int r;

	(void)user;
	r = auth_parse_key(copy, &k);
	if (r == -ENOENT) {
		dict_reply_fail(req, ""); /* upstream: a bare "F" */
		goto out;
	}
	if (r < 0) {
		log_warn("broken auth lookup key");
		dict_reply_fail(req, "broken key");
		goto out;
	}
	r = 0;
	if (own_domain(auth, k.user))
		r = lookup(auth, k.user,
			   k.type == AUTH_KEY_PASSDB ? k.password : NULL,
			   &json);
	if (r > 0)
		dict_reply_value(req, buf_cstr(&json));
	else if (r == 0)
		dict_reply_notfound(req);
	else
		dict_reply_fail(req, "internal error");
out:
	explicit_bzero(copy, keylen);
	free(copy);
	buf_wipe_deinit(&json);
}

/* auth_iterate: "shared/userdb/" lists every entry of mailboxes_dir
 * holding an '@' (upstream's iter_userdb); other paths have no rows */
static void
auth_iterate(void *ctx, struct dict_req *req, unsigned flags, const char *path,
	     const char *user)
{
	struct doveauth *auth = ctx;
	struct buf key = BUF_INIT(USER_PATH_MAX);
	struct dirent *de;
	DIR *d;

	(void)flags;
	(void)user;
	if (strcmp(path, "shared/userdb/") != 0) {
		dict_iter_end(req);
		return;
	}
	d = opendir(auth->mailboxes_dir);
	if (d == NULL) {
		log_error("cannot list %s: %s", auth->mailboxes_dir,
			  strerror(errno));
		dict_reply_fail(req, "cannot list users");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strchr(de->d_name, '@') == NULL)
			continue;
		buf_reset(&key);
		if (buf_printf(&key, "shared/userdb/%s", de->d_name) < 0 ||
		    dict_iter_row(req, buf_cstr(&key), "") < 0)
			break;
	}
	(void)closedir(d);
	buf_deinit(&key);
	dict_iter_end(req);
}

const struct dict_ops doveauth_ops = {
	.lookup = auth_lookup,
	.iterate = auth_iterate,
};

struct doveauth *
doveauth_new(const struct chatmail_config *cfg)
{
	struct doveauth *auth = xcalloc(1, sizeof(*auth));
	size_t n;

	auth->cfg = cfg;
	auth->mailboxes_dir = xstrdup(cfg->mailboxes_dir);
	n = strlen(auth->mailboxes_dir);
	while (n > 1 && auth->mailboxes_dir[n - 1] == '/')
		auth->mailboxes_dir[--n] = '\0';
	auth->nocreate_file = cfg->nocreate_file;
	auth_probe_init(&auth->probe, "");
	return auth;
}

void
doveauth_free(struct doveauth **authp)
{
	struct doveauth *auth = *authp;

	if (auth == NULL)
		return;
	free(auth->mailboxes_dir);
	free(auth);
	*authp = NULL;
}

static const struct prom_metric metrics_table[] = {
	PROM_C("created_accounts", NULL, struct doveauth, created,
	       "Accounts created on their first login."),
	PROM_C("created_ci_accounts", NULL, struct doveauth, created_ci,
	       "Accounts created with \"ci-\" in the address."),
	PROM_C("created_nonci_accounts", NULL, struct doveauth, created_nonci,
	       "Accounts created without \"ci-\" in the address."),
	PROM_C("rejected_registrations", NULL, struct doveauth,
	       rejected_registrations,
	       "New accounts refused for lack of system resources."),
};

int
doveauth_metrics(const struct doveauth *auth, struct buf *out)
{
	return prom_render(out, metrics_table,
			   sizeof(metrics_table) / sizeof(metrics_table[0]),
			   auth);
}
