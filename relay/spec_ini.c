/*
 * spec_ini: a ChatmailRelay spec as chatmail.ini, the one file every
 * service reads, and as struct chatmail_config by loading that text
 * with the services' own parser, so the renderer and the services can
 * never disagree on a value or a derived value.
 *
 * Mapping decisions (spec field -> chatmail.ini option):
 *  - every upstream option is written out explicitly, in upstream's
 *    order, except iroh_relay and mtail_address whose absence means
 *    something (local iroh-relay on; mtail off);
 *  - tls_external_cert_and_key: omitted for a SelfSigned relay whose
 *    domain upstream treats as self-signed ("_" prefix or IPv4), so the
 *    services see tls_cert_mode = self as upstream's would (newemail's
 *    dclogin_url, nginx's /new); in every other case the target's
 *    certificate paths, i.e. external mode, which is what they are: a
 *    certificate managed outside the relay (operator, Secret,
 *    cert-manager);
 *  - www_folder: "" for the built-in site, the target's www directory
 *    for custom pages, "disabled" (a path that does not exist, upstream's
 *    way to skip the site) when the website is off;
 *  - turn_socket_path, mailboxes_dir, passdb_path: the spec's value or
 *    the target's layout;
 *  - our own options (nocreate_file, dkim_*, dns_server, notification
 *    URL) follow, after upstream's.
 *
 * Untrusted input: spec strings, validated by spec_validate; each is
 * checked again here to be one line (render_safe_value) before it is
 * written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "render/render.h"
#include "spec.h"
#include "spec_int.h"
#include "xmalloc.h"

/* ini_kv: one "key = value" line; -EINVAL if value could break the
 * file (a newline would start a new option) */
static int
ini_kv(struct buf *out, const char *key, const char *value, int *bad)
{
	const unsigned char *p;

	for (p = (const unsigned char *)value; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*bad = 1;
	if (*value == '\0')
		return buf_printf(out, "%s =\n", key);
	return buf_printf(out, "%s = %s\n", key, value);
}

/* ini_uint: one numeric option */
static int
ini_uint(struct buf *out, const char *key, unsigned long long v)
{
	return buf_printf(out, "%s = %llu\n", key, v);
}

/* self_signed_domain: upstream's rule for tls_cert_mode = self */
static int
self_signed_domain(const char *domain)
{
	return domain[0] == '_' || spec_is_ipv4(domain);
}

/* write_limits: the options of limits, retention and systemLimits */
static int
write_limits(const struct relay_spec *s, struct buf *out, int *bad)
{
	int r = 0;

	r |= ini_uint(out, "max_user_send_per_minute",
		      s->limits.max_user_send_per_minute);
	r |= ini_uint(out, "max_user_send_burst_size",
		      s->limits.max_user_send_burst_size);
	r |= ini_kv(out, "max_mailbox_size", s->limits.max_mailbox_size, bad);
	r |= ini_uint(out, "max_message_size", s->limits.max_message_size);
	r |= ini_uint(out, "delete_mails_after",
		      s->retention.delete_mails_after_days);
	r |= ini_uint(out, "delete_large_after",
		      s->retention.delete_large_after_days);
	r |= ini_uint(out, "delete_inactive_users_after",
		      s->retention.delete_inactive_users_after_days);
	r |= ini_uint(out, "username_min_length",
		      s->limits.username_min_length);
	r |= ini_uint(out, "username_max_length",
		      s->limits.username_max_length);
	r |= ini_uint(out, "password_min_length",
		      s->limits.password_min_length);
	r |= buf_printf(out, "max_load_1m = %.15g\n",
			s->system_limits.max_load_1m);
	r |= ini_kv(out, "min_available_memory",
		    s->system_limits.min_available_memory, bad);
	r |= ini_kv(out, "min_free_disk_space",
		    s->system_limits.min_free_disk_space, bad);
	r |= ini_uint(out, "max_imap_connections",
		      s->limits.max_imap_connections);
	r |= ini_uint(out, "max_smtp_connections",
		      s->limits.max_smtp_connections);
	return r;
}

/* write_deploy: TLS, website, network, iroh, mtail, IMAP, TURN, privacy */
static int
write_deploy(const struct relay_spec *s, const struct render_target *t,
	     struct buf *out, int *bad)
{
	char *v;
	int r = 0;

	if (s->tls.mode == SPEC_TLS_SELF_SIGNED &&
	    self_signed_domain(s->domain))
		v = xstrdup("");
	else
		v = xasprintf("%s %s", t->tls_cert, t->tls_key);
	r |= ini_kv(out, "tls_external_cert_and_key", v, bad);
	free(v);
	if (!s->website.enabled)
		r |= ini_kv(out, "www_folder", "disabled", bad);
	else if (*s->website.config_map_name != '\0')
		r |= ini_kv(out, "www_folder", t->www_dir, bad);
	else
		r |= ini_kv(out, "www_folder", "", bad);
	r |= ini_kv(out, "disable_ipv6",
		    s->network.disable_ipv6 ? "true" : "false", bad);
	r |= ini_kv(out, "acme_email", s->tls.acme_email, bad);
	if (!s->iroh.enabled)
		r |= ini_kv(out, "iroh_relay", s->iroh.url, bad);
	if (s->metrics.mtail_address != NULL)
		r |= ini_kv(out, "mtail_address", s->metrics.mtail_address,
			    bad);
	r |= ini_kv(out, "imap_rawlog", s->imap.rawlog ? "true" : "false", bad);
	r |= ini_kv(out, "imap_compress", s->imap.compress ? "true" : "false",
		    bad);
	if (*s->turn.socket_path != '\0') {
		r |= ini_kv(out, "turn_socket_path", s->turn.socket_path, bad);
	} else {
		r |= ini_kv(out, "turn_socket_path", t->sock[RENDER_SOCK_TURN],
			    bad);
	}
	r |= ini_kv(out, "privacy_postal", s->privacy.postal, bad);
	r |= ini_kv(out, "privacy_mail", s->privacy.mail, bad);
	r |= ini_kv(out, "privacy_pdo", s->privacy.pdo, bad);
	r |= ini_kv(out, "privacy_supervisor", s->privacy.supervisor, bad);
	return r;
}

/* write_ports_paths: internal ports, storage paths, hosts, our options */
static int
write_ports_paths(const struct relay_spec *s, const struct render_target *t,
		  struct buf *out, int *bad)
{
	char *v;
	const char *slash;
	int r = 0;

	r |= ini_uint(out, "filtermail_smtp_port", s->ports.filtermail_smtp);
	r |= ini_uint(out, "filtermail_smtp_port_incoming",
		      s->ports.filtermail_smtp_incoming);
	r |= ini_uint(out, "filtermail_http_port_incoming",
		      s->ports.filtermail_http_incoming);
	r |= ini_uint(out, "filtermail_lmtp_port_transport",
		      s->ports.filtermail_lmtp_transport);
	r |= ini_uint(out, "postfix_reinject_port", s->ports.postfix_reinject);
	r |= ini_uint(out, "postfix_reinject_port_incoming",
		      s->ports.postfix_reinject_incoming);
	if (*s->storage.mailboxes_dir != '\0')
		v = xstrdup(s->storage.mailboxes_dir);
	else
		v = xasprintf("%s/%s", t->vmail_dir, s->domain);
	r |= ini_kv(out, "mailboxes_dir", v, bad);
	free(v);
	if (*s->storage.passdb_path != '\0') {
		v = xstrdup(s->storage.passdb_path);
	} else {
		/* upstream: /home/vmail/passdb.sqlite beside /home/vmail/mail */
		slash = strrchr(t->vmail_dir, '/');
		v = xasprintf("%.*s/passdb.sqlite",
			      (int)(slash ? slash - t->vmail_dir : 0),
			      t->vmail_dir);
	}
	r |= ini_kv(out, "passdb_path", v, bad);
	free(v);
	r |= ini_kv(out, "filtermail_smtp_host", t->local_addr, bad);
	r |= ini_kv(out, "postfix_reinject_host", t->local_addr, bad);
	r |= buf_puts(out, "\n# chatmail-operator's own options "
			   "(upstream warns about them as unknown)\n");
	r |= ini_kv(out, "nocreate_file", t->nocreate_file, bad);
	r |= ini_kv(out, "notification_url", s->push.notification_url, bad);
	r |= ini_kv(out, "dkim_selector", s->dkim.selector, bad);
	r |= ini_kv(out, "dkim_key_file", t->dkim_key, bad);
	r |= ini_kv(out, "dns_server", t->dns_server, bad);
	return r;
}

/* spec_to_ini: chatmail.ini for spec s on target t */
int
spec_to_ini(const struct relay_spec *s, const struct render_target *t,
	    struct buf *out)
{
	int r = 0, bad = 0;

	r |= buf_printf(out,
			"# chatmail.ini rendered by chatmail-operator from "
			"ChatmailRelay %s%s%s; do not edit\n",
			s->namespace, *s->namespace ? "/" : "", s->name);
	r |= buf_puts(out, "[params]\n");
	r |= ini_kv(out, "mail_domain", s->domain, &bad);
	r |= write_limits(s, out, &bad);
	r |= write_deploy(s, t, out, &bad);
	r |= write_ports_paths(s, t, out, &bad);
	if (bad)
		return -EINVAL;
	return r < 0 ? -E2BIG : 0;
}

/* spec_to_config: the spec as the services will read it */
int
spec_to_config(const struct relay_spec *s, const struct render_target *t,
	       struct chatmail_config *cfg, struct buf *err)
{
	struct buf ini = BUF_INIT(64 * 1024);
	int r;

	r = spec_to_ini(s, t, &ini);
	if (r < 0) {
		(void)buf_printf(err, "chatmail.ini: a value does not fit on "
				      "one line\n");
		goto out;
	}
	r = config_load_string(cfg, buf_cstr(&ini), 0, err);
	if (r < 0)
		r = -EINVAL;
out:
	buf_deinit(&ini);
	return r;
}
