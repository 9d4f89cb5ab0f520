/*
 * test_spec_turn: spec.turn (relay/spec_turn.c): where the TURN server
 * runs (off, no address, the relay Pod, the node's network), the
 * relayed address and the host clients are told; the rules between the
 * turn fields, each refused with the message the CRD's CEL rule gives,
 * and the edges that pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "spec.h"

/* parse_spec: a .spec JSON text; the spec or NULL with err */
static struct relay_spec *
parse_spec(const char *json, struct buf *err)
{
	cJSON *j = cJSON_Parse(json);
	struct relay_spec *s = NULL;

	assert_non_null(j);
	if (spec_from_json(j, 0, &s, err, NULL) < 0)
		s = NULL;
	cJSON_Delete(j);
	return s;
}

/* test_modes: mode, relayed address, told host, UDP in the Pod */
static void
test_modes(void **state)
{
	static const struct {
		const char *turn;
		enum spec_turn_mode mode;
		const char *addr, *host; /* NULL: none, the domain */
		int udp_in_pod;
	} cases[] = {
		{ "{\"enabled\": false}", SPEC_TURN_OFF, NULL, NULL, 0 },
		{ "{}", SPEC_TURN_NO_ADDRESS, NULL, NULL, 0 },
		{ "{\"externalIP\": \"198.51.100.2\"}", SPEC_TURN_POD,
		  "198.51.100.2", NULL, 1 },
		{ "{\"hostNetwork\": true}", SPEC_TURN_HOST, "", NULL, 0 },
		{ "{\"hostNetwork\": true, \"externalIP\": \"198.51.100.3\"}",
		  SPEC_TURN_HOST, "198.51.100.3", "198.51.100.3", 0 },
	};
	struct buf err = BUF_INIT(4096), json = BUF_INIT(512);
	struct relay_spec *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&json);
		(void)buf_printf(&json, "{\"domain\": \"a.b\", \"turn\": %s}",
				 cases[i].turn);
		s = parse_spec(buf_cstr(&json), &err);
		if (s == NULL)
			fail_msg("case %zu: %s", i, buf_cstr(&err));
		assert_int(spec_turn_mode(s), cases[i].mode);
		if (cases[i].addr == NULL)
			assert_null(spec_turn_address(s));
		else
			assert_str(spec_turn_address(s), cases[i].addr);
		if (cases[i].host == NULL)
			assert_null(spec_turn_host(s));
		else
			assert_str(spec_turn_host(s), cases[i].host);
		assert_int(spec_turn_udp_in_pod(s), cases[i].udp_in_pod);
		spec_free(&s);
	}
	buf_deinit(&err);
	buf_deinit(&json);
}

/* the refusals: turn object, the error's start (the CRD's message) */
static const struct {
	const char *turn, *want;
} bad[] = {
	{ "{\"enabled\": false, \"hostNetwork\": true}",
	  "spec.turn.hostNetwork: only allowed when enabled is true" },
	{ "{\"hostNetwork\": true, \"externalIP\": \"2001:db8::1\"}",
	  "spec.turn.externalIP: must be an IPv4 unicast address" },
	{ "{\"hostNetwork\": true, \"externalIP\": \"127.0.0.1\"}",
	  "spec.turn.externalIP: must be an IPv4 unicast address" },
	{ "{\"hostNetwork\": true, \"externalIP\": \"169.254.1.1\"}",
	  "spec.turn.externalIP: must be an IPv4 unicast address" },
	{ "{\"hostNetwork\": true, \"externalIP\": \"0.0.0.0\"}",
	  "spec.turn.externalIP: must be an IPv4 unicast address" },
	{ "{\"hostNetwork\": true, \"externalIP\": \"239.1.2.3\"}",
	  "spec.turn.externalIP: must be an IPv4 unicast address" },
	{ "{\"hostNetwork\": true, \"externalIP\": \"255.255.255.255\"}",
	  "spec.turn.externalIP: must be an IPv4 unicast address" },
	{ "{\"portRange\": \"3470-3490\"}",
	  "spec.turn.portRange: must not include 3478" },
	{ "{\"portRange\": \"3478-3478\"}",
	  "spec.turn.portRange: must not include 3478" },
	{ "{\"hostNetwork\": true, \"portRange\": \"32760-32800\"}",
	  "spec.turn.portRange: must not overlap 30000-32767" },
	{ "{\"hostNetwork\": true, \"portRange\": \"29950-30000\"}",
	  "spec.turn.portRange: must not overlap 30000-32767" },
};

/* the edges that pass */
static const char *const good[] = {
	"{\"hostNetwork\": true, \"externalIP\": \"10.0.0.5\", "
	"\"portRange\": \"32768-32867\"}",
	"{\"hostNetwork\": true, \"portRange\": \"29901-29999\"}",
	"{\"hostNetwork\": true, \"externalIP\": \"\"}",
	"{\"portRange\": \"32760-32800\", \"externalIP\": \"2001:db8::1\"}",
	"{\"portRange\": \"3479-3500\"}",
	"{\"portRange\": \"3400-3477\"}",
	"{\"enabled\": false, \"hostNetwork\": false}",
};

/* test_rules: every refusal names the field; the edges pass */
static void
test_rules(void **state)
{
	struct buf err = BUF_INIT(4096), json = BUF_INIT(512);
	struct relay_spec *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&err);
		buf_reset(&json);
		(void)buf_printf(&json, "{\"domain\": \"a.b\", \"turn\": %s}",
				 bad[i].turn);
		s = parse_spec(buf_cstr(&json), &err);
		assert_null(s);
		if (strstr(buf_cstr(&err), bad[i].want) == NULL)
			fail_msg("case %zu %s: got \"%s\", want \"%s\"", i,
				 bad[i].turn, buf_cstr(&err), bad[i].want);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		buf_reset(&err);
		buf_reset(&json);
		(void)buf_printf(&json, "{\"domain\": \"a.b\", \"turn\": %s}",
				 good[i]);
		s = parse_spec(buf_cstr(&json), &err);
		if (s == NULL)
			fail_msg("case %zu %s: %s", i, good[i], buf_cstr(&err));
		spec_free(&s);
	}
	buf_deinit(&err);
	buf_deinit(&json);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
