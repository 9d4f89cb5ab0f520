/*
 * cert-reloader: the relay Pod's `cert` helper. Watches the mounted TLS
 * Secret and sends SIGHUP to nginx, Dovecot and Postfix's master when the
 * certificate is renewed (see reloader.h).
 *
 *   cert-reloader [--dir DIR] [--cert FILE] [--key FILE]
 *                 [--target NAME[=PIDFILE]]... [--proc DIR]
 *                 [--debounce-ms N] [--check-ms N] [-v] [-n]
 *
 * --target replaces the default targets (nginx, dovecot, master) and may
 * be repeated; with a pid file only that process is signalled (for
 * tests and hosts without a private process namespace).
 * Exit: 0 after SIGTERM, 64 usage, 66 directory cannot be watched.
 * Untrusted input: none here (flags are the Pod spec's).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "num.h"
#include "reloader.h"

static int
usage(void)
{
	(void)fprintf(stderr,
		      "usage: cert-reloader [--dir DIR] [--cert FILE] [--key "
		      "FILE] [--target NAME[=PIDFILE]]...\n"
		      "       [--proc DIR] [--debounce-ms N] [--check-ms N] "
		      "[-v] [-n]\n");
	return EX_USAGE;
}

/* copy_arg: a flag value into a fixed field */
static int
copy_arg(char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return -1;
	(void)snprintf(dst, size, "%s", v);
	return 0;
}

/* print_opts: -n */
static void
print_opts(const struct reloader_opts *o)
{
	size_t i;

	(void)printf("dir = %s\ncert = %s\nkey = %s\nproc = %s\n"
		     "debounce-ms = %u\ncheck-ms = %u\n",
		     o->dir, o->cert, o->key, o->proc, o->debounce_ms,
		     o->check_ms);
	for (i = 0; i < o->ntargets; i++)
		(void)printf("target = %s%s%s\n", o->targets[i].name,
			     o->targets[i].pidfile[0] ? "=" : "",
			     o->targets[i].pidfile);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "target", required_argument, NULL, 't' },
		{ "proc", required_argument, NULL, 'p' },
		{ "debounce-ms", required_argument, NULL, 'D' },
		{ "check-ms", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	struct reloader_opts o;
	int c, verbose = 0, dump = 0, own_targets = 0, bad = 0;

	reloader_opts_default(&o);
	while ((c = getopt_long(argc, argv, "vn", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			bad |= copy_arg(o.dir, sizeof(o.dir), optarg);
			break;
		case 'c':
			bad |= copy_arg(o.cert, sizeof(o.cert), optarg);
			break;
		case 'k':
			bad |= copy_arg(o.key, sizeof(o.key), optarg);
			break;
		case 'p':
			bad |= copy_arg(o.proc, sizeof(o.proc), optarg);
			break;
		case 't':
			if (!own_targets)
				o.ntargets = 0;
			own_targets = 1;
			if (o.ntargets == RELOADER_MAX_TARGETS ||
			    reloader_parse_target(optarg,
						  &o.targets[o.ntargets]) < 0)
				bad = 1;
			else
				o.ntargets++;
			break;
		case 'D':
			bad |= num_parse_uint(optarg, 0, 600000,
					      &o.debounce_ms);
			break;
		case 'C':
			bad |= num_parse_uint(optarg, 100, 86400000,
					      &o.check_ms);
			break;
		case 'v':
			verbose++;
			break;
		case 'n':
			dump = 1;
			break;
		default:
			return usage();
		}
	}
	if (bad || optind != argc)
		return usage();
	if (dump) {
		print_opts(&o);
		return 0;
	}
	log_init("cert-reloader", verbose);
	return reloader_run(&o);
}
