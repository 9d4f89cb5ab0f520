/*
 * cert-reloader: the relay Pod's `cert` helper. Watches the mounted TLS
 * Secret and sends SIGHUP to nginx, Dovecot and Postfix's master when the
 * certificate is renewed (see reloader.h).
 *
 *   cert-reloader [--dir DIR] [--cert FILE] [--key FILE]
 *                 [--target NAME[=PIDFILE]]... [--proc DIR]
 *                 [--debounce-ms N] [--check-ms N] [-v] [-n]
 *                 [--acme-directory URL --acme-name NAME...
 *                  [--acme-state DIR] [--acme-email ADDR]
 *                  [--acme-agree-tos] [--acme-eab-kid KID
 *                  --acme-eab-hmac-file FILE] [--acme-ca-bundle FILE]
 *                  [--acme-listen HOST:PORT] [--acme-backoff MIN:MAX]
 *                  [--acme-poll-ms N] [--acme-ari-check SECS]
 *                  [--acme-key-group GID]]
 *   cert-reloader --acme-status FILE
 *   cert-reloader --dir DIR --acme-init --acme-directory URL ...
 *
 * With --acme-directory the helper also gets the certificate itself
 * from that ACME server into --dir (acme.h); --acme-status prints a
 * status file as one line and exits 0 only while the certificate is
 * valid (the container's readiness probe); --acme-init creates the
 * state directory and a self-signed placeholder in --dir unless a
 * certificate is there (the Pod's init container), then exits.
 *
 * --target replaces the default targets (nginx, dovecot, master) and may
 * be repeated; with a pid file only that process is signalled (for
 * tests and hosts without a private process namespace).
 * Exit: 0 after SIGTERM, 64 usage, 66 directory cannot be watched,
 * 78 the ACME state directory or challenge port cannot be used.
 * Untrusted input: none here (flags are the Pod spec's).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acme.h"
#include "acme_args.h"
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
		      "[-v] [-n]\n"
		      "       [--acme-directory URL --acme-name NAME... "
		      "[--acme-state DIR]\n"
		      "        [--acme-email ADDR] [--acme-agree-tos] "
		      "[--acme-eab-kid KID --acme-eab-hmac-file FILE]\n"
		      "        [--acme-ca-bundle FILE] [--acme-listen "
		      "HOST:PORT] [--acme-backoff MIN:MAX]\n"
		      "        [--acme-poll-ms N] [--acme-ari-check SECS] "
		      "[--acme-key-group GID]]\n"
		      "       cert-reloader --acme-status FILE\n"
		      "       cert-reloader --dir DIR --acme-init "
		      "--acme-directory URL --acme-name NAME...\n");
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

/* longopts: the reloader's flags and the --acme-* ones */
static void
longopts(struct option *all, size_t max)
{
	static const struct option own[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "target", required_argument, NULL, 't' },
		{ "proc", required_argument, NULL, 'p' },
		{ "debounce-ms", required_argument, NULL, 'D' },
		{ "check-ms", required_argument, NULL, 'C' },
	};
	size_t n = 0, i;

	for (i = 0; i < sizeof(own) / sizeof(own[0]) && n + 1 < max; i++)
		all[n++] = own[i];
	for (i = 0; acme_longopts[i].name != NULL && n + 1 < max; i++)
		all[n++] = acme_longopts[i];
	memset(&all[n], 0, sizeof(all[n]));
}

/* one_opt: flag c of the reloader; 0, -1 bad value, -2 unknown */
static int
one_opt(struct reloader_opts *o, int c, const char *v, int *own_targets)
{
	switch (c) {
	case 'd':
		return copy_arg(o->dir, sizeof(o->dir), v);
	case 'c':
		return copy_arg(o->cert, sizeof(o->cert), v);
	case 'k':
		return copy_arg(o->key, sizeof(o->key), v);
	case 'p':
		return copy_arg(o->proc, sizeof(o->proc), v);
	case 't':
		if (!*own_targets)
			o->ntargets = 0;
		*own_targets = 1;
		if (o->ntargets == RELOADER_MAX_TARGETS ||
		    reloader_parse_target(v, &o->targets[o->ntargets]) < 0)
			return -1;
		o->ntargets++;
		return 0;
	case 'D':
		return num_parse_uint(v, 0, 600000, &o->debounce_ms);
	case 'C':
		return num_parse_uint(v, 100, 86400000, &o->check_ms);
	default:
		return -2;
	}
}

int
main(int argc, char **argv)
{
	static struct acme_opts ao;
	struct option all[32];
	struct reloader_opts o;
	const char *status = NULL;
	int c, r, verbose = 0, dump = 0, own_targets = 0, bad = 0, acme = 0,
		  init = 0;

	reloader_opts_default(&o);
	acme_opts_default(&ao);
	longopts(all, sizeof(all) / sizeof(all[0]));
	while ((c = getopt_long(argc, argv, "vn", all, NULL)) != -1) {
		if (c == 'v') {
			verbose++;
		} else if (c == 'n') {
			dump = 1;
		} else if (c == ACME_OPT_STATUS) {
			status = optarg;
		} else if (c == ACME_OPT_INIT) {
			init = 1;
		} else if (c >= ACME_OPT_DIRECTORY) {
			bad |= acme_args_opt(&ao, c, optarg, &acme);
		} else if ((r = one_opt(&o, c, optarg, &own_targets)) == -2) {
			return usage();
		} else {
			bad |= r;
		}
	}
	if (bad || optind != argc || acme_args_check(&ao, acme) < 0)
		return usage();
	if (status != NULL)
		return acme_args_status(status);
	/* the certificate goes where the reloader watches */
	(void)snprintf(ao.tls_dir, sizeof(ao.tls_dir), "%s", o.dir);
	o.acme = acme ? &ao : NULL;
	if (dump) {
		print_opts(&o);
		if (acme)
			acme_args_print(&ao);
		return 0;
	}
	log_init("cert-reloader", verbose);
	if (init)
		return acme ? acme_args_init(&ao) : usage();
	return reloader_run(&o);
}
