/*
 * events: posting events.k8s.io/v1 Events with de-duplication.
 *
 * Each event gets a unique name "<relay>.<hex time><hex counter>" like
 * client-go's. De-duplication keeps a small ring of recent event
 * fingerprints (SHA-256 of relay uid, type, reason and note) with their
 * times; an identical event within the window is dropped.
 *
 * Untrusted input: the note text may contain API error messages; it is
 * capped (the API limits notes to 1 KiB) and sent as a JSON string.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define RING 256
#define NOTE_MAX 1024

struct seen {
	char fp[UTIL_SHA256_HEX];
	uint64_t when;
};

struct events {
	struct evloop *loop;
	struct kube_client *c;
	char *instance;
	struct seen ring[RING];
	size_t next;
	uint64_t counter, sent;
};

struct events *
events_new(struct evloop *loop, struct kube_client *c, const char *instance)
{
	struct events *ev = xcalloc(1, sizeof(*ev));

	ev->loop = loop;
	ev->c = c;
	ev->instance = xstrdup(instance);
	return ev;
}

void
events_free(struct events **evp)
{
	struct events *ev = *evp;

	if (ev == NULL)
		return;
	free(ev->instance);
	free(ev);
	*evp = NULL;
}

/* duplicate: the same event was sent within the window (else record) */
static int
duplicate(struct events *ev, const char *fp)
{
	uint64_t now = evloop_now(ev->loop);
	size_t i;

	for (i = 0; i < RING; i++)
		if (ev->ring[i].when != 0 && strcmp(ev->ring[i].fp, fp) == 0 &&
		    now - ev->ring[i].when < EVENTS_DEDUP_MS)
			return 1;
	(void)snprintf(ev->ring[ev->next].fp, UTIL_SHA256_HEX, "%s", fp);
	ev->ring[ev->next].when = now ? now : 1;
	ev->next = (ev->next + 1) % RING;
	return 0;
}

/* post_done: log a failed post (events are best effort) */
static void
post_done(void *arg, struct kube_result *res)
{
	(void)arg;
	if (res->err < 0)
		log_debug("event not recorded: %s", res->message);
}

/* regarding: the object reference of the relay */
static cJSON *
regarding(const cJSON *relay)
{
	static const char *const keys[] = { "name", "namespace", "uid",
					    "resourceVersion", NULL };
	cJSON *r = cJSON_CreateObject();
	const char *v;
	size_t i;
	char path[32];

	v = util_get_str(relay, "apiVersion");
	cJSON_AddStringToObject(r, "apiVersion",
				v ? v : "chatmail.at/v1alpha1");
	v = util_get_str(relay, "kind");
	cJSON_AddStringToObject(r, "kind", v ? v : "ChatmailRelay");
	for (i = 0; keys[i] != NULL; i++) {
		(void)snprintf(path, sizeof(path), "metadata.%s", keys[i]);
		v = util_get_str(relay, path);
		if (v != NULL)
			cJSON_AddStringToObject(r, keys[i], v);
	}
	return r;
}

void
events_emit(struct events *ev, const cJSON *relay, const char *type,
	    const char *reason, const char *action, const char *fmt, ...)
{
	const char *ns = util_get_str(relay, "metadata.namespace");
	const char *name = util_get_str(relay, "metadata.name");
	const char *uid = util_get_str(relay, "metadata.uid");
	char note[NOTE_MAX], fp[UTIL_SHA256_HEX], now[40], ename[128];
	struct buf path = BUF_INIT(1024), key = BUF_INIT(2048);
	cJSON *e, *md;
	va_list ap;

	if (ev == NULL || ns == NULL || name == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	(void)buf_printf(&key, "%s|%s|%s|%s", uid ? uid : name, type, reason,
			 note);
	util_sha256_hex(key.data, key.len, fp);
	buf_deinit(&key);
	if (duplicate(ev, fp))
		return;
	log_info("event %s %s/%s: %s: %s", type, ns, name, reason, note);
	util_now_rfc3339(now, sizeof(now), 1);
	(void)snprintf(ename, sizeof(ename), "%.60s.%llx%llx", name,
		       (unsigned long long)time(NULL),
		       (unsigned long long)++ev->counter);
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "apiVersion", "events.k8s.io/v1");
	cJSON_AddStringToObject(e, "kind", "Event");
	md = cJSON_AddObjectToObject(e, "metadata");
	cJSON_AddStringToObject(md, "name", ename);
	cJSON_AddStringToObject(md, "namespace", ns);
	cJSON_AddStringToObject(e, "eventTime", now);
	cJSON_AddStringToObject(e, "reportingController",
				"chatmail.at/chatmail-operator");
	cJSON_AddStringToObject(e, "reportingInstance", ev->instance);
	cJSON_AddStringToObject(e, "action", action);
	cJSON_AddStringToObject(e, "reason", reason);
	cJSON_AddStringToObject(e, "note", note);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddItemToObject(e, "regarding", regarding(relay));
	if (kube_path(&path, &KUBE_EVENT, ns, NULL, NULL) == 0) {
		(void)kube_call_start(ev->c, KV_CREATE, buf_cstr(&path), e,
				      post_done, NULL);
		ev->sent++;
	}
	cJSON_Delete(e);
	buf_deinit(&path);
}

uint64_t
events_sent(const struct events *ev)
{
	return ev ? ev->sent : 0;
}
