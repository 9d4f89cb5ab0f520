/*
 * dict: the server side of Dovecot's dict protocol ("proxy:" dicts), on
 * our event loop. doveauth, chatmail-metadata and lastlogin are programs
 * built on it: each supplies an ops table and answers requests.
 *
 * The protocol (Dovecot "Dict Protocol" v3.2 for 2.3.17+, v4 for 2.4):
 * one LF-terminated line per command, the command a single character,
 * its arguments TAB-separated and tab-escaped (\001 followed by 1, t, r,
 * n or 0). The client starts with a hello, "H<major>\t<minor>\t<value
 * type>\t<user>\t<dict name>"; majors 3 (Dovecot 2.3) and 4 (2.4) are
 * accepted and the server answers nothing. Then:
 *
 *   L<key>[\t<user>]                      -> O<value> | N | F<error>
 *   I<flags>\t<max rows>\t<path>[\t<user>] -> O<key>\t<value> ... then ""
 *   B<id>[\t<user>[\t<expire secs>]]      (no reply)
 *   S<id>\t<key>\t<value>, U<id>\t<key>,   (no reply; applied at once)
 *   A<id>\t<key>\t<diff>, T<id>\t..., V<id>\t...
 *   R<id>                                 (no reply; forgets the id)
 *   C<id> (D<id>: 2.3's async commit)     -> O<id> | F<id>\t<error>
 *
 * Replies go out strictly in request order (what Dovecot's client expects
 * of a server that does not use async ids), even when a handler answers a
 * lookup later: each reply-bearing command gets a struct dict_req that
 * the handler completes, now or from another event, with one of the
 * dict_reply_* calls. Transaction ids are per connection (Dovecot reuses
 * them across connections).
 *
 * Commit reply: Dovecot's client (2.3.19 and 2.4) looks only at the first
 * character of a commit reply and, for F/W, at the error after the TAB;
 * Dovecot's own dict server sends "O<id>" / "F<id>\t<error>". We send
 * exactly that; upstream's plain "O" is read the same way by the client.
 *
 * Untrusted input: everything the peer sends. Lines are capped at
 * DICT_LINE_MAX (Dovecot's own limit: 64 KiB); a longer line closes the
 * connection, as Dovecot's dict server does. Broken arguments of a
 * command that expects a reply get an F reply; broken no-reply commands
 * are logged and dropped; an unknown command or a bad hello closes the
 * connection. Pipelining is bounded (DICT_PENDING_MAX requests, output
 * high-water mark): past either, the connection is not read until the
 * peer catches up.
 */
#ifndef CM_DICT_H
#define CM_DICT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "evloop.h"

#define DICT_LINE_MAX 65536   /* longest command line accepted */
#define DICT_ARGS_MAX 16      /* most fields in one command */
#define DICT_PENDING_MAX 1024 /* unanswered requests per connection */
#define DICT_REPLY_MAX (16u * 1024 * 1024) /* one reply (an iteration) */
#define DICT_CONNS_MAX 20000		   /* Dovecot default_client_limit */
#define DICT_TXNS_MAX 256		   /* open transactions per conn */

/* the commands, as the first byte of a line */
enum dict_cmd {
	DICT_CMD_HELLO = 'H',
	DICT_CMD_LOOKUP = 'L',
	DICT_CMD_ITERATE = 'I',
	DICT_CMD_BEGIN = 'B',
	DICT_CMD_COMMIT = 'C',
	DICT_CMD_COMMIT_ASYNC = 'D',
	DICT_CMD_ROLLBACK = 'R',
	DICT_CMD_SET = 'S',
	DICT_CMD_UNSET = 'U',
	DICT_CMD_ATOMIC_INC = 'A',
	DICT_CMD_TIMESTAMP = 'T',
	DICT_CMD_HIDE_LOG_VALUES = 'V',
};

/* iterate flags Dovecot sends (dict.h enum dict_iterate_flags) */
enum {
	DICT_ITER_RECURSE = 0x01,
	DICT_ITER_SORT_BY_KEY = 0x02,
	DICT_ITER_SORT_BY_VALUE = 0x04,
	DICT_ITER_NO_VALUE = 0x08,
	DICT_ITER_EXACT_KEY = 0x10,
};

/* one parsed line: args point into the line, unescaped in place */
struct dict_line {
	char cmd;
	size_t nargs;
	char *args[DICT_ARGS_MAX];
};

/* dict_parse_line: split line (NUL-terminated, len bytes, no LF) into
 * command and unescaped arguments, in place. 0, or -EINVAL for an empty
 * line, a NUL byte (raw or escaped), a dangling escape or too many
 * fields. The line "X" alone has no arguments. */
int dict_parse_line(char *line, size_t len, struct dict_line *out);

/* dict_tabescape: append s with Dovecot's tab-escaping; 0 or -E2BIG */
int dict_tabescape(struct buf *b, const char *s);
/* dict_json_string: append s as a JSON string the way Python's
 * json.dumps writes it (ensure_ascii: non-ASCII as \uXXXX); s must be
 * UTF-8. 0, -EINVAL (bad UTF-8) or -E2BIG. Dovecot's dict passdb/userdb
 * read JSON objects, so dict servers need this for their values. */
int dict_json_string(struct buf *b, const char *s);

struct dict_server;
struct dict_req;

/* what a program supplies; any op may be NULL (see each) */
struct dict_ops {
	/* lookup: answer req with dict_reply_*, now or later; key and
	 * user are valid only during the call (user "" if not sent).
	 * NULL: every lookup is not found. */
	void (*lookup)(void *ctx, struct dict_req *req, const char *key,
		       const char *user);
	/* iterate: dict_iter_row() per row, then dict_iter_end(); NULL:
	 * no rows */
	void (*iterate)(void *ctx, struct dict_req *req, unsigned flags,
			const char *path, const char *user);
	/* set: apply one S of a transaction of user now; 0, or -1 (logged
	 * by the handler) which makes the commit fail. NULL: every set
	 * fails, as upstream's base class does. */
	int (*set)(void *ctx, const char *user, const char *key,
		   const char *value);
	/* unset: likewise for U; NULL: logged and ignored, as upstream */
	int (*unset)(void *ctx, const char *user, const char *key);
};

/* dict_server_new: a server on loop; name is for logs (the dict name
 * Dovecot sends, e.g. "auth"); ops and ctx must outlive the server */
struct dict_server *dict_server_new(struct evloop *loop, const char *name,
				    const struct dict_ops *ops, void *ctx);
/* dict_server_free: close every connection and the listener; requests
 * still held by handlers become orphans (see dict_req_orphaned) */
void dict_server_free(struct dict_server **srvp);
/* dict_server_listen: listen on the Unix socket path (a stale socket is
 * replaced) with mode; 0, or -1 with the reason in err */
int dict_server_listen(struct dict_server *srv, const char *path, mode_t mode,
		       struct buf *err);
/* dict_server_adopt: serve an already connected fd (tests, inetd-like
 * use); the server owns and closes it. 0 or -errno. */
int dict_server_adopt(struct dict_server *srv, int fd);
/* dict_server_set_max_conns: connections served at once (default
 * DICT_CONNS_MAX); past it new ones are closed at once */
void dict_server_set_max_conns(struct dict_server *srv, size_t max);
/* dict_server_conns: connections open now */
size_t dict_server_conns(const struct dict_server *srv);

/* counters, for tests and the benchmark */
struct dict_stats {
	uint64_t conns;	    /* accepted or adopted */
	uint64_t lookups;   /* L */
	uint64_t iterates;  /* I */
	uint64_t commits;   /* C and D */
	uint64_t bad_input; /* broken lines, bad hellos, unknown commands */
};
void dict_server_stats(const struct dict_server *srv, struct dict_stats *st);

/* Completing a request: exactly one of these per request, after which
 * req is gone. Always valid, even when the connection has closed
 * meanwhile (the reply is then dropped). */

/* dict_reply_value: "O<value>" */
void dict_reply_value(struct dict_req *req, const char *value);
/* dict_reply_notfound: "N" */
void dict_reply_notfound(struct dict_req *req);
/* dict_reply_fail: "F<error>" (a commit: "F<id>\t<error>") */
void dict_reply_fail(struct dict_req *req, const char *error);
/* dict_iter_row: one "O<key>\t<value>" row of an iteration (value NULL
 * or the NO_VALUE flag: empty value); rows past the client's max_rows
 * are dropped. 0, or -E2BIG when the reply grew past DICT_REPLY_MAX
 * (end the iteration then). Does not complete req. */
int dict_iter_row(struct dict_req *req, const char *key, const char *value);
/* dict_iter_end: the empty line that ends an iteration */
void dict_iter_end(struct dict_req *req);

/* dict_req_orphaned: 1 if the connection is gone (the answer will be
 * dropped; a handler may skip expensive work) */
int dict_req_orphaned(const struct dict_req *req);

/* --- dict_service.c: the main() of a dict server program ------------ */

struct chatmail_config;

/* what the command line gave (see dict_service.c) */
struct dict_service_args {
	const char *socket; /* NULL with -n */
	const char *ini;
	const char *metrics; /* --metrics ADDR, or NULL */
	unsigned mode;
	int verbose;
	int dump;
};

/* a dict server program */
struct dict_service {
	const char *prog;	 /* for usage and logs: "doveauth" */
	const char *dict_name;	 /* the dict name Dovecot sends: "auth" */
	const char *extra_opts;	 /* getopt letters of its own flags */
	const char *extra_usage; /* " [-c cafile]" */
	/* opt: one of its own flags; 0, or -1 for a usage error */
	int (*opt)(void *state, int opt, const char *arg);
	/* start: set up on loop with cfg (both outlive the program's
	 * state); the ops table and its ctx through the _r parameters;
	 * 0, or -1 after logging why (exit 75) */
	int (*start)(void *state, const struct chatmail_config *cfg,
		     struct evloop *loop, const struct dict_service_args *a,
		     const struct dict_ops **ops_r, void **ctx_r);
	/* stop: free what start made (the server is already gone) */
	void (*stop)(void *state);
	/* metrics: the program's own counters as Prometheus text appended
	 * to out (prom.h), 0 or -E2BIG; NULL: the dict server's only */
	int (*metrics)(void *state, struct buf *out);
	void *state;
};

/* dict_service_main: parse the command line, load chatmail.ini, serve
 * until TERM/INT; returns the exit code (sysexits) for main() */
int dict_service_main(const struct dict_service *svc, int argc, char **argv);

#endif
