/* test_config: chatmail.ini options, defaults, derived values, errors,
 * environment overrides and the -n dump, against upstream's config.py */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "buf.h"
#include "config.h"

/* load: text into cfg without the environment; returns config's result
 * and leaves the error text in err (reset first) */
static int
load(struct chatmail_config *cfg, const char *text, struct buf *err)
{
	buf_reset(err);
	return config_load_string(cfg, text, 0, err);
}

/* dump: config_dump into a fresh string (caller frees) */
static char *
dump(const struct chatmail_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	config_dump(cfg, f);
	assert_int(fclose(f), 0);
	return text;
}

/* drop_notes: remove the "# unknown ..." and "# warning: ..." lines,
 * which describe the input file and so do not survive a round trip */
static void
drop_notes(char *text)
{
	char *r = text, *w = text;
	size_t n;

	while (*r != '\0') {
		n = strcspn(r, "\n") + (r[strcspn(r, "\n")] == '\n');
		if (strncmp(r, "# unknown", 9) != 0 &&
		    strncmp(r, "# warning", 9) != 0) {
			memmove(w, r, n);
			w += n;
		}
		r += n;
	}
	*w = '\0';
}

/* upstream's test_read_config_basic_using_defaults, and every other
 * default of config.py and ours */
static void
test_defaults(void **state)
{
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);

	(void)state;
	assert_int(load(&c, "[params]\nmail_domain = chat.example.org", &err),
		   0);
	assert_str(buf_cstr(&err), "");
	assert_str(c.mail_domain, "chat.example.org");
	assert_str(c.mail_domain_bare, "chat.example.org");
	assert_int(c.ipv4_relay, 0);
	assert_str(c.postfix_myhostname, "chat.example.org");
	assert_int(c.max_user_send_per_minute, 60);
	assert_int(c.max_user_send_burst_size, 10);
	assert_str(c.max_mailbox_size, "500M");
	assert_int(c.max_mailbox_size_mb, 500);
	assert_int(c.max_message_size, 31457280);
	assert_int(c.delete_mails_after, 20);
	assert_int(c.delete_large_after, 7);
	assert_int(c.delete_inactive_users_after, 90);
	assert_int(c.username_min_length, 9);
	assert_int(c.username_max_length, 9);
	assert_int(c.password_min_length, 9);
	assert_true(c.max_load_1m == 5.0);
	assert_str(c.min_available_memory, "200M");
	assert_int(c.min_available_memory_mb, 200);
	assert_str(c.min_free_disk_space, "1G");
	assert_int(c.min_free_disk_space_mb, 1024);
	assert_int(c.max_imap_connections, 10000);
	assert_int(c.max_smtp_connections, 1000);
	assert_str(c.tls_external_cert_and_key, "");
	assert_str(c.www_folder, "");
	assert_int(c.disable_ipv6, 0);
	assert_str(c.acme_email, "");
	assert_str(c.iroh_relay, "https://chat.example.org");
	assert_int(c.enable_iroh_relay, 1);
	assert_null(c.mtail_address);
	assert_int(c.imap_rawlog, 0);
	assert_int(c.imap_compress, 0);
	assert_str(c.turn_socket_path, "/run/chatmail-turn/turn.socket");
	assert_str(c.privacy_postal, "");
	assert_str(c.privacy_mail, "");
	assert_str(c.privacy_pdo, "");
	assert_str(c.privacy_supervisor, "");
	assert_int(c.filtermail_smtp_port, 10080);
	assert_int(c.filtermail_smtp_port_incoming, 10081);
	assert_int(c.filtermail_http_port_incoming, 10082);
	assert_int(c.filtermail_lmtp_port_transport, 10083);
	assert_int(c.postfix_reinject_port, 10025);
	assert_int(c.postfix_reinject_port_incoming, 10026);
	assert_str(c.mailboxes_dir, "/home/vmail/mail/chat.example.org");
	assert_str(c.passdb_path, "/home/vmail/passdb.sqlite");
	assert_str(c.filtermail_smtp_host, "127.0.0.1");
	assert_str(c.postfix_reinject_host, "127.0.0.1");
	assert_str(c.nocreate_file, "/etc/chatmail-nocreate");
	assert_str(c.notification_url,
		   "https://notifications.delta.chat/notify");
	assert_str(c.dkim_selector, "opendkim");
	/* upstream's ini: no signing, no milter (docs/UPSTREAM.md, DKIM) */
	assert_str(c.dkim_key_file, "");
	assert_str(c.dns_server, "");
	assert_str(c.appversions_file, "");
	assert_int(c.filtermail_milter_port, 0);
	assert_int(c.tls_cert_mode, TLS_CERT_ACME);
	assert_str(c.unknown, "");
	assert_str(c.warnings, "");
	config_deinit(&c);
	config_deinit(&c); /* twice is fine */

	/* init then load, and loading again, free what was there (ASan
	 * proves it) */
	config_init(&c);
	assert_null(c.mail_domain);
	assert_int(c.max_user_send_per_minute, 60);
	assert_int(load(&c, "[params]\nmail_domain = a.org", &err), 0);
	assert_int(load(&c, "[params]\nmail_domain = b.org", &err), 0);
	assert_str(c.mail_domain, "b.org");
	assert_int(load(&c, "[params]\n", &err), -1);
	assert_null(c.mail_domain);
	config_deinit(&c);
	buf_deinit(&err);
}

/* every option set to a non-default value is read into its field */
static void
test_every_option(void **state)
{
	static const char text[] =
		"[params]\n"
		"mail_domain = _x.example\n"
		"max_user_send_per_minute = 37\n"
		"max_user_send_burst_size = +3\n"
		"max_mailbox_size = 2gb\n"
		"max_message_size = 10000\n"
		"delete_mails_after = 21\n"
		"delete_large_after = 008\n"
		"delete_inactive_users_after = 91\n"
		"username_min_length = 5\n"
		"username_max_length = 12\n"
		"password_min_length = 14\n"
		"www_folder = /srv/www/\n"
		"filtermail_smtp_port = 2001\n"
		"filtermail_smtp_port_incoming = 2002\n"
		"filtermail_http_port_incoming = 2003\n"
		"filtermail_lmtp_port_transport = 2004\n"
		"postfix_reinject_port = 2005\n"
		"postfix_reinject_port_incoming = 2006\n"
		"mtail_address = 10.0.0.1\n"
		"disable_ipv6 = True\n"
		"acme_email = ops@x.example\n"
		"imap_rawlog = TRUE\n"
		"imap_compress = true\n"
		"turn_socket_path = /tmp/t.sock\n"
		"iroh_relay = https://iroh.example/ \n"
		"privacy_postal = Street 1\n  12345 Town\n"
		"privacy_mail = privacy@x.example\n"
		"privacy_pdo = PDO\n"
		"privacy_supervisor = Authority\n\tCity\n"
		"max_load_1m = 2.5\n"
		"min_available_memory = 64\n"
		"min_free_disk_space = 3 G\n"
		"max_imap_connections = 500\n"
		"max_smtp_connections = 50\n"
		"tls_external_cert_and_key =  /c/cert.pem \t /c/key.pem \n"
		"mailboxes_dir = /data/mail//\n"
		"passdb_path = /data/passdb.sqlite\n"
		"filtermail_host = 10.0.0.2\n"
		"postfix_reinject_host = 10.0.0.3\n"
		"nocreate_file = /data/nocreate\n"
		"notification_url = http://127.0.0.1:9/notify\n"
		"dkim_selector = sel2024\n"
		"dkim_key_file = /data/dkim.key\n"
		"dns_server = 127.0.0.1:5353\n"
		"appversions_file = /data/appversions.json\n"
		"filtermail_milter_port = 2005\n";
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);

	(void)state;
	assert_int(load(&c, text, &err), 0);
	assert_str(buf_cstr(&err), "");
	assert_str(c.mail_domain, "_x.example");
	assert_int(c.max_user_send_per_minute, 37);
	assert_int(c.max_user_send_burst_size, 3);
	assert_str(c.max_mailbox_size, "2gb");
	assert_int(c.max_mailbox_size_mb, 2048);
	assert_int(c.max_message_size, 10000);
	assert_int(c.delete_mails_after, 21);
	assert_int(c.delete_large_after, 8);
	assert_int(c.delete_inactive_users_after, 91);
	assert_int(c.username_min_length, 5);
	assert_int(c.username_max_length, 12);
	assert_int(c.password_min_length, 14);
	assert_str(c.www_folder, "/srv/www/");
	assert_int(c.filtermail_smtp_port, 2001);
	assert_int(c.filtermail_smtp_port_incoming, 2002);
	assert_int(c.filtermail_http_port_incoming, 2003);
	assert_int(c.filtermail_lmtp_port_transport, 2004);
	assert_int(c.postfix_reinject_port, 2005);
	assert_int(c.postfix_reinject_port_incoming, 2006);
	assert_str(c.mtail_address, "10.0.0.1");
	assert_int(c.disable_ipv6, 1);
	assert_str(c.acme_email, "ops@x.example");
	assert_int(c.imap_rawlog, 1);
	assert_int(c.imap_compress, 1);
	assert_str(c.turn_socket_path, "/tmp/t.sock");
	assert_str(c.iroh_relay, "https://iroh.example/");
	assert_int(c.enable_iroh_relay, 0);
	assert_str(c.privacy_postal, "Street 1\n12345 Town");
	assert_str(c.privacy_mail, "privacy@x.example");
	assert_str(c.privacy_pdo, "PDO");
	assert_str(c.privacy_supervisor, "Authority\nCity");
	assert_true(c.max_load_1m == 2.5);
	assert_int(c.min_available_memory_mb, 64);
	assert_int(c.min_free_disk_space_mb, 3072);
	assert_int(c.max_imap_connections, 500);
	assert_int(c.max_smtp_connections, 50);
	assert_int(c.tls_cert_mode, TLS_CERT_EXTERNAL);
	assert_str(c.tls_cert_path, "/c/cert.pem");
	assert_str(c.tls_key_path, "/c/key.pem");
	assert_str(c.mailboxes_dir, "/data/mail");
	assert_str(c.passdb_path, "/data/passdb.sqlite");
	assert_str(c.filtermail_smtp_host, "10.0.0.2");
	assert_str(c.postfix_reinject_host, "10.0.0.3");
	assert_str(c.nocreate_file, "/data/nocreate");
	assert_str(c.notification_url, "http://127.0.0.1:9/notify");
	assert_str(c.dkim_selector, "sel2024");
	assert_str(c.dkim_key_file, "/data/dkim.key");
	assert_str(c.dns_server, "127.0.0.1:5353");
	assert_str(c.appversions_file, "/data/appversions.json");
	assert_int(c.filtermail_milter_port, 2005);
	assert_str(c.unknown, "");
	assert_str(c.warnings, "");
	config_deinit(&c);
	buf_deinit(&err);
}

/* upstream's test_parse_size_mb and more */
static void
test_size_mb(void **state)
{
	static const struct {
		const char *in;
		int want;
		uint64_t mb;
	} cases[] = {
		{ "500M", 0, 500 },
		{ "2G", 0, 2048 },
		{ "  1g  ", 0, 1024 },
		{ "100MB", 0, 100 },
		{ "100mb", 0, 100 },
		{ "1Gb", 0, 1024 },
		{ "256", 0, 256 },
		{ "256B", 0, 256 },
		{ "5 M", 0, 5 },
		{ "+7G", 0, 7168 },
		{ "0", 0, 0 },
		{ "", -EINVAL, 0 },
		{ "M", -EINVAL, 0 },
		{ "B", -EINVAL, 0 },
		{ "BB", -EINVAL, 0 },
		{ "500K", -EINVAL, 0 },
		{ "1.5G", -EINVAL, 0 },
		{ "-5M", -EINVAL, 0 },
		{ "5MM", -EINVAL, 0 },
		{ "18014398509481984G", -ERANGE, 0 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
	};
	size_t i;
	uint64_t mb;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mb = 4242;
		if (config_parse_size_mb(cases[i].in, &mb) != cases[i].want)
			print_error("case \"%s\"\n", cases[i].in);
		assert_int(config_parse_size_mb(cases[i].in, &mb),
			   cases[i].want);
		if (cases[i].want == 0)
			assert_true(mb == cases[i].mb);
	}
}

/* IPv4 relays: "[a.b.c.d]", self-signed TLS, reverse pointer hostname;
 * what Python's ipaddress does not take as IPv4 is a name (or invalid) */
static void
test_ipv4(void **state)
{
	static const struct {
		const char *domain;
		int ok, ipv4;
		const char *mail_domain, *myhostname;
	} cases[] = {
		{ "1.3.3.7", 1, 1, "[1.3.3.7]", "7.3.3.1.in-addr.arpa" },
		{ "0.0.0.0", 1, 1, "[0.0.0.0]", "0.0.0.0.in-addr.arpa" },
		{ "255.255.255.255", 1, 1, "[255.255.255.255]",
		  "255.255.255.255.in-addr.arpa" },
		{ "12394142", 1, 0, "12394142", "12394142" },
		{ "ad.1e.dag.adf", 1, 0, "ad.1e.dag.adf", "ad.1e.dag.adf" },
		{ "01.2.3.4", 1, 0, "01.2.3.4", "01.2.3.4" },
		{ "1.2.3", 1, 0, "1.2.3", "1.2.3" },
		{ "256.1.1.1", 1, 0, "256.1.1.1", "256.1.1.1" },
		{ "1.2.3.4.5", 1, 0, "1.2.3.4.5", "1.2.3.4.5" },
		{ "fe::1", 0, 0, NULL, NULL },
		{ "[1.2.3.4]", 0, 0, NULL, NULL },
	};
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);
	char text[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(text, sizeof(text),
			       "[params]\nmail_domain = %s\n", cases[i].domain);
		assert_int(load(&c, text, &err), cases[i].ok ? 0 : -1);
		if (!cases[i].ok) {
			assert_non_null(strstr(buf_cstr(&err),
					       "not a domain name or IPv4"));
			config_deinit(&c);
			continue;
		}
		assert_int(c.ipv4_relay, cases[i].ipv4);
		assert_str(c.mail_domain, cases[i].mail_domain);
		assert_str(c.mail_domain_bare, cases[i].domain);
		assert_str(c.postfix_myhostname, cases[i].myhostname);
		if (cases[i].ipv4)
			assert_int(c.tls_cert_mode, TLS_CERT_SELF);
		config_deinit(&c);
	}
	buf_deinit(&err);
}

/* upstream's test_config_tls_*: external beats '_' beats acme */
static void
test_tls_modes(void **state)
{
	static const struct {
		const char *domain, *external;
		enum tls_cert_mode mode;
		const char *cert, *key;
	} cases[] = {
		{ "chat.example.org", NULL, TLS_CERT_ACME,
		  "/var/lib/acme/live/chat.example.org/fullchain",
		  "/var/lib/acme/live/chat.example.org/privkey" },
		{ "_test.example.org", NULL, TLS_CERT_SELF,
		  "/etc/ssl/certs/mailserver.pem",
		  "/etc/ssl/private/mailserver.key" },
		{ "10.1.2.3", NULL, TLS_CERT_SELF,
		  "/etc/ssl/certs/mailserver.pem",
		  "/etc/ssl/private/mailserver.key" },
		{ "chat.example.org",
		  "/custom/fullchain.pem /custom/privkey.pem",
		  TLS_CERT_EXTERNAL, "/custom/fullchain.pem",
		  "/custom/privkey.pem" },
		{ "_test.example.org",
		  "/certs/fullchain.pem /certs/privkey.pem", TLS_CERT_EXTERNAL,
		  "/certs/fullchain.pem", "/certs/privkey.pem" },
		{ "chat.example.org", "   ", TLS_CERT_ACME,
		  "/var/lib/acme/live/chat.example.org/fullchain",
		  "/var/lib/acme/live/chat.example.org/privkey" },
	};
	static const char *const names[] = { "acme", "self", "external" };
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(
			text, sizeof(text),
			"[params]\nmail_domain = %s\n%s%s\n", cases[i].domain,
			cases[i].external ? "tls_external_cert_and_key =" : "",
			cases[i].external ? cases[i].external : "");
		assert_int(load(&c, text, &err), 0);
		assert_int(c.tls_cert_mode, cases[i].mode);
		assert_str(config_tls_cert_mode_name(c.tls_cert_mode),
			   names[cases[i].mode]);
		assert_str(c.tls_cert_path, cases[i].cert);
		assert_str(c.tls_key_path, cases[i].key);
		config_deinit(&c);
	}
	/* upstream's test_config_tls_external_bad_format */
	assert_int(load(&c,
			"[params]\nmail_domain = a.org\n"
			"tls_external_cert_and_key = /only/one/path.pem\n",
			&err),
		   -1);
	assert_non_null(strstr(buf_cstr(&err), "two space-separated"));
	config_deinit(&c);
	buf_deinit(&err);
}

/* iroh_relay unset (local relay), set empty (none), set to a URL */
static void
test_iroh_and_mtail(void **state)
{
	static const struct {
		const char *line;
		const char *iroh;
		int enable;
	} cases[] = {
		{ "", "https://a.org", 1 },
		{ "iroh_relay =\n", "", 0 },
		{ "iroh_relay =   \n", "", 0 },
		{ "iroh_relay = https://iroh.a.org\n", "https://iroh.a.org",
		  0 },
	};
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);
	char text[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(text, sizeof(text),
			       "[params]\nmail_domain = a.org\n%s",
			       cases[i].line);
		assert_int(load(&c, text, &err), 0);
		assert_str(c.iroh_relay, cases[i].iroh);
		assert_int(c.enable_iroh_relay, cases[i].enable);
		config_deinit(&c);
	}
	/* an empty mtail_address is unset, like upstream's falsy "" */
	assert_int(load(&c, "[params]\nmail_domain = a.org\nmtail_address =\n",
			&err),
		   0);
	assert_null(c.mtail_address);
	config_deinit(&c);
	/* an empty dkim_key_file turns filtermail's signing off */
	assert_int(load(&c, "[params]\nmail_domain = a.org\ndkim_key_file =\n",
			&err),
		   0);
	assert_str(c.dkim_key_file, "");
	config_deinit(&c);
	/* the milter port has no default; once given it is a real port */
	assert_int(load(&c,
			"[params]\nmail_domain = a.org\n"
			"filtermail_milter_port = 0\n",
			&err),
		   -1);
	config_deinit(&c);
	buf_deinit(&err);
}

/* booleans: true only for "true" in any case; odd values warn */
static void
test_booleans(void **state)
{
	static const struct {
		const char *v;
		int want, warns;
	} cases[] = {
		{ "true", 1, 0 },  { "True", 1, 0 },  { "TRUE", 1, 0 },
		{ "false", 0, 0 }, { "False", 0, 0 }, { "", 0, 0 },
		{ "yes", 0, 1 },   { "1", 0, 1 },     { "on", 0, 1 },
	};
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);
	char text[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(text, sizeof(text),
			       "[params]\nmail_domain = a.org\n"
			       "imap_compress = %s\n",
			       cases[i].v);
		assert_int(load(&c, text, &err), 0);
		assert_int(c.imap_compress, cases[i].want);
		assert_int(*c.warnings != '\0', cases[i].warns);
		if (cases[i].warns)
			assert_non_null(strstr(c.warnings, "imap_compress"));
		config_deinit(&c);
	}
	buf_deinit(&err);
}

/* upstream's test_config_unused_keys; other sections are ignored */
static void
test_unknown_keys(void **state)
{
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);

	(void)state;
	assert_int(load(&c,
			"[params]\nmail_domain = a.org\n"
			"passthrough_senders = x@y.org\n"
			"zzz = 1\npassthrough_recipients =\n"
			"[other]\nnot_reported = 1\n",
			&err),
		   0);
	assert_str(c.unknown,
		   "passthrough_senders, zzz, passthrough_recipients");
	config_deinit(&c);
	buf_deinit(&err);
}

/* CHATMAIL_<NAME> overrides the file, only when asked for */
static void
test_env_override(void **state)
{
	static const char text[] = "[params]\nmail_domain = a.org\n"
				   "max_user_send_per_minute = 10\n";
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);

	(void)state;
	assert_int(setenv("CHATMAIL_MAX_USER_SEND_PER_MINUTE", " 37 ", 1), 0);
	assert_int(setenv("CHATMAIL_MAILBOXES_DIR", "/env/mail", 1), 0);
	assert_int(setenv("CHATMAIL_IROH_RELAY", "", 1), 0);
	assert_int(load(&c, text, &err), 0);
	assert_int(c.max_user_send_per_minute, 10);
	assert_str(c.mailboxes_dir, "/home/vmail/mail/a.org");
	config_deinit(&c);

	assert_int(config_load_string(&c, text, 1, &err), 0);
	assert_int(c.max_user_send_per_minute, 37);
	assert_str(c.mailboxes_dir, "/env/mail");
	assert_str(c.iroh_relay, "");
	assert_int(c.enable_iroh_relay, 0);
	config_deinit(&c);

	/* a bad environment value names the variable */
	assert_int(setenv("CHATMAIL_MAX_USER_SEND_PER_MINUTE", "lots", 1), 0);
	assert_int(config_load_string(&c, text, 1, &err), -1);
	assert_str(buf_cstr(&err),
		   "max_user_send_per_minute (environment "
		   "CHATMAIL_MAX_USER_SEND_PER_MINUTE): invalid value \"lots\":"
		   " not a number\n");
	config_deinit(&c);

	/* the domain itself can come from the environment */
	assert_int(unsetenv("CHATMAIL_MAX_USER_SEND_PER_MINUTE"), 0);
	assert_int(setenv("CHATMAIL_MAIL_DOMAIN", "env.example", 1), 0);
	buf_reset(&err);
	assert_int(config_load_string(&c, "[params]\n", 1, &err), 0);
	assert_str(c.mail_domain, "env.example");
	config_deinit(&c);
	assert_int(unsetenv("CHATMAIL_MAIL_DOMAIN"), 0);
	assert_int(unsetenv("CHATMAIL_MAILBOXES_DIR"), 0);
	assert_int(unsetenv("CHATMAIL_IROH_RELAY"), 0);
	buf_deinit(&err);
}

/* validation_cases: one bad line each, the error it gives */
static const struct {
	const char *line, *want;
} validation_cases[] = {
	{ "max_user_send_per_minute = 0",
	  "max_user_send_per_minute (line 3): invalid value \"0\": out"
	  " of range 1..1000000" },
	{ "max_user_send_burst_size = ten",
	  "max_user_send_burst_size (line 3): invalid value \"ten\":"
	  " not a number" },
	{ "max_mailbox_size = 5K",
	  "max_mailbox_size (line 3): invalid value \"5K\": not a size"
	  " like 500M or 2G" },
	{ "max_mailbox_size = 0M",
	  "max_mailbox_size (line 3): invalid value \"0M\": out of"
	  " range 1..1073741824 MB" },
	{ "max_message_size = -1",
	  "max_message_size (line 3): invalid value \"-1\": not a"
	  " number" },
	{ "delete_mails_after = 0",
	  "delete_mails_after (line 3): invalid value \"0\": out of"
	  " range 1..36500" },
	{ "delete_large_after = 7 # a week",
	  "delete_large_after (line 3): invalid value \"7 # a week\":"
	  " not a number" },
	{ "delete_inactive_users_after = 1e3",
	  "delete_inactive_users_after (line 3): invalid value \"1e3\":"
	  " not a number" },
	{ "username_min_length = 65",
	  "username_min_length (line 3): invalid value \"65\": out of"
	  " range 1..64" },
	{ "username_max_length = 0",
	  "username_max_length (line 3): invalid value \"0\": out of"
	  " range 1..64" },
	{ "username_min_length = 10", "username_min_length (10) is greater than"
				      " username_max_length (9)" },
	{ "password_min_length = 0",
	  "password_min_length (line 3): invalid value \"0\": out of"
	  " range 1..256" },
	{ "filtermail_smtp_port = 65536",
	  "filtermail_smtp_port (line 3): invalid value \"65536\": out"
	  " of range 1..65535" },
	{ "postfix_reinject_port = 0",
	  "postfix_reinject_port (line 3): invalid value \"0\": out of"
	  " range 1..65535" },
	{ "max_load_1m = lots",
	  "max_load_1m (line 3): invalid value \"lots\": not a"
	  " number" },
	{ "max_load_1m = -1",
	  "max_load_1m (line 3): invalid value \"-1\": out of range"
	  " 0..1000000" },
	{ "min_free_disk_space = 1T",
	  "min_free_disk_space (line 3): invalid value \"1T\": not a"
	  " size like 500M or 2G" },
	{ "max_imap_connections = 0",
	  "max_imap_connections (line 3): invalid value \"0\": out of"
	  " range 1..1000000" },
	/* Postfix's per-client limit is a fifth: 4 / 5 = 0, unlimited */
	{ "max_smtp_connections = 4",
	  "max_smtp_connections (line 3): invalid value \"4\": out of"
	  " range 5..100000" },
	{ "max_message_size = 1023",
	  "max_message_size (line 3): invalid value \"1023\": out of"
	  " range 1024..1073741824" },
	{ "turn_socket_path =",
	  "turn_socket_path (line 3): invalid value \"\": must not be"
	  " empty" },
	{ "mailboxes_dir =",
	  "mailboxes_dir (line 3): invalid value \"\": must not be"
	  " empty" },
	{ "notification_url = ftp://x",
	  "notification_url (line 3): invalid value \"ftp://x\": not"
	  " an http:// or https:// URL" },
	{ "dkim_selector = a b",
	  "dkim_selector (line 3): invalid value \"a b\": only letters,"
	  " digits, '.', '-' and '_' are allowed" },
	{ "acme_email = a\tb\x01",
	  "acme_email (line 3): invalid value \"a\\tb\\x01\": control"
	  " characters are not allowed" },
	{ "postfix_host = 10.0.0.1\npostfix_reinject_host = 10.0.0.2",
	  "postfix_reinject_host (line 4): the same option as"
	  " postfix_host (line 3); set only one" },
	{ "k = 1\nk = 2", "line 4: duplicate name 'k'" },
};

/* each validation rule, one bad value at a time: got/want error line */
static void
test_validation_table(void **state)
{
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(validation_cases) / sizeof(validation_cases[0]);
	     i++) {
		(void)snprintf(text, sizeof(text),
			       "[params]\nmail_domain = a.org\n%s\n",
			       validation_cases[i].line);
		assert_int(load(&c, text, &err), -1);
		buf_truncate(&err, err.len > 0 ? err.len - 1 : 0);
		assert_str(buf_cstr(&err), validation_cases[i].want);
		config_deinit(&c);
	}
	buf_deinit(&err);
}

/* every problem is reported at once, one per line */
static void
test_all_errors_at_once(void **state)
{
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);
	const char *e;
	size_t lines = 0;

	(void)state;
	assert_int(load(&c,
			"[params]\nmail_domain = ../etc\n"
			"max_user_send_per_minute = x\n"
			"filtermail_smtp_port = 0\n"
			"max_mailbox_size = big\n"
			"username_min_length = 20\n"
			"username_max_length = 10\n",
			&err),
		   -1);
	for (e = buf_cstr(&err); *e != '\0'; e++)
		lines += *e == '\n';
	assert_int(lines, 5);
	assert_non_null(strstr(err.data, "mail_domain (line 2)"));
	assert_non_null(strstr(err.data, "max_user_send_per_minute (line 3)"));
	assert_non_null(strstr(err.data, "filtermail_smtp_port (line 4)"));
	assert_non_null(strstr(err.data, "max_mailbox_size (line 5)"));
	assert_non_null(strstr(err.data, "username_min_length (20) is"));
	config_deinit(&c);
	buf_deinit(&err);
}

/* file-level problems: clear messages, cfg still freeable */
static void
test_file_errors(void **state)
{
	char *dir = test_tmpdir(), path[512];
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);
	FILE *f;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/missing.ini", dir);
	assert_int(config_load(&c, path, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "missing.ini: No such file"));
	config_deinit(&c);

	buf_reset(&err);
	assert_int(config_load(&c, dir, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), ": not a regular file"));
	config_deinit(&c);

	(void)snprintf(path, sizeof(path), "%s/c.ini", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	(void)fputs("[params]\nmail_domain = a.org\nx = \xff\xfe\n", f);
	assert_int(fclose(f), 0);
	buf_reset(&err);
	assert_int(config_load(&c, path, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "c.ini: not valid UTF-8"));
	config_deinit(&c);

	f = fopen(path, "w");
	assert_non_null(f);
	(void)fputs("[params]\r\nmail_domain = a.org\r\n", f);
	assert_int(fputc('\0', f), 0);
	assert_int(fclose(f), 0);
	buf_reset(&err);
	assert_int(config_load(&c, path, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "c.ini: NUL byte in file"));
	config_deinit(&c);

	assert_int(truncate(path, CONFIG_FILE_MAX + 1), 0);
	buf_reset(&err);
	assert_int(config_load(&c, path, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "c.ini: file too large"));
	config_deinit(&c);

	assert_int(load(&c, "[other]\nmail_domain = a.org\n", &err), -1);
	assert_str(buf_cstr(&err), "no [params] section\n");
	config_deinit(&c);
	assert_int(load(&c, "[params]\nmax_load_1m = 3\n", &err), -1);
	assert_str(buf_cstr(&err), "mail_domain is not set (it is required)\n");
	config_deinit(&c);
	assert_int(load(&c, "mail_domain = a.org\n", &err), -1);
	assert_str(buf_cstr(&err), "line 1: no section header defined\n");
	config_deinit(&c);
	/* a NULL err is fine */
	assert_int(config_load_string(&c, "[params]\n", 0, NULL), -1);
	config_deinit(&c);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
}

/* a real file: CRLF, BOM, comments, upstream's template shape */
static void
test_file_ok(void **state)
{
	char *dir = test_tmpdir(), path[512];
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);
	FILE *f;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/chatmail.ini", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	(void)fputs("\xef\xbb\xbf[params]\r\n\r\n# mail domain\r\n"
		    "mail_domain = chat.example.org\r\n"
		    "#max_user_send_per_minute = 60\r\n"
		    "; other comment\r\n   # indented comment\r\n"
		    "max_user_send_per_minute = 37\r\n"
		    "privacy_postal =\r\nprivacy_mail =\r\n",
		    f);
	assert_int(fclose(f), 0);
	assert_int(config_load(&c, path, &err), 0);
	assert_str(buf_cstr(&err), "");
	assert_str(c.mail_domain, "chat.example.org");
	assert_int(c.max_user_send_per_minute, 37);
	assert_str(c.privacy_postal, "");
	config_deinit(&c);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
}

/* -n: the dump loads back to the same config, and shows what it should */
static void
test_dump_roundtrip(void **state)
{
	static const char *const texts[] = {
		"[params]\nmail_domain = 1.3.3.7\nprivacy_postal = a\n  b\n"
		"max_load_1m = 0.000012345\nzz = 1\ndisable_ipv6 = yes\n",
		"[params]\nmail_domain = chat.example.org\niroh_relay =\n"
		"mtail_address = 127.0.0.1\nmax_load_1m = 0.1\n"
		"tls_external_cert_and_key = /a /b\n",
		"[params]\nmail_domain = _x\nmax_load_1m = 123456.75\n",
	};
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);
	char *one, *two;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int(load(&c, texts[i], &err), 0);
		one = dump(&c);
		config_deinit(&c);
		assert_int(load(&c, one, &err), 0);
		two = dump(&c);
		config_deinit(&c);
		if (i == 0) {
			assert_non_null(strstr(one, "[params]\nmail_domain"
						    " = 1.3.3.7\n"));
			assert_non_null(
				strstr(one, "\nprivacy_postal = a\n    b\n"));
			assert_non_null(
				strstr(one, "\nmax_load_1m = 0.000012345\n"));
			assert_non_null(strstr(one, "# iroh_relay is unset"));
			assert_non_null(strstr(one, "# mtail_address is"));
			assert_non_null(strstr(
				one, "# filtermail_milter_port is unset\n"));
			assert_non_null(strstr(one, "tls_cert_mode self"));
			assert_non_null(
				strstr(one, "# unknown keys (ignored): zz\n"));
			assert_non_null(strstr(one, "# warning: disable_ipv6"));
		}
		drop_notes(one);
		assert_str(two, one);
		free(two);
		free(one);
	}
	buf_deinit(&err);
}

/* values the way iniconfig hands them over: continuation lines in
 * privacy fields, inline '#' kept, ':' separator, trailing slashes */
static void
test_ini_semantics(void **state)
{
	struct chatmail_config c = { 0 };
	struct buf err = BUF_INIT(4096);

	(void)state;
	assert_int(load(&c,
			"[params]\nmail_domain: a.org\n"
			"privacy_mail = x#y@a.org\n"
			"mailboxes_dir = /m/\n",
			&err),
		   0);
	assert_str(c.mail_domain, "a.org");
	assert_str(c.privacy_mail, "x#y@a.org");
	assert_str(c.mailboxes_dir, "/m");
	config_deinit(&c);
	/* fuzz_ini found: "/x \t/" lost its '/' and kept a trailing blank
	 * that a reload of the dump would strip */
	assert_int(load(&c,
			"[params]\nmail_domain = a.org\n"
			"mailboxes_dir = /m/x \t/\npassdb_path = /p\t//\n",
			&err),
		   0);
	assert_str(c.mailboxes_dir, "/m/x");
	assert_str(c.passdb_path, "/p");
	config_deinit(&c);
	/* a newline is only allowed where an address needs several lines */
	assert_int(load(&c,
			"[params]\nmail_domain = a.org\nwww_folder = a\n b\n",
			&err),
		   -1);
	assert_non_null(strstr(buf_cstr(&err), "www_folder (line 3)"));
	assert_non_null(strstr(buf_cstr(&err), "control characters"));
	config_deinit(&c);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_size_mb),
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_tls_modes),
		cmocka_unit_test(test_iroh_and_mtail),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_env_override),
		cmocka_unit_test(test_validation_table),
		cmocka_unit_test(test_all_errors_at_once),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_ok),
		cmocka_unit_test(test_dump_roundtrip),
		cmocka_unit_test(test_ini_semantics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
