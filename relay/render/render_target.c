/*
 * render_target: the relay's layout, in one place. The tables here are
 * the only definition of the relay's port numbers (render_ports, the
 * public ones and the internal ones), its process names (render_procs)
 * and its Unix socket names (in run_dir); the two constructors are the
 * only definition of its paths. The Pod layout is the one of
 * docs/DESIGN.md, The Pod (config from ConfigMaps under /etc/chatmail,
 * sockets in the shared emptyDir /run/chatmail, mail on the PVC at
 * /home/vmail, Postfix queue on its PVC); the local layout puts
 * everything of one test relay under one directory and binds the public
 * ports to the relay's own address (hack/local-relay.sh, which reads
 * this layout through `relay-render --env`, render_target_env). The
 * command lines are in render_command.c.
 *
 * Untrusted input: none (the root and address come from our scripts);
 * render_ctx_init checks every path for characters that would break a
 * config file anyway.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "xmalloc.h"

/* render_target_set: replace one string field (value copied) */
void
render_target_set(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value != NULL ? value : "");
}

const char *const render_procs[RENDER_NPROCS] = {
	[RENDER_PROC_POSTFIX] = "postfix",
	[RENDER_PROC_DOVECOT] = "dovecot",
	[RENDER_PROC_NGINX] = "nginx",
	[RENDER_PROC_FILTERMAIL_OUTGOING] = "filtermail-outgoing",
	[RENDER_PROC_FILTERMAIL_INCOMING] = "filtermail-incoming",
	[RENDER_PROC_FILTERMAIL_TRANSPORT] = "filtermail-transport",
	[RENDER_PROC_DOVEAUTH] = "doveauth",
	[RENDER_PROC_METADATA] = "metadata",
	[RENDER_PROC_LASTLOGIN] = "lastlogin",
	[RENDER_PROC_NEWEMAIL] = "newemail",
	[RENDER_PROC_IROH] = "iroh-relay",
	[RENDER_PROC_TURN] = "turn",
	[RENDER_PROC_CERT] = "cert",
	[RENDER_PROC_EXPORTER] = "exporter",
	[RENDER_PROC_EXPIRE] = "expire",
	[RENDER_PROC_METRICS] = "metrics",
};

/* upstream's port numbers: the one place they are written down */
const struct render_port render_ports[RENDER_NPORTS] = {
	[RENDER_PORT_SMTP] = { "smtp", 25, RENDER_PROC_POSTFIX,
			       RENDER_PORT_PROBE },
	[RENDER_PORT_HTTP] = { "http", 80, RENDER_PROC_NGINX, 0 },
	[RENDER_PORT_IMAP] = { "imap", 143, RENDER_PROC_DOVECOT,
			       RENDER_PORT_PROBE },
	[RENDER_PORT_HTTPS] = { "https", 443, RENDER_PROC_NGINX,
				RENDER_PORT_PROBE },
	[RENDER_PORT_SMTPS] = { "smtps", 465, RENDER_PROC_POSTFIX, 0 },
	[RENDER_PORT_SUBMISSION] = { "submission", 587, RENDER_PROC_POSTFIX,
				     0 },
	[RENDER_PORT_IMAPS] = { "imaps", 993, RENDER_PROC_DOVECOT, 0 },
	[RENDER_PORT_ACME] = { "acme", 402, RENDER_PROC_NONE, 0 },
	[RENDER_PORT_HTTPS_INTERNAL] = { "https-internal", 8443,
					 RENDER_PROC_NGINX, 0 },
	[RENDER_PORT_IROH] = { "iroh", 3340, RENDER_PROC_IROH, 0 },
	[RENDER_PORT_DOVECOT_STATS] = { "dovecot-stats", 3904,
					RENDER_PROC_DOVECOT, 0 },
	[RENDER_PORT_IROH_METRICS] = { "iroh-metrics", 9092, RENDER_PROC_IROH,
				       0 },
	/* ours (docs/UPSTREAM.md, DKIM): chatmail.ini's
	 * filtermail_milter_port, which has no default */
	[RENDER_PORT_MILTER] = { "milter", 10084,
				 RENDER_PROC_FILTERMAIL_OUTGOING, 0 },
	/* ours: the Pod's private metrics port (Prometheus' exporter
	 * range), the one internal port on the Pod's address */
	[RENDER_PORT_METRICS] = { "metrics", 9464, RENDER_PROC_EXPORTER, 0 },
};

/* the socket file names below run_dir: the one place they are set */
static const char *const sock_files[RENDER_NSOCKS] = {
	[RENDER_SOCK_DOVEAUTH] = "doveauth.socket",
	[RENDER_SOCK_METADATA] = "metadata.socket",
	[RENDER_SOCK_LASTLOGIN] = "lastlogin.socket",
	[RENDER_SOCK_NEWEMAIL] = "newemail.socket",
	[RENDER_SOCK_TURN] = "turn.socket",
	[RENDER_SOCK_LMTP] = "dovecot-lmtp",
	[RENDER_SOCK_AUTH] = "auth",
};

/* path_in: dir + "/" + name, freshly allocated */
static char *
path_in(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/* set_common: what both layouts derive the same way from the
 * directories set before: standard ports, the files in tls_dir,
 * dkim_dir, mail_home and root, the sockets in run_dir */
static void
set_common(struct render_target *t, const char *cert, const char *key)
{
	size_t i;

	for (i = 0; i < RENDER_NPORTS; i++)
		t->port[i] = render_ports[i].port;
	t->port_newemail = 0;
	t->local_addr = xstrdup("127.0.0.1");
	t->ini_path = path_in(t->root, "chatmail.ini");
	t->iroh_config = path_in(t->root, "iroh-relay.toml");
	t->turn_realm = xstrdup("");
	t->turn_address = xstrdup("");
	t->turn_relay_ports = xstrdup("");
	t->nocreate_file = path_in(t->root, "chatmail-nocreate");
	t->peer_ca_file = path_in(t->root, "peer-ca.pem");
	t->tls_cert = path_in(t->tls_dir, cert);
	t->tls_key = path_in(t->tls_dir, key);
	t->dkim_key = path_in(t->dkim_dir, "opendkim.private");
	t->vmail_dir = path_in(t->mail_home, "mail");
	t->metrics_file = path_in(t->mail_home, "metrics/fsreport.prom");
	t->quota_expire_bin = xstrdup("/usr/local/bin/chatmail-quota-expire");
	t->dns_server = xstrdup("");
	t->dh_file = xstrdup("/usr/share/dovecot/dh.pem");
	t->nginx_stream_module =
		xstrdup("/usr/lib/nginx/modules/ngx_stream_module.so");
	t->nginx_mime_types = xstrdup("/etc/nginx/mime.types");
	t->vmail_user = xstrdup("vmail");
	t->postfix_user = xstrdup("postfix");
	t->dovecot_login_user = xstrdup("");
	for (i = 0; i < RENDER_NSOCKS; i++)
		t->sock[i] = path_in(t->run_dir, sock_files[i]);
}

/* render_target_new_pod: the Pod layout */
struct render_target *
render_target_new_pod(void)
{
	struct render_target *t = xcalloc(1, sizeof(*t));

	t->kind = RENDER_POD;
	t->instance = xstrdup("chatmail");
	t->public_addr = xstrdup("");
	t->root = xstrdup("/etc/chatmail");
	t->postfix_config_dir = path_in(t->root, "postfix");
	t->spool_dir = xstrdup("/var/spool/postfix");
	/* a subdirectory of the queue claim: the claim's root is kubelet's
	 * (fsGroup, group-writable), Postfix wants its queue root-owned
	 * and not group-writable (images/postfix/postfix-run) */
	t->postfix_queue_dir = path_in(t->spool_dir, "queue");
	t->postfix_data_dir = xstrdup("/var/lib/postfix");
	t->dovecot_config_dir = path_in(t->root, "dovecot");
	t->dovecot_base_dir = xstrdup("/run/dovecot");
	t->dovecot_state_dir = xstrdup("/var/lib/dovecot");
	t->nginx_config_dir = path_in(t->root, "nginx");
	t->nginx_run_dir = xstrdup("/run/nginx");
	t->www_dir = path_in(t->root, "www");
	t->www_custom_dir = path_in(t->root, "www-custom");
	t->appversions_file = path_in(t->root, "appversions/appversions.json");
	t->run_dir = xstrdup("/run/chatmail");
	t->log_dir = xstrdup("");
	t->tls_dir = path_in(t->root, "tls");
	t->dkim_dir = xstrdup("/etc/dkimkeys");
	/* the TURN Secret, mounted into the turn container only */
	t->turn_secret = xstrdup("/etc/chatmail-turn/secret");
	t->mail_home = xstrdup("/home/vmail");
	set_common(t, "tls.crt", "tls.key");
	/* nginx runs as www-data from the start (the Pod's runAsUser; its
	 * sysctl lets it bind 80 and 443): no "user" directive */
	t->nginx_user = xstrdup("");
	return t;
}

/* render_target_new_local: one test relay under root, public ports on
 * addr */
struct render_target *
render_target_new_local(const char *root, const char *addr)
{
	struct render_target *t = xcalloc(1, sizeof(*t));
	const char *base = strrchr(root, '/');

	t->kind = RENDER_LOCAL;
	t->instance = xstrdup(base != NULL && base[1] ? base + 1 : "relay");
	t->public_addr = xstrdup(addr);
	t->root = xstrdup(root);
	t->postfix_config_dir = path_in(root, "postfix");
	t->spool_dir = path_in(root, "spool");
	t->postfix_queue_dir = path_in(t->spool_dir, "postfix");
	t->postfix_data_dir = path_in(root, "lib/postfix");
	t->dovecot_config_dir = path_in(root, "dovecot");
	t->dovecot_base_dir = path_in(root, "run/dovecot");
	t->dovecot_state_dir = path_in(root, "lib/dovecot");
	t->nginx_config_dir = path_in(root, "nginx");
	t->nginx_run_dir = path_in(root, "run/nginx");
	t->www_dir = path_in(root, "www");
	t->www_custom_dir = path_in(root, "www-custom");
	t->appversions_file = path_in(root, "appversions/appversions.json");
	t->run_dir = path_in(root, "run/chatmail");
	t->log_dir = path_in(root, "log");
	t->tls_dir = path_in(root, "tls");
	t->dkim_dir = path_in(root, "dkim");
	t->turn_secret = path_in(root, "turn-secret");
	t->mail_home = path_in(root, "vmail");
	set_common(t, "cert.pem", "key.pem");
	t->nginx_user = xstrdup("www-data");
	return t;
}

/* render_target_offset_ports: every port of the layout moved by off */
int
render_target_offset_ports(struct render_target *t, unsigned off)
{
	size_t i;

	for (i = 0; i < RENDER_NPORTS; i++)
		if (off > 65535 || t->port[i] > 65535 - off)
			return -ERANGE;
	for (i = 0; i < RENDER_NPORTS; i++)
		t->port[i] += off;
	return 0;
}

#define TF(m)                                         \
	{                                             \
#m, offsetof(struct render_target, m) \
	}
/* every string field but sock[], for freeing, checking and the
 * environment of render_target_env */
static const struct {
	const char *name;
	size_t off;
} str_fields[] = {
	TF(instance),
	TF(public_addr),
	TF(local_addr),
	TF(root),
	TF(ini_path),
	TF(postfix_config_dir),
	TF(spool_dir),
	TF(postfix_queue_dir),
	TF(postfix_data_dir),
	TF(dovecot_config_dir),
	TF(dovecot_base_dir),
	TF(dovecot_state_dir),
	TF(nginx_config_dir),
	TF(nginx_run_dir),
	TF(www_dir),
	TF(www_custom_dir),
	TF(appversions_file),
	TF(iroh_config),
	TF(turn_secret),
	TF(turn_realm),
	TF(turn_address),
	TF(turn_relay_ports),
	TF(run_dir),
	TF(log_dir),
	TF(tls_dir),
	TF(tls_cert),
	TF(tls_key),
	TF(dkim_dir),
	TF(dkim_key),
	TF(nocreate_file),
	TF(peer_ca_file),
	TF(quota_expire_bin),
	TF(mail_home),
	TF(metrics_file),
	TF(vmail_dir),
	TF(dns_server),
	TF(dh_file),
	TF(nginx_stream_module),
	TF(nginx_mime_types),
	TF(vmail_user),
	TF(postfix_user),
	TF(nginx_user),
	TF(dovecot_login_user),
};
#define N_STR_FIELDS (sizeof(str_fields) / sizeof(str_fields[0]))

/* str_field: the address of string field i of t */
static char **
str_field(const struct render_target *t, size_t i)
{
	return (char **)((uintptr_t)t + str_fields[i].off);
}

/* check_str: v set and safe to insert into a config file */
static int
check_str(const char *name, const char *v, struct buf *err)
{
	if (v != NULL && render_safe_value(v) && strchr(v, ' ') == NULL)
		return 0;
	(void)buf_printf(err, "target.%s: missing or unsafe\n", name);
	return -EINVAL;
}

/* check_ports: every port a TCP port, no two the same */
static int
check_ports(const struct render_target *t, struct buf *err)
{
	size_t i, j;

	for (i = 0; i < RENDER_NPORTS; i++) {
		if (t->port[i] == 0 || t->port[i] > 65535) {
			(void)buf_printf(err, "target: port %s is %u\n",
					 render_ports[i].name, t->port[i]);
			return -EINVAL;
		}
		for (j = 0; j < i; j++)
			if (t->port[j] == t->port[i]) {
				(void)buf_printf(err,
						 "target: ports %s and %s are "
						 "both %u\n",
						 render_ports[j].name,
						 render_ports[i].name,
						 t->port[i]);
				return -EINVAL;
			}
		if (t->port_newemail == t->port[i] ||
		    t->port_newemail > 65535) {
			(void)buf_printf(err, "target: bad newemail port %u\n",
					 t->port_newemail);
			return -EINVAL;
		}
	}
	return 0;
}

/* render_target_check: every string set and safe to insert into a
 * config file; the ports usable */
int
render_target_check(const struct render_target *t, struct buf *err)
{
	size_t i;
	int r = 0;

	for (i = 0; i < N_STR_FIELDS; i++)
		if (check_str(str_fields[i].name, *str_field(t, i), err) < 0)
			r = -EINVAL;
	for (i = 0; i < RENDER_NSOCKS; i++)
		if (check_str(sock_files[i], t->sock[i], err) < 0)
			r = -EINVAL;
	if (check_ports(t, err) < 0)
		r = -EINVAL;
	return r;
}

/* env_key: name as a shell variable name: upper case, '-' as '_' */
static void
env_key(const char *prefix, const char *name, const char *suffix, char *out,
	size_t outsize)
{
	size_t i;

	(void)snprintf(out, outsize, "%s%s%s", prefix, name, suffix);
	for (i = 0; out[i] != '\0'; i++)
		out[i] = out[i] == '-'			  ? '_'
			 : out[i] >= 'a' && out[i] <= 'z' ? (char)(out[i] - 32)
							  : out[i];
}

/* env_quoted: v in single quotes, any ' as '\'' */
static int
env_quoted(struct buf *out, const char *v)
{
	int r = buf_putc(out, '\'');

	for (; r == 0 && *v != '\0'; v++)
		r = *v == '\'' ? buf_puts(out, "'\\''") : buf_putc(out, *v);
	return r == 0 ? buf_putc(out, '\'') : r;
}

/* env_commands: CMD_<PROC>=(argv...) for every process */
static int
env_commands(const struct render_target *t, struct buf *out)
{
	char key[64], **argv;
	size_t i, j;
	int r = 0;

	for (i = 0; r == 0 && i < RENDER_NPROCS; i++) {
		argv = render_command(t, (enum render_proc_id)i);
		env_key("CMD_", render_procs[i], "", key, sizeof(key));
		r = buf_printf(out, "%s=(", key);
		for (j = 0; r == 0 && argv[j] != NULL; j++) {
			r = j > 0 ? buf_putc(out, ' ') : 0;
			if (r == 0)
				r = env_quoted(out, argv[j]);
		}
		if (r == 0)
			r = buf_puts(out, ")\n");
		render_argv_free(&argv);
	}
	return r;
}

/* render_target_env: the layout as shell assignments */
int
render_target_env(const struct render_target *t, struct buf *out)
{
	char key[64];
	size_t i;
	int r;

	r = buf_printf(out,
		       "# the layout of a relay (relay-render --env)\n"
		       "KIND=%s\n",
		       t->kind == RENDER_POD ? "pod" : "local");
	for (i = 0; r == 0 && i < N_STR_FIELDS; i++) {
		env_key("", str_fields[i].name, "=", key, sizeof(key));
		r = buf_puts(out, key);
		if (r == 0)
			r = env_quoted(out, *str_field(t, i));
		if (r == 0)
			r = buf_putc(out, '\n');
	}
	for (i = 0; r == 0 && i < RENDER_NSOCKS; i++) {
		env_key("SOCK_", sock_files[i], "", key, sizeof(key));
		/* "doveauth.socket" -> SOCK_DOVEAUTH */
		if (strchr(key, '.') != NULL)
			*strchr(key, '.') = '\0';
		r = buf_printf(out, "%s=", key);
		if (r == 0)
			r = env_quoted(out, t->sock[i]);
		if (r == 0)
			r = buf_putc(out, '\n');
	}
	for (i = 0; r == 0 && i < RENDER_NPORTS; i++) {
		env_key("", render_ports[i].name, "_PORT", key, sizeof(key));
		r = buf_printf(out, "%s=%u\n", key, t->port[i]);
	}
	if (r == 0)
		r = buf_printf(out, "NEWEMAIL_PORT=%u\nPUBLIC_PORTS='",
			       t->port_newemail);
	for (i = 0; r == 0 && i < RENDER_NPUBLIC_PORTS; i++)
		r = buf_printf(out, "%s%u", i > 0 ? " " : "", t->port[i]);
	if (r == 0)
		r = buf_puts(out, "'\n");
	if (r == 0)
		r = env_commands(t, out);
	return r < 0 ? -E2BIG : 0;
}

/* render_target_free: free t and its strings */
void
render_target_free(struct render_target **tp)
{
	size_t i;

	if (tp == NULL || *tp == NULL)
		return;
	for (i = 0; i < N_STR_FIELDS; i++)
		free(*str_field(*tp, i));
	for (i = 0; i < RENDER_NSOCKS; i++)
		free((*tp)->sock[i]);
	free(*tp);
	*tp = NULL;
}
