/*
 * filtermail: the relay's mail filter, a drop-in for upstream's Rust
 * filtermail (outgoing, incoming and transport modes).
 *
 *   filtermail [-n] [-v] [--metrics ADDR] <chatmail.ini>
 *              outgoing|incoming|transport
 *
 * outgoing: SMTP on filtermail_smtp_host:filtermail_smtp_port (10080),
 *   reinjects to postfix_reinject_host:postfix_reinject_port (10025).
 *   Only when chatmail.ini asks, as a drop-in on an upstream host where
 *   OpenDKIM signs (docs/UPSTREAM.md, DKIM): dkim_key_file set, it
 *   DKIM-signs with that key (a key it cannot load is exit 78);
 *   filtermail_milter_port set, a milter there signs the bounces
 *   Postfix generates (non_smtpd_milters).
 * incoming: SMTP on filtermail_smtp_port_incoming (10081) and HTTP
 *   /mxdeliv on filtermail_http_port_incoming (10082), reinjects to
 *   postfix_reinject_port_incoming (10026).
 * transport: LMTP on filtermail_lmtp_port_transport (10083), Postfix's
 *   default_transport: delivers to remote relays over HTTPS /mxdeliv,
 *   else SMTP on port 25 (fm_lmtpd.h, fm_tp.h); runs as the program
 *   filtermail-transport next to this one (exec, same arguments), the
 *   one that loads libcurl.
 * -n prints the effective configuration and exits; -v logs debug lines.
 * --metrics (ours) serves the counters on ADDR, "unix:/path" or
 * "host:port" (fm_stats.c, fm_tp_stats.c for transport; docs/DESIGN.md,
 * Metrics).
 * FILTERMAIL_SIGN_THREADS in the environment sets the DKIM signer
 * threads of outgoing (default the online CPUs, at most 4; 0 = sign on
 * the event loop; fm_sign_pool.h), printed by -n.
 *
 * Role: flags, config, the policy, listeners, then the event loop until
 * SIGTERM/SIGINT. Untrusted input: none here (the config is trusted but
 * validated by config_load).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "filtermail.h"
#include "fm_policy.h"
#include "fm_sign_pool.h"
#include "log.h"

struct opts {
	int dump, verbose, outgoing, transport;
	const char *ini, *metrics;
};

/* usage: the command line, as upstream prints it */
static void
usage(void)
{
	(void)fprintf(stderr, "Usage: filtermail [-n] [-v] [--metrics ADDR] "
			      "<config_file> <mode>\n"
			      "  mode: incoming, outgoing or transport\n");
}

/* parse_args: 0, or the exit code for a bad command line */
static int
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "metrics", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "nvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'M':
			o->metrics = optarg;
			break;
		case 'n':
			o->dump = 1;
			break;
		case 'v':
			o->verbose++;
			break;
		default:
			usage();
			return c == 'h' ? EX_OK + 1 : EX_USAGE;
		}
	}
	if (argc - optind != 2) {
		usage();
		return EX_USAGE;
	}
	o->ini = argv[optind];
	if (strcmp(argv[optind + 1], "outgoing") == 0) {
		o->outgoing = 1;
	} else if (strcmp(argv[optind + 1], "transport") == 0) {
		o->transport = 1;
	} else if (strcmp(argv[optind + 1], "incoming") != 0) {
		(void)fprintf(stderr, "Error: mode must be 'incoming', "
				      "'outgoing' or 'transport'\n");
		return EX_USAGE;
	}
	return 0;
}

/* run_transport: exec filtermail-transport from our own directory with
 * our arguments; returns only when that fails (the exit code). GnuTLS,
 * which libcurl pulls in through libldap and librtmp and nobody uses,
 * initialises itself and p11-kit at load unless told not to: 0.85 MB
 * (the operator measured it, operator/main.c) */
static int
run_transport(char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 32], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		(void)fprintf(stderr, "Error: cannot find filtermail: %s\n",
			      strerror(errno));
		return EX_UNAVAILABLE;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	(void)snprintf(path, sizeof(path), "%s/filtermail-transport", self);
	(void)setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 0);
	(void)execv(path, argv);
	(void)fprintf(stderr, "Error: cannot run %s: %s\n", path,
		      strerror(errno));
	return EX_UNAVAILABLE;
}

/* dump: -n: the effective config, then the signer threads (not an
 * ini option: the environment's FILTERMAIL_SIGN_THREADS); exit code */
static int
dump(const struct chatmail_config *cfg, struct buf *err)
{
	unsigned n = 0;

	config_dump(cfg, stdout);
	if (fm_sign_pool_threads_wanted(&n, err) < 0) {
		(void)fprintf(stderr, "%s\n", buf_cstr(err));
		return EX_CONFIG;
	}
	(void)printf("# FILTERMAIL_SIGN_THREADS = %u (environment: outgoing "
		     "DKIM signer threads, 0 = sign on the event loop)\n",
		     n);
	return EX_OK;
}

/* policy_check: fm_check_fn over the real policy */
static struct fm_check *
policy_check(void *policy, const struct fm_envelope *env, const char *msg,
	     size_t len, fm_policy_done_fn *done, void *arg)
{
	return fm_policy_check(policy, env, msg, len, done, arg);
}

/* policy_sign: fm_sign_fn over the real policy */
static int
policy_sign(void *policy, const char *hdr, size_t hlen, const char *body,
	    size_t blen, struct buf *out, struct buf *err)
{
	return fm_policy_sign(policy, hdr, hlen, body, blen, out, err);
}

/* a graceful stop: no new connections, messages in flight finish */
struct drain {
	struct fm_smtpd *smtpd;
	struct fm_httpd *httpd;
	struct fm_milter *milter;
	struct evloop_timer timer;
	uint64_t until;
	int stopping;
};

#define DRAIN_MS 10000

/* drain_check: stop the loop once nothing is in flight, or at the end
 * of the grace time (then Postfix sees the connection go and answers
 * its client with a 4xx: nothing is lost) */
static void
drain_check(struct evloop *loop, void *arg)
{
	struct drain *d = arg;
	size_t busy = fm_smtpd_busy(d->smtpd) +
		      (d->httpd != NULL ? fm_httpd_busy(d->httpd) : 0);

	if (busy == 0 || evloop_now(loop) >= d->until) {
		evloop_stop(loop);
		return;
	}
	evloop_timer_start(loop, &d->timer, 50);
}

/* on_signal: SIGTERM/SIGINT: drain; a second one stops at once */
static void
on_signal(struct evloop *loop, int signo, void *arg)
{
	struct drain *d = arg;

	if (d->stopping) {
		evloop_stop(loop);
		return;
	}
	log_info("signal %d, finishing the messages in flight", signo);
	d->stopping = 1;
	d->until = evloop_now(loop) + DRAIN_MS;
	fm_smtpd_close_listener(d->smtpd);
	if (d->httpd != NULL)
		fm_httpd_close_listener(d->httpd);
	if (d->milter != NULL)
		fm_milter_close_listener(d->milter);
	drain_check(loop, d);
}

/* raise_fd_limit: every session takes one or two fds; allow as many
 * as the hard limit lets us (best effort) */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* listen_on: a listening socket or -1 (logged) */
static int
listen_on(const char *host, unsigned port)
{
	struct buf err = BUF_INIT(512);
	int fd = net_listen_tcp(host, port, 1024, &err);

	if (fd < 0)
		log_error("cannot listen on %s:%u: %s", host, port,
			  buf_cstr(&err));
	buf_deinit(&err);
	return fd;
}

/* setup_ctx: the shared context from the config; 0 or an exit code */
static int
setup_ctx(struct fm_ctx *ctx, const struct chatmail_config *cfg, int outgoing)
{
	struct buf err = BUF_INIT(512);
	unsigned port = outgoing ? cfg->postfix_reinject_port
				 : cfg->postfix_reinject_port_incoming;
	int r = 0;

	ctx->outgoing = outgoing;
	ctx->max_size = cfg->max_message_size;
	(void)snprintf(ctx->helo, sizeof(ctx->helo), "%s",
		       cfg->postfix_myhostname != NULL &&
				       cfg->postfix_myhostname[0] != '\0'
			       ? cfg->postfix_myhostname
			       : "filtermail");
	if (net_resolve(cfg->postfix_reinject_host, port, &ctx->reinject,
			&err) < 0) {
		log_error("Cannot resolve postfix host: %s", buf_cstr(&err));
		r = EX_CONFIG;
	}
	/* reuse connections to Postfix: up to 32 idle ones for 30 s */
	ctx->pool = fm_reinject_pool_new(ctx->loop, 32, 30000);
	ctx->check = policy_check;
	ctx->cancel = fm_check_cancel;
	if (outgoing)
		ctx->sign = policy_sign;
	if (outgoing)
		ctx->rl =
			fm_ratelimit_new(cfg->max_user_send_per_minute,
					 cfg->max_user_send_burst_size, 100000);
	buf_deinit(&err);
	return r;
}

/* metrics_start: the --metrics listener over view, or NULL (logged;
 * the mail path runs on without it) */
static struct prom_server *
metrics_start(struct fm_ctx *ctx, struct fm_stats_view *view, const char *addr)
{
	struct buf err = BUF_INIT(512);
	struct prom_server *p = NULL;

	if (addr != NULL &&
	    (p = prom_server_new(ctx->loop, addr, fm_stats_render, view,
				 &err)) == NULL)
		log_error("cannot serve metrics on %s: %s", addr,
			  buf_cstr(&err));
	buf_deinit(&err);
	return p;
}

/* listen_second: outgoing's milter, only when chatmail.ini asks
 * (docs/UPSTREAM.md, DKIM); incoming's HTTP server. 0 or -1 (logged) */
static int
listen_second(struct fm_ctx *ctx, const struct chatmail_config *cfg,
	      struct fm_milter **milter_r, struct fm_httpd **httpd_r)
{
	const char *host = cfg->filtermail_smtp_host;
	unsigned port;
	int fd;

	if (ctx->outgoing && cfg->filtermail_milter_port == 0)
		return 0;
	if (ctx->outgoing) {
		port = cfg->filtermail_milter_port;
		if ((fd = listen_on(host, port)) < 0 ||
		    (*milter_r = fm_milter_new(ctx, fd)) == NULL)
			return -1;
		log_debug("Milter (DKIM signing) listening on %s:%u", host,
			  port);
		if (cfg->dkim_key_file[0] == '\0' || cfg->ipv4_relay)
			log_warn("filtermail_milter_port is set but nothing "
				 "is signed (no dkim_key_file, or an IPv4 "
				 "relay): bounces pass unsigned");
		return 0;
	}
	port = cfg->filtermail_http_port_incoming;
	if ((fd = listen_on(host, port)) < 0 ||
	    (*httpd_r = fm_httpd_new(ctx, fd)) == NULL)
		return -1;
	log_debug("Incoming HTTP server listening on %s:%u", host, port);
	return 0;
}

/* serve: listeners, then the loop; returns the exit code */
static int
serve(struct fm_ctx *ctx, const struct chatmail_config *cfg,
      const struct opts *o)
{
	struct fm_stats_view view = { ctx, NULL, NULL, NULL, NULL };
	struct prom_server *prom = NULL;
	struct fm_smtpd *smtpd = NULL;
	struct fm_httpd *httpd = NULL;
	struct fm_milter *milter = NULL;
	struct drain d;
	const char *host = cfg->filtermail_smtp_host;
	unsigned port = ctx->outgoing ? cfg->filtermail_smtp_port
				      : cfg->filtermail_smtp_port_incoming;
	int fd, r = EX_OK;

	if ((fd = listen_on(host, port)) < 0 ||
	    (smtpd = fm_smtpd_new(ctx, fd)) == NULL) {
		r = EX_TEMPFAIL;
		goto out;
	}
	log_debug("%s SMTP server listening on %s:%u",
		  ctx->outgoing ? "Outgoing" : "Incoming", host, port);
	if (listen_second(ctx, cfg, &milter, &httpd) < 0) {
		r = EX_TEMPFAIL;
		goto out;
	}
	view.policy = ctx->policy;
	view.smtpd = smtpd;
	view.httpd = httpd;
	view.milter = milter;
	prom = metrics_start(ctx, &view, o->metrics);
	memset(&d, 0, sizeof(d));
	d.smtpd = smtpd;
	d.httpd = httpd;
	d.milter = milter;
	evloop_timer_init(&d.timer, drain_check, &d);
	(void)evloop_signal_add(ctx->loop, SIGTERM, on_signal, &d);
	(void)evloop_signal_add(ctx->loop, SIGINT, on_signal, &d);
	/* upstream's line, which chatmaild's tests wait for */
	log_info("entering serving loop");
	if (evloop_run(ctx->loop) < 0)
		r = EX_SOFTWARE;
	evloop_timer_stop(ctx->loop, &d.timer);
out:
	prom_server_free(&prom);
	fm_milter_free(&milter);
	fm_httpd_free(&httpd);
	fm_smtpd_free(&smtpd);
	return r;
}

int
main(int argc, char **argv)
{
	struct chatmail_config cfg;
	struct buf err = BUF_INIT(8192);
	struct fm_policy *policy = NULL;
	struct evloop *loop = NULL;
	struct fm_ctx ctx;
	struct fm_stats stats;
	struct opts o;
	int r;

	if ((r = parse_args(argc, argv, &o)) != 0)
		return r == EX_OK + 1 ? EX_OK : r;
	if (o.transport)
		return run_transport(argv);
	log_init("filtermail", o.verbose);
	config_init(&cfg);
	memset(&ctx, 0, sizeof(ctx));
	if (config_load(&cfg, o.ini, &err) < 0) {
		(void)fprintf(stderr, "Failed to read config: %s\n",
			      buf_cstr(&err));
		r = EX_CONFIG;
		goto out;
	}
	if (cfg.unknown != NULL && cfg.unknown[0] != '\0')
		log_warn("unknown config keys: %s", cfg.unknown);
	if (o.dump) {
		r = dump(&cfg, &err);
		goto out;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	loop = evloop_new();
	fm_ctx_init(&ctx, loop);
	memset(&stats, 0, sizeof(stats));
	ctx.stats = &stats;
	policy = fm_policy_new(loop, &cfg, o.outgoing, &err);
	if (policy == NULL) {
		log_error("cannot set up the policy: %s", buf_cstr(&err));
		r = EX_CONFIG;
		goto out;
	}
	ctx.policy = policy;
	if ((r = setup_ctx(&ctx, &cfg, o.outgoing)) != 0)
		goto out;
	r = serve(&ctx, &cfg, &o);
out:
	fm_reinject_pool_free(&ctx.pool);
	fm_ratelimit_free(&ctx.rl);
	fm_policy_free(&policy);
	evloop_free(&loop);
	config_deinit(&cfg);
	buf_deinit(&err);
	return r;
}
