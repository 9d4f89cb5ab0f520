/*
 * spec_table: the ChatmailRelay spec, field by field: every CRD field
 * with its C member, type, default, range, syntax and description; the
 * objects between the fields; the containers. Parsing (spec_parse.c),
 * defaulting (spec.c), validation (spec_check.c), chatmail.ini
 * (spec_ini.c) and the CRD (spec_crd.c, `chatmail-operator crd`) all
 * walk these tables, so each fact about a field is written once here.
 *
 * A field that sets a chatmail.ini option names it (its ini key) and
 * takes its default and range from services/lib/config_opts.c; the CRD
 * appends "chatmail.ini: <key>" to its description. SPEC_F_OWN_DEFAULT
 * fields set an option only when not empty ("" = the target's layout),
 * by an explicit case in spec_ini.c.
 *
 * Adding a field:
 *  1. its member in struct relay_spec (spec.h);
 *  2. one entry below, in the CRD's order: OPT* when it sets a
 *     chatmail.ini option (add the option to config_opts.c first), else
 *     STR/NUMSTR/UINT/BOOL/ENUM with its own default and range; a string
 *     names a syntax (spec_check.c; add one there, with its C check and
 *     its CRD pattern or CEL rule, if none fits); the description is what
 *     `kubectl explain` shows;
 *  3. a new object on its path needs an entry in spec_groups[]
 *     (description, default, CEL rules between its fields);
 *  4. `make crd` (crds/ and the chart's copy); tests/unit/relay/
 *     test_spec_crd.c and test_spec_ini.c fail until the committed CRD is
 *     the generated one, every option is written and all_set sets it.
 * Rules between fields are C in spec_check.c (check_cross) and CEL in
 * spec_groups[]; the envtest tier checks that the two agree.
 *
 * Untrusted input: none (constant tables).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_opts.h"
#include "spec.h"
#include "spec_int.h"

static const char *const reg_names[] = { "Open", "Closed", NULL };
static const char *const tls_names[] = { "SelfSigned", "Secret", "CertManager",
					 "ACME", NULL };
static const char *const svc_names[] = { "LoadBalancer", "NodePort",
					 "ClusterIP", NULL };
static const char *const etp_names[] = { "Local", "Cluster", NULL };
static const char *const delivery_names[] = { "Transport", "PostfixSMTP",
					      NULL };
static const char *const backup_target_names[] = { "PVC", "S3", NULL };

#define OFF(m) offsetof(struct relay_spec, m)
/* fields that set a chatmail.ini option: default and range the option's */
#define OPT(p, m, type, key, desc)                                    \
	{                                                             \
		p, type, OFF(m), key, NULL, 0, 0, 0, NULL, NULL, desc \
	}
#define OPT_STR(p, m, key, syn, desc)                                       \
	{                                                                   \
		p, SPEC_FT_STR, OFF(m), key, NULL, 0, 0, 0, NULL, syn, desc \
	}
#define OPT_SIZE(p, m, key, desc)                                             \
	{                                                                     \
		p, SPEC_FT_STR, OFF(m), key, NULL, 0, 0, SPEC_F_NUMSTR, NULL, \
			&spec_syn_size_mb, desc                               \
	}
#define OPT_OWN(p, m, key, syn, desc)                                      \
	{                                                                  \
		p, SPEC_FT_STR, OFF(m), key, "", 0, 0, SPEC_F_OWN_DEFAULT, \
			NULL, syn, desc                                    \
	}
/* fields of the operator's own: default and range here */
#define STR(p, m, def, lo, hi, syn, desc)                                     \
	{                                                                     \
		p, SPEC_FT_STR, OFF(m), NULL, def, lo, hi, 0, NULL, syn, desc \
	}
#define NUMSTR(p, m, def, syn, desc)                                   \
	{                                                              \
		p, SPEC_FT_STR, OFF(m), NULL, def, 1, SPEC_NUMSTR_MAX, \
			SPEC_F_NUMSTR, NULL, syn, desc                 \
	}
#define UINT(p, m, def, lo, hi, desc)                                      \
	{                                                                  \
		p, SPEC_FT_UINT, OFF(m), NULL, def, lo, hi, 0, NULL, NULL, \
			desc                                               \
	}
#define BOOL(p, m, def, desc)                                                 \
	{                                                                     \
		p, SPEC_FT_BOOL, OFF(m), NULL, def, 0, 1, 0, NULL, NULL, desc \
	}
#define ENUM(p, m, def, names, desc)                                           \
	{                                                                      \
		p, SPEC_FT_ENUM, OFF(m), NULL, def, 0, 0, 0, names, NULL, desc \
	}

const struct spec_field spec_fields[] = {
	{ "domain", SPEC_FT_STR, OFF(domain), "mail_domain", NULL, 0, 0,
	  SPEC_F_REQUIRED | SPEC_F_IMMUTABLE, NULL, &spec_syn_domain,
	  "The mail domain: a fully qualified domain name, lowercase, or an "
	  "IPv4 address (an IP-only relay, addresses user@[a.b.c.d]). A name "
	  "starting with \"_\" is a test relay with a self-signed "
	  "certificate, as upstream. Immutable." },
	ENUM("registration", registration, "Open", reg_names,
	     "Open: an account is created on its first login (and by POST "
	     "/new). Closed: no new accounts, existing ones keep working "
	     "(upstream's /etc/chatmail-nocreate)."),
	BOOL("paused", paused, "false",
	     "Stop reconciling this relay: the operator leaves every child "
	     "object as it is until paused is false again."),

	OPT("limits.maxUserSendPerMinute", limits.max_user_send_per_minute,
	    SPEC_FT_UINT, "max_user_send_per_minute",
	    "Messages a user may send per minute (the GCRA rate in filtermail "
	    "outgoing)."),
	OPT("limits.maxUserSendBurstSize", limits.max_user_send_burst_size,
	    SPEC_FT_UINT, "max_user_send_burst_size",
	    "Messages a user may send in a burst before the rate applies (the "
	    "GCRA bucket)."),
	OPT_SIZE("limits.maxMailboxSize", limits.max_mailbox_size,
		 "max_mailbox_size",
		 "Mailbox quota: a number of megabytes, or a size like 500M or "
		 "2G. At 75 % the oldest messages are removed down to 70 %, so "
		 "mailboxes never run full."),
	OPT("limits.maxMessageSize", limits.max_message_size, SPEC_FT_U64,
	    "max_message_size",
	    "Largest message in bytes (Postfix message_size_limit, Dovecot "
	    "quota_max_mail_size, filtermail)."),
	OPT("limits.usernameMinLength", limits.username_min_length,
	    SPEC_FT_UINT, "username_min_length",
	    "Shortest local part an account may have."),
	OPT("limits.usernameMaxLength", limits.username_max_length,
	    SPEC_FT_UINT, "username_max_length",
	    "Longest local part an account may have; also the length of names "
	    "/new hands out."),
	OPT("limits.passwordMinLength", limits.password_min_length,
	    SPEC_FT_UINT, "password_min_length",
	    "Shortest password an account may be created with (/new hands out "
	    "3 more)."),
	OPT("limits.maxImapConnections", limits.max_imap_connections,
	    SPEC_FT_UINT, "max_imap_connections",
	    "Concurrent logged-in IMAP connections (Dovecot's imap process "
	    "limit). Hibernated IDLE connections do not count."),
	OPT("limits.maxSmtpConnections", limits.max_smtp_connections,
	    SPEC_FT_UINT, "max_smtp_connections",
	    "Concurrent SMTP connections on each of the submission ports 587 "
	    "and 465; one client IP may use a fifth of them."),

	OPT("retention.deleteMailsAfterDays", retention.delete_mails_after_days,
	    SPEC_FT_UINT, "delete_mails_after",
	    "Days after which every message is deleted."),
	OPT("retention.deleteLargeAfterDays", retention.delete_large_after_days,
	    SPEC_FT_UINT, "delete_large_after",
	    "Days after which messages larger than 200 kB are deleted."),
	OPT("retention.deleteInactiveUsersAfterDays",
	    retention.delete_inactive_users_after_days, SPEC_FT_UINT,
	    "delete_inactive_users_after",
	    "Days without a login after which an account and its mail are "
	    "deleted."),

	OPT("systemLimits.maxLoad1m", system_limits.max_load_1m, SPEC_FT_DOUBLE,
	    "max_load_1m",
	    "Highest 1-minute load average at which accounts are still "
	    "created."),
	OPT_SIZE("systemLimits.minAvailableMemory",
		 system_limits.min_available_memory, "min_available_memory",
		 "Least available memory at which accounts are still created, "
		 "e.g. 200M."),
	OPT_SIZE("systemLimits.minFreeDiskSpace",
		 system_limits.min_free_disk_space, "min_free_disk_space",
		 "Least free space on the mail volume at which accounts are "
		 "still created, e.g. 1G."),

	{ "tls.mode", SPEC_FT_ENUM, OFF(tls.mode), NULL, "SelfSigned", 0, 0,
	  SPEC_F_DERIVED, tls_names, NULL,
	  "Default, as upstream: ACME, or SelfSigned for a domain starting "
	  "with \"_\" or an IPv4 address. ACME: the cert container gets a "
	  "certificate for the domain, www. and mta-sts. from acmeDirectory "
	  "(HTTP-01 on port 80; renewed at two thirds of its lifetime or as "
	  "the server's renewal information says). SelfSigned: the operator "
	  "generates one (upstream's self-signed mode; other relays verify "
	  "it only for \"_\" domains). Secret: a kubernetes.io/tls Secret "
	  "you provide (secretName). CertManager: the operator requests a "
	  "cert-manager Certificate from issuerRef." },
	STR("tls.secretName", tls.secret_name, "", 0, 253, &spec_syn_k8s_name,
	    "The kubernetes.io/tls Secret to use (Secret mode) or the one "
	    "cert-manager writes (CertManager mode; default <name>-tls)."),
	STR("tls.issuerRef.name", tls.issuer_name, "", 0, 253,
	    &spec_syn_k8s_name, "Name of the Issuer or ClusterIssuer."),
	STR("tls.issuerRef.kind", tls.issuer_kind, "Issuer", 1, 63,
	    &spec_syn_issuer_kind,
	    "Issuer (in the relay's namespace) or ClusterIssuer."),
	STR("tls.issuerRef.group", tls.issuer_group, "cert-manager.io", 1, 253,
	    &spec_syn_k8s_name, "API group of the issuer."),
	OPT_STR("tls.acmeEmail", tls.acme_email, "acme_email", &spec_syn_email,
		"Contact address for the ACME account."),
	STR("tls.acmeDirectory", tls.acme_directory,
	    "https://acme-v02.api.letsencrypt.org/directory", 1, 1024,
	    &spec_syn_url,
	    "ACME directory URL (ACME mode): Let's Encrypt production by "
	    "default; its staging server is "
	    "https://acme-staging-v02.api.letsencrypt.org/directory."),
	BOOL("tls.acmeTermsOfServiceAgreed", tls.acme_tos_agreed, "false",
	     "Agree to the ACME server's terms of service (for Let's Encrypt "
	     "its subscriber agreement). Without it no account is registered "
	     "and the CertificateReady condition says so."),
	STR("tls.acmeCABundle", tls.acme_ca_bundle, "", 0, 65536, &spec_syn_pem,
	    "PEM CA certificates trusted for the ACME server's HTTPS (a "
	    "private "
	    "ACME server); empty: the system's trust store."),
	STR("tls.peerCABundle", tls.peer_ca_bundle, "", 0, 65536, &spec_syn_pem,
	    "PEM CA certificates trusted, besides the system's trust store, "
	    "for the TLS of outgoing delivery to other relays (Postfix's "
	    "smtp_tls_CAfile, filtermail transport's SMTP and HTTPS): a "
	    "private federation, or a test CA. Empty: the system's trust "
	    "store only."),
	STR("tls.eabKeyId", tls.eab_key_id, "", 0, 256, &spec_syn_text,
	    "External account binding key ID, for an ACME server that "
	    "requires one (with eabSecretRef)."),
	STR("tls.eabSecretRef.name", tls.eab_secret_name, "", 0, 253,
	    &spec_syn_k8s_name,
	    "The Secret holding the external account binding HMAC key "
	    "(base64url, as the ACME server gives it)."),
	STR("tls.eabSecretRef.key", tls.eab_secret_key, "secret", 1, 253,
	    &spec_syn_k8s_name, "The key in that Secret."),

	OPT_STR("dkim.selector", dkim.selector, "dkim_selector",
		&spec_syn_selector,
		"DKIM selector; the key is published at "
		"<selector>._domainkey.<domain>."),
	STR("dkim.secretName", dkim.secret_name, "", 0, 253, &spec_syn_k8s_name,
	    "An existing Secret holding the private key (key "
	    "opendkim.private, PEM RSA). Empty: the operator generates an RSA "
	    "2048 key once and never replaces it."),

	NUMSTR("storage.mail.size", storage.mail.size, "10Gi",
	       &spec_syn_quantity,
	       "Requested size of the PersistentVolumeClaim."),
	STR("storage.mail.storageClassName", storage.mail.storage_class_name,
	    "", 0, 253, &spec_syn_k8s_name,
	    "StorageClass of the claim; empty for the cluster's default "
	    "class."),
	BOOL("storage.mail.keepOnDelete", storage.mail.keep_on_delete, "true",
	     "Keep the claim (and the mail) when the relay is deleted."),
	NUMSTR("storage.queue.size", storage.queue.size, "1Gi",
	       &spec_syn_quantity,
	       "Requested size of the PersistentVolumeClaim."),
	STR("storage.queue.storageClassName", storage.queue.storage_class_name,
	    "", 0, 253, &spec_syn_k8s_name,
	    "StorageClass of the claim; empty for the cluster's default "
	    "class."),
	BOOL("storage.queue.keepOnDelete", storage.queue.keep_on_delete, "true",
	     "Keep the claim (and queued mail) when the relay is deleted."),
	OPT_OWN("storage.mailboxesDir", storage.mailboxes_dir, "mailboxes_dir",
		&spec_syn_abs_path,
		"Directory of the mailboxes (deprecated upstream); empty for "
		"/home/vmail/mail/<domain>."),
	OPT_OWN("storage.passdbPath", storage.passdb_path, "passdb_path",
		&spec_syn_abs_path,
		"Legacy SQLite password database imported once at start; empty "
		"for /home/vmail/passdb.sqlite."),

	ENUM("service.type", service.type, "LoadBalancer", svc_names,
	     "Service type."),
	ENUM("service.externalTrafficPolicy", service.external_traffic_policy,
	     "Local", etp_names,
	     "Local keeps the client's IP address (rate limits, logs, no open "
	     "relay through SNAT); Cluster spreads traffic over nodes but "
	     "hides it."),
	STR("service.loadBalancerIP", service.load_balancer_ip, "", 0, 45,
	    &spec_syn_ip,
	    "Requested load balancer address, if the provider supports it."),

	OPT("network.disableIPv6", network.disable_ipv6, SPEC_FT_BOOL,
	    "disable_ipv6", "Listen and deliver on IPv4 only."),

	ENUM("delivery.mode", delivery.mode, "Transport", delivery_names,
	     "Transport (as upstream): Postfix hands mail for other domains to "
	     "filtermail transport, which posts it to https://<mx>/mxdeliv "
	     "first and falls back to SMTP on port 25 (verified STARTTLS), so "
	     "relays federate where outgoing port 25 is blocked. PostfixSMTP: "
	     "Postfix's own smtp client delivers on port 25 only, for relays "
	     "that must not send over HTTPS."),

	STR("imagePullPolicy", image_pull_policy, "", 0, 16,
	    &spec_syn_pull_policy,
	    "Pull policy of every container; empty for Kubernetes' default."),

	BOOL("iroh.enabled", iroh.enabled, "true",
	     "Run iroh-relay in the Pod and advertise https://<domain> "
	     "(iroh_relay unset upstream)."),
	OPT_OWN("iroh.url", iroh.url, "iroh_relay", &spec_syn_url,
		"With enabled false, the iroh relay URL to advertise instead; "
		"empty for the clients' default."),

	OPT_OWN("turn.socketPath", turn.socket_path, "turn_socket_path",
		&spec_syn_abs_path,
		"Unix socket chatmail-metadata asks for TURN credentials; "
		"empty "
		"for the Pod's shared socket directory."),
	BOOL("turn.enabled", turn.enabled, "true",
	     "Run chatmail-turn in the Pod (TURN for calls behind NAT: UDP "
	     "3478 and portRange, credentials from a per-relay Secret) and "
	     "answer the turn METADATA key. Clients must reach the relayed "
	     "address, externalIP or else service.loadBalancerIP; with "
	     "neither, no TURN server runs and the status says why."),
	STR("turn.externalIP", turn.external_ip, "", 0, 45, &spec_syn_ip,
	    "The public address of the relay's UDP ports (its load balancer "
	    "or node), told to clients as the relayed address; empty for "
	    "service.loadBalancerIP."),
	STR("turn.portRange", turn.port_range, "49160-49199", 9, 11,
	    &spec_syn_port_range,
	    "UDP relay ports MIN-MAX, at most 100 (one allocation each), "
	    "not including 3478; every one is a Service port and a "
	    "container port (with hostNetwork: a port of the node, outside "
	    "the NodePort range 30000-32767)."),
	BOOL("turn.hostNetwork", turn.host_network, "false",
	     "For bare-metal relays: run chatmail-turn in its own Pod "
	     "(<relay>-turn, on the relay Pod's node) on the node's network, "
	     "listening on the node's addresses (UDP 3478 and portRange) "
	     "with no Service in between; the relay Pod keeps its own "
	     "network and only answers credentials. The relayed address is "
	     "externalIP (IPv4), else the node's own; clients are told "
	     "externalIP, else the domain. The namespace must allow "
	     "hostNetwork Pods (Pod Security level privileged)."),

	STR("expire.schedule", expire.schedule, "2 0 * * *", 1, 128,
	    &spec_syn_schedule,
	    "Cron schedule of the expire CronJob (upstream runs it daily at "
	    "00:02)."),
	STR("metrics.schedule", metrics.schedule, "*/15 * * * *", 1, 128,
	    &spec_syn_schedule,
	    "Cron schedule of the metrics CronJob (chatmail-metrics "
	    "--textfile, "
	    "the account and mailbox figures of the metrics port)."),
	BOOL("metrics.serviceMonitor.enabled", metrics.pod_monitor, "false",
	     "Create a Prometheus Operator PodMonitor that scrapes the relay's "
	     "metrics port, when the cluster has the monitoring.coreos.com "
	     "CRDs (the operator looks; without them nothing is created). "
	     "Prometheus must run in one of allowedNamespaces."),
	{ "metrics.mtailAddress", SPEC_FT_STR, OFF(metrics.mtail_address),
	  "mtail_address", NULL, 0, 0, SPEC_F_NULLABLE, NULL, &spec_syn_ip,
	  "Private address for Dovecot's OpenMetrics endpoint on port 3904; "
	  "unset turns it off. Never a public address." },

	BOOL("backup.enabled", backup.enabled, "false",
	     "Run the backup CronJob: restic takes a consistent snapshot of "
	     "the mail volume (mailboxes, passwords, metadata), the Postfix "
	     "queue and the DKIM key, encrypted and deduplicated, into the "
	     "repository below, then applies the keep* retention."),
	STR("backup.schedule", backup.schedule, "30 1 * * *", 1, 128,
	    &spec_syn_schedule, "Cron schedule of the backup CronJob."),
	ENUM("backup.target", backup.target, "PVC", backup_target_names,
	     "Where the restic repository lives: PVC (claimName, in the "
	     "relay's namespace, mounted on the relay's node) or S3 (s3.*)."),
	STR("backup.claimName", backup.claim_name, "", 0, 253,
	    &spec_syn_k8s_name,
	    "The PersistentVolumeClaim holding the repository (target PVC)."),
	STR("backup.path", backup.path, "", 0, 253, &spec_syn_k8s_name,
	    "Directory of the repository on the claim, or its prefix in the "
	    "bucket; empty for the relay's name."),
	STR("backup.s3.endpoint", backup.s3_endpoint, "", 0, 512, &spec_syn_url,
	    "URL of the S3-compatible service (target S3), e.g. "
	    "https://s3.example.com."),
	STR("backup.s3.bucket", backup.s3_bucket, "", 0, 63, &spec_syn_k8s_name,
	    "The bucket (target S3); restic creates it if it is missing."),
	STR("backup.s3.credentialsSecretName",
	    backup.s3_credentials_secret_name, "", 0, 253, &spec_syn_k8s_name,
	    "A Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
	    "optionally AWS_DEFAULT_REGION), given to restic as environment."),
	STR("backup.passwordSecretName", backup.password_secret_name, "", 0,
	    253, &spec_syn_k8s_name,
	    "A Secret whose key password encrypts the repository. Required "
	    "with backup or restore; keep a copy outside the cluster, "
	    "without it no backup can be read."),
	UINT("backup.keepDaily", backup.keep_daily, "7", 0, 1000,
	     "Daily snapshots kept (the newest snapshot is always kept)."),
	UINT("backup.keepWeekly", backup.keep_weekly, "4", 0, 1000,
	     "Weekly snapshots kept."),
	UINT("backup.keepMonthly", backup.keep_monthly, "6", 0, 1000,
	     "Monthly snapshots kept."),
	BOOL("restore.enabled", restore.enabled, "false",
	     "Before the relay's daemons start, an init container restores "
	     "the snapshot from backup's repository into the mail and queue "
	     "volumes if they hold no mail (a new relay); volumes with mail "
	     "are left alone, and a volume is restored once. The DKIM key "
	     "must be the backup's: create its Secret from the snapshot and "
	     "name it in dkim.secretName, or the init container stops."),
	STR("restore.snapshot", restore.snapshot, "latest", 1, 64,
	    &spec_syn_snapshot,
	    "The restic snapshot to restore: latest or a snapshot ID."),

	OPT("imap.rawlog", imap.rawlog, SPEC_FT_BOOL, "imap_rawlog",
	    "Log every IMAP session to .in/.out files in the user's mailbox "
	    "(debugging only, never cleaned up)."),
	OPT("imap.compress", imap.compress, SPEC_FT_BOOL, "imap_compress",
	    "Offer IMAP COMPRESS; disables hibernation of idle connections, so "
	    "it costs memory."),

	OPT_STR("privacy.mail", privacy.mail, "privacy_mail", &spec_syn_email,
		"Email address of the privacy contact."),
	OPT_STR("privacy.postal", privacy.postal, "privacy_postal",
		&spec_syn_text, "Postal address of the privacy contact."),
	OPT_STR("privacy.pdo", privacy.pdo, "privacy_pdo", &spec_syn_text,
		"Postal address of the data protection officer."),
	OPT_STR("privacy.supervisor", privacy.supervisor, "privacy_supervisor",
		&spec_syn_text,
		"Postal address of the privacy supervisory authority."),

	BOOL("website.enabled", website.enabled, "true",
	     "Serve the website (autoconfig, mta-sts.txt and /new are served "
	     "either way)."),
	STR("website.configMapName", website.config_map_name, "", 0, 253,
	    &spec_syn_k8s_name,
	    "A ConfigMap in the relay's namespace whose keys are file names "
	    "(index.html, info.html, style.css, ...): nginx serves them "
	    "instead of the built-in pages, which remain for any file the "
	    "ConfigMap lacks (upstream's www_folder). Edits reach the running "
	    "Pod without a restart."),
	STR("appVersions.configMapName", app_versions.config_map_name, "", 0,
	    253, &spec_syn_k8s_name,
	    "A ConfigMap in the relay's namespace with the key "
	    "appversions.json: the app versions index clients read through "
	    "IMAP METADATA (/shared/vendor/deltachat/appversions) instead of "
	    "the built-in one (chatmail.ini appversions_file; the JSON schema "
	    "of upstream's defaults/appversions.json). Read on every lookup: "
	    "edits need no restart."),

	BOOL("dns.externalDNS.enabled", dns.external_dns, "false",
	     "Write the records of status.dnsRecords as an external-dns "
	     "DNSEndpoint (externaldns.k8s.io/v1alpha1, named like the relay, "
	     "owned by it) for an external-dns run with --source=crd and "
	     "--managed-record-types for A, AAAA, CNAME, MX, TXT and SRV. "
	     "Needs external-dns's CRD."),

	OPT_STR("push.notificationUrl", push.notification_url,
		"notification_url", &spec_syn_url,
		"Where chatmail-metadata POSTs device tokens of new messages "
		"(Delta Chat's notification proxy)."),

	OPT("ports.filtermailSmtp", ports.filtermail_smtp, SPEC_FT_UINT,
	    "filtermail_smtp_port", "filtermail outgoing SMTP."),
	OPT("ports.filtermailSmtpIncoming", ports.filtermail_smtp_incoming,
	    SPEC_FT_UINT, "filtermail_smtp_port_incoming",
	    "filtermail incoming SMTP."),
	OPT("ports.filtermailHttpIncoming", ports.filtermail_http_incoming,
	    SPEC_FT_UINT, "filtermail_http_port_incoming",
	    "filtermail incoming HTTP, behind /mxdeliv."),
	OPT("ports.filtermailLmtpTransport", ports.filtermail_lmtp_transport,
	    SPEC_FT_UINT, "filtermail_lmtp_port_transport",
	    "filtermail transport LMTP (Postfix's default_transport in "
	    "delivery mode Transport)."),
	OPT("ports.postfixReinject", ports.postfix_reinject, SPEC_FT_UINT,
	    "postfix_reinject_port", "Postfix reinjection of outgoing mail."),
	OPT("ports.postfixReinjectIncoming", ports.postfix_reinject_incoming,
	    SPEC_FT_UINT, "postfix_reinject_port_incoming",
	    "Postfix reinjection of incoming mail."),
};
const size_t spec_nfields = sizeof(spec_fields) / sizeof(spec_fields[0]);

/* the objects of the schema, outermost first */
const struct spec_group spec_groups[] = {
	{ "",
	  "The desired relay. Every option of upstream's chatmail.ini has a "
	  "field here; fields left out take upstream's defaults.",
	  NULL,
	  0,
	  { { "self.domain == 'testrun.org' || "
	      "self.domain.endsWith('.testrun.org') || !['merlinux', "
	      "'schmieder', 'testrun.org'].exists(w, "
	      "self.privacy.mail.contains(w) || "
	      "self.privacy.postal.contains(w) || "
	      "self.privacy.pdo.contains(w) || "
	      "self.privacy.supervisor.contains(w))",
	      "please set your own privacy contacts/addresses (upstream "
	      "refuses testrun.org's on other relays)" },
	    { "!((has(self.backup) && has(self.backup.enabled) && "
	      "self.backup.enabled) || (has(self.restore) && "
	      "has(self.restore.enabled) && self.restore.enabled)) || "
	      "(has(self.backup) && has(self.backup.passwordSecretName) && "
	      "self.backup.passwordSecretName != '' && "
	      "((has(self.backup.target) && self.backup.target == 'S3') ? "
	      "(has(self.backup.s3) && has(self.backup.s3.endpoint) && "
	      "self.backup.s3.endpoint != '' && has(self.backup.s3.bucket) && "
	      "self.backup.s3.bucket != '') : (has(self.backup.claimName) && "
	      "self.backup.claimName != '')))",
	      SPEC_BACKUP_REPO_MSG } } },
	{ "limits",
	  "Per-user limits and connection limits.",
	  "usernameMinLength usernameMaxLength",
	  0,
	  { { "self.usernameMinLength <= self.usernameMaxLength",
	      "usernameMinLength must not exceed usernameMaxLength" } } },
	{ "retention",
	  "How long mail and accounts are kept (the daily expire job).",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "systemLimits",
	  "Host limits under which new accounts are refused while existing "
	  "ones keep working; rejections are logged by doveauth.",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "tls",
	  "The certificate Postfix, Dovecot and nginx share (port 443 passes "
	  "TLS through to all three, so they present one name).",
	  "",
	  0,
	  { { "!has(self.mode) || self.mode != 'Secret' || "
	      "(has(self.secretName) && self.secretName != '')",
	      "secretName is required when mode is Secret" },
	    { "!has(self.mode) || self.mode != 'CertManager' || "
	      "(has(self.issuerRef) && has(self.issuerRef.name) && "
	      "self.issuerRef.name != '')",
	      "issuerRef.name is required when mode is CertManager" },
	    { "(has(self.mode) && self.mode == 'CertManager') || "
	      "!has(self.issuerRef) || !has(self.issuerRef.name) || "
	      "self.issuerRef.name == ''",
	      "issuerRef is only allowed when mode is CertManager" },
	    { "(has(self.eabKeyId) && self.eabKeyId != '') == "
	      "(has(self.eabSecretRef) && has(self.eabSecretRef.name) && "
	      "self.eabSecretRef.name != '')",
	      "eabKeyId and eabSecretRef.name go together" } } },
	{ "tls.eabSecretRef",
	  "The Secret with the external account binding's HMAC key (ACME "
	  "mode).",
	  NULL,
	  0,
	  { { NULL, NULL } } },
	{ "tls.issuerRef",
	  "The cert-manager issuer that signs the certificate (CertManager "
	  "mode).",
	  NULL,
	  0,
	  { { NULL, NULL } } },
	{ "dkim",
	  "DKIM signing of outgoing mail (in filtermail).",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "storage",
	  "Persistent volumes. Deleting the relay never deletes mail unless "
	  "keepOnDelete is false.",
	  "mail.storageClassName queue.storageClassName",
	  0,
	  { { "self.mail.storageClassName == oldSelf.mail.storageClassName && "
	      "self.queue.storageClassName == "
	      "oldSelf.queue.storageClassName",
	      "storageClassName is immutable" } } },
	{ "storage.mail",
	  "The mail store, mounted at /home/vmail (mailboxes, passwords, push "
	  "tokens).",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "storage.queue",
	  "The Postfix queue, mounted at /var/spool/postfix (queued mail "
	  "survives restarts).",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "service",
	  "The Service that exposes ports 25, 80, 143, 443, 465, 587 and 993.",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "network", "Network settings.", "", 0, { { NULL, NULL } } },
	{ "delivery",
	  "How mail for other domains leaves the relay.",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "iroh",
	  "The iroh relay Delta Chat uses for realtime channels and calls.",
	  "",
	  0,
	  { { "!self.enabled || !has(self.url) || self.url == ''",
	      "url is only allowed when enabled is false" } } },
	{ "turn",
	  "The TURN server for calls (chatmail-turn).",
	  "",
	  0,
	  { { "!has(self.hostNetwork) || !self.hostNetwork || "
	      "!has(self.enabled) || self.enabled",
	      "hostNetwork is only allowed when enabled is true" },
	    { "!has(self.hostNetwork) || !self.hostNetwork || "
	      "!has(self.externalIP) || "
	      "self.externalIP == '' || !isIP(self.externalIP) || "
	      "(ip(self.externalIP).family() == 4 && "
	      "ip(self.externalIP).isGlobalUnicast())",
	      "externalIP must be an IPv4 unicast address clients can reach "
	      "with hostNetwork (not loopback, link-local, multicast or "
	      "unspecified; clients are told host:3478 in the turn METADATA "
	      "answer)" },
	    { "!has(self.portRange) || "
	      "!self.portRange.matches('^[0-9]{4,5}-[0-9]{4,5}$') || "
	      "int(self.portRange.split('-')[0]) > 3478 || "
	      "int(self.portRange.split('-')[1]) < 3478",
	      "portRange must not include 3478, the TURN port" },
	    { "!has(self.hostNetwork) || !self.hostNetwork || "
	      "!has(self.portRange) || "
	      "!self.portRange.matches('^[0-9]{4,5}-[0-9]{4,5}$') || "
	      "int(self.portRange.split('-')[1]) < 30000 || "
	      "int(self.portRange.split('-')[0]) > 32767",
	      "portRange must not overlap 30000-32767 with hostNetwork: "
	      "kube-proxy takes the NodePort range on every node" } } },
	{ "expire",
	  "The daily expiry job (chatmail-expire --remove).",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "metrics",
	  "The relay's private metrics: chatmail-exporter on port 9464 of "
	  "the Pod (the services' counters, Dovecot's OpenMetrics and the "
	  "chatmail-metrics figures), the port \"metrics\" of the headless "
	  "Service. Never served publicly.",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "metrics.serviceMonitor",
	  "Scraping by the Prometheus Operator.",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "backup",
	  "Backups with restic (a CronJob); the repository is also the one "
	  "restore reads.",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "backup.s3",
	  "The S3 bucket of target S3.",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "restore",
	  "Restoring a backup into a new relay's empty volumes.",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "imap", "IMAP options.", "", 0, { { NULL, NULL } } },
	{ "privacy",
	  "Contacts for the privacy policy page; privacy mail is also "
	  "advertised as the admin contact (IMAP METADATA /shared/admin).",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "website",
	  "The relay's website (index, info and privacy pages, QR code, "
	  "autoconfig).",
	  "",
	  0,
	  { { "self.enabled || !has(self.configMapName) || "
	      "self.configMapName == ''",
	      "configMapName is only allowed when enabled is true" } } },
	{ "dns",
	  "The relay's DNS records (status.dnsRecords, checked live into "
	  "status.dnsCheck).",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "dns.externalDNS",
	  "Publishing the records through external-dns.",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "appVersions",
	  "The app versions index (IMAP METADATA "
	  "/shared/vendor/deltachat/appversions).",
	  "",
	  0,
	  { { NULL, NULL } } },
	{ "push", "Push notifications.", "", 0, { { NULL, NULL } } },
	{ "ports",
	  "Internal loopback ports inside the Pod (upstream's *_port "
	  "options); change only to avoid a conflict.",
	  "",
	  SPEC_G_DISTINCT | SPEC_G_ALL_DEFAULTS,
	  { { NULL, NULL } } },
};
const size_t spec_ngroups = sizeof(spec_groups) / sizeof(spec_groups[0]);

/* the containers: JSON key and what runs there */
static const struct {
	const char *name, *desc;
} containers[SPEC_C_COUNT] = {
	{ "postfix", "the postfix container" },
	{ "dovecot", "the dovecot container" },
	{ "nginx", "the nginx container" },
	{ "filtermail", "the filtermail containers (outgoing, incoming and "
			"transport)" },
	{ "doveauth", "the doveauth container" },
	{ "metadata", "the chatmail-metadata container (IMAP METADATA and push "
		      "notifications)" },
	{ "lastlogin", "the lastlogin container" },
	{ "newemail", "the newemail container (POST /new)" },
	{ "irohRelay", "the iroh-relay container" },
	{ "cert", "the cert container (reloads daemons on certificate "
		  "renewal)" },
	{ "turn", "the turn container (chatmail-turn)" },
	{ "exporter", "the exporter container (chatmail-exporter, the metrics "
		      "port)" },
	{ "jobs", "the expire, metrics and backup CronJobs and the restore "
		  "init container" },
};

/* spec_container_index: the container whose JSON key is key, or -1 */
int
spec_container_index(const char *key)
{
	int c;

	for (c = 0; c < SPEC_C_COUNT; c++)
		if (strcmp(containers[c].name, key) == 0)
			return c;
	return -1;
}

/* spec_container_name: the JSON key of container c */
const char *
spec_container_name(enum spec_container c)
{
	return c < SPEC_C_COUNT ? containers[c].name : "";
}

/* spec_container_desc: what container c runs */
const char *
spec_container_desc(enum spec_container c)
{
	return c < SPEC_C_COUNT ? containers[c].desc : "";
}

const char *
spec_tls_mode_name(enum spec_tls_mode m)
{
	return tls_names[m];
}

const char *
spec_registration_name(enum spec_registration r)
{
	return reg_names[r];
}

const char *
spec_service_type_name(enum spec_service_type t)
{
	return svc_names[t];
}

const char *
spec_traffic_policy_name(enum spec_traffic_policy p)
{
	return etp_names[p];
}

const char *
spec_delivery_mode_name(enum spec_delivery_mode m)
{
	return delivery_names[m];
}
