/*
 * lastlogin: private interface (docs/UPSTREAM.md, lastlogin; upstream's
 * lastlogin.py and user.py set_last_login_timestamp).
 *
 * Dovecot's last_login plugin writes "S<id>\tshared/last-login/<addr>\t
 * <unix ts>"; the only last-login store is the mtime (and atime) of the
 * user's password file, rounded down to the day, touched only when it
 * changes (fewer writes, less metadata kept). Expiry reads that mtime.
 *
 * Untrusted input: the key (an address: user_dir() keeps it inside
 * mailboxes_dir) and the timestamp (checked number).
 */
#ifndef LASTLOGIN_H
#define LASTLOGIN_H

#include "config.h"
#include "dict.h"

struct lastlogin {
	char *mailboxes_dir;
	uint64_t updates; /* password files touched since start */
};

struct lastlogin *lastlogin_new(const struct chatmail_config *cfg);
void lastlogin_free(struct lastlogin **llp);
/* lastlogin_ops: the dict ops; ctx is the struct lastlogin */
extern const struct dict_ops lastlogin_ops;

/* lastlogin_parse: the address in "shared/last-login/<addr>" (a pointer
 * into key) and the timestamp; 0, or -EINVAL for another key or a
 * value that is not a number */
int lastlogin_parse(const char *key, const char *value, const char **addr_r,
		    int64_t *ts_r);

#endif
