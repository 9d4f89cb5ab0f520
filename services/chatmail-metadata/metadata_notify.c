/*
 * metadata_notify: the push notifier (upstream's notifier.py), on the
 * process's one event loop.
 *
 * A new message for a user with device tokens becomes one queue item
 * per token, a file in <mailboxes_dir>/pending_notifications/ named by a
 * uuid4 hex and holding "<addr>\n<start ts>\n<token>" (written as
 * "<name>.tmp", then renamed: upstream's exact format, so a queue left by
 * either implementation is picked up by the other at start). Each item
 * is POSTed (body: the raw token) to the notification URL; 200 removes
 * the item, 410 removes it and the token, anything else retries after
 * 8^n seconds (0, 8, 64, 512, 4096) unless that would be past 5 hours
 * after the message arrived: then it is dropped and logged.
 *
 * Upstream runs 12 threads (4 first tries, 2 per retry level); we run at
 * most NOTIFY_INFLIGHT_MAX requests at once in a curl multi handle on our
 * evloop (services/lib/curlloop), and queue the rest in due order.
 *
 * Untrusted input: queue files (size-capped, strictly parsed; spurious
 * ones removed as upstream does) and the server's answers (only the
 * status is used). Tokens are never logged.
 */
#include "metadata.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "curlloop.h"
#include "fs.h"
#include "llist.h"
#include "log.h"
#include "num.h"
#include "prom.h"
#include "xmalloc.h"

#define ITEM_FILE_MAX 65536

struct notify_item {
	struct evloop_timer timer;
	struct notifier *n;
	LLIST_LINK(notify_item) link;	   /* in n->items: every item */
	LLIST_LINK(notify_item) wait_link; /* in n->waiting */
	char *name;			   /* queue file */
	char *addr, *token;
	int64_t start_ts;
	unsigned retry;
	CURL *easy;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
};

struct notifier {
	struct evloop *loop;
	char *dir, *url, *cafile;
	notify_gone_fn *gone;
	void *ctx;
	notify_post_fn *post;
	time_t (*now)(void);
	struct curlloop *cl; /* NULL: curl could not start */
	LLIST_HEAD(, notify_item) items;
	LLIST_HEAD(, notify_item) waiting; /* due, waiting for a slot */
	size_t inflight;
	struct notify_stats st;
};

static void item_start(struct notify_item *it);

unsigned
notifier_delay(unsigned retry)
{
	unsigned d = 1;

	if (retry == 0)
		return 0;
	for (unsigned i = 0; i < retry; i++)
		d *= NOTIFY_BASE_DELAY;
	return d;
}

int64_t
notifier_plan(int64_t start_ts, int64_t now, unsigned retry)
{
	int64_t when;

	if (retry >= NOTIFY_MAX_TRIES)
		return -1;
	when = now + notifier_delay(retry);
	return when > start_ts + NOTIFY_DEADLINE ? -1 : when;
}

int
notify_item_format(const char *addr, int64_t start_ts, const char *token,
		   struct buf *out)
{
	return buf_printf(out, "%s\n%lld\n%s", addr, (long long)start_ts,
			  token);
}

int
notify_item_parse(char *text, const char **addr_r, int64_t *start_ts_r,
		  const char **token_r)
{
	char *ts, *token;

	ts = strchr(text, '\n');
	if (ts == NULL || (token = strchr(ts + 1, '\n')) == NULL)
		return -EINVAL;
	*ts++ = '\0';
	*token++ = '\0';
	if (num_parse_i64(ts, INT64_MIN / 2, INT64_MAX / 2, start_ts_r) < 0)
		return -EINVAL;
	*addr_r = text;
	*token_r = token;
	return 0;
}

/* item_path: <dir>/<name><suffix> */
static int
item_path(const struct notifier *n, const char *name, const char *suffix,
	  char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "%s/%s%s", n->dir, name, suffix) >=
	    size)
		return -ENAMETOOLONG;
	return 0;
}

/* item_free: forget it (its file stays unless removed before) */
static void
item_free(struct notify_item *it)
{
	struct notifier *n = it->n;

	evloop_timer_stop(n->loop, &it->timer);
	if (it->easy != NULL) {
		curlloop_remove(n->cl, it->easy);
		curl_easy_cleanup(it->easy);
	}
	curl_slist_free_all(it->headers);
	LLIST_REMOVE(&n->items, it, link);
	free(it->name);
	free(it->addr);
	if (it->token != NULL)
		xfree_secret(it->token, 0);
	free(it);
}

/* item_remove: delete its queue file and forget it */
static void
item_remove(struct notify_item *it)
{
	char path[4096];

	if (item_path(it->n, it->name, "", path, sizeof(path)) == 0 &&
	    unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
	item_free(it);
}

/* pump: start waiting items while there are free slots */
static void
pump(struct notifier *n)
{
	struct notify_item *it;

	while (n->inflight < NOTIFY_INFLIGHT_MAX && !LLIST_EMPTY(&n->waiting)) {
		LLIST_POP(&n->waiting, it, wait_link);
		n->st.waiting--;
		item_start(it);
	}
}

/* item_due: its timer fired: send now, or wait for a slot */
static void
item_due(struct evloop *loop, void *arg)
{
	struct notify_item *it = arg;
	struct notifier *n = it->n;

	(void)loop;
	LLIST_APPEND(&n->waiting, it, wait_link);
	n->st.waiting++;
	pump(n);
}

/* item_schedule: attempt retry at its time, or drop it past the
 * deadline */
static void
item_schedule(struct notify_item *it, unsigned retry)
{
	struct notifier *n = it->n;
	int64_t now = (int64_t)n->now(), when;

	when = notifier_plan(it->start_ts, now, retry);
	if (when < 0) {
		log_error("notification exceeded deadline: dropped after %u "
			  "tries",
			  retry);
		n->st.dropped++;
		item_remove(it);
		return;
	}
	it->retry = retry;
	if (retry > 0)
		n->st.retried++;
	evloop_timer_start(n->loop, &it->timer, (uint64_t)(when - now) * 1000);
}

/* item_new: a queued item (strings copied) */
static struct notify_item *
item_new(struct notifier *n, const char *name, const char *addr,
	 int64_t start_ts, const char *token)
{
	struct notify_item *it = xcalloc(1, sizeof(*it));

	it->n = n;
	it->name = xstrdup(name);
	it->addr = xstrdup(addr);
	it->token = xstrdup(token);
	it->start_ts = start_ts;
	evloop_timer_init(&it->timer, item_due, it);
	LLIST_PREPEND(&n->items, it, link);
	n->st.queued++;
	return it;
}

/* item_start: send it (the post hook ends with notifier_done) */
static void
item_start(struct notify_item *it)
{
	struct notifier *n = it->n;

	n->inflight++;
	n->st.inflight = n->inflight;
	n->post(n, it, it->token);
}

void
notifier_done(struct notifier *n, struct notify_item *it, long status,
	      const char *error)
{
	n->inflight--;
	n->st.inflight = n->inflight;
	if (status == 200 || status == 410) {
		if (status == 410) {
			n->st.gone++;
			if (n->gone != NULL)
				n->gone(n->ctx, it->addr, it->token);
		} else {
			n->st.sent++;
		}
		item_remove(it);
	} else {
		n->st.failed++;
		if (status != 0)
			log_warn("Notification request failed: HTTP %ld",
				 status);
		else
			log_warn("Notification request failed: %s",
				 error != NULL ? error : "unknown error");
		item_schedule(it, it->retry + 1);
	}
	pump(n);
}

/* --- curl on our loop ------------------------------------------------ */

/* on_curl_done: a request finished: its status (0 when none came) */
static void
on_curl_done(void *arg, CURL *easy, CURLcode res)
{
	struct notifier *n = arg;
	struct notify_item *it = NULL;
	long status = 0;

	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&it);
	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(it->easy);
	it->easy = NULL;
	curl_slist_free_all(it->headers);
	it->headers = NULL;
	if (res != CURLE_OK)
		notifier_done(n, it, 0,
			      it->errbuf[0] ? it->errbuf
					    : curl_easy_strerror(res));
	else
		notifier_done(n, it, status, NULL);
}

/* discard_body: the answer's body is not used (only its status) */
static size_t
discard_body(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* curl_post: the real request: POST the raw token, no content type
 * (as Python's requests does with a str body) */
static void
curl_post(struct notifier *n, struct notify_item *it, const char *token)
{
	CURL *e = n->cl != NULL ? curl_easy_init() : NULL;

	if (e == NULL) {
		notifier_done(n, it, 0, "cannot make a curl handle");
		return;
	}
	it->errbuf[0] = '\0';
	it->headers = curl_slist_append(NULL, "Content-Type:");
	(void)curl_easy_setopt(e, CURLOPT_URL, n->url);
	(void)curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, token);
	(void)curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->headers);
	(void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
	(void)curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)NOTIFY_TIMEOUT_S);
	(void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(e, CURLOPT_PRIVATE, it);
	(void)curl_easy_setopt(e, CURLOPT_ERRORBUFFER, it->errbuf);
	(void)curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	if (n->cafile != NULL)
		(void)curl_easy_setopt(e, CURLOPT_CAINFO, n->cafile);
	it->easy = e;
	if (curlloop_add(n->cl, e) < 0) {
		curl_easy_cleanup(e);
		it->easy = NULL;
		notifier_done(n, it, 0, "cannot start a request");
	}
}

/* --- queue files ----------------------------------------------------- */

/* uuid4_hex: 32 hex digits of a random (version 4) UUID */
static int
uuid4_hex(char out[33])
{
	unsigned char u[16];

	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
		return -EIO;
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", u[i]);
	return 0;
}

/* write_item: "<dir>/<name>.tmp", then renamed to "<dir>/<name>" */
static int
write_item(struct notifier *n, const char *name, const struct buf *data)
{
	char tmp[4096], path[4096];
	int fd, r = 0;

	if ((r = item_path(n, name, ".tmp", tmp, sizeof(tmp))) < 0 ||
	    (r = item_path(n, name, "", path, sizeof(path))) < 0)
		return r;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -errno;
	if (write(fd, data->data, data->len) != (ssize_t)data->len)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

int
notifier_push(struct notifier *n, const char *addr, char **tokens, int ntokens)
{
	struct buf data = BUF_INIT(ITEM_FILE_MAX);
	int64_t start = (int64_t)n->now();
	char name[33];
	int r = 0, done = 0;

	for (int i = 0; i < ntokens; i++) {
		buf_reset(&data);
		if ((r = uuid4_hex(name)) < 0 ||
		    (r = notify_item_format(addr, start, tokens[i], &data)) <
			    0 ||
		    (r = write_item(n, name, &data)) < 0) {
			log_error("cannot queue a notification for %s: %s",
				  addr, strerror(-r));
			continue;
		}
		item_schedule(item_new(n, name, addr, start, tokens[i]), 0);
		done++;
	}
	buf_wipe_deinit(&data);
	return done > 0 || ntokens == 0 ? done : r;
}

/* requeue_one: queue the item in file name, or remove it as spurious */
static int
requeue_one(struct notifier *n, const char *name)
{
	struct buf data = BUF_INIT(ITEM_FILE_MAX);
	const char *addr, *token;
	char path[4096];
	int64_t start;
	size_t len = strlen(name);
	int ok = 0;

	if (item_path(n, name, "", path, sizeof(path)) < 0)
		return 0;
	if (!(len > 4 && strcmp(name + len - 4, ".tmp") == 0) &&
	    fs_read_file(path, &data) == 0 && data.len > 0 &&
	    data.len == strlen(data.data) &&
	    notify_item_parse(data.data, &addr, &start, &token) == 0) {
		item_schedule(item_new(n, name, addr, start, token), 0);
		ok = 1;
	} else {
		log_warn("removing spurious queue item: '%s'", path);
		(void)unlink(path);
	}
	buf_wipe_deinit(&data);
	return ok;
}

int
notifier_requeue(struct notifier *n)
{
	struct dirent *de;
	DIR *d = opendir(n->dir);
	int count = 0;

	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		count += requeue_one(n, de->d_name);
	}
	(void)closedir(d);
	return count;
}

/* --- the notifier ---------------------------------------------------- */

/* wall_clock: the default clock */
static time_t
wall_clock(void)
{
	return time(NULL);
}

struct notifier *
notifier_new(struct evloop *loop, const char *queue_dir, const char *url,
	     const char *cafile, notify_gone_fn *gone, void *ctx)
{
	struct notifier *n = xcalloc(1, sizeof(*n));

	n->loop = loop;
	n->dir = xstrdup(queue_dir);
	n->url = xstrdup(url);
	n->cafile = cafile != NULL && *cafile != '\0' ? xstrdup(cafile) : NULL;
	n->gone = gone;
	n->ctx = ctx;
	n->post = curl_post;
	n->now = wall_clock;
	n->cl = curlloop_new(loop, on_curl_done, NULL, n);
	if (n->cl == NULL)
		log_error("cannot start curl: notifications will fail");
	return n;
}

void
notifier_free(struct notifier **np)
{
	struct notifier *n = *np;
	struct notify_item *it, *next;

	if (n == NULL)
		return;
	LLIST_FOREACH_SAFE(it, &n->items, link, next)
		item_free(it);
	curlloop_free(&n->cl);
	free(n->dir);
	free(n->url);
	free(n->cafile);
	free(n);
	*np = NULL;
}

void
notifier_set_post(struct notifier *n, notify_post_fn *post)
{
	n->post = post;
}

void
notifier_set_clock(struct notifier *n, time_t (*now)(void))
{
	n->now = now;
}

void
notifier_stats(const struct notifier *n, struct notify_stats *st)
{
	*st = n->st;
	st->pending = LLIST_COUNT(&n->items);
}

#define NS struct notify_stats
#define PUSH "chatmail_metadata_push_"
static const struct prom_metric push_table[] = {
	PROM_C(PUSH "queued_total", NULL, NS, queued,
	       "Push notifications queued (one per device token)."),
	PROM_C(PUSH "sent_total", NULL, NS, sent,
	       "Push notifications the notification server took (200)."),
	PROM_C(PUSH "gone_total", NULL, NS, gone,
	       "Push notifications answered 410 (the token was removed)."),
	PROM_C(PUSH "failed_total", NULL, NS, failed,
	       "Push attempts that failed (HTTP error or no answer)."),
	PROM_C(PUSH "retried_total", NULL, NS, retried,
	       "Push notifications scheduled again after a failure."),
	PROM_C(PUSH "dropped_total", NULL, NS, dropped,
	       "Push notifications dropped past the 5 hour deadline."),
	PROM_G(PUSH "pending", NULL, NS, pending,
	       "Push notifications in the queue now."),
	PROM_G(PUSH "in_flight", NULL, NS, inflight,
	       "Push requests being sent now."),
	PROM_G(PUSH "waiting", NULL, NS, waiting,
	       "Push notifications due and waiting for a free request."),
};

int
notifier_metrics(const struct notifier *n, struct buf *out)
{
	struct notify_stats st;

	notifier_stats(n, &st);
	return prom_render(out, push_table,
			   sizeof(push_table) / sizeof(push_table[0]), &st);
}
