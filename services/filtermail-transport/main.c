/*
 * filtermail-transport: filtermail's transport mode, which `filtermail
 * <chatmail.ini> transport` execs (services/filtermail/main.c): the
 * only filtermail process that needs libcurl, so outgoing and incoming
 * do not load it (4 MB of shared libraries, 0.7 MB of their private
 * pages each; measured, docs/UPSTREAM.md, filtermail).
 *
 *   filtermail-transport [-n] [-v] [--metrics ADDR] <chatmail.ini> transport
 *
 * -n prints the effective configuration and exits; -v logs debug lines;
 * --metrics (ours) serves the counters on ADDR, "unix:/path" or
 * "host:port" (fm_tp_stats.c; docs/DESIGN.md, Metrics).
 * Role: flags, config, logging, then fm_transport_run (fm_lmtpd.h).
 * Untrusted input: none here (the config is validated by config_load).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "fm_lmtpd.h"
#include "log.h"

/* usage: the command line, as filtermail prints it */
static int
usage(void)
{
	(void)fprintf(stderr, "Usage: filtermail [-n] [-v] [--metrics ADDR] "
			      "<config_file> transport\n");
	return EX_USAGE;
}

/* raise_fd_limit: a connection per LMTP session and per delivery */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	struct chatmail_config cfg;
	struct buf err = BUF_INIT(8192);
	static const struct option longopts[] = {
		{ "metrics", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	struct evloop *loop = NULL;
	const char *metrics = NULL;
	int c, dump = 0, verbose = 0, r;

	while ((c = getopt_long(argc, argv, "nvh", longopts, NULL)) != -1) {
		if (c == 'M')
			metrics = optarg;
		else if (c == 'n')
			dump = 1;
		else if (c == 'v')
			verbose++;
		else
			return c == 'h' ? (usage(), EX_OK) : usage();
	}
	if (argc - optind != 2 || strcmp(argv[optind + 1], "transport") != 0)
		return usage();
	log_init("filtermail", verbose);
	config_init(&cfg);
	if (config_load(&cfg, argv[optind], &err) < 0) {
		(void)fprintf(stderr, "Failed to read config: %s\n",
			      buf_cstr(&err));
		r = EX_CONFIG;
		goto out;
	}
	if (cfg.unknown != NULL && cfg.unknown[0] != '\0')
		log_warn("unknown config keys: %s", cfg.unknown);
	if (dump) {
		config_dump(&cfg, stdout);
		r = EX_OK;
		goto out;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	loop = evloop_new();
	r = fm_transport_run(loop, &cfg, metrics);
out:
	evloop_free(&loop);
	config_deinit(&cfg);
	buf_deinit(&err);
	return r;
}
