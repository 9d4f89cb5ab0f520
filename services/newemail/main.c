/*
 * newemail: upstream's /new endpoint (chatmaild newemail.py,
 * docs/UPSTREAM.md, newemail) as a tiny HTTP service behind nginx:
 *
 *   newemail <chatmail.ini> [--listen unix:/path | HOST:PORT]
 *            [--metrics unix:/path | HOST:PORT] [-n]
 *
 * (default --listen unix:/run/newemail/newemail.socket; nginx proxies
 * /new and /cgi-bin/newemail.py to it; --metrics serves the counts of
 * its answers, docs/DESIGN.md, Metrics; -n prints the effective
 * config).
 *
 * Why a service and not a CGI as upstream: a CGI needs fcgiwrap, one
 * more daemon in the pod, and a fork and exec of an interpreter or
 * binary plus a config parse per request; a resident process with the
 * config loaded once answers from the shared evloop + http.h code in
 * microseconds, runs as an unprivileged user with nothing but a socket,
 * and its Unix socket sits in the emptyDir that nginx shares anyway.
 * The answers (status, JSON, 301 for GET) are upstream's, so clients
 * cannot tell the difference.
 *
 * Exit: 0 on SIGTERM/SIGINT, 64 usage, 75 the socket cannot be opened,
 * 78 bad config. Untrusted input: HTTP requests (newemail_http.c).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "args.h"
#include "config.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "newemail.h"
#include "prom.h"

#define DEFAULT_LISTEN "unix:/run/newemail/newemail.socket"

/* serve: listen and run until a signal; an exit code */
static int
serve(const struct chatmail_config *cfg, const char *listen,
      const char *metrics)
{
	struct buf err = BUF_INIT(1024);
	struct evloop *loop = evloop_new();
	struct newemail *ne = NULL;
	struct prom_server *prom = NULL;
	int fd, rc = 0;

	fd = net_listen_spec(listen, 0666, &err);
	if (fd < 0) {
		log_error("cannot listen on %s: %s", listen, buf_cstr(&err));
		rc = EX_TEMPFAIL;
		goto out;
	}
	ne = newemail_new(loop, cfg, fd);
	if (ne == NULL || evloop_stop_on_signals(loop) < 0) {
		log_error("cannot start serving %s", listen);
		rc = EX_TEMPFAIL;
		goto out;
	}
	log_info("listening on %s for %s", listen, cfg->mail_domain);
	if (metrics != NULL &&
	    (prom = prom_server_new(loop, metrics, newemail_metrics, ne,
				    &err)) == NULL)
		log_error("cannot serve metrics on %s: %s", metrics,
			  buf_cstr(&err));
	if (evloop_run(loop) < 0)
		rc = EX_TEMPFAIL;
out:
	prom_server_free(&prom);
	newemail_free(&ne);
	evloop_free(&loop);
	buf_deinit(&err);
	return rc;
}

int
main(int argc, char **argv)
{
	struct chatmail_config cfg;
	struct buf err = BUF_INIT(64 * 1024);
	static const struct args_opt opts[] = {
		{ "-n", ARGS_FLAG, 'n' },
		{ "--listen", ARGS_VALUE, 'l' },
		{ "--metrics", ARGS_VALUE, 'm' },
		{ NULL, ARGS_FLAG, 0 },
	};
	struct args_iter it;
	const char *ini = NULL, *listen = DEFAULT_LISTEN, *metrics = NULL, *v;
	int k, dump = 0, bad = 0, rc = 0;

	log_init("newemail", 0);
	args_init(&it, argc, argv);
	while ((k = args_next(&it, opts, &v)) != ARGS_END) {
		if (k == 'n')
			dump = 1;
		else if (k == 'l')
			listen = v;
		else if (k == 'm')
			metrics = v;
		else if (k == ARGS_POSITIONAL && ini == NULL)
			ini = v;
		else
			bad = 1;
	}
	if (ini == NULL || bad) {
		(void)fprintf(stderr,
			      "usage: newemail <chatmail.ini> [--listen "
			      "unix:/path|HOST:PORT] [--metrics "
			      "unix:/path|HOST:PORT] [-n]\n");
		return EX_USAGE;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	config_init(&cfg);
	if (config_load(&cfg, ini, &err) < 0) {
		log_error("bad config %s: %s", ini, buf_cstr(&err));
		rc = EX_CONFIG;
	} else if (dump) {
		config_dump(&cfg, stdout);
	} else {
		rc = serve(&cfg, listen, metrics);
	}
	buf_deinit(&err);
	config_deinit(&cfg);
	return rc;
}
