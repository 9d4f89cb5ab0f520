/*
 * test_certprobe: the cert container's probe line read from kubelet
 * Unhealthy events: the line as cert-reloader --acme-status prints it
 * (quotes inside lastError, the kubelet's "combined from similar
 * events" prefix, fields missing or out of range, over-long fields),
 * events that are not a cert probe's, which event is newest, and the
 * relay a Pod belongs to.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "buf.h"
#include "certprobe.h"

/* test_parse: a table of probe messages */
static void
test_parse(void **state)
{
	static const struct {
		const char *msg;
		int rc;
		const char *names, *not_after, *next;
		unsigned failures;
		const char *last_error;
	} cases[] = {
		{ "Readiness probe failed: ready=false names= notAfter=- "
		  "nextAttempt=2026-12-07T09:00:00Z failures=3 "
		  "lastError=\"cannot reach the ACME server at "
		  "https://pebble:14000/dir: Couldn't connect to server\"\n",
		  0, "", "-", "2026-12-07T09:00:00Z", 3,
		  "cannot reach the ACME server at https://pebble:14000/dir: "
		  "Couldn't connect to server" },
		{ "(combined from similar events): Readiness probe failed: "
		  "ready=false names=a.org,www.a.org notAfter="
		  "2026-12-08T00:00:00Z nextAttempt=- failures=0 "
		  "lastError=\"the server said \"rateLimited\"\"",
		  0, "a.org,www.a.org", "2026-12-08T00:00:00Z", "-", 0,
		  "the server said \"rateLimited\"" },
		{ "Readiness probe failed: no ACME status yet: No such file "
		  "or directory\n",
		  -EINVAL, "", "-", "-", 0,
		  "Readiness probe failed: no ACME status yet: No such file "
		  "or directory" },
		/* a field missing, a count out of range, no closing quote */
		{ "ready=false names= nextAttempt=- failures=1 lastError=\"x\"",
		  -EINVAL, "", "-", "-", 0,
		  "ready=false names= nextAttempt=- failures=1 "
		  "lastError=\"x\"" },
		{ "ready=false names= notAfter=- nextAttempt=- "
		  "failures=99999999999 lastError=\"x\"",
		  -EINVAL, "", "-", "-", 0, NULL },
		{ "ready=false names= notAfter=- nextAttempt=- failures=2x "
		  "lastError=\"x\"",
		  -EINVAL, "", "-", "-", 0, NULL },
		{ "ready=false names= notAfter=- nextAttempt=- failures=2 "
		  "lastError=x",
		  -EINVAL, "", "-", "-", 0, NULL },
		{ "", -EINVAL, "", "-", "-", 0, "" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cert_probe p;

		memset(&p, 0x55, sizeof(p));
		assert_int(cert_probe_parse(cases[i].msg, &p), cases[i].rc);
		assert_int(p.parsed, cases[i].rc == 0);
		assert_str(p.names, cases[i].names);
		assert_str(p.not_after, cases[i].not_after);
		assert_str(p.next_attempt, cases[i].next);
		assert_int(p.failures, cases[i].failures);
		if (cases[i].last_error != NULL)
			assert_str(p.last_error, cases[i].last_error);
	}
}

/* test_parse_caps: fields longer than their buffers are cut, not grown */
static void
test_parse_caps(void **state)
{
	struct buf m = BUF_INIT(1u << 16);
	struct cert_probe p;
	size_t i;

	(void)state;
	(void)buf_printf(&m, "ready=false names=");
	for (i = 0; i < 2000; i++)
		(void)buf_putc(&m, 'n');
	(void)buf_printf(&m, " notAfter=- nextAttempt=- failures=1 "
			     "lastError=\"");
	for (i = 0; i < 5000; i++)
		(void)buf_putc(&m, 'e');
	(void)buf_printf(&m, "\"");
	assert_int(cert_probe_parse(buf_cstr(&m), &p), 0);
	assert_int(strlen(p.names), sizeof(p.names) - 1);
	assert_int(strlen(p.last_error), sizeof(p.last_error) - 1);
	assert_int(p.failures, 1);
	buf_deinit(&m);
}

/* event: a core/v1 Event as the kubelet writes it */
static cJSON *
event(const char *ns, const char *pod, const char *field_path,
      const char *reason, const char *last, const char *rv)
{
	char text[2048];

	(void)snprintf(
		text, sizeof(text),
		"{\"metadata\":{\"name\":\"%s.1\",\"namespace\":\"%s\","
		"\"resourceVersion\":\"%s\"},"
		"\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"%s\","
		"\"name\":\"%s\",\"fieldPath\":\"%s\"},\"reason\":\"%s\","
		"\"message\":\"Readiness probe failed: ready=false names= "
		"notAfter=- nextAttempt=- failures=4 lastError=\\\"boom\\\"\","
		"\"firstTimestamp\":\"2026-12-07T08:00:00Z\","
		"\"lastTimestamp\":\"%s\",\"count\":3}",
		pod, ns, rv, ns, pod, field_path, reason, last);
	return cJSON_Parse(text);
}

/* test_event: which events are a cert probe's, and their fields */
static void
test_event(void **state)
{
	cJSON *ev;
	struct cert_probe p;
	void *v;

	(void)state;
	ev = event("mail", "chat-0", "spec.containers{cert}", "Unhealthy",
		   "2026-12-07T08:05:00Z", "77");
	assert_int(cert_probe_from_event(ev, &p), 1);
	assert_str(p.ns, "mail");
	assert_str(p.pod, "chat-0");
	assert_str(p.time, "2026-12-07T08:05:00Z");
	assert_str(p.first, "2026-12-07T08:00:00Z");
	assert_str(p.rv, "77");
	assert_int(p.parsed, 1);
	assert_int(p.failures, 4);
	assert_str(p.last_error, "boom");
	/* the informer's transform: the same, as a cache value */
	v = cert_probe_transform(NULL, &ev);
	assert_str(((struct cert_probe *)v)->pod, "chat-0");
	cert_probe_free(v);
	cJSON_Delete(ev);
	/* another container, another reason: not a cert probe */
	ev = event("mail", "chat-0", "spec.containers{nginx}", "Unhealthy",
		   "2026-12-07T08:05:00Z", "78");
	assert_int(cert_probe_from_event(ev, &p), 0);
	assert_str(p.pod, "");
	cJSON_Delete(ev);
	ev = event("mail", "chat-0", "spec.containers{cert}", "Killing",
		   "2026-12-07T08:05:00Z", "79");
	assert_int(cert_probe_from_event(ev, &p), 0);
	cJSON_Delete(ev);
	ev = cJSON_Parse("{\"reason\":\"Unhealthy\"}");
	assert_int(cert_probe_from_event(ev, &p), 0);
	cJSON_Delete(ev);
}

/* test_newer_relay: ordering by time, then resourceVersion; the relay
 * of "<relay>-0" */
static void
test_newer_relay(void **state)
{
	struct cert_probe a, b;
	char key[128];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	(void)snprintf(a.time, sizeof(a.time), "2026-12-07T08:05:00Z");
	(void)snprintf(b.time, sizeof(b.time), "2026-12-07T08:04:59Z");
	(void)snprintf(a.rv, sizeof(a.rv), "9");
	(void)snprintf(b.rv, sizeof(b.rv), "10");
	assert_true(cert_probe_newer(&a, NULL));
	assert_true(cert_probe_newer(&a, &b));
	assert_false(cert_probe_newer(&b, &a));
	(void)snprintf(b.time, sizeof(b.time), "%s", a.time);
	assert_true(cert_probe_newer(&b, &a)); /* rv 10 > 9 */
	assert_false(cert_probe_newer(&a, &b));
	assert_false(cert_probe_newer(&a, &a));

	(void)snprintf(a.ns, sizeof(a.ns), "mail");
	(void)snprintf(a.pod, sizeof(a.pod), "chat-0");
	assert_int(cert_probe_relay(&a, key, sizeof(key)), 0);
	assert_str(key, "mail/chat");
	(void)snprintf(a.pod, sizeof(a.pod), "chat-1");
	assert_int(cert_probe_relay(&a, key, sizeof(key)), -EINVAL);
	(void)snprintf(a.pod, sizeof(a.pod), "-0");
	assert_int(cert_probe_relay(&a, key, sizeof(key)), -EINVAL);
	(void)snprintf(a.pod, sizeof(a.pod), "chat-0");
	assert_int(cert_probe_relay(&a, key, 6), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_caps),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_newer_relay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
