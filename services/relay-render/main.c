/*
 * relay-render: render every config file of a chatmail relay from a
 * ChatmailRelay file, without the operator. hack/local-relay.sh uses it
 * to build a relay under build/local-relay/<name>/, the tests use it to
 * render configs for real postfix/dovecot/nginx.
 *
 *   relay-render -f relay.yaml [--target local|pod] [--root DIR]
 *                [--addr ADDR] [--local-addr ADDR] [--bin DIR]
 *                [--dns IP] [--newemail-port N] [--port-offset N]
 *                [--out DIR]
 *                [--list | --print PATH | --spec]
 *   relay-render --env [--target local|pod] [--root DIR] [--addr ...]
 *
 * Writes the files under --out (default for --target local: its --root;
 * --target pod needs --out, its root being /etc/chatmail) unless one
 * of --list (paths), --print PATH (one file to stdout) or --spec (the
 * defaulted spec as JSON) is given. --env prints the target's layout
 * (every path, port, socket and command line) as shell assignments for
 * hack/local-relay.sh; it needs no spec. Exit codes: 0, 64 usage, 78
 * invalid spec, 73 a file could not be written.
 *
 * Untrusted input: the spec file (parsed and validated by spec.c).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "num.h"
#include "relay_render.h"
#include "render/render.h"
#include "spec.h"

static void
usage(void)
{
	(void)fprintf(stderr,
		      "usage: relay-render -f FILE [--target local|pod] "
		      "[--root DIR] [--addr ADDR]\n"
		      "       [--local-addr ADDR] [--bin DIR] [--dns IP] "
		      "[--newemail-port N]\n"
		      "       [--port-offset N]\n"
		      "       [--out DIR] [--list | --print PATH | --spec]\n"
		      "       relay-render --env [--target local|pod] "
		      "[--root DIR] [--addr ...]\n");
}

/* parse_args: the command line into o; 0 or EX_USAGE */
static int
parse_args(int argc, char **argv, struct relay_render_opts *o)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "target", required_argument, NULL, 't' },
		{ "root", required_argument, NULL, 'r' },
		{ "addr", required_argument, NULL, 'a' },
		{ "local-addr", required_argument, NULL, 'l' },
		{ "bin", required_argument, NULL, 'b' },
		{ "dns", required_argument, NULL, 'd' },
		{ "newemail-port", required_argument, NULL, 'n' },
		{ "port-offset", required_argument, NULL, 'P' },
		{ "out", required_argument, NULL, 'o' },
		{ "list", no_argument, NULL, 'L' },
		{ "print", required_argument, NULL, 'p' },
		{ "spec", no_argument, NULL, 'S' },
		{ "env", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "f:o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->file = optarg;
			break;
		case 't':
			o->target = optarg;
			break;
		case 'r':
			o->root = optarg;
			break;
		case 'a':
			o->addr = optarg;
			break;
		case 'l':
			o->local_addr = optarg;
			break;
		case 'b':
			o->bin = optarg;
			break;
		case 'd':
			o->dns = optarg;
			break;
		case 'n':
			if (num_parse_uint(optarg, 1, 65535,
					   &o->newemail_port) < 0)
				return EX_USAGE;
			break;
		case 'P':
			if (num_parse_uint(optarg, 0, 50000, &o->port_offset) <
			    0)
				return EX_USAGE;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'L':
			o->list = 1;
			break;
		case 'p':
			o->print = optarg;
			break;
		case 'S':
			o->spec = 1;
			break;
		case 'E':
			o->env = 1;
			break;
		default:
			return EX_USAGE;
		}
	}
	if (optind != argc || o->target == NULL ||
	    (o->file == NULL && !o->env) ||
	    (strcmp(o->target, "local") != 0 &&
	     strcmp(o->target, "pod") != 0) ||
	    (strcmp(o->target, "local") == 0 && o->root == NULL))
		return EX_USAGE;
	/* a Pod's root is /etc/chatmail: never write there by default */
	if (strcmp(o->target, "pod") == 0 && o->out == NULL && !o->list &&
	    o->print == NULL && !o->spec && !o->env)
		return EX_USAGE;
	return 0;
}

int
main(int argc, char **argv)
{
	struct relay_render_opts o = { .target = "local" };
	struct buf err = BUF_INIT(64 * 1024), warn = BUF_INIT(64 * 1024);
	struct relay_spec *spec = NULL;
	int rc;

	log_init("relay-render", 0);
	rc = parse_args(argc, argv, &o);
	if (rc != 0) {
		usage();
		return rc;
	}
	if (o.file != NULL &&
	    spec_load_file(o.file, SPEC_STRICT, &spec, &err, &warn) < 0) {
		(void)fprintf(stderr,
			      "relay-render: %s: invalid "
			      "ChatmailRelay:\n%s",
			      o.file, buf_cstr(&err));
		rc = EX_CONFIG;
		goto out;
	}
	rc = relay_render_run(&o, spec, &err);
	if (rc != 0)
		(void)fprintf(stderr, "relay-render: %s", buf_cstr(&err));
out:
	spec_free(&spec);
	buf_deinit(&err);
	buf_deinit(&warn);
	return rc;
}
