/*
 * dict_service: the main() shared by the dict servers (doveauth,
 * chatmail-metadata, lastlogin). Upstream's command line is
 * "<prog> <socket> <chatmail.ini>"; ours adds flags:
 *
 *   -v       debug logs (repeatable)
 *   -n       print the effective configuration and exit
 *   -m MODE  the socket's mode, octal (default 0660: Dovecot's processes
 *            and the service share the vmail user or group; upstream
 *            runs as vmail with UMask 0077, i.e. 0600)
 *   --metrics ADDR  serve the metrics (prom.h) on "unix:/path" or
 *            "host:port": the dict server's connections and requests,
 *            then the program's own counters
 *   plus the program's own flags.
 *
 * Exit codes (sysexits): 64 usage, 78 bad configuration, 75 cannot
 * serve (socket, event loop, program start), 0 after TERM/INT.
 * Untrusted input: none here (the command line and chatmail.ini are the
 * operator's; config_load validates the file).
 */
#include "dict.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "evloop.h"
#include "log.h"
#include "num.h"
#include "prom.h"

#define OPT_METRICS 0x100 /* --metrics: no short letter to collide with */

/* usage: the synopsis of svc */
static void
usage(const struct dict_service *svc)
{
	(void)fprintf(stderr,
		      "usage: %s [-v] [-m mode] [--metrics ADDR]%s <socket> "
		      "<chatmail.ini>\n"
		      "       %s -n <chatmail.ini>\n",
		      svc->prog, svc->extra_usage ? svc->extra_usage : "",
		      svc->prog);
}

/* parse_args: flags and the two operands; 0 or -1 (usage) */
static int
parse_args(const struct dict_service *svc, int argc, char **argv,
	   struct dict_service_args *a)
{
	static const struct option longopts[] = {
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ NULL, 0, NULL, 0 },
	};
	char optstring[64];
	int opt;

	(void)snprintf(optstring, sizeof(optstring), "vnm:%s",
		       svc->extra_opts ? svc->extra_opts : "");
	a->mode = 0660;
	while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) !=
	       -1) {
		if (opt == OPT_METRICS) {
			a->metrics = optarg;
		} else if (opt == 'v') {
			a->verbose++;
		} else if (opt == 'n') {
			a->dump = 1;
		} else if (opt == 'm') {
			if (num_parse_octal(optarg, 0777, &a->mode) < 0)
				return -1;
		} else if (opt == '?' || svc->opt == NULL ||
			   svc->opt(svc->state, opt, optarg) < 0) {
			return -1;
		}
	}
	if (a->dump && argc - optind == 1) {
		a->ini = argv[optind];
		return 0;
	}
	if (argc - optind != 2)
		return -1;
	a->socket = argv[optind];
	a->ini = argv[optind + 1];
	return 0;
}

/* what the metrics read: the server's figures, then the program's */
struct metrics_view {
	const struct dict_service *svc;
	const struct dict_server *srv;
};

struct dict_figures {
	struct dict_stats st;
	uint64_t open;
};

#define DF struct dict_figures
static const struct prom_metric dict_table[] = {
	PROM_G("chatmail_dict_connections", NULL, DF, open,
	       "Dict connections from Dovecot open now."),
	PROM_C("chatmail_dict_connections_total", NULL, DF, st.conns,
	       "Dict connections accepted."),
	PROM_C("chatmail_dict_requests_total", "command=\"lookup\"", DF,
	       st.lookups, "Dict requests by command."),
	PROM_C("chatmail_dict_requests_total", "command=\"iterate\"", DF,
	       st.iterates, ""),
	PROM_C("chatmail_dict_requests_total", "command=\"commit\"", DF,
	       st.commits, ""),
	PROM_C("chatmail_dict_bad_input_total", NULL, DF, st.bad_input,
	       "Broken lines, bad hellos and unknown commands."),
};

/* render_metrics: prom_render_fn over a struct metrics_view */
static int
render_metrics(void *arg, struct buf *out)
{
	const struct metrics_view *v = arg;
	struct dict_figures f;
	int r;

	dict_server_stats(v->srv, &f.st);
	f.open = dict_server_conns(v->srv);
	r = prom_render(out, dict_table,
			sizeof(dict_table) / sizeof(*dict_table), &f);
	if (r == 0 && v->svc->metrics != NULL)
		r = v->svc->metrics(v->svc->state, out);
	return r;
}

/* start_metrics: the --metrics listener, or NULL (logged: the dict
 * server runs on without it) */
static struct prom_server *
start_metrics(struct evloop *loop, const char *addr, struct metrics_view *v)
{
	struct buf err = BUF_INIT(512);
	struct prom_server *p = NULL;

	if (addr != NULL &&
	    (p = prom_server_new(loop, addr, render_metrics, v, &err)) == NULL)
		log_error("cannot serve metrics on %s: %s", addr,
			  buf_cstr(&err));
	buf_deinit(&err);
	return p;
}

int
dict_service_main(const struct dict_service *svc, int argc, char **argv)
{
	struct dict_service_args a = { 0 };
	struct chatmail_config cfg = { 0 };
	struct buf err = BUF_INIT(16384);
	struct evloop *loop = NULL;
	struct dict_server *srv = NULL;
	struct prom_server *prom = NULL;
	struct metrics_view mv = { svc, NULL };
	const struct dict_ops *ops = NULL;
	void *ctx = NULL;
	int rc = 0, started = 0;

	log_init(svc->prog, 0);
	if (parse_args(svc, argc, argv, &a) < 0) {
		usage(svc);
		return EX_USAGE;
	}
	log_init(svc->prog, a.verbose);
	if (config_load(&cfg, a.ini, &err) < 0) {
		log_error("bad configuration %s: %s", a.ini, buf_cstr(&err));
		rc = EX_CONFIG;
		goto out;
	}
	if (cfg.unknown != NULL && *cfg.unknown != '\0')
		log_warn("unknown keys in %s: %s", a.ini, cfg.unknown);
	if (a.dump) {
		config_dump(&cfg, stdout);
		goto out;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	rc = EX_TEMPFAIL;
	if ((loop = evloop_new()) == NULL || evloop_stop_on_signals(loop) < 0) {
		log_error("cannot set up the event loop");
		goto out;
	}
	if (svc->start(svc->state, &cfg, loop, &a, &ops, &ctx) < 0)
		goto out;
	started = 1;
	srv = dict_server_new(loop, svc->dict_name, ops, ctx);
	if (dict_server_listen(srv, a.socket, (mode_t)a.mode, &err) < 0) {
		log_error("cannot serve %s: %s", a.socket, buf_cstr(&err));
		goto out;
	}
	log_info("serving %s for %s", a.socket, cfg.mail_domain);
	mv.srv = srv;
	prom = start_metrics(loop, a.metrics, &mv);
	if (evloop_run(loop) == 0)
		rc = 0;
out:
	prom_server_free(&prom);
	dict_server_free(&srv);
	if (started && svc->stop != NULL)
		svc->stop(svc->state);
	evloop_free(&loop);
	config_deinit(&cfg);
	buf_deinit(&err);
	return rc;
}
