/*
 * dictstatic: the protocol's ceiling for make bench: our dict core
 * (services/lib/dict.c) answering every lookup with the same fixed
 * passdb-sized JSON, touching no file and computing nothing.
 *
 *   dictstatic SOCKET     serve until TERM/INT
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "dict.h"
#include "evloop.h"
#include "log.h"

static const char reply[] =
	"{\"addr\": \"u1x1@example.org\", \"home\": \"/home/vmail/mail/"
	"example.org/u1x1@example.org\", \"uid\": \"vmail\", \"gid\": "
	"\"vmail\", \"password\": \"{SHA512-CRYPT}$6$0aXGJ2FWwSrYIUAP$GsW."
	"igD1Lak8y3G6zhbvUIoLtObI4rJkTYzajAv4Zxr7oArXtYz6s77YBfNeEAaAAaHV"
	"cmzNV3yL/w5MeSFoq.\"}";

static void
lookup(void *ctx, struct dict_req *req, const char *key, const char *user)
{
	(void)ctx;
	(void)key;
	(void)user;
	dict_reply_value(req, reply);
}

static void
on_signal(struct evloop *loop, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	evloop_stop(loop);
}

int
main(int argc, char **argv)
{
	static const struct dict_ops ops = { .lookup = lookup };
	struct buf err = BUF_INIT(1024);
	struct evloop *loop;
	struct dict_server *srv;

	if (argc != 2) {
		(void)fprintf(stderr, "usage: dictstatic SOCKET\n");
		return 64;
	}
	log_init("dictstatic", 0);
	(void)signal(SIGPIPE, SIG_IGN);
	loop = evloop_new();
	srv = dict_server_new(loop, "auth", &ops, NULL);
	if (loop == NULL || evloop_signal_add(loop, SIGTERM, on_signal, NULL) ||
	    dict_server_listen(srv, argv[1], 0600, &err) < 0) {
		(void)fprintf(stderr, "dictstatic: %s\n", buf_cstr(&err));
		return 75;
	}
	(void)evloop_run(loop);
	dict_server_free(&srv);
	evloop_free(&loop);
	buf_deinit(&err);
	return 0;
}
