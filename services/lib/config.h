/*
 * config: chatmail.ini, the one configuration file of a relay.
 *
 * Reads upstream's format (ini.h: section [params], key = value, # and ;
 * comment lines, continuation lines) with upstream's defaults and
 * conversions (chatmaild config.py), so the same file drives upstream's
 * services and ours. The option table (config_opts.h) defines every
 * option once {name, type, default, min, max}; every value is validated at load time and every problem is
 * reported (not just the first). Unknown keys are kept in `unknown` and
 * reported as warnings, like upstream's _unused_keys.
 *
 * Options marked "ours" (OF_OURS) are not upstream's; upstream ignores them (with
 * its unknown-key warning). Every option can be overridden from the
 * environment as CHATMAIL_<UPPERCASE_NAME> (e.g. CHATMAIL_MAILBOXES_DIR),
 * which the container images use; an empty variable sets the option to
 * "" (so CHATMAIL_IROH_RELAY= disables the local iroh relay).
 *
 * Conversions as upstream: integers as Python int() ("+5", "007" are
 * fine), sizes by config_parse_size_mb, max_load_1m as a decimal number,
 * booleans are true only for "true" in any case (anything else is false;
 * a value other than true/false/empty adds a line to `warnings`).
 * Ranges (ours; upstream checks none): ports 1-65535, counts and days
 * >= 1, username lengths 1-64 with min <= max, strings non-empty where
 * an empty value cannot work; strings may not hold control characters
 * (privacy_postal/_pdo/_supervisor may hold newlines from continuation
 * lines). mail_domain must be an IPv4 address or a name of letters,
 * digits, '.', '-', '_' (it becomes a directory name).
 *
 * Input: the file is trusted to be the operator's, but is still parsed
 * defensively (size cap CONFIG_FILE_MAX, UTF-8 checked, NUL refused).
 */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "buf.h"

#define CONFIG_FILE_MAX (1024 * 1024) /* bytes in chatmail.ini */
/* chatmail-turn's UDP port: upstream's fixed 3478, which chatmail-metadata
 * advertises in the "turn" key and the relay Pod exposes */
#define CM_TURN_PORT 3478

enum tls_cert_mode {
	TLS_CERT_ACME,	   /* Let's Encrypt via acmetool (upstream default) */
	TLS_CERT_SELF,	   /* domain starts with '_' or is an IPv4 address */
	TLS_CERT_EXTERNAL, /* tls_external_cert_and_key = CERT KEY */
};

struct chatmail_config {
	/* upstream options (docs/UPSTREAM.md, chatmail.ini), in upstream's
	 * order */
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
	char *iroh_relay; /* as set (stripped); unset: https://<bare domain> */
	char *mtail_address;	/* NULL when unset or empty (mtail off) */
	int imap_rawlog;	/* false */
	int imap_compress;	/* false */
	char *turn_socket_path; /* /run/chatmail-turn/turn.socket */
	/* "" when unset (upstream: None); _postal/_pdo/_supervisor may be
	 * several lines (continuation lines), joined with '\n' */
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
	char *dkim_key_file;	/* "" = no signing (upstream: OpenDKIM) */
	char *dns_server;	/* "" = system resolver; else IP[:port] */
	char *appversions_file; /* "" = the built-in copy */
	/* filtermail outgoing's milter, which DKIM-signs Postfix-generated
	 * bounces (non_smtpd_milters), on filtermail_smtp_host; 0 = unset:
	 * no milter (the operator's chatmail.ini sets 10084) */
	unsigned filtermail_milter_port;
	/* "" = mail_domain: the host in chatmail-metadata's turn answer */
	char *turn_hostname;

	/* derived at load time (upstream's derived properties) */
	char *mail_domain_bare; /* mail_domain without [ ] */
	int ipv4_relay;		/* mail_domain is an IPv4 address */
	enum tls_cert_mode tls_cert_mode;
	char *tls_cert_path, *tls_key_path;
	/* the domain; for an IPv4 relay its reverse pointer name
	 * ("4.3.2.1.in-addr.arpa", no DNS lookup), as upstream */
	char *postfix_myhostname;
	int enable_iroh_relay; /* iroh_relay unset: run the local iroh-relay */
	uint64_t max_mailbox_size_mb;
	uint64_t min_available_memory_mb;
	uint64_t min_free_disk_space_mb;

	/* keys found in [params] that no option knows, "a, b, c" or "" */
	char *unknown;
	/* values accepted the way upstream reads them but probably not meant
	 * that way (e.g. "disable_ipv6 = yes" is false), one per line, or "" */
	char *warnings;
};

/* config_init: every option at its default; mail_domain, mailboxes_dir
 * and the derived strings NULL (they need a domain). Overwrites cfg
 * without freeing anything (config_load frees; config_init does not). */
void config_init(struct chatmail_config *cfg);
/* config_deinit: free everything config_init/config_load allocated and
 * zero cfg; accepts a zeroed cfg; safe to call twice */
void config_deinit(struct chatmail_config *cfg);

/* config_load: defaults, then the file, then CHATMAIL_* environment
 * overrides, then validation and derived values. cfg must be zeroed
 * ({0}), initialized or loaded before: what it holds is freed first, so
 * config_init + config_load and loading twice do not leak (an
 * uninitialized stack struct is not allowed). Returns 0, or -1 with
 * every problem found appended to
 * err (one per line; err may be NULL). After either result cfg owns
 * memory: call config_deinit. A missing or unreadable file, a parse
 * error, no [params] section and no mail_domain are errors; unknown keys
 * are not (see cfg->unknown, cfg->warnings). */
int config_load(struct chatmail_config *cfg, const char *path, struct buf *err);
/* config_load_string: the same from text in memory (tests, fuzzing);
 * env overrides are applied only when use_env is set */
int config_load_string(struct chatmail_config *cfg, const char *text,
		       int use_env, struct buf *err);

/* config_dump: the effective configuration (what -n prints): "[params]",
 * then one "key = value" per option in upstream's order (mail_domain as
 * written, unset options and derived values as "# " comments, unknown
 * keys last as a comment). The output loads back to the same config. */
void config_dump(const struct chatmail_config *cfg, FILE *out);

/* config_parse_size_mb: upstream's parse_size_mb: "500M", "1G", "2048",
 * optional trailing "B", case-insensitive, blanks ignored; plain numbers
 * are MB. 0, -EINVAL (not a size) or -ERANGE (overflow). */
int config_parse_size_mb(const char *s, uint64_t *mb_r);

/* config_tls_cert_mode_name: "acme", "self" or "external" (upstream's
 * tls_cert_mode strings) */
const char *config_tls_cert_mode_name(enum tls_cert_mode mode);

#endif
