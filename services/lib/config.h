/*
 * config: chatmail.ini, the one configuration file of a relay.
 *
 * Reads upstream's format (section [params], key = value, # and ;
 * comments) with upstream's defaults (chatmaild config.py), so the same
 * file drives upstream's services and ours. One table lists every
 * option {name, type, default, min, max}; every value is validated at
 * load time and every problem is reported (not just the first). Unknown
 * keys are kept in `unknown` and reported as warnings, like upstream.
 *
 * Options marked "ours" are not upstream's; upstream ignores them (with
 * its unknown-key warning). Every option can be overridden from the
 * environment as CHATMAIL_<UPPERCASE_NAME> (e.g. CHATMAIL_MAILBOXES_DIR),
 * which the container images use.
 */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "buf.h"

enum tls_cert_mode {
	TLS_CERT_ACME,	   /* Let's Encrypt via acmetool (upstream default) */
	TLS_CERT_SELF,	   /* domain starts with '_' or is an IPv4 address */
	TLS_CERT_EXTERNAL, /* tls_external_cert_and_key = CERT KEY */
};

struct chatmail_config {
	/* upstream options (reference §2.10), in upstream's order */
	char *mail_domain; /* "[1.2.3.4]" when given an IPv4 address */
	unsigned max_user_send_per_minute;    /* 60 */
	unsigned max_user_send_burst_size;    /* 10 */
	char *max_mailbox_size;		      /* "500M" as written */
	uint64_t max_message_size;	      /* 31457280 bytes */
	unsigned delete_mails_after;	      /* 20 days */
	unsigned delete_large_after;	      /* 7 days */
	unsigned delete_inactive_users_after; /* 90 days */
	unsigned username_min_length;	      /* 9 */
	unsigned username_max_length;	      /* 9 */
	unsigned password_min_length;	      /* 9 */
	double max_load_1m;		      /* 5 */
	char *min_available_memory;	      /* "200M" */
	char *min_free_disk_space;	      /* "1G" */
	unsigned max_imap_connections;	      /* 10000 */
	unsigned max_smtp_connections;	      /* 1000 */
	char *tls_external_cert_and_key;      /* "" or "CERT KEY" */
	char *www_folder;		      /* "" */
	int disable_ipv6;		      /* false */
	char *acme_email;		      /* "" */
	char *iroh_relay;		      /* NULL when unset (see below) */
	char *mtail_address;		      /* NULL when unset */
	int imap_rawlog;		      /* false */
	int imap_compress;		      /* false */
	char *turn_socket_path; /* /run/chatmail-turn/turn.socket */
	char *privacy_postal, *privacy_mail, *privacy_pdo, *privacy_supervisor;
	unsigned filtermail_smtp_port;		 /* 10080 */
	unsigned filtermail_smtp_port_incoming;	 /* 10081 */
	unsigned filtermail_http_port_incoming;	 /* 10082 */
	unsigned filtermail_lmtp_port_transport; /* 10083 */
	unsigned postfix_reinject_port;		 /* 10025 */
	unsigned postfix_reinject_port_incoming; /* 10026 */
	char *mailboxes_dir; /* /home/vmail/mail/<mail_domain_bare> */
	char *passdb_path;   /* /home/vmail/passdb.sqlite */
	/* filtermail split deployments (upstream filtermail's names;
	 * "filtermail_host"/"postfix_host" accepted as aliases) */
	char *filtermail_smtp_host;  /* 127.0.0.1: where filtermail listens */
	char *postfix_reinject_host; /* 127.0.0.1: where it reinjects */

	/* ours */
	char *nocreate_file;	/* /etc/chatmail-nocreate */
	char *notification_url; /* https://notifications.delta.chat/notify */
	char *dkim_selector;	/* opendkim */
	char *dkim_key_file;	/* /etc/dkimkeys/opendkim.private */
	char *dns_server;	/* "" = system resolver; else IP[:port] */
	char *appversions_file; /* "" = the built-in copy */

	/* derived at load time (upstream's derived properties) */
	char *mail_domain_bare; /* mail_domain without [ ] */
	int ipv4_relay;		/* mail_domain is an IPv4 address */
	enum tls_cert_mode tls_cert_mode;
	char *tls_cert_path, *tls_key_path;
	char *postfix_myhostname; /* the domain (no rDNS lookup here) */
	int enable_iroh_relay;	  /* iroh_relay unset */
	uint64_t max_mailbox_size_mb;
	uint64_t min_available_memory_mb;
	uint64_t min_free_disk_space_mb;

	/* keys found in the file that no option knows, "a, b, c" or "" */
	char *unknown;
};

/* config_init: every option at its default (mail_domain NULL) */
void config_init(struct chatmail_config *cfg);
/* config_deinit: free everything config_init/config_load allocated */
void config_deinit(struct chatmail_config *cfg);

/* config_load: defaults, then the file, then CHATMAIL_* environment
 * overrides, then validation and derived values. Returns 0, or -1 with
 * every problem found written to err (one per line). A missing file is
 * an error. Unknown keys are not an error (see cfg->unknown). */
int config_load(struct chatmail_config *cfg, const char *path, struct buf *err);
/* config_load_string: the same from text in memory (tests, fuzzing);
 * env overrides are applied only when use_env is set */
int config_load_string(struct chatmail_config *cfg, const char *text,
		       int use_env, struct buf *err);

/* config_dump: the effective configuration, one "key = value" per line
 * in upstream's order, [params] header first (what -n prints) */
void config_dump(const struct chatmail_config *cfg, FILE *out);

/* config_parse_size_mb: upstream's parse_size_mb: "500M", "1G", "2048",
 * optional trailing "B", case-insensitive; plain numbers are MB. */
int config_parse_size_mb(const char *s, uint64_t *mb_r);

#endif
