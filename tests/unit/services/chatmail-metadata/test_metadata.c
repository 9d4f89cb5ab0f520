/*
 * test_metadata: metadata.json (upstream's format byte for byte, legacy
 * list migration, 90-day expiry, pruning), Python-style JSON printing,
 * appversions (schema as chatmail core parses it, file and built-in copy
 * equal), queue item format, the retry schedule with an injected clock,
 * 200/410/failure handling, requeue at start, and the dict wire format
 * including TURN lookups against real Unix sockets.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../dict_client.h"

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "evloop.h"
#include "fs.h"
#include "log.h"
#include "metadata.h"
#include "net.h"
#include "xmalloc.h"

#define NOW 1800000000

static time_t fake_now = NOW;
static uint64_t fake_ms;

static time_t
clock_now(void)
{
	return fake_now;
}

static uint64_t
clock_ms(void)
{
	return fake_ms;
}

/* slurp: a small file's content ("" if missing) */
static char *
slurp(const char *path)
{
	struct buf b = BUF_INIT(1 << 20);

	(void)fs_read_file(path, &b);
	return buf_steal(&b, NULL);
}

static void
spit(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	(void)fputs(text, fp);
	(void)fclose(fp);
}

/* --- tokens ---------------------------------------------------------- */

static void
test_tokens(void **state)
{
	char *dir = test_tmpdir(), u1[512], u2[512], path[600], *s;
	struct buf b = BUF_INIT(4096);

	(void)state;
	(void)snprintf(u1, sizeof(u1), "%s/user.name@example.org", dir);
	(void)snprintf(u2, sizeof(u2), "%s/user2@example.org", dir);
	assert_int(tokens_get(u1, NOW, &b), 0);
	assert_str(buf_cstr(&b), "");
	assert_int(tokens_add(u1, "01234", NOW), 0);
	assert_int(tokens_add(u2, "456", NOW), 0);
	assert_int(tokens_add(u1, "56789", NOW + 1), 0);
	assert_int(tokens_get(u1, NOW + 2, &b), 0);
	assert_str(buf_cstr(&b), "01234 56789");
	(void)snprintf(path, sizeof(path), "%s/metadata.json", u1);
	s = slurp(path);
	assert_str(s, "{\"devicetoken\": {\"01234\": 1800000000, \"56789\": "
		      "1800000001}}");
	free(s);
	/* re-adding keeps the order and updates the stamp */
	assert_int(tokens_add(u1, "01234", NOW + 5), 0);
	s = slurp(path);
	assert_str(s, "{\"devicetoken\": {\"01234\": 1800000005, \"56789\": "
		      "1800000001}}");
	free(s);
	assert_int(tokens_remove(u1, "nonexisting", NOW), 0);
	assert_int(tokens_remove(u1, "01234", NOW), 0);
	buf_reset(&b);
	assert_int(tokens_get(u1, NOW, &b), 0);
	assert_str(buf_cstr(&b), "56789");
	buf_reset(&b);
	assert_int(tokens_get(u2, NOW, &b), 0);
	assert_str(buf_cstr(&b), "456");
	/* removing for a user without a directory creates nothing */
	(void)snprintf(path, sizeof(path), "%s/gone@example.org", dir);
	assert_int(tokens_remove(path, "x", NOW), 0);
	assert_true(access(path, F_OK) < 0);
	buf_deinit(&b);
	test_rmtree(dir);
	free(dir);
}

static void
test_tokens_expiry_and_legacy(void **state)
{
	char *dir = test_tmpdir(), u[512], path[600], *s, **list;
	struct buf b = BUF_INIT(4096);
	int n;

	(void)state;
	(void)snprintf(u, sizeof(u), "%s/a@example.org", dir);
	assert_int(mkdir(u, 0700), 0);
	(void)snprintf(path, sizeof(path), "%s/metadata.json", u);
	/* 90 days old, fresh, a minute ahead, far ahead, not a number;
	 * other keys stay */
	spit(path, "{\"other\": [1, 2.5, \"x\"], \"devicetoken\": {"
		   "\"old\": 1792224000, \"ok\": 1799999000, \"soon\": "
		   "1800000059, \"future\": 1800000060, \"bad\": \"x\"}}");
	assert_int(tokens_valid_ts(NOW - 90 * 86400, NOW), 0);
	assert_int(tokens_valid_ts(NOW - 90 * 86400 + 1, NOW), 1);
	assert_int(tokens_get(u, NOW, &b), 0);
	assert_str(buf_cstr(&b), "ok soon");
	s = slurp(path);
	assert_str(s, "{\"other\": [1, 2.5, \"x\"], \"devicetoken\": {\"ok\": "
		      "1799999000, \"soon\": 1800000059}}");
	free(s);
	/* the legacy list form: all tokens count, migrated on disk */
	spit(path, "{\"devicetoken\": [\"oldtoken1\", \"oldtoken2\"]}");
	n = tokens_list(u, NOW, &list);
	assert_int(n, 2);
	assert_str(list[0], "oldtoken1");
	assert_str(list[1], "oldtoken2");
	free(list[0]);
	free(list[1]);
	free(list);
	s = slurp(path);
	assert_str(s, "{\"devicetoken\": {\"oldtoken1\": 1800000000, "
		      "\"oldtoken2\": 1800000000}}");
	free(s);
	/* a corrupt file counts as empty and is replaced on the next add */
	spit(path, "l12k3l12k3l");
	buf_reset(&b);
	assert_int(tokens_get(u, NOW, &b), 0);
	assert_str(buf_cstr(&b), "");
	assert_int(tokens_add(u, "t\xc3\xa9", NOW), 0);
	s = slurp(path);
	assert_str(s, "{\"devicetoken\": {\"t\\u00e9\": 1800000000}}");
	free(s);
	buf_deinit(&b);
	test_rmtree(dir);
	free(dir);
}

static void
test_json_py_print(void **state)
{
	static const struct {
		const char *in, *pretty, *compact;
	} cases[] = {
		{ "{}", "{}", "{}" },
		{ "[]", "[]", "[]" },
		{ "{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false}",
		  "{\"a\": [1, 2, {\"b\": null}], \"c\": true, \"d\": false}",
		  "{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false}" },
		{ "{\"f\":4.2,\"n\":-7,\"big\":4294967296}",
		  "{\"f\": 4.2, \"n\": -7, \"big\": 4294967296}",
		  "{\"f\":4.2,\"n\":-7,\"big\":4294967296}" },
		{ "{\"s\":\"one\\ntwo \\u00fc\\ud83d\\ude00\"}",
		  "{\"s\": \"one\\ntwo \\u00fc\\ud83d\\ude00\"}",
		  "{\"s\":\"one\\ntwo \\u00fc\\ud83d\\ude00\"}" },
	};
	struct buf b = BUF_INIT(4096);
	cJSON *v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		v = cJSON_Parse(cases[i].in);
		assert_non_null(v);
		buf_reset(&b);
		assert_int(json_py_print(v, 0, &b), 0);
		assert_str(buf_cstr(&b), cases[i].pretty);
		buf_reset(&b);
		assert_int(json_py_print(v, 1, &b), 0);
		assert_str(buf_cstr(&b), cases[i].compact);
		cJSON_Delete(v);
	}
	buf_deinit(&b);
}

/* --- appversions ------------------------------------------------------- */

/* keys_are: obj has exactly the n keys given */
static int
keys_are(const cJSON *obj, const char *const *keys, int n)
{
	int count = cJSON_GetArraySize(obj);

	if (!cJSON_IsObject(obj) || count != n)
		return 0;
	for (int i = 0; i < n; i++) {
		if (cJSON_GetObjectItemCaseSensitive(obj, keys[i]) == NULL)
			return 0;
	}
	return 1;
}

static int
nonempty_string(const cJSON *v)
{
	return cJSON_IsString(v) && v->valuestring[0] != '\0';
}

/* unique_strings: no two elements of arr have the same key string */
static int
unique_ids(const cJSON *arr, const char *key)
{
	const cJSON *a, *b;

	cJSON_ArrayForEach(a, arr)
	{
		for (b = a->next; b != NULL; b = b->next) {
			if (strcmp(cJSON_GetObjectItem(a, key)->valuestring,
				   cJSON_GetObjectItem(b, key)->valuestring) ==
			    0)
				return 0;
		}
	}
	return 1;
}

/* check_source: one source as chatmail core parses it */
static int
check_source(const cJSON *s)
{
	static const char *const keys[] = { "sourceId", "versionInteger",
					    "versionString", "downloadUrl" };
	const cJSON *vi, *url;
	double d;

	if (!keys_are(s, keys, 4))
		return 0;
	vi = cJSON_GetObjectItem(s, "versionInteger");
	url = cJSON_GetObjectItem(s, "downloadUrl");
	if (!cJSON_IsNumber(vi))
		return 0;
	d = vi->valuedouble;
	return nonempty_string(cJSON_GetObjectItem(s, "sourceId")) &&
	       d == (double)(int64_t)d && d >= 0 && d < 4294967296.0 &&
	       nonempty_string(cJSON_GetObjectItem(s, "versionString")) &&
	       nonempty_string(url) &&
	       (strncmp(url->valuestring, "https://github.com/deltachat/",
			29) == 0 ||
		strncmp(url->valuestring, "https://download.delta.chat/", 28) ==
			0);
}

/* check_appversions: upstream's test_appversions.py schema */
static int
check_appversions(const cJSON *doc)
{
	static const char *const top[] = { "clients" };
	static const char *const ckeys[] = { "clientId", "sources" };
	const cJSON *clients, *c, *sources, *s;

	if (!keys_are(doc, top, 1))
		return 0;
	clients = cJSON_GetObjectItem(doc, "clients");
	if (!cJSON_IsArray(clients) || cJSON_GetArraySize(clients) == 0)
		return 0;
	cJSON_ArrayForEach(c, clients)
	{
		if (!keys_are(c, ckeys, 2) ||
		    !nonempty_string(cJSON_GetObjectItem(c, "clientId")))
			return 0;
		sources = cJSON_GetObjectItem(c, "sources");
		if (!cJSON_IsArray(sources) || cJSON_GetArraySize(sources) == 0)
			return 0;
		cJSON_ArrayForEach(s, sources)
		{
			if (!check_source(s))
				return 0;
		}
		if (!unique_ids(sources, "sourceId"))
			return 0;
	}
	return unique_ids(clients, "clientId");
}

static void
test_appversions(void **state)
{
	static const char *const bad_vi[] = { "true",	 "-1",	 "4294967296",
					      "\"754\"", "null", "1.5" };
	struct buf file = BUF_INIT(1 << 20), a = BUF_INIT(1 << 20);
	struct buf b = BUF_INIT(1 << 20);
	const char *top = getenv("TOP");
	char path[1024], *dir = test_tmpdir(), *mut;
	cJSON *doc, *src;

	(void)state;
	(void)snprintf(path, sizeof(path),
		       "%s/services/chatmail-metadata/appversions.json",
		       top != NULL ? top : ".");
	assert_int(fs_read_file(path, &file), 0);
	/* the shipped file and the built-in copy are the same */
	assert_str(buf_cstr(&file), appversions_builtin());
	doc = cJSON_Parse(appversions_builtin());
	assert_true(check_appversions(doc));
	/* the checker itself rejects what core would drop */
	src = cJSON_GetArrayItem(
		cJSON_GetObjectItem(
			cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "clients"),
					   0),
			"sources"),
		0);
	for (size_t i = 0; i < sizeof(bad_vi) / sizeof(*bad_vi); i++) {
		cJSON *copy = cJSON_Duplicate(doc, 1), *s2;

		s2 = cJSON_GetArrayItem(
			cJSON_GetObjectItem(
				cJSON_GetArrayItem(
					cJSON_GetObjectItem(copy, "clients"),
					0),
				"sources"),
			0);
		cJSON_ReplaceItemInObject(s2, "versionInteger",
					  cJSON_Parse(bad_vi[i]));
		assert_false(check_appversions(copy));
		cJSON_Delete(copy);
	}
	cJSON_AddItemToArray(
		cJSON_GetObjectItem(
			cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "clients"),
					   0),
			"sources"),
		cJSON_Duplicate(src, 1));
	assert_false(check_appversions(doc)); /* duplicate sourceId */
	cJSON_Delete(doc);
	mut = xstrdup(appversions_builtin());
	memcpy(strstr(mut, "https://github.com"), "https://gitlab.com", 18);
	doc = cJSON_Parse(mut);
	assert_false(check_appversions(doc)); /* foreign download URL */
	cJSON_Delete(doc);
	free(mut);
	/* served as one compact line (test_read_appversions) */
	assert_int(appversions_get("", &a), 1);
	assert_null(strchr(buf_cstr(&a), '\n'));
	assert_true(strncmp(buf_cstr(&a), "{\"clients\":[{\"clientId\":", 24) ==
		    0);
	(void)snprintf(path, sizeof(path), "%s/av.json", dir);
	assert_int(appversions_get(path, &b), 0);
	spit(path, "{\n  \"clients\": []\n}");
	assert_int(appversions_get(path, &b), 1);
	assert_str(buf_cstr(&b), "{\"clients\":[]}");
	buf_reset(&b);
	spit(path, "{\"clients\": [{\"clientId\": \"one\\ntwo\"}]}");
	assert_int(appversions_get(path, &b), 1);
	assert_str(buf_cstr(&b),
		   "{\"clients\":[{\"clientId\":\"one\\ntwo\"}]}");
	spit(path, "bad json");
	assert_int(appversions_get(path, &b), -1);
	buf_deinit(&file);
	buf_deinit(&a);
	buf_deinit(&b);
	test_rmtree(dir);
	free(dir);
}

/* --- queue items and the schedule -------------------------------------- */

static void
test_queue_item_format(void **state)
{
	struct buf b = BUF_INIT(256);
	const char *addr, *token;
	int64_t ts;
	char bad1[] = "a@b\n12", bad2[] = "a@b\nx12\ntok", bad3[] = "";

	(void)state;
	assert_int(
		notify_item_format("user.name@example.org", 432, "01234", &b),
		0);
	assert_str(buf_cstr(&b), "user.name@example.org\n432\n01234");
	assert_int(notify_item_parse(b.data, &addr, &ts, &token), 0);
	assert_str(addr, "user.name@example.org");
	assert_int(ts, 432);
	assert_str(token, "01234");
	assert_int(notify_item_parse(bad1, &addr, &ts, &token), -EINVAL);
	assert_int(notify_item_parse(bad2, &addr, &ts, &token), -EINVAL);
	assert_int(notify_item_parse(bad3, &addr, &ts, &token), -EINVAL);
	buf_deinit(&b);
}

static void
test_schedule(void **state)
{
	static const unsigned delays[] = { 0, 8, 64, 512, 4096 };

	(void)state;
	for (unsigned i = 0; i < 5; i++) {
		assert_int(notifier_delay(i), delays[i]);
		assert_int(notifier_plan(1000, 1000, i), 1000 + delays[i]);
	}
	assert_int(notifier_plan(1000, 1000, 5), -1); /* out of tries */
	/* past 5 hours after the message: dropped */
	assert_int(notifier_plan(1000, 1000 + 18000, 0), 1000 + 18000);
	assert_int(notifier_plan(1000, 1000 + 18001, 0), -1);
	assert_int(notifier_plan(1000, 1000 + 17000, 1), 1000 + 17008);
	assert_int(notifier_plan(1000, 1000 + 17993, 1), -1);
}

/* --- the notifier with a fake transport -------------------------------- */

struct fake {
	struct notifier *n;
	struct evloop *loop;
	char *dir, qdir[600], udir[600];
	long statuses[16]; /* answers in order; -1: keep pending */
	int nstatus, next;
	int64_t at[16];	     /* when each attempt happened (wall) */
	char tokens[64][32]; /* token of each attempt */
	int attempts;
	struct notify_item *pending[64];
	int npending;
	int gone;
};

static struct fake *F;

static void
fake_post(struct notifier *n, struct notify_item *it, const char *token)
{
	long st = F->next < F->nstatus ? F->statuses[F->next++] : 200;

	if (F->attempts < 16)
		F->at[F->attempts] = fake_now;
	(void)snprintf(F->tokens[F->attempts % 64], 32, "%s", token);
	F->attempts++;
	if (st < 0) {
		F->pending[F->npending++] = it;
		return;
	}
	notifier_done(n, it, st, st == 0 ? "connection refused" : NULL);
}

static void
fake_gone(void *ctx, const char *addr, const char *token)
{
	(void)ctx;
	(void)addr;
	F->gone++;
	assert_int(tokens_remove(F->udir, token, fake_now), 0);
}

static int
fsetup(void **state)
{
	struct fake *f = xcalloc(1, sizeof(*f));

	log_init("test_metadata", getenv("V") ? 1 : -2);
	fake_now = NOW;
	fake_ms = 1000000;
	f->dir = test_tmpdir();
	(void)snprintf(f->qdir, sizeof(f->qdir), "%s/q", f->dir);
	(void)snprintf(f->udir, sizeof(f->udir), "%s/a@example.org", f->dir);
	assert_int(mkdir(f->qdir, 0700), 0);
	f->loop = evloop_new();
	evloop_set_clock(f->loop, clock_ms);
	f->n = notifier_new(f->loop, f->qdir, "https://127.0.0.1:1/notify",
			    NULL, fake_gone, NULL);
	notifier_set_post(f->n, fake_post);
	notifier_set_clock(f->n, clock_now);
	F = f;
	*state = f;
	return 0;
}

static int
fteardown(void **state)
{
	struct fake *f = *state;

	notifier_free(&f->n);
	evloop_free(&f->loop);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* advance: move both clocks by secs, one second at a time */
static void
advance(struct fake *f, int secs)
{
	for (int i = 0; i < secs; i++) {
		(void)evloop_run_once(f->loop, 0);
		fake_now++;
		fake_ms += 1000;
	}
	(void)evloop_run_once(f->loop, 0);
}

/* queue_files: entries in the queue directory */
static int
queue_files(const struct fake *f)
{
	DIR *d = opendir(f->qdir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	(void)closedir(d);
	return n;
}

/* check_metrics: the notifier's metrics text has the line want */
static void
check_metrics(struct fake *f, const char *want)
{
	struct buf out = BUF_INIT(1 << 14);

	assert_int(notifier_metrics(f->n, &out), 0);
	if (strstr(buf_cstr(&out), want) == NULL) {
		print_error("want %s in:\n%s", want, buf_cstr(&out));
		fail();
	}
	buf_deinit(&out);
}

static void
test_retries_then_drop(void **state)
{
	struct fake *f = *state;
	static const int64_t want[] = { 0, 8, 72, 584, 4680 };
	char t0[] = "01234", *tok[] = { t0 };
	struct notify_stats st;

	f->nstatus = 5;
	f->statuses[0] = 500;
	f->statuses[1] = 404;
	f->statuses[2] = 0; /* a failed connection */
	f->statuses[3] = 500;
	f->statuses[4] = 503;
	assert_int(notifier_push(f->n, "a@example.org", tok, 1), 1);
	assert_int(queue_files(f), 1);
	advance(f, 5000);
	assert_int(f->attempts, 5);
	for (int i = 0; i < 5; i++)
		assert_int(f->at[i] - NOW, want[i]);
	notifier_stats(f->n, &st);
	assert_int(st.dropped, 1);
	assert_int(st.failed, 5);
	assert_int(st.retried, 4);
	assert_int(st.pending, 0);
	assert_int(queue_files(f), 0);
	check_metrics(f, "chatmail_metadata_push_retried_total 4\n");
	check_metrics(f, "chatmail_metadata_push_dropped_total 1\n");
	check_metrics(f, "chatmail_metadata_push_sent_total 0\n");
}

static void
test_gone_removes_token(void **state)
{
	struct fake *f = *state;
	struct buf b = BUF_INIT(256);
	char **list;
	int n;

	assert_int(tokens_add(f->udir, "01234", NOW), 0);
	assert_int(tokens_add(f->udir, "45678", NOW), 0);
	n = tokens_list(f->udir, NOW, &list);
	assert_int(n, 2);
	f->nstatus = 2;
	f->statuses[0] = 410;
	f->statuses[1] = 200;
	assert_int(notifier_push(f->n, "a@example.org", list, n), 2);
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	advance(f, 1);
	assert_int(f->attempts, 2);
	assert_str(f->tokens[0], "01234");
	assert_str(f->tokens[1], "45678");
	assert_int(f->gone, 1);
	assert_int(tokens_get(f->udir, NOW, &b), 0);
	assert_str(buf_cstr(&b), "45678");
	assert_int(queue_files(f), 0);
	buf_deinit(&b);
}

static void
test_requeue(void **state)
{
	struct fake *f = *state;
	char path[700];

	(void)snprintf(path, sizeof(path),
		       "%s/0123456789abcdef0123456789abcdef", f->qdir);
	spit(path, "a@example.org\n1800000000\ntok-requeued");
	(void)snprintf(path, sizeof(path), "%s/1203981203.tmp", f->qdir);
	spit(path, "a@example.org\n1800000000\nhalf");
	(void)snprintf(path, sizeof(path), "%s/1203981203", f->qdir);
	spit(path, "");
	assert_int(notifier_requeue(f->n), 1);
	assert_int(queue_files(f), 1);
	advance(f, 1);
	assert_int(f->attempts, 1);
	assert_str(f->tokens[0], "tok-requeued");
	assert_int(queue_files(f), 0);
	/* an item older than the deadline is dropped at once */
	(void)snprintf(path, sizeof(path), "%s/aaaa", f->qdir);
	spit(path, "a@example.org\n1700000000\nstale");
	assert_int(notifier_requeue(f->n), 1);
	assert_int(queue_files(f), 0);
	assert_int(f->attempts, 1);
}

static void
test_bounded_concurrency(void **state)
{
	struct fake *f = *state;
	char *toks[30], buf[30][8];
	struct notify_stats st;

	for (int i = 0; i < 30; i++) {
		(void)snprintf(buf[i], sizeof(buf[i]), "t%d", i);
		toks[i] = buf[i];
		f->statuses[i % 16] = -1;
	}
	f->nstatus = 16;
	assert_int(notifier_push(f->n, "a@example.org", toks, 30), 30);
	advance(f, 1);
	notifier_stats(f->n, &st);
	assert_int(st.inflight, NOTIFY_INFLIGHT_MAX);
	assert_int(st.waiting, 30 - NOTIFY_INFLIGHT_MAX);
	assert_int(st.pending, 30);
	check_metrics(f, "chatmail_metadata_push_in_flight 12\n");
	assert_int(NOTIFY_INFLIGHT_MAX, 12);
	check_metrics(f, "chatmail_metadata_push_pending 30\n");
	/* finishing one starts the next (which answers 200 at once after
	 * the 16 scripted pending ones) */
	for (int i = 0; i < f->npending; i++)
		notifier_done(f->n, f->pending[i], 200, NULL);
	advance(f, 1);
	notifier_stats(f->n, &st);
	assert_int(st.sent, 30);
	assert_int(st.inflight, 0);
	assert_int(st.retried, 0);
	check_metrics(f, "chatmail_metadata_push_sent_total 30\n");
	check_metrics(f, "chatmail_metadata_push_pending 0\n");
	assert_int(f->attempts, 30);
}

/* --- the dict wire ------------------------------------------------------ */

struct wire {
	char *dir, mbox[512], ini_turn[600];
	struct chatmail_config cfg;
	struct evloop *loop;
	struct metadata *md;
	struct dict_server *srv;
	struct fake fake;
	int turn_lfd;
};

/* turn_accept: a TURN server that answers every connection at once */
static void
turn_accept(struct evloop *loop, int fd, unsigned events, void *arg)
{
	int c = net_accept(fd);

	(void)loop;
	(void)events;
	(void)arg;
	if (c >= 0) {
		assert_int(write(c, "testuser:testpass\n", 18), 18);
		(void)close(c);
	}
}

/* wire_setup: the service on a chatmail.ini with extra lines */
static int
wire_setup(void **state, const char *extra)
{
	struct wire *w = xcalloc(1, sizeof(*w));
	struct buf text = BUF_INIT(4096), err = BUF_INIT(4096);

	log_init("test_metadata", getenv("V") ? 1 : -2);
	fake_now = time(NULL);
	w->dir = test_tmpdir();
	(void)snprintf(w->mbox, sizeof(w->mbox), "%s/mail", w->dir);
	assert_int(mkdir(w->mbox, 0700), 0);
	(void)snprintf(w->ini_turn, sizeof(w->ini_turn), "%s/turn.socket",
		       w->dir);
	(void)buf_printf(&text,
			 "[params]\nmail_domain = example.org\n"
			 "mailboxes_dir = %s\nturn_socket_path = %s\n"
			 "privacy_mail = privacy@example.org\n"
			 "iroh_relay = https://example.org/\n%s",
			 w->mbox, w->ini_turn, extra);
	if (config_load_string(&w->cfg, buf_cstr(&text), 0, &err) < 0)
		fail_msg("config: %s", buf_cstr(&err));
	w->loop = evloop_new();
	w->md = metadata_new(&w->cfg, w->loop, NULL);
	w->md->now = clock_now;
	F = &w->fake;
	(void)snprintf(w->fake.udir, sizeof(w->fake.udir),
		       "%s/user@example.org", w->mbox);
	notifier_set_post(w->md->notifier, fake_post);
	notifier_set_clock(w->md->notifier, clock_now);
	w->srv = dict_server_new(w->loop, "metadata", &metadata_ops, w->md);
	w->turn_lfd = -1;
	buf_deinit(&text);
	buf_deinit(&err);
	*state = w;
	return 0;
}

static int
wsetup(void **state)
{
	return wire_setup(state, "");
}

/* wsetup_host: TURN on a node's address (spec.turn.hostNetwork) */
static int
wsetup_host(void **state)
{
	return wire_setup(state, "turn_hostname = 203.0.113.9\n");
}

static int
wteardown(void **state)
{
	struct wire *w = *state;

	dict_server_free(&w->srv);
	metadata_free(&w->md);
	if (w->turn_lfd >= 0) {
		evloop_io_del(w->loop, w->turn_lfd);
		(void)close(w->turn_lfd);
	}
	evloop_free(&w->loop);
	config_deinit(&w->cfg);
	test_rmtree(w->dir);
	free(w->dir);
	free(w);
	return 0;
}

/* converse: text in, everything the server says until it closes */
static char *
converse(struct wire *w, const char *text)
{
	return dict_converse(w->loop, w->srv, text);
}

#define H "H3\t2\t0\t\tmetadata\n"
#define DC "Lshared/0123/vendor/vendor.dovecot/pvt/server/vendor/deltachat/"

static void
test_wire_tokens_and_push(void **state)
{
	struct wire *w = *state;
	char *out;

	/* upstream's test_handle_dovecot_request_happy_path over the wire */
	out = converse(w, H "B1111\tuser@example.org\n"
			    "S1111\tpriv/guid00/devicetoken\t01234\nC1111\n"
			    "Lpriv/0123/devicetoken\tuser@example.org\n"
			    "Lpriv/123/chatmail\tuser@example.org\n"
			    "B2222\tuser@example.org\n"
			    "S2222\tpriv/guid00/messagenew\t\nC2222\n");
	assert_str(out, "O1111\nO01234\nN\nO2222\n");
	free(out);
	assert_int(w->fake.attempts, 1);
	assert_str(w->fake.tokens[0], "01234");
	/* unknown keys fail the commit; server-level tokens are not ours */
	out = converse(w, H "B1\tuser@example.org\nS1\tpriv/g/other\tx\nC1\n"
			    "B2\tuser@example.org\nS2\tpriv/g/vendor/vendor."
			    "dovecot/pvt/server/devicetoken\tx\nC2\n");
	assert_str(out, "F1\tset failed\nF2\tset failed\n");
	free(out);
	/* a user without tokens: an empty value, as upstream */
	out = converse(w, H "Lpriv/0123/devicetoken\tnobody@example.org\n");
	assert_str(out, "O\n");
	free(out);
}

static void
test_wire_shared(void **state)
{
	struct wire *w = *state;
	char *out;

	out = converse(w, H DC "irohrelay\tu\n" DC "maxsmtprecipients\tu\n" DC
			       "unknown\tu\n"
			       "Lshared/0123/vendor/vendor.dovecot/pvt/server/"
			       "wrong/prefix/key\tu\n"
			       "Lshared/0123/vendor/vendor.dovecot/pvt/server/"
			       "admin\tu\n");
	assert_str(out, "Ohttps://example.org/\nO1000\nN\nN\n"
			"Omailto:privacy@example.org\n");
	free(out);
	out = converse(w, H DC "appversions\tuser@example.org\n");
	assert_true(strncmp(out, "O{\"clients\":[", 13) == 0);
	assert_int(out[strlen(out) - 1], '\n');
	free(out);
}

static void
test_wire_turn(void **state)
{
	struct wire *w = *state;
	struct buf err = BUF_INIT(256);
	char *out;
	uint64_t t0;
	struct timespec ts;

	/* no TURN server: N, and the next reply still comes in order */
	out = converse(w, H DC "turn\tu\n" DC "maxsmtprecipients\tu\n");
	assert_str(out, "N\nO1000\n");
	free(out);
	/* a TURN server that answers */
	w->turn_lfd = net_listen_unix(w->ini_turn, 0600, (uid_t)-1, (gid_t)-1,
				      1, &err);
	assert_true(w->turn_lfd >= 0);
	assert_int(
		evloop_io_add(w->loop, w->turn_lfd, EV_READ, turn_accept, NULL),
		0);
	out = converse(w, H DC "turn\tu\n" DC "maxsmtprecipients\tu\n");
	assert_str(out, "Oexample.org:3478:testuser:testpass\nO1000\n");
	free(out);
	/* one that never answers: N after the 5 s deadline */
	evloop_io_del(w->loop, w->turn_lfd);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec;
	out = converse(w, H DC "turn\tu\n");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	assert_str(out, "N\n");
	assert_true((uint64_t)ts.tv_sec - t0 >= 4);
	free(out);
	buf_deinit(&err);
}

/* test_wire_turn_host: turn_hostname is the host clients are told */
static void
test_wire_turn_host(void **state)
{
	struct wire *w = *state;
	struct buf err = BUF_INIT(256);
	char *out;

	w->turn_lfd = net_listen_unix(w->ini_turn, 0600, (uid_t)-1, (gid_t)-1,
				      1, &err);
	assert_true(w->turn_lfd >= 0);
	assert_int(
		evloop_io_add(w->loop, w->turn_lfd, EV_READ, turn_accept, NULL),
		0);
	out = converse(w, H DC "turn\tu\n");
	assert_str(out, "O203.0.113.9:3478:testuser:testpass\n");
	free(out);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_tokens_expiry_and_legacy),
		cmocka_unit_test(test_json_py_print),
		cmocka_unit_test(test_appversions),
		cmocka_unit_test(test_queue_item_format),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test_setup_teardown(test_retries_then_drop, fsetup,
						fteardown),
		cmocka_unit_test_setup_teardown(test_gone_removes_token, fsetup,
						fteardown),
		cmocka_unit_test_setup_teardown(test_requeue, fsetup,
						fteardown),
		cmocka_unit_test_setup_teardown(test_bounded_concurrency,
						fsetup, fteardown),
		cmocka_unit_test_setup_teardown(test_wire_tokens_and_push,
						wsetup, wteardown),
		cmocka_unit_test_setup_teardown(test_wire_shared, wsetup,
						wteardown),
		cmocka_unit_test_setup_teardown(test_wire_turn, wsetup,
						wteardown),
		cmocka_unit_test_setup_teardown(test_wire_turn_host,
						wsetup_host, wteardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
