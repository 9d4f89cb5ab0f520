/*
 * lastlogin: the set handler of the last_login dict.
 *
 * Role: turn "shared/last-login/<addr>" = <ts> into the day-rounded
 * mtime of <mailboxes_dir>/<addr>/password (user_set_last_login). Like
 * upstream, a user without a password file is logged and the commit
 * still succeeds; any other key fails the transaction.
 *
 * Untrusted input: key and value from Dovecot (see lastlogin.h).
 */
#include "lastlogin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "num.h"
#include "user.h"
#include "xmalloc.h"

#define KEY_PREFIX "shared/last-login/"

int
lastlogin_parse(const char *key, const char *value, const char **addr_r,
		int64_t *ts_r)
{
	const char *addr;
	size_t n = strlen(KEY_PREFIX);

	if (strncmp(key, KEY_PREFIX, n) != 0)
		return -EINVAL;
	addr = key + n;
	/* upstream takes the third '/'-separated part of the key */
	if (*addr == '\0' || strchr(addr, '/') != NULL)
		return -EINVAL;
	if (num_parse_i64(value, 0, INT64_MAX / 2, ts_r) < 0)
		return -EINVAL;
	*addr_r = addr;
	return 0;
}

/* ll_set: S of a last-login transaction */
static int
ll_set(void *ctx, const char *user, const char *key, const char *value)
{
	struct lastlogin *ll = ctx;
	char userdir[USER_PATH_MAX];
	const char *addr;
	int64_t ts;
	int r;

	(void)user;
	if (lastlogin_parse(key, value, &addr, &ts) < 0) {
		log_warn("unexpected last-login key or value: %s", key);
		return -1;
	}
	if (user_dir(ll->mailboxes_dir, addr, userdir, sizeof(userdir)) < 0) {
		log_warn("invalid address %s", addr);
		return -1;
	}
	r = user_set_last_login(userdir, (time_t)ts);
	if (r == -ENOENT) {
		log_error("Can not get last login timestamp for %s", addr);
		return 0;
	}
	if (r < 0) {
		log_error("cannot set last login of %s: %s", addr,
			  strerror(-r));
		return -1;
	}
	ll->updates += (uint64_t)r;
	return 0;
}

const struct dict_ops lastlogin_ops = {
	.set = ll_set,
};

struct lastlogin *
lastlogin_new(const struct chatmail_config *cfg)
{
	struct lastlogin *ll = xcalloc(1, sizeof(*ll));

	ll->mailboxes_dir = xstrdup(cfg->mailboxes_dir);
	return ll;
}

void
lastlogin_free(struct lastlogin **llp)
{
	struct lastlogin *ll = *llp;

	if (ll == NULL)
		return;
	free(ll->mailboxes_dir);
	free(ll);
	*llp = NULL;
}
