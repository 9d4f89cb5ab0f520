/*
 * chatmail-turn: the TURN server of a chatmail relay, a drop-in for
 * upstream's chatmail-turn (same command line: --realm, --socket; UDP
 * 3478 on every non-loopback, non-link-local address; one credential
 * line per connection on the socket). Additions: --secret-file (the
 * per-relay shared secret; upstream hard-codes one), --listen,
 * --external-ip, --relay-ports, allocation caps, --allow-peer and
 * --credentials-only (see
 * usage() and docs/UPSTREAM.md "TURN").
 *
 * Untrusted input: none here (command line, the secret file).
 */
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "fs.h"
#include "log.h"
#include "num.h"
#include "turn.h"
#include "xmalloc.h"

#define SECRET_MIN 16
#define SECRET_MAX 4096

static struct turn_server srv; /* two 64 KB buffers: not on the stack */
static char *listen_store[TURN_MAX_LISTENERS];

static int
usage(FILE *f)
{
	(void)fprintf(
		f,
		"usage: chatmail-turn --socket PATH [--realm REALM] [options]\n"
		"  --realm REALM          realm (default webrtc.rs, as "
		"upstream)\n"
		"  --socket PATH          Unix socket answering one "
		"credential\n"
		"                         line \"user:password\" per "
		"connection\n"
		"  --secret-file PATH     shared secret (>= 16 bytes); "
		"without\n"
		"                         it a random one per start\n"
		"  --listen ADDR          UDP address to serve (repeatable;\n"
		"                         default: every non-loopback,\n"
		"                         non-link-local interface address)\n"
		"  --port N               UDP port (default 3478)\n"
		"  --external-ip IP       relayed address told to clients "
		"(NAT)\n"
		"  --relay-ports MIN-MAX  relay ports (default: any free "
		"port)\n"
		"  --max-allocations N    in all (default 1000)\n"
		"  --max-allocations-per-ip N    (default 32)\n"
		"  --max-allocations-per-user N  (default 256)\n"
		"  --allow-peer CIDR      also relay to this private range\n"
		"  --credentials-only     serve the socket only, no UDP (the\n"
		"                         TURN server with the same secret\n"
		"                         runs elsewhere)\n"
		"  -v                     more logging\n");
	return f == stderr ? EX_USAGE : 0;
}

/* read_secret: the secret file, surrounding whitespace stripped */
static int
read_secret(const char *path, struct buf *b)
{
	int r = fs_read_file(path, b);
	size_t n;

	if (r < 0) {
		log_error("cannot read secret file %s: %s", path, strerror(-r));
		return EX_CONFIG;
	}
	n = b->len;
	while (n > 0 && (b->data[n - 1] == '\n' || b->data[n - 1] == '\r' ||
			 b->data[n - 1] == ' ' || b->data[n - 1] == '\t'))
		n--;
	buf_truncate(b, n);
	if (n < SECRET_MIN) {
		log_error("secret file %s: shorter than %d bytes", path,
			  SECRET_MIN);
		return EX_CONFIG;
	}
	return 0;
}

/* add_interfaces: upstream's listen_ips(): every address of an up
 * interface that is neither loopback nor link-local */
static int
add_interfaces(struct turn_config *c)
{
	struct ifaddrs *ifa, *i;
	char host[INET6_ADDRSTRLEN];

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		const void *a;
		int fam;

		if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		fam = i->ifa_addr->sa_family;
		if (fam == AF_INET) {
			const struct in_addr *v4 =
				&((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			const uint8_t *b = (const uint8_t *)v4;

			if (b[0] == 127 || (b[0] == 169 && b[1] == 254))
				continue;
			a = v4;
		} else if (fam == AF_INET6) {
			const struct in6_addr *v6 =
				&((struct sockaddr_in6 *)i->ifa_addr)
					 ->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(v6) ||
			    IN6_IS_ADDR_LOOPBACK(v6))
				continue;
			a = v6;
		} else {
			continue;
		}
		if (c->n_listen == TURN_MAX_LISTENERS ||
		    inet_ntop(fam, a, host, sizeof(host)) == NULL)
			continue;
		listen_store[c->n_listen] = xstrdup(host);
		c->listen[c->n_listen] = listen_store[c->n_listen];
		c->n_listen++;
	}
	freeifaddrs(ifa);
	return 0;
}

/* parse_ports: "MIN-MAX" */
static int
parse_ports(const char *s, struct turn_config *c)
{
	const char *dash = strchr(s, '-');
	char lo[8];

	if (dash == NULL || (size_t)(dash - s) >= sizeof(lo))
		return -EINVAL;
	memcpy(lo, s, (size_t)(dash - s));
	lo[dash - s] = '\0';
	if (num_parse_uint(lo, 1024, 65535, &c->port_min) < 0 ||
	    num_parse_uint(dash + 1, c->port_min, 65535, &c->port_max) < 0)
		return -EINVAL;
	return 0;
}

enum {
	O_REALM = 256,
	O_SOCKET,
	O_SECRET,
	O_LISTEN,
	O_PORT,
	O_EXT,
	O_PORTS,
	O_MAX,
	O_MAX_IP,
	O_MAX_USER,
	O_ALLOW,
	O_CRED_ONLY,
	O_HELP
};

static const struct option longopts[] = {
	{ "realm", required_argument, NULL, O_REALM },
	{ "socket", required_argument, NULL, O_SOCKET },
	{ "secret-file", required_argument, NULL, O_SECRET },
	{ "listen", required_argument, NULL, O_LISTEN },
	{ "port", required_argument, NULL, O_PORT },
	{ "external-ip", required_argument, NULL, O_EXT },
	{ "relay-ports", required_argument, NULL, O_PORTS },
	{ "max-allocations", required_argument, NULL, O_MAX },
	{ "max-allocations-per-ip", required_argument, NULL, O_MAX_IP },
	{ "max-allocations-per-user", required_argument, NULL, O_MAX_USER },
	{ "allow-peer", required_argument, NULL, O_ALLOW },
	{ "credentials-only", no_argument, NULL, O_CRED_ONLY },
	{ "help", no_argument, NULL, O_HELP },
	{ "fullhelp", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

/* set_number: a numeric option (the port, the allocation limits);
 * 1 if its value is bad */
static int
set_number(int o, const char *arg, struct turn_config *c)
{
	switch (o) {
	case O_PORT:
		return num_parse_uint(arg, 1, 65535, &c->port) < 0;
	case O_MAX:
		return num_parse_uint(arg, 1, 1000000, &c->max_allocs) < 0;
	case O_MAX_IP:
		return num_parse_uint(arg, 1, 1000000, &c->max_allocs_per_ip) <
		       0;
	case O_MAX_USER:
		return num_parse_uint(arg, 1, 1000000,
				      &c->max_allocs_per_user) < 0;
	default:
		return 1;
	}
}

/* parse_args: the command line into c; 0, or an exit code */
static int
parse_args(int argc, char **argv, struct turn_config *c, const char **sf_r,
	   int *verbose_r)
{
	int o;

	while ((o = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		int bad = 0;

		switch (o) {
		case O_REALM:
			c->realm = optarg;
			break;
		case O_SOCKET:
			c->socket_path = optarg;
			break;
		case O_SECRET:
			*sf_r = optarg;
			break;
		case O_LISTEN:
			bad = c->n_listen == TURN_MAX_LISTENERS;
			if (!bad)
				c->listen[c->n_listen++] = optarg;
			break;
		case O_PORT:
		case O_MAX:
		case O_MAX_IP:
		case O_MAX_USER:
			bad = set_number(o, optarg, c);
			break;
		case O_EXT:
			c->external_ip = optarg;
			break;
		case O_PORTS:
			bad = parse_ports(optarg, c) < 0;
			break;
		case O_ALLOW:
			bad = c->n_allow_peer == TURN_MAX_PEER_RULES ||
			      turn_cidr_parse(
				      optarg,
				      &c->allow_peer[c->n_allow_peer++]) < 0;
			break;
		case O_CRED_ONLY:
			c->credentials_only = 1;
			break;
		case O_HELP:
			return usage(stdout) == 0 ? -1 : EX_USAGE;
		case 'v':
			(*verbose_r)++;
			break;
		default:
			return usage(stderr);
		}
		if (bad) {
			(void)fprintf(stderr,
				      "chatmail-turn: bad value for %s: %s\n",
				      argv[optind - 1], optarg);
			return EX_USAGE;
		}
	}
	return optind == argc ? 0 : usage(stderr);
}

/* load_secret: the shared secret from file, or 32 random bytes when
 * there is none; 0 or an exit code */
static int
load_secret(const char *file, struct buf *secret)
{
	char *p;

	if (file != NULL)
		return read_secret(file, secret);
	p = buf_reserve(secret, 32);
	if (p == NULL || RAND_bytes((unsigned char *)p, 32) != 1)
		return EX_SOFTWARE;
	buf_commit(secret, 32);
	log_warn("no --secret-file: credentials are valid until the next "
		 "start only");
	return 0;
}

int
main(int argc, char **argv)
{
	struct turn_config c = {
		.realm = "webrtc.rs",
		.port = TURN_PORT,
		.max_allocs = 1000,
		.max_allocs_per_ip = 32,
		.max_allocs_per_user = 256,
		.socket_uid = (uid_t)-1,
		.socket_gid = (gid_t)-1,
	};
	struct buf secret = BUF_INIT(SECRET_MAX), err = BUF_INIT(1024);
	const char *secret_file = NULL;
	struct evloop *loop = NULL;
	int verbose = 0, rc, i;

	rc = parse_args(argc, argv, &c, &secret_file, &verbose);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	log_init("chatmail-turn", verbose);
	rc = load_secret(secret_file, &secret);
	if (rc != 0)
		goto out;
	c.secret = (const uint8_t *)secret.data;
	c.secret_len = secret.len;
	if (c.n_listen == 0 && !c.credentials_only && add_interfaces(&c) < 0) {
		log_error("cannot list interfaces: %s", strerror(errno));
		rc = EX_OSERR;
		goto out;
	}
	loop = evloop_new();
	if (turn_server_init(&srv, loop, &c, &err) < 0) {
		log_error("cannot start: %s", buf_cstr(&err));
		rc = EX_CONFIG;
		goto out;
	}
	for (i = 0; i < (int)srv.n_lis; i++) {
		char a[INET6_ADDRSTRLEN + 8];

		log_info("Listening on %s",
			 net_addr_str(&srv.lis[i].local, a, sizeof(a)));
	}
	(void)evloop_stop_on_signals(loop);
	(void)signal(SIGPIPE, SIG_IGN);
	rc = evloop_run(loop) < 0 ? EX_SOFTWARE : 0;
	turn_server_deinit(&srv);
out:
	evloop_free(&loop);
	buf_wipe_deinit(&secret);
	buf_deinit(&err);
	for (i = 0; i < TURN_MAX_LISTENERS; i++)
		free(listen_store[i]);
	return rc;
}
