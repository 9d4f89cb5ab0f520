/*
 * chatmail-operator: runs ChatmailRelays (chatmail.at/v1alpha1) on
 * Kubernetes. main() reads the flags, sets up logging and hands over
 * to controller_run(), or to render_cmd_main() for
 * `chatmail-operator render -f relay.yaml`, or to crd_cmd_main() for
 * `chatmail-operator crd` (the CRD generated from the spec tables).
 *
 * Flags (controller-runtime's names where they exist):
 *   --kubeconfig PATH --context NAME
 *   --namespace NS                  watch one namespace ("" = all)
 *   --leader-elect[=true|false]     Lease-based leader election
 *   --leader-election-namespace NS  --leader-election-id NAME
 *   --metrics-bind-address ADDR     (":8080"; "0" = off)
 *   --health-probe-bind-address ADDR (":8081"; "0" = off)
 *   --resync-period SECONDS         re-queue every relay (600)
 *   --max-concurrent-reconciles N   relays reconciled at once (8)
 *   --keygen-workers N              DKIM keys generated at once, each
 *                                   in a child process (1; 0 = in the
 *                                   operator's own process, blocking)
 *   --dns-check-interval SECONDS    the live DNS check of each relay's
 *                                   records (3600; 0 = off)
 *   --dns-check-retry SECONDS       first retry after a problem (60,
 *                                   doubling up to the interval)
 *   --dns-server IP[:PORT]          the resolver that finds a domain's
 *                                   zone and its servers ("" = the
 *                                   first nameserver of resolv.conf)
 *   --images-<postfix|dovecot|nginx|services|iroh-relay> IMAGE
 *   -v (more: debug), -n (print the effective settings and exit)
 * Exit: 0 after SIGTERM, 64 usage, 75 leader election lost, 78 config.
 *
 * Untrusted input: none here (flags are the administrator's).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <curl/curl.h>

#include "crd_cmd.h"
#include "images.h"
#include "log.h"
#include "num.h"
#include "operator.h"
#include "render_cmd.h"
#include "xmalloc.h"

enum {
	F_KUBECONFIG = 256,
	F_CONTEXT,
	F_NAMESPACE,
	F_LEADER,
	F_LEADER_NS,
	F_LEADER_ID,
	F_METRICS,
	F_PROBES,
	F_RESYNC,
	F_CONCURRENCY,
	F_KEYGEN,
	F_DNS_INTERVAL,
	F_DNS_RETRY,
	F_DNS_SERVER,
	F_IMAGES, /* F_IMAGES + image_key */
};

static const struct option longopts[] = {
	{ "kubeconfig", required_argument, NULL, F_KUBECONFIG },
	{ "context", required_argument, NULL, F_CONTEXT },
	{ "namespace", required_argument, NULL, F_NAMESPACE },
	{ "leader-elect", optional_argument, NULL, F_LEADER },
	{ "leader-election-namespace", required_argument, NULL, F_LEADER_NS },
	{ "leader-election-id", required_argument, NULL, F_LEADER_ID },
	{ "metrics-bind-address", required_argument, NULL, F_METRICS },
	{ "health-probe-bind-address", required_argument, NULL, F_PROBES },
	{ "resync-period", required_argument, NULL, F_RESYNC },
	{ "max-concurrent-reconciles", required_argument, NULL, F_CONCURRENCY },
	{ "keygen-workers", required_argument, NULL, F_KEYGEN },
	{ "dns-check-interval", required_argument, NULL, F_DNS_INTERVAL },
	{ "dns-check-retry", required_argument, NULL, F_DNS_RETRY },
	{ "dns-server", required_argument, NULL, F_DNS_SERVER },
	{ "images-operator", required_argument, NULL, F_IMAGES + IMG_OPERATOR },
	{ "images-postfix", required_argument, NULL, F_IMAGES + IMG_POSTFIX },
	{ "images-dovecot", required_argument, NULL, F_IMAGES + IMG_DOVECOT },
	{ "images-nginx", required_argument, NULL, F_IMAGES + IMG_NGINX },
	{ "images-services", required_argument, NULL, F_IMAGES + IMG_SERVICES },
	{ "images-iroh-relay", required_argument, NULL,
	  F_IMAGES + IMG_IROH_RELAY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* usage: the synopsis on stderr */
static int
usage(void)
{
	(void)fprintf(stderr,
		      "usage: chatmail-operator [--kubeconfig PATH] [--context "
		      "NAME]\n"
		      "         [--namespace NS] [--leader-elect[=BOOL]]\n"
		      "         [--leader-election-namespace NS] "
		      "[--leader-election-id NAME]\n"
		      "         [--metrics-bind-address HOST:PORT] "
		      "[--health-probe-bind-address HOST:PORT]\n"
		      "         [--resync-period SECONDS] "
		      "[--max-concurrent-reconciles N]\n"
		      "         [--keygen-workers N] [--dns-check-interval "
		      "SECONDS]\n"
		      "         [--dns-check-retry SECONDS] [--dns-server "
		      "IP[:PORT]]\n"
		      "         [--images-NAME IMAGE] [-v] [-n]\n"
		      "       chatmail-operator render -f FILE [-o yaml|json] "
		      "[--with-secrets]\n"
		      "       chatmail-operator crd [-o yaml|json]\n");
	return EX_USAGE;
}

/* print_settings: -n */
static void
print_settings(const struct op_opts *o)
{
	int i;

	(void)printf("kubeconfig = %s\ncontext = %s\nnamespace = %s\n"
		     "leader-elect = %s\nleader-election-namespace = %s\n"
		     "leader-election-id = %s\nmetrics-bind-address = %s\n"
		     "health-probe-bind-address = %s\nresync-period = %llu\n"
		     "max-concurrent-reconciles = %u\nkeygen-workers = %u\n"
		     "dns-check-interval = %llu\ndns-check-retry = %llu\n"
		     "dns-server = %s\n",
		     o->kubeconfig ? o->kubeconfig : "",
		     o->context ? o->context : "", o->namespace,
		     o->leader_elect ? "true" : "false", o->leader_ns,
		     o->lease_name, o->metrics_addr, o->probe_addr,
		     (unsigned long long)(o->resync_ms / 1000), o->concurrency,
		     o->keygen_workers,
		     (unsigned long long)(o->dns_interval_ms / 1000),
		     (unsigned long long)(o->dns_retry_ms / 1000),
		     o->dns_server);
	for (i = 0; i < IMG_COUNT; i++)
		(void)printf("images-%s = %s\n",
			     images_flag_name((enum image_key)i),
			     o->images.v[i]);
}

/* parse_dns: the DNS check's flags; 1 taken, 0 not one of them, -1 a
 * bad value */
static int
parse_dns(int c, struct op_opts *o)
{
	unsigned secs;

	switch (c) {
	case F_DNS_INTERVAL:
	case F_DNS_RETRY:
		if (num_parse_uint(optarg, c == F_DNS_RETRY, 604800, &secs) < 0)
			return -1;
		*(c == F_DNS_RETRY ? &o->dns_retry_ms : &o->dns_interval_ms) =
			(uint64_t)secs * 1000;
		return 1;
	case F_DNS_SERVER:
		o->dns_server = optarg;
		return 1;
	default:
		return 0;
	}
}

/* parse: the controller's flags into o; 0, or a sysexits code */
static int
parse(int argc, char **argv, struct op_opts *o, int *verbose, int *dump)
{
	unsigned secs;
	int c, b;

	while ((c = getopt_long(argc, argv, "vnh", longopts, NULL)) != -1) {
		if (c >= F_IMAGES && c < F_IMAGES + IMG_COUNT) {
			(void)images_set(&o->images,
					 images_flag_name((enum image_key)(
						 c - F_IMAGES)),
					 optarg);
			continue;
		}
		if ((b = parse_dns(c, o)) != 0) {
			if (b < 0)
				return usage();
			continue;
		}
		switch (c) {
		case F_KUBECONFIG:
			o->kubeconfig = optarg;
			break;
		case F_CONTEXT:
			o->context = optarg;
			break;
		case F_NAMESPACE:
			o->namespace = optarg;
			break;
		case F_LEADER:
			b = 1;
			if (optarg != NULL && num_parse_bool(optarg, &b) < 0)
				return usage();
			o->leader_elect = b;
			break;
		case F_LEADER_NS:
			o->leader_ns = optarg;
			break;
		case F_LEADER_ID:
			o->lease_name = optarg;
			break;
		case F_METRICS:
			o->metrics_addr = optarg;
			break;
		case F_PROBES:
			o->probe_addr = optarg;
			break;
		case F_RESYNC:
			if (num_parse_uint(optarg, 0, 86400, &secs) < 0)
				return usage();
			o->resync_ms = (uint64_t)secs * 1000;
			break;
		case F_CONCURRENCY:
			if (num_parse_uint(optarg, 1, 64, &o->concurrency) < 0)
				return usage();
			break;
		case F_KEYGEN:
			if (num_parse_uint(optarg, 0, 16, &o->keygen_workers) <
			    0)
				return usage();
			break;
		case 'v':
			(*verbose)++;
			break;
		case 'n':
			*dump = 1;
			break;
		default:
			return usage();
		}
	}
	return optind == argc ? 0 : usage();
}

/* quiet_gnutls: re-execute once with GNUTLS_NO_IMPLICIT_INIT=1. libcurl
 * (OpenSSL flavour) pulls in GnuTLS through libldap and librtmp, whose
 * load-time constructor initialises GnuTLS and p11-kit although nothing
 * here uses them: 0.85 MB of the idle RSS (measured, see the bench). The
 * variable must be set before the libraries load, hence the exec; if it
 * fails the operator simply runs with the constructor's cost. */
static void
quiet_gnutls(char **argv)
{
	if (getenv("GNUTLS_NO_IMPLICIT_INIT") != NULL ||
	    setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 1) < 0)
		return;
	(void)execv("/proc/self/exe", argv);
}

int
main(int argc, char **argv)
{
	struct op_opts o;
	int verbose = 0, dump = 0, rc;

	quiet_gnutls(argv);
	memset(&o, 0, sizeof(o));
	log_init("chatmail-operator", 0);
	if (images_init(&o.images) < 0) {
		log_error("images/images.env lacks an image (build problem)");
		images_deinit(&o.images);
		return EX_SOFTWARE;
	}
	cJSON_InitHooks(
		&(cJSON_Hooks){ .malloc_fn = xmalloc, .free_fn = free });
	if (argc > 1 && strcmp(argv[1], "crd") == 0) {
		images_deinit(&o.images);
		return crd_cmd_main(argc - 1, argv + 1, stdout);
	}
	if (argc > 1 && strcmp(argv[1], "render") == 0) {
		rc = render_cmd_main(argc - 1, argv + 1, &o.images, stdout);
		images_deinit(&o.images);
		return rc;
	}
	o.namespace = "";
	o.leader_ns = "";
	o.lease_name = "chatmail-operator-leader";
	o.metrics_addr = ":8080";
	o.probe_addr = ":8081";
	o.resync_ms = 600000;
	o.concurrency = 8;
	o.keygen_workers = 1;
	o.dns_interval_ms = 3600000;
	o.dns_retry_ms = 60000;
	o.dns_server = "";
	rc = parse(argc, argv, &o, &verbose, &dump);
	if (rc == 0 && dump)
		print_settings(&o);
	if (rc != 0 || dump) {
		images_deinit(&o.images);
		return rc;
	}
	log_init("chatmail-operator", verbose);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("libcurl initialisation failed");
		images_deinit(&o.images);
		return EX_SOFTWARE;
	}
	rc = controller_run(&o);
	curl_global_cleanup();
	images_deinit(&o.images);
	return rc;
}
