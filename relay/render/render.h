/*
 * render: every configuration file a chatmail relay needs, rendered
 * from a ChatmailRelay spec (relay/spec.h) for a target (a Pod, or a
 * local test relay under one directory). Pure functions: spec and
 * target in, text out; nothing here touches the file system or the
 * network, so the operator, `relay-render` and the golden-file tests
 * all get byte-identical output.
 *
 * Files (paths relative to the target's root, see struct render_file):
 *   chatmail.ini
 *   postfix/main.cf, master.cf, login_map, submission_header_cleanup,
 *           lmtp_header_cleanup, smtp_tls_policy_map
 *   dovecot/dovecot.conf, auth.conf, push_notification.lua
 *   nginx/nginx.conf
 *   www/...  the web content of relay/web/ (web_render): every page
 *            with the built-in website; only .well-known/ (autoconfig,
 *            MTA-STS) when the website is off or comes from a custom
 *            ConfigMap, which the operator projects into the same dir
 *   iroh-relay.toml    when the local iroh-relay is enabled
 *   chatmail-nocreate  (empty) when registration is Closed
 *
 * What follows upstream (chatmail/relay cmdeploy templates) and what
 * deliberately differs (docs/UPSTREAM.md, Postfix, DKIM, Remote
 * delivery, Dovecot, nginx, TLS certificates):
 *  - remote delivery uses Postfix's own smtp client with verified TLS
 *    and the smtp_tls_policy_map (upstream before filtermail-transport),
 *    so there is no lmtp-filtermail transport;
 *  - DKIM signing happens in our filtermail outgoing, so there is no
 *    OpenDKIM milter on the reinject service, and non_smtpd_milters
 *    (the bounces) points at filtermail outgoing's milter;
 *  - all paths and ports are the target's (struct render_target), and
 *    Postfix services are not chrooted (absolute socket paths, and a
 *    container's file system is its own jail);
 *  - logs go to files under log_dir (local) or to stdout/stderr (Pod)
 *    instead of syslog.
 *
 * Untrusted input: none beyond the spec, which spec.c has validated;
 * every value inserted into a config file is checked here again for
 * characters that would break the file's syntax (newlines, quotes,
 * braces), so a bad value can never inject configuration.
 */
#ifndef CM_OPERATOR_RENDER_H
#define CM_OPERATOR_RENDER_H

#include <stddef.h>

#include "buf.h"
#include "config.h"

struct relay_spec;

enum render_kind {
	RENDER_POD,   /* the relay's Pod (containers share /run/chatmail) */
	RENDER_LOCAL, /* hack/local-relay.sh: everything under one root */
};

/*
 * The relay's processes: the Pod's containers and CronJobs, the local
 * relay's daemons and services. render_procs[] names them (container
 * and component names); render_command gives their command lines.
 */
enum render_proc_id {
	RENDER_PROC_POSTFIX,
	RENDER_PROC_DOVECOT,
	RENDER_PROC_NGINX,
	RENDER_PROC_FILTERMAIL_OUTGOING,
	RENDER_PROC_FILTERMAIL_INCOMING,
	RENDER_PROC_FILTERMAIL_TRANSPORT, /* delivery mode Transport only */
	RENDER_PROC_DOVEAUTH,
	RENDER_PROC_METADATA,
	RENDER_PROC_LASTLOGIN,
	RENDER_PROC_NEWEMAIL,
	RENDER_PROC_IROH,
	RENDER_PROC_TURN,
	RENDER_PROC_CERT,
	RENDER_PROC_EXPORTER, /* chatmail-exporter: the private metrics */
	RENDER_PROC_EXPIRE,   /* the expire CronJob */
	RENDER_PROC_METRICS,  /* the metrics CronJob */
	RENDER_NPROCS,
	RENDER_PROC_NONE = RENDER_NPROCS,
};
extern const char *const render_procs[RENDER_NPROCS];

/*
 * The relay's TCP ports, in port order: the public ones first (what
 * the Services, the NetworkPolicy, the DNS SRV records and autoconfig
 * advertise), then the internal ones (on local_addr unless noted).
 * render_ports[] holds upstream's numbers; a target's port[] starts
 * from them and may be moved (render_target_offset_ports).
 */
enum render_port_id {
	RENDER_PORT_SMTP,
	RENDER_PORT_HTTP,
	RENDER_PORT_IMAP,
	RENDER_PORT_HTTPS, /* the ALPN multiplexer */
	RENDER_PORT_SMTPS,
	RENDER_PORT_SUBMISSION,
	RENDER_PORT_IMAPS,
	RENDER_NPUBLIC_PORTS,
	RENDER_PORT_ACME = RENDER_NPUBLIC_PORTS, /* acmetool (ACME mode) */
	RENDER_PORT_HTTPS_INTERNAL, /* nginx's HTTPS server behind 443 */
	RENDER_PORT_IROH,
	RENDER_PORT_DOVECOT_STATS, /* OpenMetrics, on mtail_address */
	RENDER_PORT_IROH_METRICS,  /* iroh-relay's, disabled */
	RENDER_PORT_MILTER,  /* filtermail outgoing's bounce-signing milter */
	RENDER_PORT_METRICS, /* chatmail-exporter, on every address (Pod) */
	RENDER_NPORTS,
};

#define RENDER_PORT_PROBE 1 /* the listener's readiness probe */

struct render_port {
	const char *name;	  /* Service port name ("smtp"), env KEY_PORT */
	unsigned port;		  /* upstream's number */
	enum render_proc_id proc; /* who listens */
	unsigned flags;		  /* RENDER_PORT_PROBE */
};
extern const struct render_port render_ports[RENDER_NPORTS];

/* the Unix sockets in run_dir that the relay's processes share */
enum render_sock_id {
	RENDER_SOCK_DOVEAUTH,  /* doveauth: Dovecot's passdb/userdb dict */
	RENDER_SOCK_METADATA,  /* chatmail-metadata: METADATA dict */
	RENDER_SOCK_LASTLOGIN, /* lastlogin: last-login dict */
	RENDER_SOCK_NEWEMAIL,  /* newemail behind nginx's /new */
	RENDER_SOCK_TURN,      /* the TURN server (turn_socket_path) */
	RENDER_SOCK_LMTP,      /* Dovecot LMTP, for Postfix */
	RENDER_SOCK_AUTH,      /* Dovecot auth, for Postfix SASL */
	RENDER_NSOCKS,
};

/*
 * Where a relay's files, sockets and listeners are: the one
 * description of the relay's layout, read by the renderers, the
 * operator's Pod (operator/desired_pod.c) and, through `relay-render
 * --env`, hack/local-relay.sh. Every string is owned by the target
 * (render_target_free frees them); change one with render_target_set().
 */
struct render_target {
	enum render_kind kind;
	char *instance; /* short name: Dovecot instance_name, log prefix */

	/* listeners */
	char *public_addr; /* public listeners bind here; "" = all addrs */
	char *local_addr;  /* internal listeners: "127.0.0.1" */
	unsigned port[RENDER_NPORTS];
	unsigned port_newemail; /* 0 = newemail on sock[NEWEMAIL] */

	/* files and directories */
	char *root;		  /* local: the relay's directory; Pod: the
				   * config root /etc/chatmail */
	char *ini_path;		  /* chatmail.ini as the services see it */
	char *postfix_config_dir; /* main.cf, master.cf and the maps */
	char *spool_dir;	  /* the queue volume (Pod: its claim) */
	char *postfix_queue_dir;  /* below spool_dir */
	char *postfix_data_dir;
	char *dovecot_config_dir; /* dovecot.conf, auth.conf, the lua */
	char *dovecot_base_dir;
	char *dovecot_state_dir;
	char *nginx_config_dir;
	char *nginx_run_dir;	/* pid file and temp dirs */
	char *www_dir;		/* the website root */
	char *www_custom_dir;	/* website.configMapName's pages (www_folder) */
	char *appversions_file; /* appVersions.configMapName's index */
	char *iroh_config;	/* iroh-relay.toml */
	char *turn_secret;	/* chatmail-turn's --secret-file */
	char *run_dir;		/* the sockets of sock[] */
	char *log_dir;		/* "" = stdout/stderr */
	char *tls_dir;		/* holds tls_cert and tls_key */
	char *tls_cert, *tls_key;
	char *peer_ca_file; /* tls.peerCABundle as a file, beside ini_path */
	char *dkim_dir;	    /* holds dkim_key */
	char *dkim_key;
	char *nocreate_file;
	char *quota_expire_bin;	   /* chatmail-quota-expire */
	char *mail_home;	   /* the mail volume (Pod: /home/vmail) */
	char *metrics_file;	   /* chatmail-metrics textfile (exporter) */
	char *vmail_dir;	   /* parent of mailboxes_dir: mail_home/mail */
	char *dns_server;	   /* "" = system resolver */
	char *dh_file;		   /* /usr/share/dovecot/dh.pem */
	char *nginx_stream_module; /* path of ngx_stream_module.so */
	char *nginx_mime_types;	   /* /etc/nginx/mime.types */

	/* users: "" = leave the daemon's default (non-root containers) */
	char *vmail_user;	  /* vmail */
	char *postfix_user;	  /* postfix */
	char *nginx_user;	  /* www-data */
	char *dovecot_login_user; /* "" = dovenull */

	char *sock[RENDER_NSOCKS]; /* below run_dir, set when created */

	/* chatmail-turn's arguments from the spec (render_target_spec);
	 * "" until then */
	char *turn_realm;
	char *turn_address;	/* --external-ip, "" = none */
	char *turn_relay_ports; /* --relay-ports MIN-MAX; "" = credentials
				 * only (--credentials-only) */
	/* delivery mode Transport: filtermail transport runs, and is one of
	 * the exporter's sources (render_target_spec; 0 until then) */
	int transport;
};

/* the UDP ports of chatmail-turn (upstream's 3478) */
#define RENDER_TURN_PORT CM_TURN_PORT

/* render_target_new_pod: the Pod layout (docs/DESIGN.md, The Pod):
 * standard ports, sockets in /run/chatmail (a shared emptyDir),
 * /home/vmail, config from ConfigMaps under /etc/chatmail, logs to
 * stdout/stderr */
struct render_target *render_target_new_pod(void);
/* render_target_new_local: a local relay under root (an absolute path)
 * whose public listeners bind to addr; standard ports, internal
 * services on 127.0.0.1 inside the relay's network namespace */
struct render_target *render_target_new_local(const char *root,
					      const char *addr);
/* render_target_spec: what the commands take from spec s: chatmail-turn's
 * realm (the domain), relayed address and relay ports
 * (spec_turn_address; with turn.hostNetwork no address and no relay
 * ports: the relay Pod's turn container serves credentials only), and
 * whether filtermail transport runs */
void render_target_spec(struct render_target *t, const struct relay_spec *s);
/* render_target_turn_host: the same for the hostNetwork TURN Pod: the
 * relay ports and turn.externalIP ("" = the node's own addresses) */
void render_target_turn_host(struct render_target *t,
			     const struct relay_spec *s);
/* render_target_free: free t and its strings; NULLs *tp */
void render_target_free(struct render_target **tp);
/* render_target_check: every string field set and safe for a config
 * file, every port non-zero and below 65536, no two the same; 0 or
 * -EINVAL with err */
int render_target_check(const struct render_target *t, struct buf *err);
/* render_target_set: replace one string field (value copied) */
void render_target_set(char **field, const char *value);
/* render_target_offset_ports: add off to every port of the layout
 * (the loopback fallback of hack/local-relay.sh, where the host's
 * daemons may hold the standard ports); -ERANGE if one would pass
 * 65535 (t unchanged) */
int render_target_offset_ports(struct render_target *t, unsigned off);
/* render_target_env: the layout as shell assignments (KEY='value'
 * lines: every path, port, socket and command line, the commands as
 * bash arrays) for hack/local-relay.sh; 0 or -E2BIG */
int render_target_env(const struct render_target *t, struct buf *out);

/* render_command: the command line of process p on target t (the
 * Pod's container command; locally the same programs in the
 * foreground), NULL-terminated; free with render_argv_free */
char **render_command(const struct render_target *t, enum render_proc_id p);
void render_argv_free(char ***argvp);
/* render_metrics_addr: where service p serves its counters (--metrics
 * "unix:<run_dir>/<process>.metrics"), freshly allocated */
char *render_metrics_addr(const struct render_target *t, enum render_proc_id p);

/* one rendered file */
struct render_file {
	char *path; /* relative: "postfix/main.cf" */
	char *data; /* contents (NUL-terminated for text) */
	size_t len;
	unsigned mode; /* permission bits to create it with */
	int binary;    /* not text (a ConfigMap's binaryData) */
};

struct render_set {
	struct render_file *files;
	size_t n;
};

/* the inputs every renderer reads; cfg is spec_to_config's result */
struct render_ctx {
	const struct relay_spec *spec;
	const struct render_target *t;
	struct chatmail_config cfg;
};

/* render_ctx_init: convert the spec for target t (spec_to_config) and
 * check the target's values; 0 or -EINVAL with err */
int render_ctx_init(struct render_ctx *c, const struct relay_spec *s,
		    const struct render_target *t, struct buf *err);
void render_ctx_deinit(struct render_ctx *c);

/* render_all: every file for spec s on target t. 0 with *set filled
 * (caller frees with render_set_free), or -EINVAL with err. */
int render_all(const struct relay_spec *s, const struct render_target *t,
	       struct render_set *set, struct buf *err);
void render_set_free(struct render_set *set);
/* render_set_find: the file with this relative path, or NULL */
const struct render_file *render_set_find(const struct render_set *set,
					  const char *path);

/* single files; each appends to out and returns 0 or -E2BIG/-EINVAL */
int render_postfix_main_cf(const struct render_ctx *c, struct buf *out);
int render_postfix_master_cf(const struct render_ctx *c, struct buf *out);
int render_postfix_maps(const struct render_ctx *c, const char *name,
			struct buf *out);
int render_dovecot_conf(const struct render_ctx *c, struct buf *out);
int render_dovecot_auth_conf(const struct render_ctx *c, struct buf *out);
int render_dovecot_push_lua(const struct render_ctx *c, struct buf *out);
int render_nginx_conf(const struct render_ctx *c, struct buf *out);

/* render_safe_value: 1 if v can be inserted into a config line (no
 * control characters, no quotes, braces, semicolons or backslashes) */
int render_safe_value(const char *v);

#endif
