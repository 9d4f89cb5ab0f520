/*
 * spec_turn: where a relay's TURN server runs and what its clients are
 * told (spec.turn: enabled, externalIP, portRange, hostNetwork; docs/
 * docs/DESIGN.md, TURN on the node's network), the portRange syntax, and
 * the rules between the turn fields, which the CRD states in CEL
 * (spec_groups' "turn" in spec_table.c, in the same order).
 *
 * Untrusted input: the spec's turn strings (checked here; echoed at
 * most 64 bytes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "spec.h"
#include "spec_int.h"

enum spec_turn_mode
spec_turn_mode(const struct relay_spec *s)
{
	if (!s->turn.enabled)
		return SPEC_TURN_OFF;
	if (s->turn.host_network)
		return SPEC_TURN_HOST;
	if (s->turn.external_ip[0] != '\0' ||
	    s->service.load_balancer_ip[0] != '\0')
		return SPEC_TURN_POD;
	return SPEC_TURN_NO_ADDRESS;
}

const char *
spec_turn_address(const struct relay_spec *s)
{
	switch (spec_turn_mode(s)) {
	case SPEC_TURN_HOST:
		return s->turn.external_ip;
	case SPEC_TURN_POD:
		if (s->turn.external_ip[0] != '\0')
			return s->turn.external_ip;
		return s->service.load_balancer_ip;
	default:
		return NULL;
	}
}

int
spec_turn_udp_in_pod(const struct relay_spec *s)
{
	return spec_turn_mode(s) == SPEC_TURN_POD;
}

const char *
spec_turn_host(const struct relay_spec *s)
{
	if (spec_turn_mode(s) == SPEC_TURN_HOST &&
	    s->turn.external_ip[0] != '\0')
		return s->turn.external_ip;
	return NULL;
}

void
spec_port_range_of(const struct relay_spec *s, unsigned *min_r, unsigned *max_r)
{
	spec_port_range(s->turn.port_range, min_r, max_r);
}

/* spec_port_range: MIN and MAX of "MIN-MAX" (0, 0 if malformed) */
void
spec_port_range(const char *v, unsigned *min_r, unsigned *max_r)
{
	unsigned n[2] = { 0, 0 };
	size_t i = 0, digits = 0;

	*min_r = *max_r = 0;
	for (; *v != '\0'; v++) {
		if (*v == '-' && i == 0 && digits > 0) {
			i = 1;
			digits = 0;
		} else if (*v >= '0' && *v <= '9' && digits < 5) {
			n[i] = n[i] * 10 + (unsigned)(*v - '0');
			digits++;
		} else {
			return;
		}
	}
	if (i == 1 && digits > 0) {
		*min_r = n[0];
		*max_r = n[1];
	}
}

/* spec_check_port_range: "MIN-MAX", 1024 <= MIN <= MAX <= 65535, at
 * most 100 ports (each one a Service port) */
int
spec_check_port_range(const char *v, struct buf *why)
{
	unsigned lo, hi;

	spec_port_range(v, &lo, &hi);
	if (lo >= 1024 && lo <= hi && hi <= 65535 && hi - lo < 100)
		return 0;
	(void)buf_printf(why,
			 "must be MIN-MAX with 1024 <= MIN <= MAX <= 65535 "
			 "and at most 100 ports, got \"%.32s\"",
			 v);
	return -EINVAL;
}

/* ipv4_unicast: an IPv4 address that is neither unspecified, loopback,
 * link-local, multicast nor the broadcast address (CEL's
 * isGlobalUnicast, which counts private ranges in) */
static int
ipv4_unicast(const char *v)
{
	struct in_addr a;
	const uint8_t *b = (const uint8_t *)&a;

	if (inet_pton(AF_INET, v, &a) != 1)
		return 0;
	if (a.s_addr == 0 || a.s_addr == 0xffffffffu || b[0] == 127 ||
	    (b[0] == 169 && b[1] == 254) || (b[0] >= 224 && b[0] <= 239))
		return 0;
	return 1;
}

int
spec_check_turn(const struct relay_spec *s, struct buf *err)
{
	unsigned lo, hi;
	int r = 0;

	if (s->turn.host_network && !s->turn.enabled) {
		(void)buf_printf(err, "spec.turn.hostNetwork: only allowed "
				      "when enabled is true\n");
		r = -EINVAL;
	}
	if (s->turn.host_network && s->turn.external_ip[0] != '\0' &&
	    !ipv4_unicast(s->turn.external_ip)) {
		(void)buf_printf(err,
				 "spec.turn.externalIP: must be an IPv4 "
				 "unicast address clients can reach with "
				 "hostNetwork (not loopback, link-local, "
				 "multicast or unspecified), got \"%.64s\"\n",
				 s->turn.external_ip);
		r = -EINVAL;
	}
	spec_port_range(s->turn.port_range, &lo, &hi);
	if (lo != 0 && lo <= CM_TURN_PORT && hi >= CM_TURN_PORT) {
		(void)buf_printf(err, "spec.turn.portRange: must not include "
				      "3478, the TURN port\n");
		r = -EINVAL;
	}
	if (s->turn.host_network && lo != 0 && lo <= 32767 && hi >= 30000) {
		(void)buf_printf(err,
				 "spec.turn.portRange: must not overlap "
				 "30000-32767 with hostNetwork: kube-proxy "
				 "takes the NodePort range on every node\n");
		r = -EINVAL;
	}
	return r;
}
