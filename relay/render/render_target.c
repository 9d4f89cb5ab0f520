/*
 * render_target: the two layouts a relay is rendered for. The Pod
 * layout is the one of DESIGN.md (config from ConfigMaps under
 * /etc/chatmail, sockets in the shared emptyDir /run/chatmail, mail on
 * the PVC at /home/vmail, Postfix queue on its PVC); the local layout
 * puts everything of one test relay under one directory and binds the
 * public ports to the relay's own address (hack/local-relay.sh).
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

/* set_standard_ports: the public and internal ports of upstream */
static void
set_standard_ports(struct render_target *t)
{
	t->port_smtp = 25;
	t->port_submission = 587;
	t->port_smtps = 465;
	t->port_imap = 143;
	t->port_imaps = 993;
	t->port_http = 80;
	t->port_https = 443;
	t->port_https_internal = 8443;
	t->port_iroh = 3340;
	t->port_acme = 402;
	t->port_newemail = 0;
}

/* render_target_new_pod: the Pod layout */
struct render_target *
render_target_new_pod(void)
{
	struct render_target *t = xcalloc(1, sizeof(*t));

	t->kind = RENDER_POD;
	set_standard_ports(t);
	t->instance = xstrdup("chatmail");
	t->public_addr = xstrdup("");
	t->local_addr = xstrdup("127.0.0.1");
	t->root = xstrdup("/etc/chatmail");
	t->ini_path = xstrdup("/etc/chatmail/chatmail.ini");
	t->postfix_config_dir = xstrdup("/etc/chatmail/postfix");
	/* a subdirectory of the queue claim: the claim's root is kubelet's
	 * (fsGroup, group-writable), Postfix wants its queue root-owned
	 * and not group-writable (images/postfix/postfix-run) */
	t->postfix_queue_dir = xstrdup("/var/spool/postfix/queue");
	t->postfix_data_dir = xstrdup("/var/lib/postfix");
	t->dovecot_config_dir = xstrdup("/etc/chatmail/dovecot");
	t->dovecot_base_dir = xstrdup("/run/dovecot");
	t->dovecot_state_dir = xstrdup("/var/lib/dovecot");
	t->nginx_config_dir = xstrdup("/etc/chatmail/nginx");
	t->nginx_run_dir = xstrdup("/run/nginx");
	t->www_dir = xstrdup("/etc/chatmail/www");
	t->run_dir = xstrdup("/run/chatmail");
	t->log_dir = xstrdup("");
	t->tls_cert = xstrdup("/etc/chatmail/tls/tls.crt");
	t->tls_key = xstrdup("/etc/chatmail/tls/tls.key");
	t->dkim_key = xstrdup("/etc/dkimkeys/opendkim.private");
	t->nocreate_file = xstrdup("/etc/chatmail/chatmail-nocreate");
	t->quota_expire_bin = xstrdup("/usr/local/bin/chatmail-quota-expire");
	t->metrics_file = xstrdup("/home/vmail/metrics/fsreport.prom");
	t->vmail_dir = xstrdup("/home/vmail/mail");
	t->dns_server = xstrdup("");
	t->dh_file = xstrdup("/usr/share/dovecot/dh.pem");
	t->nginx_stream_module =
		xstrdup("/usr/lib/nginx/modules/ngx_stream_module.so");
	t->nginx_mime_types = xstrdup("/etc/nginx/mime.types");
	t->vmail_user = xstrdup("vmail");
	t->postfix_user = xstrdup("postfix");
	/* nginx runs as www-data from the start (the Pod's runAsUser; its
	 * sysctl lets it bind 80 and 443): no "user" directive */
	t->nginx_user = xstrdup("");
	t->dovecot_login_user = xstrdup("");
	return t;
}

/* local_path: root + "/" + rel, freshly allocated */
static char *
local_path(const char *root, const char *rel)
{
	return xasprintf("%s/%s", root, rel);
}

/* render_target_new_local: one test relay under root, public ports on
 * addr */
struct render_target *
render_target_new_local(const char *root, const char *addr)
{
	struct render_target *t = xcalloc(1, sizeof(*t));
	const char *base = strrchr(root, '/');

	t->kind = RENDER_LOCAL;
	set_standard_ports(t);
	t->instance = xstrdup(base != NULL && base[1] ? base + 1 : "relay");
	t->public_addr = xstrdup(addr);
	t->local_addr = xstrdup("127.0.0.1");
	t->root = xstrdup(root);
	t->ini_path = local_path(root, "chatmail.ini");
	t->postfix_config_dir = local_path(root, "postfix");
	t->postfix_queue_dir = local_path(root, "spool/postfix");
	t->postfix_data_dir = local_path(root, "lib/postfix");
	t->dovecot_config_dir = local_path(root, "dovecot");
	t->dovecot_base_dir = local_path(root, "run/dovecot");
	t->dovecot_state_dir = local_path(root, "lib/dovecot");
	t->nginx_config_dir = local_path(root, "nginx");
	t->nginx_run_dir = local_path(root, "run/nginx");
	t->www_dir = local_path(root, "www");
	t->run_dir = local_path(root, "run/chatmail");
	t->log_dir = local_path(root, "log");
	t->tls_cert = local_path(root, "tls/cert.pem");
	t->tls_key = local_path(root, "tls/key.pem");
	t->dkim_key = local_path(root, "dkim/opendkim.private");
	t->nocreate_file = local_path(root, "chatmail-nocreate");
	t->quota_expire_bin = xstrdup("/usr/local/bin/chatmail-quota-expire");
	t->metrics_file = local_path(root, "vmail/metrics/fsreport.prom");
	t->vmail_dir = local_path(root, "vmail/mail");
	t->dns_server = xstrdup("");
	t->dh_file = xstrdup("/usr/share/dovecot/dh.pem");
	t->nginx_stream_module =
		xstrdup("/usr/lib/nginx/modules/ngx_stream_module.so");
	t->nginx_mime_types = xstrdup("/etc/nginx/mime.types");
	t->vmail_user = xstrdup("vmail");
	t->postfix_user = xstrdup("postfix");
	t->nginx_user = xstrdup("www-data");
	t->dovecot_login_user = xstrdup("");
	return t;
}

#define TF(m)                                         \
	{                                             \
#m, offsetof(struct render_target, m) \
	}
/* every string field, for freeing and checking */
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
	TF(postfix_queue_dir),
	TF(postfix_data_dir),
	TF(dovecot_config_dir),
	TF(dovecot_base_dir),
	TF(dovecot_state_dir),
	TF(nginx_config_dir),
	TF(nginx_run_dir),
	TF(www_dir),
	TF(run_dir),
	TF(log_dir),
	TF(tls_cert),
	TF(tls_key),
	TF(dkim_key),
	TF(nocreate_file),
	TF(quota_expire_bin),
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

/* render_target_check: every string set and safe to insert into a
 * config file; the ports the renderer needs non-zero */
int
render_target_check(const struct render_target *t, struct buf *err)
{
	const char *v;
	size_t i;
	int r = 0;

	for (i = 0; i < N_STR_FIELDS; i++) {
		v = *str_field(t, i);
		if (v == NULL || !render_safe_value(v) || strchr(v, ' ')) {
			(void)buf_printf(err, "target.%s: missing or unsafe\n",
					 str_fields[i].name);
			r = -EINVAL;
		}
	}
	if (t->port_smtp == 0 || t->port_submission == 0 ||
	    t->port_smtps == 0 || t->port_imap == 0 || t->port_imaps == 0 ||
	    t->port_http == 0 || t->port_https == 0 ||
	    t->port_https_internal == 0 || t->port_iroh == 0 ||
	    t->port_acme == 0) {
		(void)buf_printf(err, "target: a port is 0\n");
		r = -EINVAL;
	}
	return r;
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
	free(*tp);
	*tp = NULL;
}
