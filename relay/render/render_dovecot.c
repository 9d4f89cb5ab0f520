/*
 * render_dovecot: dovecot.conf, auth.conf and push_notification.lua of
 * a chatmail relay, for Debian 12's dovecot 2.3.19.
 *
 * Follows upstream's cmdeploy dovecot/dovecot.conf.j2, auth.conf and
 * push_notification.lua: dict passdb/userdb through doveauth, METADATA
 * through chatmail-metadata, last-login through lastlogin, zlib and
 * quota with the 75 % quota-warning that runs chatmail-quota-expire
 * down to 70 %, imap_capability +XDELTAPUSH XCHATMAIL, LMTP with the
 * Lua push hook, TLS >= 1.3 only, imap-login high-performance mode,
 * hibernation unless COMPRESS, rawlog and the OpenMetrics stats when
 * asked. Differences: every socket and directory comes from the
 * target (no /var/spool/postfix/private, no /run/<service>/), the
 * instance has its own base_dir/state_dir/log, and IMAP listens on the
 * target's address and ports.
 *
 * Untrusted input: none here (values checked by render_ctx_init).
 */
#include <errno.h>
#include <string.h>

#include "render.h"
#include "spec.h"

/* dc_head: instance, listeners, limits, auth */
static int
dc_head(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;
	const char *listen = *t->public_addr != '\0' ? t->public_addr
			     : c->cfg.disable_ipv6   ? "0.0.0.0"
						     : "*, ::";
	int r;

	r = buf_printf(
		out,
		"## Dovecot configuration of chatmail relay %s, rendered by "
		"chatmail-operator; do not edit.\n"
		"\n"
		"instance_name = dovecot-%s\n"
		"base_dir = %s\n"
		"state_dir = %s\n"
		"listen = %s\n"
		"log_path = %s%s\n"
		"\n"
		"protocols = imap lmtp\n"
		"\n"
		"auth_mechanisms = plain\n"
		"auth_username_chars = abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
		"KLMNOPQRSTUVWXYZ01234567890.-_@[]\n"
		"\n"
		"# Avoid client_limit warnings at max. load.\n"
		"default_client_limit = 20000\n"
		"\n"
		"# One imap process per logged-in connection.\n"
		"service imap {\n"
		"  process_limit = %u\n"
		"}\n"
		"\n",
		c->cfg.mail_domain, t->instance, t->dovecot_base_dir,
		t->dovecot_state_dir, listen, *t->log_dir ? t->log_dir : "",
		*t->log_dir ? "/dovecot.log" : "/dev/stderr",
		c->cfg.max_imap_connections);
	if (r == 0 && c->cfg.privacy_mail != NULL && *c->cfg.privacy_mail)
		r = buf_printf(out,
			       "# Advertised to clients as IMAP METADATA "
			       "/shared/admin (RFC 5464).\n"
			       "mail_server_admin = mailto:%s\n\n",
			       c->cfg.privacy_mail);
	if (r == 0 && *t->dovecot_login_user != '\0')
		r = buf_printf(out, "default_login_user = %s\n\n",
			       t->dovecot_login_user);
	return r;
}

/* dc_mail: plugins, auth, mail location, namespace */
static int
dc_mail(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;

	return buf_printf(
		out,
		"# zlib compresses stored messages; quota enforces the\n"
		"# mailbox size.\n"
		"mail_plugins = zlib quota\n"
		"\n"
		"imap_capability = +XDELTAPUSH XCHATMAIL\n"
		"\n"
		"# Accounts come from doveauth over the dict protocol.\n"
		"passdb {\n"
		"  driver = dict\n"
		"  args = %s/auth.conf\n"
		"}\n"
		"userdb {\n"
		"  driver = dict\n"
		"  args = %s/auth.conf\n"
		"}\n"
		"\n"
		"mail_location = maildir:%s/%%u\n"
		"mail_cache_max_size = 500K\n"
		"\n"
		"namespace inbox {\n"
		"  inbox = yes\n"
		"\n"
		"  mailbox Drafts {\n"
		"    special_use = \\Drafts\n"
		"  }\n"
		"  mailbox Junk {\n"
		"    special_use = \\Junk\n"
		"  }\n"
		"  mailbox Trash {\n"
		"    special_use = \\Trash\n"
		"  }\n"
		"  mailbox Sent {\n"
		"    special_use = \\Sent\n"
		"  }\n"
		"  mailbox \"Sent Messages\" {\n"
		"    special_use = \\Sent\n"
		"  }\n"
		"}\n"
		"\n"
		"mail_uid = %s\n"
		"mail_gid = %s\n"
		"mail_privileged_group = %s\n"
		"\n",
		t->dovecot_config_dir, t->dovecot_config_dir,
		c->cfg.mailboxes_dir, t->vmail_user, t->vmail_user,
		t->vmail_user);
}

/* dc_protocols: METADATA, last-login, LMTP with the push hook, zlib */
static int
dc_protocols(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;

	return buf_printf(
		out,
		"# IMAP METADATA goes to chatmail-metadata (dict protocol).\n"
		"mail_attribute_dict = proxy:%s:metadata\n"
		"\n"
		"protocol imap {\n"
		"  # chatmail_idle, chatmail-operator's plugin: IDLE reports\n"
		"  # new mail at once instead of 500 ms later.\n"
		"  mail_plugins = $mail_plugins imap_quota last_login "
		"chatmail_idle%s\n"
		"  imap_metadata = yes\n"
		"}\n"
		"\n"
		"plugin {\n"
		"  last_login_dict = proxy:%s:lastlogin\n"
		"  last_login_precision = s\n"
		"}\n"
		"\n"
		"protocol lmtp {\n"
		"  # notify is needed by push_notification; mail_lua and\n"
		"  # push_notification_lua run the Lua hook.\n"
		"  mail_plugins = $mail_plugins mail_lua notify "
		"push_notification push_notification_lua\n"
		"  mail_fsync = never\n"
		"}\n"
		"\n"
		"plugin {\n"
		"  zlib_save = gz\n"
		"}\n"
		"\n"
		"plugin {\n"
		"  imap_compress_deflate_level = 6\n"
		"}\n"
		"\n",
		t->sock[RENDER_SOCK_METADATA],
		c->cfg.imap_compress ? " imap_zlib" : "",
		t->sock[RENDER_SOCK_LASTLOGIN]);
}

/* dc_quota: quota, the 75 % warning and the quota-expire service */
static int
dc_quota(const struct render_ctx *c, struct buf *out)
{
	const struct chatmail_config *cfg = &c->cfg;
	const struct render_target *t = c->t;

	return buf_printf(
		out,
		"plugin {\n"
		"  quota = maildir:User quota\n"
		"  quota_max_mail_size = %llu\n"
		"  quota_grace = 0\n"
		"  quota_rule = *:storage=%lluM\n"
		"  # At 75%%%% of the quota, expire the oldest messages down "
		"to 70%%%%\n"
		"  # (below Delta Chat's own warnings at 80%% and 95%%).\n"
		"  quota_warning = storage=75%%%% quota-warning %llu %s/%%u\n"
		"}\n"
		"\n"
		"service quota-warning {\n"
		"  executable = script %s\n"
		"  user = %s\n"
		"  unix_listener quota-warning {\n"
		"    user = %s\n"
		"    mode = 0600\n"
		"  }\n"
		"}\n"
		"\n"
		"plugin {\n"
		"  push_notification_driver = lua:file=%s/"
		"push_notification.lua\n"
		"}\n"
		"\n",
		(unsigned long long)cfg->max_message_size,
		(unsigned long long)cfg->max_mailbox_size_mb,
		(unsigned long long)(cfg->max_mailbox_size_mb * 70 / 100),
		cfg->mailboxes_dir, t->quota_expire_bin, t->vmail_user,
		t->vmail_user, t->dovecot_config_dir);
}

/* dc_services: LMTP and auth sockets for Postfix, login processes */
static int
dc_services(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;

	return buf_printf(
		out,
		"service lmtp {\n"
		"  user = %s\n"
		"  unix_listener %s {\n"
		"    group = %s\n"
		"    mode = 0600\n"
		"    user = %s\n"
		"  }\n"
		"}\n"
		"\n"
		"lmtp_add_received_header = no\n"
		"\n"
		"service auth {\n"
		"  unix_listener %s {\n"
		"    mode = 0660\n"
		"    user = %s\n"
		"    group = %s\n"
		"  }\n"
		"}\n"
		"\n"
		"service auth-worker {\n"
		"  user = %s\n"
		"}\n"
		"\n"
		"service imap-login {\n"
		"  inet_listener imap {\n"
		"    port = %u\n"
		"  }\n"
		"  inet_listener imaps {\n"
		"    port = %u\n"
		"    ssl = yes\n"
		"  }\n"
		"  # High-performance mode: one process serves many\n"
		"  # connections, so thousands of logins after a restart "
		"work.\n"
		"  service_count = 0\n"
		"  vsz_limit = 1G\n"
		"  process_min_avail = 10\n"
		"}\n"
		"\n"
		"service anvil {\n"
		"  # No auth penalty: anvil only sees the proxy's address.\n"
		"  unix_listener anvil-auth-penalty {\n"
		"    mode = 0\n"
		"  }\n"
		"}\n"
		"\n"
		"ssl = required\n"
		"ssl_cert = <%s\n"
		"ssl_key = <%s\n"
		"ssl_dh = <%s\n"
		"ssl_min_protocol = TLSv1.3\n"
		"ssl_prefer_server_ciphers = yes\n"
		"\n",
		t->vmail_user, t->sock[RENDER_SOCK_LMTP], t->postfix_user,
		t->postfix_user, t->sock[RENDER_SOCK_AUTH], t->postfix_user,
		t->postfix_user, t->vmail_user, t->port[RENDER_PORT_IMAP],
		t->port[RENDER_PORT_IMAPS], t->tls_cert, t->tls_key,
		t->dh_file);
}

/* dc_optional: rawlog, hibernation */
static int
dc_optional(const struct render_ctx *c, struct buf *out)
{
	int r = 0;

	if (c->cfg.imap_rawlog)
		r = buf_puts(out, "service postlogin {\n"
				  "  executable = script-login -d rawlog\n"
				  "  unix_listener postlogin {\n"
				  "  }\n"
				  "}\n"
				  "service imap {\n"
				  "  executable = imap postlogin\n"
				  "}\n"
				  "protocol imap {\n"
				  "  # .in and .out protocol logs in the "
				  "user's home\n"
				  "  rawlog_dir = %h\n"
				  "  mail_fsync = never\n"
				  "}\n"
				  "\n");
	if (r == 0 && !c->cfg.imap_compress)
		r = buf_puts(out,
			     "# Hibernate IDLE connections after 30 s; they do "
			     "not count\n"
			     "# against the imap process limit (not with "
			     "COMPRESS).\n"
			     "imap_hibernate_timeout = 30s\n"
			     "service imap {\n"
			     "  unix_listener imap-master {\n"
			     "    user = $default_internal_user\n"
			     "  }\n"
			     "  extra_groups = $default_internal_group\n"
			     "}\n"
			     "service imap-hibernate {\n"
			     "  unix_listener imap-hibernate {\n"
			     "    mode = 0660\n"
			     "    group = $default_internal_group\n"
			     "  }\n"
			     "}\n"
			     "\n");
	return r;
}

/* the metrics upstream exports when mtail_address is set */
static const char dc_metrics[] =
	"metric imap_command {\n"
	"  filter = event=imap_command_finished\n"
	"  fields = bytes_in bytes_out lock_wait_usecs running_usecs\n"
	"  group_by = cmd_name tagged_reply_state\n"
	"}\n"
	"metric imap_command_duration {\n"
	"  filter = event=imap_command_finished\n"
	"  group_by = cmd_name duration:exponential:1:8:10\n"
	"}\n"
	"metric imap_command_slow {\n"
	"  filter = event=imap_command_finished AND duration>1000000 AND NOT "
	"cmd_name=IDLE\n"
	"  group_by = cmd_name\n"
	"}\n"
	"metric imap_idle {\n"
	"  filter = event=imap_command_finished AND cmd_name=IDLE\n"
	"  fields = bytes_in bytes_out running_usecs\n"
	"  group_by = tagged_reply_state\n"
	"}\n"
	"metric imap_idle_duration {\n"
	"  filter = event=imap_command_finished AND cmd_name=IDLE\n"
	"  group_by = duration:exponential:5:11:10\n"
	"}\n"
	"metric imap_idle_commands {\n"
	"  filter = event=imap_command_finished AND cmd_name=IDLE\n"
	"  group_by = tagged_reply_state\n"
	"}\n"
	"metric imap_idle_failed {\n"
	"  filter = event=imap_command_finished AND cmd_name=IDLE AND NOT "
	"tagged_reply_state=OK\n"
	"}\n"
	"metric imap_hibernated {\n"
	"  filter = event=imap_client_hibernated\n"
	"}\n"
	"metric imap_hibernated_failed {\n"
	"  filter = event=imap_client_hibernated AND error=*\n"
	"}\n"
	"metric imap_unhibernated {\n"
	"  filter = event=imap_client_unhibernated\n"
	"  fields = hibernation_usecs\n"
	"}\n"
	"metric imap_unhibernated_reason {\n"
	"  filter = event=imap_client_unhibernated\n"
	"  group_by = reason\n"
	"  fields = hibernation_usecs\n"
	"}\n"
	"metric imap_unhibernated_reason_sleep {\n"
	"  filter = event=imap_client_unhibernated\n"
	"  group_by = reason hibernation_usecs:exponential:4:8:10\n"
	"}\n"
	"metric imap_unhibernated_failed {\n"
	"  filter = event=imap_client_unhibernated AND error=*\n"
	"}\n"
	"metric imap_hibernation_duration {\n"
	"  filter = event=imap_client_unhibernated\n"
	"  group_by = reason duration:exponential:5:11:10\n"
	"}\n"
	"metric auth_request {\n"
	"  filter = event=auth_request_finished\n"
	"  group_by = success\n"
	"}\n"
	"metric auth_request_duration {\n"
	"  filter = event=auth_request_finished\n"
	"  group_by = success duration:exponential:2:6:10\n"
	"}\n"
	"metric auth_failed {\n"
	"  filter = event=auth_request_finished AND success=no\n"
	"}\n"
	"metric auth_passdb {\n"
	"  filter = event=auth_passdb_request_finished\n"
	"  group_by = result cache\n"
	"}\n"
	"metric auth_master_login {\n"
	"  filter = event=auth_master_client_login_finished\n"
	"}\n"
	"metric auth_master_login_failed {\n"
	"  filter = event=auth_master_client_login_finished AND error=*\n"
	"}\n"
	"metric mail_delivery {\n"
	"  filter = event=mail_delivery_finished\n"
	"}\n"
	"metric mail_delivery_duration {\n"
	"  filter = event=mail_delivery_finished\n"
	"  group_by = duration:exponential:3:7:10\n"
	"}\n"
	"metric mail_delivery_failed {\n"
	"  filter = event=mail_delivery_finished AND error=*\n"
	"}\n"
	"metric client_connected {\n"
	"  filter = event=client_connection_connected AND "
	"category=\"service:imap\"\n"
	"}\n"
	"metric client_disconnected {\n"
	"  filter = event=client_connection_disconnected AND "
	"category=\"service:imap\"\n"
	"  fields = bytes_in bytes_out\n"
	"}\n";

/* dc_stats: Dovecot's OpenMetrics exporter with upstream's metrics: on
 * mtail_address as upstream, and in the Pod always on loopback too,
 * where chatmail-exporter reads it (docs/DESIGN.md, Metrics) */
static int
dc_stats(const struct render_ctx *c, struct buf *out)
{
	const char *mtail = c->cfg.mtail_address;
	const char *lo = c->t->kind == RENDER_POD ? c->t->local_addr : NULL;
	unsigned port = c->t->port[RENDER_PORT_DOVECOT_STATS];

	if (mtail == NULL && lo == NULL)
		return 0;
	if (mtail != NULL && lo != NULL && strcmp(mtail, lo) == 0)
		lo = NULL;
	return buf_printf(out,
			  "# OpenMetrics at http://%s:%u/metrics\n"
			  "service stats {\n"
			  "  inet_listener http {\n"
			  "    port = %u\n"
			  "    address = %s%s%s\n"
			  "  }\n"
			  "}\n"
			  "%s",
			  lo != NULL ? lo : mtail, port, port,
			  lo != NULL ? lo : "", lo != NULL && mtail ? " " : "",
			  mtail != NULL ? mtail : "", dc_metrics);
}

/* render_dovecot_conf: dovecot.conf */
int
render_dovecot_conf(const struct render_ctx *c, struct buf *out)
{
	int r;

	r = dc_head(c, out);
	if (r == 0)
		r = dc_mail(c, out);
	if (r == 0)
		r = dc_protocols(c, out);
	if (r == 0)
		r = dc_quota(c, out);
	if (r == 0)
		r = dc_services(c, out);
	if (r == 0)
		r = dc_optional(c, out);
	if (r == 0)
		r = dc_stats(c, out);
	return r < 0 ? -E2BIG : 0;
}

/* render_dovecot_auth_conf: the dict passdb/userdb settings */
int
render_dovecot_auth_conf(const struct render_ctx *c, struct buf *out)
{
	int r;

	r = buf_printf(
		out,
		"uri = proxy:%s:auth\n"
		"iterate_disable = no\n"
		"iterate_prefix = userdb/\n"
		"\n"
		"default_pass_scheme = plain\n"
		"# %%E escapes \" ' and \\ with a backslash; the user's input\n"
		"# is escaped and a double quote separates password and user.\n"
		"password_key = passdb/%%Ew\"%%Eu\n"
		"user_key = userdb/%%Eu\n",
		c->t->sock[RENDER_SOCK_DOVEAUTH]);
	return r < 0 ? -E2BIG : 0;
}

/* render_dovecot_push_lua: the LMTP hook that tells chatmail-metadata
 * about every incoming message (not self-sent ones) */
int
render_dovecot_push_lua(const struct render_ctx *c, struct buf *out)
{
	int r;

	(void)c;
	r = buf_puts(out,
		     "-- Dovecot LMTP push hook of a chatmail relay, rendered "
		     "by chatmail-operator.\n"
		     "function dovecot_lua_notify_begin_txn(user)\n"
		     "  return user\n"
		     "end\n"
		     "\n"
		     "function dovecot_lua_notify_event_message_new(user, "
		     "event)\n"
		     "  local mbox = user:mailbox(event.mailbox)\n"
		     "  mbox:sync()\n"
		     "\n"
		     "  if user.username ~= event.from_address then\n"
		     "    -- incoming message: the metadata write makes\n"
		     "    -- chatmail-metadata send a push notification\n"
		     "    mbox:metadata_set(\"/private/messagenew\", \"\")\n"
		     "  end\n"
		     "\n"
		     "  mbox:free()\n"
		     "end\n"
		     "\n"
		     "function dovecot_lua_notify_end_txn(ctx, success)\n"
		     "end\n");
	return r < 0 ? -E2BIG : 0;
}
