/*
 * test_reconcile_acme: reconciles of an ACME relay against the fake
 * world of reconcile_fake.h: the CertificateReady condition follows
 * the cert container's readiness-probe line as the kubelet's events
 * carry it (certprobe.h): the newest event of the relay's Pod (another
 * Pod's and older ones ignored); a new line is one status write (a
 * failed one retried), the same line again no call at all. The real-peer proof is
 * tests/e2e/test_acme.sh (the kubelet's events on the node).
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

#include "reconcile.h"
#include "status.h"
#include "xmalloc.h"

#include "reconcile_fake.h"

/* fake_probe: the events informer sees a kubelet event (JSON text) */
static void
fake_probe(struct fake *f, const char *event_json)
{
	cJSON *ev = cJSON_Parse(event_json);

	assert_non_null(ev);
	assert_true(f->nprobes < sizeof(f->probes) / sizeof(f->probes[0]));
	(void)cert_probe_from_event(ev, &f->probes[f->nprobes++]);
	cJSON_Delete(ev);
}

/* status: the relay's stored .status */
static const cJSON *
status(struct fake *f)
{
	const cJSON *st =
		util_get(fake_obj(f, &KUBE_RELAY, FAKE_NAME), "status");

	assert_non_null(st);
	return st;
}

/* cond: "status reason" of the stored CertificateReady */
static void
assert_cert_cond(struct fake *f, const char *want)
{
	const cJSON *c = status_condition(status(f), "CertificateReady");
	char got[256];

	(void)snprintf(got, sizeof(got), "%s %s", util_get_str(c, "status"),
		       util_get_str(c, "reason"));
	assert_str(got, want);
}

#define SPEC_ACME                                                      \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"ACME\"," \
	"\"acmeDirectory\":\"https://acme.test/dir\","                 \
	"\"acmeTermsOfServiceAgreed\":true}}"
/* PROBE_EVENT(pod, rv, last, error): a kubelet Unhealthy event of the
 * cert container */
#define PROBE_EVENT(pod, rv, last, error)                                     \
	"{\"metadata\":{\"name\":\"" pod ".x" rv "\",\"namespace\":\"mail\"," \
	"\"resourceVersion\":\"" rv "\"},\"involvedObject\":{\"kind\":"       \
	"\"Pod\",\"namespace\":\"mail\",\"name\":\"" pod "\","                \
	"\"fieldPath\":\"spec.containers{cert}\"},\"reason\":\"Unhealthy\","  \
	"\"message\":\"Readiness probe failed: ready=false names= "           \
	"notAfter=- nextAttempt=2026-12-07T09:00:00Z failures=" rv            \
	" lastError=\\\"" error "\\\"\\n\",\"firstTimestamp\":\"" last        \
	"\",\"lastTimestamp\":\"" last "\"}"

/* cert_msg: the stored CertificateReady message */
static const char *
cert_msg(struct fake *f)
{
	return util_get_str(status_condition(status(f), "CertificateReady"),
			    "message");
}

static void
test_acme_probe(void **state)
{
	struct fake f;
	struct buf calls = BUF_INIT(1u << 12);
	size_t mark;

	(void)state;
	fake_setup(&f, SPEC_ACME);
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_cert_cond(&f, "False Pending");
	assert_non_null(strstr(cert_msg(&f), "kubectl exec chat-0 -c cert"));
	/* the relay's Pod's probe, an older one, another Pod's newer one */
	fake_probe(&f, PROBE_EVENT("chat-0", "12", "2026-12-07T08:01:00Z",
				   "cannot reach the ACME server at x"));
	fake_probe(&f, PROBE_EVENT("chat-0", "11", "2026-12-07T08:00:00Z",
				   "older"));
	fake_probe(&f, PROBE_EVENT("other-0", "13", "2026-12-07T08:02:00Z",
				   "not ours"));
	/* the status write fails once: retried, then written */
	fake_fail(&f, KV_APPLY, "/status?", 500, "InternalError", 1);
	(void)fake_reconcile(&f);
	assert_int(f.rc != 0, 1);
	assert_non_null(strstr(cert_msg(&f), "kubectl exec chat-0"));
	mark = fake_reconcile(&f);
	assert_int(f.rc, 0);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls), "apply chatmailrelays/chat/status\n");
	assert_cert_cond(&f, "False Pending");
	assert_str(cert_msg(&f),
		   "no certificate from https://acme.test/dir is served yet; "
		   "the cert container's probe since 2026-12-07T08:01:00Z: "
		   "lastError \"cannot reach the ACME server at x\", "
		   "failures 12, nextAttempt 2026-12-07T09:00:00Z, names -, "
		   "notAfter -");
	/* the same line again: nothing written, no event */
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark);
	/* a newer line: the message follows it */
	fake_probe(&f, PROBE_EVENT("chat-0", "14", "2026-12-07T08:03:00Z",
				   "urn:ietf:params:acme:error:connection"));
	mark = fake_reconcile(&f);
	assert_int(fake_writes(&f, mark), 1);
	assert_non_null(strstr(cert_msg(&f), "lastError \"urn:ietf:params:"
					     "acme:error:connection\", "
					     "failures 14"));
	buf_deinit(&calls);
	fake_teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acme_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
