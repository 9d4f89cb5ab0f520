/*
 * chatmail-metadata: private interface (docs/UPSTREAM.md,
 * chatmail-metadata; upstream's chatmaild metadata.py, notifier.py,
 * filedict.py).
 *
 *   metadata.c              the dict handlers (lookups and sets)
 *   metadata_tokens.c       <mailboxes_dir>/<addr>/metadata.json: device
 *                           tokens, 90-day expiry, legacy list form;
 *                           JSON written as Python's json.dump writes it
 *   metadata_notify.c       the push notifier: persistent queue in
 *                           pending_notifications/, HTTPS POSTs through
 *                           a curl multi handle driven by our loop
 *   metadata_turn.c         TURN credentials from turn_socket_path,
 *                           without blocking the loop
 *   metadata_appversions.c  the appversions JSON (file or built-in)
 *
 * Untrusted input: dict keys and values (addresses go through user_dir,
 * tokens are opaque and never logged), metadata.json and queue files on
 * disk (bounded reads, parsed defensively), the TURN socket's line and
 * the notification server's answers.
 */
#ifndef METADATA_H
#define METADATA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "evloop.h"

#define META_FILE_MAX (1024 * 1024) /* metadata.json we read */
#define META_TOKEN_MAX 4096	    /* one device token */
#define META_TOKEN_TTL (90 * 86400) /* tokens live 90 days */
#define TURN_TIMEOUT_MS 5000	    /* upstream's socket timeout */
#define NOTIFY_BASE_DELAY 8	    /* seconds, 8^retry */
#define NOTIFY_DEADLINE (5 * 3600)  /* drop after 5 hours */
#define NOTIFY_MAX_TRIES 5	    /* int(log8(18000)) + 1 */
#define NOTIFY_TIMEOUT_S 60	    /* one request */
#define NOTIFY_INFLIGHT_MAX 12	    /* upstream's 4 + 4 * 2 threads */

/* --- tokens (metadata_tokens.c) -------------------------------------- */

/* tokens_valid_ts: upstream's _is_valid_token_timestamp */
int tokens_valid_ts(int64_t ts, int64_t now);
/* tokens_get: the valid tokens of the user in userdir, space-joined in
 * file order, into out; prunes expired ones and migrates the legacy
 * list form on disk as upstream does. 0 or -errno. */
int tokens_get(const char *userdir, int64_t now, struct buf *out);
/* tokens_add: set token's timestamp to now (adding it) */
int tokens_add(const char *userdir, const char *token, int64_t now);
/* tokens_remove: drop token if present */
int tokens_remove(const char *userdir, const char *token, int64_t now);
/* tokens_list: the valid tokens as an array of strings (caller frees
 * each and the array); their count, or -errno */
int tokens_list(const char *userdir, int64_t now, char ***list_r);

struct cJSON;
/* json_py_print: v as Python's json.dumps prints it: default separators
 * (", " and ": ") or compact (",", ":"), ensure_ascii. 0 or -E2BIG /
 * -EINVAL */
int json_py_print(const struct cJSON *v, int compact, struct buf *out);
/* tokens_parse: metadata.json text into a JSON object (NULL: corrupt or
 * not an object, logged as upstream's "corrupt serialization state") */
struct cJSON *tokens_parse(const char *text, const char *path);

/* --- appversions (metadata_appversions.c) ---------------------------- */

/* appversions_get: the JSON of path ("" = the built-in copy) as one
 * compact line into out; 1, 0 if the file does not exist, -1 broken */
int appversions_get(const char *path, struct buf *out);
/* appversions_builtin: the built-in copy as shipped (pretty) */
const char *appversions_builtin(void);

/* --- notifier (metadata_notify.c) ------------------------------------ */

struct notifier;
struct notify_item;

/* 410 from the server: the token is dead */
typedef void notify_gone_fn(void *ctx, const char *addr, const char *token);
/* how a request is sent (tests replace the curl one); it must end with
 * notifier_done() for the item, now or later */
typedef void notify_post_fn(struct notifier *n, struct notify_item *it,
			    const char *token);

struct notifier *notifier_new(struct evloop *loop, const char *queue_dir,
			      const char *url, const char *cafile,
			      notify_gone_fn *gone, void *ctx);
void notifier_free(struct notifier **np);
/* notifier_set_post / notifier_set_clock: test hooks */
void notifier_set_post(struct notifier *n, notify_post_fn *post);
void notifier_set_clock(struct notifier *n, time_t (*now)(void));
/* notifier_requeue: queue every item in queue_dir (start-up); spurious
 * files (.tmp, unreadable) are removed. Items queued. */
int notifier_requeue(struct notifier *n);
/* notifier_push: one queue item per token of addr, sent at once */
int notifier_push(struct notifier *n, const char *addr, char **tokens,
		  int ntokens);
/* notifier_done: the outcome of a POST: an HTTP status, or 0 when the
 * request itself failed (error says why) */
void notifier_done(struct notifier *n, struct notify_item *it, long status,
		   const char *error);
/* notifier_delay: seconds before attempt retry (0, 8, 64, 512, 4096) */
unsigned notifier_delay(unsigned retry);
/* notifier_plan: when attempt retry of an item started at start_ts is
 * due (wall clock), or -1 when it is past the 5 h deadline or the last
 * try: the item is dropped */
int64_t notifier_plan(int64_t start_ts, int64_t now, unsigned retry);

/* queue files: "<addr>\n<start_ts>\n<token>", named by a uuid4 hex */
int notify_item_format(const char *addr, int64_t start_ts, const char *token,
		       struct buf *out);
/* notify_item_parse: the fields (pointing into text, which is cut);
 * 0, or -EINVAL */
int notify_item_parse(char *text, const char **addr_r, int64_t *start_ts_r,
		      const char **token_r);

/* counters since start (queued ... retried), and gauges now (pending:
 * items in the queue, inflight, waiting for a slot) */
struct notify_stats {
	uint64_t queued, sent, gone, failed, dropped, retried;
	uint64_t pending, inflight, waiting;
};
void notifier_stats(const struct notifier *n, struct notify_stats *st);
/* notifier_metrics: the notifier's figures as Prometheus text appended
 * to out (docs/DESIGN.md, Metrics); 0 or -E2BIG */
int notifier_metrics(const struct notifier *n, struct buf *out);

/* --- TURN (metadata_turn.c) ------------------------------------------ */

struct turn;
struct turn *turn_new(struct evloop *loop, const char *socket_path,
		      const char *hostname);
/* turn_free: pending lookups are answered N */
void turn_free(struct turn **tp);
/* turn_lookup: answer req with "<hostname>:3478:<line>" or N, later */
void turn_lookup(struct turn *t, struct dict_req *req);

/* --- the dict handlers (metadata.c) ---------------------------------- */

struct metadata {
	const struct chatmail_config *cfg;
	char *mailboxes_dir;
	struct notifier *notifier;
	struct turn *turn;
	time_t (*now)(void);
};

struct metadata *metadata_new(const struct chatmail_config *cfg,
			      struct evloop *loop, const char *cafile);
void metadata_free(struct metadata **mp);
extern const struct dict_ops metadata_ops;

#endif
