/*
 * metadata: the dict handlers of chatmail-metadata (upstream's
 * MetadataDictProxy), serving Dovecot's mail_attribute_dict.
 *
 * Dovecot maps IMAP METADATA to dict keys: a mailbox's private
 * attribute to "priv/<mailbox guid>/<name>", a server attribute to
 * "shared/<guid>/vendor/vendor.dovecot/pvt/server/<name>". Served:
 *
 *   L priv/<guid>/devicetoken           -> O<token> <token> ... (valid)
 *   L shared/.../vendor/deltachat/irohrelay         -> O<iroh_relay>
 *   L shared/.../vendor/deltachat/turn              -> O<domain>:3478:..
 *   L shared/.../vendor/deltachat/maxsmtprecipients -> O1000
 *   L shared/.../vendor/deltachat/appversions       -> O<json, 1 line>
 *   L shared/.../pvt/server/admin   -> Omailto:<privacy_mail> (ours:
 *     what Dovecot answers itself when mail_server_admin is set)
 *   S priv/<guid>/devicetoken <token>   add the token
 *   S priv/<guid>/messagenew            notify the user's devices
 *   anything else: lookups N, sets fail the transaction; as upstream.
 *
 * Untrusted input: keys, values and user names from Dovecot; addresses
 * go through user_dir(), tokens are opaque and never logged.
 */
#include "metadata.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "log.h"
#include "user.h"
#include "xmalloc.h"

#define SERVER_PREFIX "vendor/vendor.dovecot/pvt/server/"
#define DC_PREFIX SERVER_PREFIX "vendor/deltachat/"

/* split3: "<a>/<b>/<rest>" into its parts (Python's split("/", 2));
 * 0, or -1 with fewer than three parts */
static int
split3(const char *key, size_t *alen_r, const char **rest_r)
{
	const char *s1 = strchr(key, '/'), *s2;

	if (s1 == NULL || (s2 = strchr(s1 + 1, '/')) == NULL)
		return -1;
	*alen_r = (size_t)(s1 - key);
	*rest_r = s2 + 1;
	return 0;
}

/* userdir_of: <mailboxes_dir>/<addr>, logging an unusable address */
static int
userdir_of(const struct metadata *m, const char *addr, char *out, size_t size)
{
	if (user_dir(m->mailboxes_dir, addr, out, size) < 0) {
		log_warn("invalid address %s", addr);
		return -1;
	}
	return 0;
}

/* lookup_shared: a server attribute; 1 answered, 0 not ours */
static int
lookup_shared(struct metadata *m, struct dict_req *req, const char *name)
{
	const struct chatmail_config *cfg = m->cfg;
	struct buf v = BUF_INIT(META_FILE_MAX);
	size_t n = strlen(DC_PREFIX);
	int r;

	if (strcmp(name, SERVER_PREFIX "admin") == 0 &&
	    *cfg->privacy_mail != '\0') {
		(void)buf_printf(&v, "mailto:%s", cfg->privacy_mail);
		dict_reply_value(req, buf_cstr(&v));
	} else if (strncmp(name, DC_PREFIX, n) != 0) {
		r = 0;
		goto out;
	} else if (strcmp(name + n, "irohrelay") == 0 &&
		   *cfg->iroh_relay != '\0') {
		dict_reply_value(req, cfg->iroh_relay);
	} else if (strcmp(name + n, "turn") == 0) {
		turn_lookup(m->turn, req);
	} else if (strcmp(name + n, "maxsmtprecipients") == 0) {
		/* Postfix's default smtpd_recipient_limit */
		dict_reply_value(req, "1000");
	} else if (strcmp(name + n, "appversions") == 0) {
		if (appversions_get(cfg->appversions_file, &v) > 0)
			dict_reply_value(req, buf_cstr(&v));
		else
			dict_reply_notfound(req);
	} else {
		r = 0;
		goto out;
	}
	r = 1;
out:
	buf_deinit(&v);
	return r;
}

/* md_lookup: the dict lookup handler */
static void
md_lookup(void *ctx, struct dict_req *req, const char *key, const char *user)
{
	struct metadata *m = ctx;
	struct buf v = BUF_INIT(META_FILE_MAX);
	char dir[USER_PATH_MAX];
	const char *rest;
	size_t alen;

	if (split3(key, &alen, &rest) == 0) {
		if (alen == 4 && strncmp(key, "priv", 4) == 0 &&
		    strcmp(rest, "devicetoken") == 0) {
			if (userdir_of(m, user, dir, sizeof(dir)) < 0 ||
			    tokens_get(dir, (int64_t)m->now(), &v) < 0)
				buf_reset(&v);
			dict_reply_value(req, buf_cstr(&v));
			goto out;
		}
		if (alen == 6 && strncmp(key, "shared", 6) == 0 &&
		    lookup_shared(m, req, rest))
			goto out;
	}
	log_warn("lookup ignored: %s", key);
	dict_reply_notfound(req);
out:
	buf_wipe_deinit(&v);
}

/* new_message: notify every valid token of addr */
static int
new_message(struct metadata *m, const char *dir, const char *addr)
{
	char **tokens;
	int n = tokens_list(dir, (int64_t)m->now(), &tokens), r;

	if (n < 0)
		return n;
	r = notifier_push(m->notifier, addr, tokens, n);
	for (int i = 0; i < n; i++)
		xfree_secret(tokens[i], 0);
	free(tokens);
	return r < 0 ? r : 0;
}

/* md_set: S of a transaction of user */
static int
md_set(void *ctx, const char *user, const char *key, const char *value)
{
	struct metadata *m = ctx;
	char dir[USER_PATH_MAX];
	const char *rest;
	size_t alen;

	/* exactly priv/<guid>/<name>, as upstream's match */
	if (split3(key, &alen, &rest) < 0 || alen != 4 ||
	    strncmp(key, "priv", 4) != 0 || strchr(rest, '/') != NULL)
		return -1;
	if (strcmp(rest, "devicetoken") == 0) {
		if (strlen(value) > META_TOKEN_MAX ||
		    userdir_of(m, user, dir, sizeof(dir)) < 0)
			return -1;
		return tokens_add(dir, value, (int64_t)m->now()) < 0 ? -1 : 0;
	}
	if (strcmp(rest, "messagenew") == 0) {
		if (userdir_of(m, user, dir, sizeof(dir)) < 0)
			return -1;
		return new_message(m, dir, user) < 0 ? -1 : 0;
	}
	return -1;
}

const struct dict_ops metadata_ops = {
	.lookup = md_lookup,
	.set = md_set,
};

/* token_gone: a 410 from the notification server */
static void
token_gone(void *ctx, const char *addr, const char *token)
{
	struct metadata *m = ctx;
	char dir[USER_PATH_MAX];

	if (userdir_of(m, addr, dir, sizeof(dir)) == 0)
		(void)tokens_remove(dir, token, (int64_t)m->now());
}

/* wall_clock: time(NULL) */
static time_t
wall_clock(void)
{
	return time(NULL);
}

struct metadata *
metadata_new(const struct chatmail_config *cfg, struct evloop *loop,
	     const char *cafile)
{
	struct metadata *m = xcalloc(1, sizeof(*m));
	char *qdir;
	int r;

	m->cfg = cfg;
	m->now = wall_clock;
	m->mailboxes_dir = xstrdup(cfg->mailboxes_dir);
	qdir = xasprintf("%s/pending_notifications", cfg->mailboxes_dir);
	/* mkdir -p: on a fresh volume mailboxes_dir itself may not exist
	 * until the first account is created */
	if ((r = fs_mkdirs(qdir, 0700)) < 0)
		log_error("cannot create %s: %s", qdir, strerror(-r));
	m->notifier = notifier_new(loop, qdir, cfg->notification_url, cafile,
				   token_gone, m);
	m->turn = turn_new(loop, cfg->turn_socket_path,
			   cfg->turn_hostname[0] != '\0' ? cfg->turn_hostname
							 : cfg->mail_domain);
	free(qdir);
	return m;
}

void
metadata_free(struct metadata **mp)
{
	struct metadata *m = *mp;

	if (m == NULL)
		return;
	turn_free(&m->turn);
	notifier_free(&m->notifier);
	free(m->mailboxes_dir);
	free(m);
	*mp = NULL;
}
