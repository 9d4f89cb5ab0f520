/*
 * fuzz_turn: chatmail-turn's datagram handling. The input is a sequence
 * of datagrams (2-byte big-endian length, then the bytes; the first byte
 * of each picks one of four client ports), handed to turn_server_handle
 * on a fresh server listening on 127.0.0.1: STUN requests and
 * indications, ChannelData, garbage. Fuzz builds skip the nonce and
 * MESSAGE-INTEGRITY checks (turn_server.c), so allocations, permissions
 * and channels are reached. A crash, a leak or a sanitizer report is a
 * finding.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "turn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct turn_server srv;
static uint8_t dgram[TURN_DGRAM_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char secret[] = "fuzz-secret-0123456789";
	struct turn_config cfg = {
		.realm = "relay.test",
		.secret = (const uint8_t *)secret,
		.secret_len = sizeof(secret) - 1,
		.listen = { "127.0.0.1" },
		.n_listen = 1,
		.max_allocs = 4,
		.max_allocs_per_ip = 3,
		.max_allocs_per_user = 3,
		.socket_uid = (uid_t)-1,
		.socket_gid = (gid_t)-1,
	};
	struct buf err = BUF_INIT(256);
	struct evloop *loop;
	size_t off = 0;

	log_init("fuzz_turn", -3);
	(void)turn_cidr_parse("127.0.0.0/8", &cfg.allow_peer[0]);
	cfg.n_allow_peer = 1;
	loop = evloop_new();
	memset(&srv, 0, sizeof(srv));
	if (turn_server_init(&srv, loop, &cfg, &err) < 0)
		abort();
	while (size - off >= 3) {
		size_t n = (size_t)data[off] << 8 | data[off + 1];
		struct net_addr from = srv.lis[0].local;

		off += 2;
		if (n > size - off)
			n = size - off;
		if (n == 0)
			continue;
		/* the first byte picks the client port (9, the discard port,
		 * plus 0..3): answers go nowhere */
		turn_addr_set_port(&from, 9 + (data[off] & 3));
		memcpy(dgram, data + off + 1, n - 1);
		turn_server_handle(&srv.lis[0], dgram, n - 1, &from);
		off += n;
		(void)evloop_run_once(loop, 0);
	}
	turn_server_deinit(&srv);
	evloop_free(&loop);
	buf_deinit(&err);
	return 0;
}
