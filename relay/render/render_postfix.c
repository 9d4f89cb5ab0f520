/*
 * render_postfix: Postfix main.cf, master.cf and the four map files of
 * a chatmail relay, for Debian 12's postfix 3.7.
 *
 * Follows upstream's cmdeploy postfix/main.cf.j2 and master.cf.j2
 * setting by setting (restrictions, TLS levels per service, size limits,
 * maxproc, smtpd_proxy_filter to filtermail, reinject services,
 * authclean cleanup, header cleanup maps, remote delivery through
 * filtermail transport: default_transport = lmtp-filtermail:... and the
 * lmtp-filtermail service). Differences (docs/UPSTREAM.md, Postfix, DKIM
 * and Remote delivery), or from the spec or the target:
 *  - delivery.mode PostfixSMTP: Postfix's own smtp client delivers
 *    remote mail (default_transport not overridden; verified TLS, SNI
 *    and smtp_tls_policy_map as upstream before filtermail transport),
 *    no lmtp-filtermail service;
 *  - no OpenDKIM: filtermail outgoing cleans the header as authclean
 *    does and signs before reinjecting, so no smtpd_milters on the
 *    reinject service, which also gets local_header_rewrite_clients
 *    empty (cleanup then rewrites no header address and adds no
 *    header after signing); disable_mime_output_conversion keeps
 *    8-bit bodies as signed; bounces are signed by filtermail
 *    outgoing's milter (non_smtpd_milters on filtermail_milter_port,
 *    as upstream's OpenDKIM; not for IPv4 relays, as upstream);
 *  - no chroot (sockets are absolute paths in the target's run_dir),
 *    no alias maps (local(8) is never used: local_transport is LMTP),
 *    logs through postlogd to a file or stdout instead of syslog;
 *  - listeners, ports, paths from the target.
 *
 * Untrusted input: none here (values checked by render_ctx_init).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "render.h"
#include "spec.h"

/* listen: "[addr:]port" of a public listener into out */
static void
listen_spec(const struct render_target *t, unsigned port, char *out,
	    size_t outsize)
{
	if (*t->public_addr != '\0')
		(void)snprintf(out, outsize, "%s:%u", t->public_addr, port);
	else
		(void)snprintf(out, outsize, "%u", port);
}

/* main_tls: TLS server and client settings */
static int
main_tls(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;
	int r;

	r = buf_printf(
		out,
		"# TLS parameters\n"
		"smtpd_tls_cert_file = %s\n"
		"smtpd_tls_key_file = %s\n"
		"smtpd_tls_security_level = may\n"
		"\n"
		"# Postfix's smtp client (delivery mode PostfixSMTP, and any\n"
		"# other smtp use): verified TLS; the policy map relaxes it "
		"for\n"
		"# IP literals and \"_\" domains (self-signed relays) and "
		"nauta.cu.\n"
		"smtp_tls_CApath = /etc/ssl/certs\n"
		"smtp_tls_security_level = verify\n"
		"# Send SNI when connecting to other servers.\n"
		"smtp_tls_servername = hostname\n"
		"smtp_tls_session_cache_database = "
		"btree:${data_directory}/smtp_scache\n"
		"smtp_tls_policy_maps = regexp:%s/smtp_tls_policy_map\n"
		"smtp_tls_protocols = >=TLSv1.2\n"
		"smtp_tls_mandatory_protocols = >=TLSv1.2\n"
		"# Log the TLS of each delivery Postfix makes itself.\n"
		"smtp_tls_loglevel = 1\n"
		"\n"
		"# Disable anonymous cipher suites and known insecure "
		"algorithms.\n"
		"smtpd_tls_exclude_ciphers = aNULL, RC4, MD5, DES\n"
		"# Prefer the server's cipher order (forward secrecy first).\n"
		"tls_preempt_cipherlist = yes\n"
		"\n",
		t->tls_cert, t->tls_key, t->postfix_config_dir);
	/* tls.peerCABundle: trusted besides CApath's system store */
	if (r < 0 || *c->spec->tls.peer_ca_bundle == '\0')
		return r;
	return buf_printf(out,
			  "# CAs trusted for outgoing TLS besides the "
			  "system's\n# (tls.peerCABundle)\n"
			  "smtp_tls_CAfile = %s\n\n",
			  t->peer_ca_file);
}

/* main_instance: where this instance's files and logs are */
static int
main_instance(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;
	int r;

	r = buf_printf(out,
		       "# This instance's directories\n"
		       "queue_directory = %s\n"
		       "data_directory = %s\n"
		       "mail_owner = %s\n",
		       t->postfix_queue_dir, t->postfix_data_dir,
		       t->postfix_user);
	if (r < 0)
		return r;
	if (*t->log_dir != '\0')
		return buf_printf(out,
				  "maillog_file = %s/postfix.log\n"
				  "maillog_file_prefixes = %s\n\n",
				  t->log_dir, t->log_dir);
	return buf_puts(out, "maillog_file = /dev/stdout\n\n");
}

/* main_delivery: domains, transports, networks and limits */
static int
main_delivery(const struct render_ctx *c, struct buf *out)
{
	const struct chatmail_config *cfg = &c->cfg;
	const struct render_target *t = c->t;
	const char *nets = cfg->disable_ipv6
				   ? "127.0.0.0/8"
				   : "127.0.0.0/8 [::ffff:127.0.0.0]/104 "
				     "[::1]/128";

	return buf_printf(
		out,
		"# Reject by default, override per smtpd in master.cf\n"
		"smtpd_relay_restrictions = reject\n"
		"myhostname = %s\n"
		"# local(8) is never used (local_transport is LMTP)\n"
		"alias_maps =\n"
		"alias_database =\n"
		"\n"
		"# Mail for $mydestination goes to Dovecot over LMTP.\n"
		"mydestination = %s\n"
		"local_transport = lmtp:unix:%s\n"
		"# Postfix does not check whether local users exist; Dovecot\n"
		"# LMTP rejects unknown users.\n"
		"local_recipient_maps =\n"
		"\n"
		"relayhost =\n"
		"mynetworks = %s\n"
		"mailbox_size_limit = 0\n"
		"message_size_limit = %llu\n"
		"recipient_delimiter = +\n"
		"# every listener names its address in master.cf; \"all\" "
		"also\n"
		"# lets the smtp client pick its source address\n"
		"inet_interfaces = all\n"
		"inet_protocols = %s\n"
		"\n"
		"lmtp_header_checks = regexp:%s/lmtp_header_cleanup\n"
		"\n"
		"# Header checks only on the top-level headers, not on MIME\n"
		"# headers inside the body.\n"
		"disable_mime_input_processing = yes\n"
		"# Mail leaves DKIM-signed: never re-encode 8-bit content for\n"
		"# a server without 8BITMIME (that would break the body "
		"hash).\n"
		"disable_mime_output_conversion = yes\n"
		"\n",
		cfg->postfix_myhostname, cfg->mail_domain,
		t->sock[RENDER_SOCK_LMTP], nets,
		(unsigned long long)cfg->max_message_size,
		cfg->disable_ipv6 ? "ipv4" : "all", t->postfix_config_dir);
}

/* main_transport: delivery mode Transport: every non-local message to
 * filtermail transport over LMTP, as upstream (LMTP gives a status per
 * recipient); Postfix's per-destination scheduler sees one destination
 * there, so its concurrency limits are lifted as upstream does */
static int
main_transport(const struct render_ctx *c, struct buf *out)
{
	if (c->spec->delivery.mode != SPEC_DELIVERY_TRANSPORT)
		return 0;
	return buf_printf(
		out,
		"# Remote delivery: filtermail transport (HTTPS /mxdeliv, "
		"then\n"
		"# SMTP), one LMTP status per recipient.\n"
		"default_transport = lmtp-filtermail:inet:[%s]:%u\n"
		"lmtp-filtermail_initial_destination_concurrency = 10000\n"
		"lmtp-filtermail_destination_concurrency_limit = 10000\n"
		"\n",
		c->t->local_addr, c->cfg.filtermail_lmtp_port_transport);
}

/* main_milter: the mail Postfix generates (bounces) DKIM-signed by
 * filtermail's milter, as upstream does with OpenDKIM (1.11.0); IPv4
 * relays sign nothing, so they get no milter (as upstream) */
static int
main_milter(const struct render_ctx *c, struct buf *out)
{
	if (c->cfg.ipv4_relay)
		return 0;
	return buf_printf(
		out,
		"# Bounces and other mail Postfix generates itself are "
		"DKIM-signed\n"
		"# by filtermail outgoing's milter; while it is down, bounces "
		"wait\n"
		"# (milter_default_action = tempfail) rather than leave "
		"unsigned.\n"
		"non_smtpd_milters = inet:%s:%u\n"
		"internal_mail_filter_classes = bounce\n"
		"milter_macro_daemon_name = ORIGINATING\n"
		"\n",
		c->t->local_addr, c->cfg.filtermail_milter_port);
}

/* main_restrictions: the MUA restriction classes and the rest */
static int
main_restrictions(const struct render_ctx *c, struct buf *out)
{
	return buf_printf(
		out,
		"mua_client_restrictions = permit_sasl_authenticated, reject\n"
		"mua_sender_restrictions = reject_sender_login_mismatch, "
		"permit_sasl_authenticated, reject\n"
		"mua_helo_restrictions = permit_mynetworks, "
		"reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname, "
		"permit\n"
		"\n"
		"# 1:1 map MAIL FROM to SASL login name.\n"
		"smtpd_sender_login_maps = regexp:%s/login_map\n"
		"\n"
		"# Do not look up SMTP client hostnames.\n"
		"smtpd_peername_lookup = no\n"
		"\n"
		"# SMTP smuggling: only <CR><LF>.<CR><LF> ends DATA and a\n"
		"# bare <LF> is refused, as filtermail's own parser does; no\n"
		"# exclusions (nginx's ALPN smtp clients come from "
		"loopback).\n"
		"smtpd_forbid_bare_newline = reject\n"
		"smtpd_forbid_bare_newline_exclusions =\n"
		"\n"
		"# Do not try to deliver messages for more than 2 days (and\n"
		"# bounces no longer, which Postfix would otherwise warn "
		"about).\n"
		"maximal_queue_lifetime = 2d\n"
		"bounce_queue_lifetime = 2d\n",
		c->t->postfix_config_dir);
}

/* render_postfix_main_cf: main.cf */
int
render_postfix_main_cf(const struct render_ctx *c, struct buf *out)
{
	int r;

	r = buf_printf(out,
		       "# Postfix main.cf of chatmail relay %s, rendered by "
		       "chatmail-operator; do not edit.\n"
		       "compatibility_level = 3.6\n"
		       "myorigin = %s\n"
		       "smtpd_banner = $myhostname ESMTP $mail_name "
		       "(Debian/GNU)\n"
		       "biff = no\n"
		       "# appending .domain is the MUA's job.\n"
		       "append_dot_mydomain = no\n"
		       "readme_directory = no\n"
		       "\n",
		       c->cfg.mail_domain, c->cfg.mail_domain);
	if (r == 0)
		r = main_instance(c, out);
	if (r == 0)
		r = main_tls(c, out);
	if (r == 0)
		r = main_delivery(c, out);
	if (r == 0)
		r = main_transport(c, out);
	if (r == 0)
		r = main_milter(c, out);
	if (r == 0)
		r = main_restrictions(c, out);
	return r < 0 ? -E2BIG : 0;
}

/* master_mua: submission (587, STARTTLS) or smtps (465, TLS) */
static int
master_mua(const struct render_ctx *c, struct buf *out, int wrapper)
{
	const struct render_target *t = c->t;
	unsigned maxproc = c->cfg.max_smtp_connections;
	char lis[128];

	listen_spec(t,
		    wrapper ? t->port[RENDER_PORT_SMTPS]
			    : t->port[RENDER_PORT_SUBMISSION],
		    lis, sizeof(lis));
	return buf_printf(
		out,
		"%-9s inet  n       -       n       -       %-5u   smtpd\n"
		"  -o syslog_name=postfix/%s\n"
		"%s"
		"  -o smtpd_tls_security_level=encrypt\n"
		"  -o smtpd_tls_mandatory_protocols=>=TLSv1.3\n"
		"  -o smtpd_sasl_auth_enable=yes\n"
		"  -o smtpd_sasl_type=dovecot\n"
		"  -o smtpd_sasl_path=%s\n"
		"%s"
		"  -o smtpd_reject_unlisted_recipient=no\n"
		"  -o smtpd_client_restrictions=$mua_client_restrictions\n"
		"  -o smtpd_helo_restrictions=$mua_helo_restrictions\n"
		"  -o smtpd_sender_restrictions=$mua_sender_restrictions\n"
		"  -o smtpd_recipient_restrictions=\n"
		"  -o smtpd_relay_restrictions=permit_sasl_authenticated,"
		"reject\n"
		"  -o smtpd_client_connection_count_limit=%u\n"
		"  -o smtpd_proxy_filter=%s:%u\n",
		lis, maxproc, wrapper ? "smtps" : "submission",
		wrapper ? "  -o smtpd_tls_wrappermode=yes\n" : "",
		t->sock[RENDER_SOCK_AUTH],
		wrapper ? "" : "  -o smtpd_tls_auth_only=yes\n", maxproc / 5,
		t->local_addr, c->cfg.filtermail_smtp_port);
}

/* the services every Postfix needs, Debian's defaults without chroot */
static const char master_standard[] =
	"pickup    unix  n       -       n       60      1       pickup\n"
	"cleanup   unix  n       -       n       -       0       cleanup\n"
	"qmgr      unix  n       -       n       300     1       qmgr\n"
	"tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n"
	"rewrite   unix  -       -       n       -       -       "
	"trivial-rewrite\n"
	"bounce    unix  -       -       n       -       0       bounce\n"
	"defer     unix  -       -       n       -       0       bounce\n"
	"trace     unix  -       -       n       -       0       bounce\n"
	"verify    unix  -       -       n       -       1       verify\n"
	"flush     unix  n       -       n       1000?   0       flush\n"
	"proxymap  unix  -       -       n       -       -       proxymap\n"
	"proxywrite unix -       -       n       -       1       proxymap\n"
	"smtp      unix  -       -       n       -       -       smtp\n"
	"relay     unix  -       -       n       -       -       smtp\n"
	"        -o syslog_name=postfix/$service_name\n"
	"showq     unix  n       -       n       -       -       showq\n"
	"error     unix  -       -       n       -       -       error\n"
	"retry     unix  -       -       n       -       -       error\n"
	"discard   unix  -       -       n       -       -       discard\n"
	"lmtp      unix  -       -       n       -       -       lmtp\n"
	"anvil     unix  -       -       n       -       1       anvil\n"
	"scache    unix  -       -       n       -       1       scache\n"
	"postlog   unix-dgram n  -       n       -       1       postlogd\n";

/* the LMTP client that feeds filtermail transport (delivery mode
 * Transport), as upstream's: at most 500 at once, the DKIM-Signature
 * kept (no lmtp_header_checks), no TLS on loopback */
static const char master_lmtp_filtermail[] =
	"\n"
	"# Remote delivery through filtermail transport.\n"
	"lmtp-filtermail unix  -       -       n       -       500     lmtp\n"
	"  -o syslog_name=postfix/lmtp-filtermail\n"
	"  -o lmtp_header_checks=\n"
	"  -o lmtp_tls_security_level=none\n";

/* master_reinject: the two loopback smtpd services and authclean */
static int
master_reinject(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;

	return buf_printf(
		out,
		"# Local SMTP server for reinjecting outgoing filtered mail.\n"
		"# filtermail outgoing has cleaned the header as authclean "
		"does\n"
		"# and DKIM-signed the result; no header address rewriting "
		"and\n"
		"# no added headers (it added Date and Message-ID if "
		"missing),\n"
		"# so nothing changes after signing.\n"
		"%s:%u inet  n       -       n       -       100      smtpd\n"
		"  -o syslog_name=postfix/reinject\n"
		"  -o milter_macro_daemon_name=ORIGINATING\n"
		"  -o cleanup_service_name=authclean\n"
		"  -o local_header_rewrite_clients=\n"
		"  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
		"\n"
		"# Local SMTP server for reinjecting incoming filtered mail\n"
		"%s:%u inet  n       -       n       -       100      smtpd\n"
		"  -o syslog_name=postfix/reinject_incoming\n"
		"  -o smtpd_relay_restrictions=reject_unauth_destination\n"
		"\n"
		"# Cleanup for authenticated mail: strip Received and other\n"
		"# headers that leak the client, and replace the Subject with\n"
		"# [...] so users cannot send an unprotected Subject "
		"(filtermail\n"
		"# did the same before signing: kept as defense in depth).\n"
		"authclean unix  n       -       n       -       0       "
		"cleanup\n"
		"  -o header_checks=regexp:%s/submission_header_cleanup\n",
		t->local_addr, c->cfg.postfix_reinject_port, t->local_addr,
		c->cfg.postfix_reinject_port_incoming, t->postfix_config_dir);
}

/* render_postfix_master_cf: master.cf */
int
render_postfix_master_cf(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;
	char lis[128];
	int r;

	listen_spec(t, t->port[RENDER_PORT_SMTP], lis, sizeof(lis));
	r = buf_printf(
		out,
		"# Postfix master.cf of chatmail relay %s, rendered by "
		"chatmail-operator; do not edit.\n"
		"# ==================================================="
		"=======================\n"
		"# service type  private unpriv  chroot  wakeup  maxproc "
		"command + args\n"
		"#               (yes)   (yes)   (no)    (never) (100)\n"
		"# ==================================================="
		"=======================\n"
		"%-9s inet  n       -       n       -       -       smtpd\n"
		"  -o smtpd_tls_security_level=encrypt\n"
		"  -o smtpd_tls_mandatory_protocols=>=TLSv1.2\n"
		"  -o smtpd_proxy_filter=%s:%u\n"
		"  -o smtpd_relay_restrictions=reject_unauth_destination\n",
		c->cfg.mail_domain, lis, t->local_addr,
		c->cfg.filtermail_smtp_port_incoming);
	if (r == 0)
		r = master_mua(c, out, 0);
	if (r == 0)
		r = master_mua(c, out, 1);
	if (r == 0)
		r = buf_puts(out, master_standard);
	if (r == 0)
		r = master_reinject(c, out);
	if (r == 0 && c->spec->delivery.mode == SPEC_DELIVERY_TRANSPORT)
		r = buf_puts(out, master_lmtp_filtermail);
	return r < 0 ? -E2BIG : 0;
}

/* render_postfix_maps: one of the map files, as upstream ships them */
int
render_postfix_maps(const struct render_ctx *c, const char *name,
		    struct buf *out)
{
	(void)c;
	if (strcmp(name, "login_map") == 0)
		return buf_puts(out, "/^(.*)$/\t${1}\n");
	if (strcmp(name, "submission_header_cleanup") == 0)
		return buf_puts(out, "/^Received:/            IGNORE\n"
				     "/^X-Originating-IP:/    IGNORE\n"
				     "/^X-Mailer:/            IGNORE\n"
				     "/^User-Agent:/          IGNORE\n"
				     "/^Subject:/             REPLACE "
				     "Subject: [...]\n");
	if (strcmp(name, "lmtp_header_cleanup") == 0)
		return buf_puts(out, "/^DKIM-Signature:/            IGNORE\n"
				     "/^Authentication-Results:/    IGNORE\n"
				     "/^Received:/                  IGNORE\n");
	if (strcmp(name, "smtp_tls_policy_map") == 0)
		return buf_puts(out, "/^\\[[^]]+\\]$/ encrypt\n"
				     "/^_/          encrypt\n"
				     "/^nauta\\.cu$/    may\n");
	return -EINVAL;
}
