/*
 * config_opts: the chatmail.ini option table (config_opts.h says who
 * reads it and how to add an option). Defaults are upstream's, written
 * as chatmail.ini spells them; they go through the same setter as file
 * values (config.c), so a default that breaks its own range aborts the
 * first config_init.
 *
 * Ranges are ours (upstream checks none) and are also the ChatmailRelay
 * CRD's (relay/spec_table.c takes them from here): what the apiserver
 * accepts, the services accept. Notable ones: max_smtp_connections >= 5
 * (Postfix's per-client limit is a fifth of it, and 0 would mean
 * unlimited); max_message_size 1 KiB..1 GiB; socket paths fit sun_path
 * (107 bytes); privacy texts 1024 bytes (the CRD's CEL rules read them).
 *
 * Untrusted input: none (a constant table).
 */
#include "config_opts.h"

#include <string.h>

#include "config.h"
#include "config_int.h"

#define F(field) offsetof(struct chatmail_config, field)
#define PORT(name, def, flags)                                          \
	{                                                               \
#name, OPT_UINT, def, 1, 65535, F(name), 0, flags, NULL \
	}
#define DAYS(name, def)                                             \
	{                                                           \
#name, OPT_UINT, def, 1, 36500, F(name), 0, 0, NULL \
	}
#define COUNT(name, def, min, max)                                  \
	{                                                           \
#name, OPT_UINT, def, min, max, F(name), 0, 0, NULL \
	}
#define BOOL(name)                                                  \
	{                                                           \
#name, OPT_BOOL, "false", 0, 1, F(name), 0, 0, NULL \
	}
#define SIZE(name, def, min)                                                   \
	{                                                                      \
#name, OPT_SIZE, def, min, SIZE_MAX_MB, F(name), F(name##_mb), \
			0, NULL                                                \
	}
#define STR(name, def, min, max, flags, check)                          \
	{                                                               \
#name, OPT_STR, def, min, max, F(name), 0, flags, check \
	}
#define SIZE_MAX_MB ((uint64_t)1 << 30) /* a petabyte, in MB */

const struct config_opt config_opts[] = {
	STR(mail_domain, NULL, 1, 253, 0, config_check_domain),
	COUNT(max_user_send_per_minute, "60", 1, 1000000),
	COUNT(max_user_send_burst_size, "10", 1, 1000000),
	SIZE(max_mailbox_size, "500M", 1),
	{ "max_message_size", OPT_U64, "31457280", 1024, (uint64_t)1 << 30,
	  F(max_message_size), 0, 0, NULL },
	DAYS(delete_mails_after, "20"),
	DAYS(delete_large_after, "7"),
	DAYS(delete_inactive_users_after, "90"),
	COUNT(username_min_length, "9", 1, 64),
	COUNT(username_max_length, "9", 1, 64),
	COUNT(password_min_length, "9", 1, 256),
	{ "max_load_1m", OPT_DOUBLE, "5", 0, 1000000, F(max_load_1m), 0, 0,
	  NULL },
	SIZE(min_available_memory, "200M", 0),
	SIZE(min_free_disk_space, "1G", 0),
	COUNT(max_imap_connections, "10000", 1, 1000000),
	COUNT(max_smtp_connections, "1000", 5, 100000),
	STR(tls_external_cert_and_key, "", 0, 8192, 0, config_check_tls_pair),
	STR(www_folder, "", 0, 4096, 0, NULL),
	BOOL(disable_ipv6),
	STR(acme_email, "", 0, 254, 0, NULL),
	/* unset: the local iroh-relay runs (config.h) */
	STR(iroh_relay, NULL, 0, 2048, 0, NULL),
	/* an IP address; unset or empty: no metrics listener */
	STR(mtail_address, NULL, 0, 45, OF_EMPTY_NULL, NULL),
	BOOL(imap_rawlog),
	BOOL(imap_compress),
	STR(turn_socket_path, "/run/chatmail-turn/turn.socket", 1, 107, 0,
	    NULL),
	STR(privacy_postal, "", 0, 1024, OF_MULTILINE, NULL),
	STR(privacy_mail, "", 0, 254, 0, NULL),
	STR(privacy_pdo, "", 0, 1024, OF_MULTILINE, NULL),
	STR(privacy_supervisor, "", 0, 1024, OF_MULTILINE, NULL),
	PORT(filtermail_smtp_port, "10080", 0),
	PORT(filtermail_smtp_port_incoming, "10081", 0),
	PORT(filtermail_http_port_incoming, "10082", 0),
	PORT(filtermail_lmtp_port_transport, "10083", 0),
	PORT(postfix_reinject_port, "10025", 0),
	PORT(postfix_reinject_port_incoming, "10026", 0),
	/* unset: /home/vmail/mail/<domain> (config.h) */
	STR(mailboxes_dir, NULL, 1, 3800, OF_PATH, NULL),
	STR(passdb_path, "/home/vmail/passdb.sqlite", 1, 4095, OF_PATH, NULL),
	STR(filtermail_smtp_host, "127.0.0.1", 1, 255, 0, NULL),
	STR(postfix_reinject_host, "127.0.0.1", 1, 255, 0, NULL),

	STR(nocreate_file, "/etc/chatmail-nocreate", 1, 4095, OF_OURS | OF_PATH,
	    NULL),
	STR(notification_url, "https://notifications.delta.chat/notify", 1,
	    2048, OF_OURS, config_check_url),
	STR(dkim_selector, "opendkim", 1, 63, OF_OURS, config_check_name),
	/* empty (the default, as on an upstream host, where OpenDKIM
	 * signs): filtermail signs nothing; a path: filtermail outgoing
	 * signs with that key and refuses to start without it */
	STR(dkim_key_file, "", 0, 4095, OF_OURS | OF_PATH, NULL),
	/* empty: the system resolver; else IP[:port] */
	STR(dns_server, "", 0, 255, OF_OURS, NULL),
	/* empty: the built-in copy */
	STR(appversions_file, "", 0, 4095, OF_OURS, NULL),
	/* filtermail outgoing's milter for Postfix-generated bounces;
	 * unset (0, the default: nothing of upstream's listens on 10084):
	 * no milter */
	PORT(filtermail_milter_port, NULL, OF_OURS),
	/* empty: the turn METADATA answer names mail_domain, as upstream;
	 * else this host (a TURN server on a node's own address) */
	STR(turn_hostname, "", 0, 253, OF_OURS, config_check_domain),
};

const size_t config_nopts = sizeof(config_opts) / sizeof(config_opts[0]);

/* config_opt_find: the option with this key, or NULL */
const struct config_opt *
config_opt_find(const char *name)
{
	size_t i;

	for (i = 0; i < config_nopts; i++)
		if (strcmp(config_opts[i].name, name) == 0)
			return &config_opts[i];
	return NULL;
}
