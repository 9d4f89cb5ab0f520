/*
 * dict_client: the client side of the dict unit tests of doveauth,
 * lastlogin and chatmail-metadata: a whole conversation with a real
 * dict_server over a socketpair. Included after <cmocka.h> and
 * testutil.h by one test file per binary.
 */
#ifndef TEST_DICT_CLIENT_H
#define TEST_DICT_CLIENT_H

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "dict.h"
#include "evloop.h"
#include "net.h"

/* dict_converse: send text to srv on a fresh connection, shut our
 * side, and return everything srv said until it closed (turning loop
 * at most 2000 times, 5 ms each); the caller frees the string */
static inline char *
dict_converse(struct evloop *loop, struct dict_server *srv, const char *text)
{
	struct buf got = BUF_INIT(1 << 20);
	char tmp[4096];
	ssize_t n;
	int sv[2];

	assert_int(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int(dict_server_adopt(srv, sv[0]), 0);
	assert_int(write(sv[1], text, strlen(text)), (ssize_t)strlen(text));
	(void)shutdown(sv[1], SHUT_WR);
	assert_int(net_set_nonblock(sv[1]), 0);
	for (int i = 0; i < 2000; i++) {
		(void)evloop_run_once(loop, 5);
		n = read(sv[1], tmp, sizeof(tmp));
		if (n == 0)
			break;
		if (n > 0)
			(void)buf_append(&got, tmp, (size_t)n);
	}
	(void)close(sv[1]);
	return buf_steal(&got, NULL);
}

/* dict_converse_new: dict_converse with a server of its own (name, ops
 * and ctx as for dict_server_new), freed afterwards with its loop */
static inline char *
dict_converse_new(const char *name, const struct dict_ops *ops, void *ctx,
		  const char *text)
{
	struct evloop *loop = evloop_new();
	struct dict_server *srv = dict_server_new(loop, name, ops, ctx);
	char *out = dict_converse(loop, srv, text);

	dict_server_free(&srv);
	evloop_free(&loop);
	return out;
}

#endif
