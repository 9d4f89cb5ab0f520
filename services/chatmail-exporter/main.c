/*
 * chatmail-exporter: the relay's one metrics endpoint (docs/DESIGN.md,
 * Metrics), ours: upstream scrapes mtail over the journal instead.
 *
 *   chatmail-exporter --listen ADDR --source NAME=WHERE ...
 *                     [--timeout MS]
 *   chatmail-exporter --check unix:/path [--timeout MS]
 *
 * ADDR is "host:port", "*:port" (every address, IPv6 and IPv4) or
 * "unix:/path". WHERE is "unix:/path" (a service's --metrics socket),
 * "http://host:port/path" (Dovecot's OpenMetrics) or "file:/path" (the
 * chatmail-metrics textfile). GET /metrics on ADDR reads every source
 * and answers with their samples merged, each labelled with its
 * source's name (service="NAME"). --timeout bounds each source (5000).
 * --check asks one service's --metrics socket and exits 0 when it
 * answers 200 in time, else 1: the liveness probe of the services that
 * listen only on Unix sockets (exporter_check.c).
 *
 * Exit: 0 after TERM/INT, 64 usage, 75 cannot listen. Untrusted input:
 * none here (see exporter.c and exporter_text.c).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "evloop.h"
#include "exporter.h"
#include "log.h"
#include "num.h"

/* usage: the synopsis on stderr */
static void
usage(void)
{
	(void)fprintf(stderr, "usage: chatmail-exporter --listen ADDR --source "
			      "NAME=unix:/path|http://...|file:/path ... "
			      "[--timeout MS]\n"
			      "       chatmail-exporter --check unix:/path "
			      "[--timeout MS]\n");
}

/* parse_args: the options into o; 0 or -1 (usage, said why) */
static int
parse_args(int argc, char **argv, struct exporter_opts *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "source", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "check", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = 5000;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'l') {
			o->listen = optarg;
		} else if (c == 'c') {
			o->check = optarg;
		} else if (c == 's' && o->nsources < EXPORTER_SOURCES_MAX &&
			   exporter_source_parse(
				   optarg, &o->sources[o->nsources]) == 0) {
			o->nsources++;
		} else if (c == 't' && num_parse_uint(optarg, 100, 600000,
						      &o->timeout_ms) == 0) {
			continue;
		} else {
			if (c == 's' || c == 't')
				log_error("bad --%s %s",
					  c == 's' ? "source" : "timeout",
					  optarg);
			return -1;
		}
	}
	return (o->listen != NULL) != (o->check != NULL) && optind == argc ? 0
									   : -1;
}

int
main(int argc, char **argv)
{
	struct exporter_opts o;
	struct buf err = BUF_INIT(1024);
	struct evloop *loop = NULL;
	struct exporter *e = NULL;
	int rc = EX_TEMPFAIL;

	log_init("chatmail-exporter", 0);
	if (parse_args(argc, argv, &o) < 0) {
		usage();
		return EX_USAGE;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	if (o.check != NULL) {
		if (exporter_check(o.check, o.timeout_ms, &err) == 0) {
			buf_deinit(&err);
			return 0;
		}
		log_error("check failed: %s", buf_cstr(&err));
		buf_deinit(&err);
		return 1;
	}
	loop = evloop_new();
	if (evloop_stop_on_signals(loop) < 0)
		goto out;
	e = exporter_new(loop, &o, &err);
	if (e == NULL) {
		log_error("cannot serve %s: %s", o.listen, buf_cstr(&err));
		goto out;
	}
	log_info("serving %s with %zu sources", o.listen, o.nsources);
	if (evloop_run(loop) == 0)
		rc = 0;
out:
	exporter_free(&e);
	evloop_free(&loop);
	buf_deinit(&err);
	return rc;
}
