/*
 * test_layout: the relay's layout (render_target, render_command,
 * render_target_env) agrees with what is rendered from it: every Unix
 * socket a config file names is the one the serving process's command
 * line names, every config file a command names is a rendered file,
 * the Pod and local layouts differ only where they must, and the
 * shell form for hack/local-relay.sh carries the moved ports. Bad
 * layouts (two ports the same, a port moved past 65535) are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "render/render.h"
#include "spec.h"

/* render_for: every file of a default relay on t */
static void
render_for(const struct render_target *t, struct render_set *set)
{
	struct buf err = BUF_INIT(8192);
	struct relay_spec *s = spec_new();

	render_target_set(&s->domain, "chat.example.org");
	if (render_all(s, t, set, &err) < 0)
		fail_msg("render: %s", buf_cstr(&err));
	spec_free(&s);
	buf_deinit(&err);
}

/* file_at: the rendered file at absolute path abs (below t's root) */
static const char *
file_at(const struct render_target *t, const struct render_set *set,
	const char *abs)
{
	size_t n = strlen(t->root);
	const struct render_file *f;

	assert_int(strncmp(abs, t->root, n), 0);
	assert_int(abs[n], '/');
	f = render_set_find(set, abs + n + 1);
	if (f == NULL)
		fail_msg("%s is not a rendered file", abs);
	return f->data;
}

/* contains: file has "<pre><path><post>" */
static void
contains(const struct render_set *set, const char *file, const char *pre,
	 const char *path, const char *post)
{
	const struct render_file *f = render_set_find(set, file);
	char want[1024];

	assert_non_null(f);
	(void)snprintf(want, sizeof(want), "%s%s%s", pre, path, post);
	if (strstr(f->data, want) == NULL)
		fail_msg("%s lacks \"%s\"", file, want);
}

/* arg: argument i of process p's command line (a copy) */
static char *
arg(const struct render_target *t, enum render_proc_id p, size_t i)
{
	char **v = render_command(t, p), *a;
	size_t n;

	for (n = 0; v[n] != NULL; n++)
		;
	assert_true(i < n);
	a = strdup(v[i]);
	assert_non_null(a);
	render_argv_free(&v);
	return a;
}

/* check_metric_sockets: each service's --metrics socket (its last
 * argument) is in run_dir and is a source of the exporter, which
 * reads Dovecot's stats port too */
static void
check_metric_sockets(const struct render_target *t)
{
	static const enum render_proc_id procs[] = {
		RENDER_PROC_FILTERMAIL_OUTGOING,
		RENDER_PROC_FILTERMAIL_INCOMING,
		RENDER_PROC_DOVEAUTH,
		RENDER_PROC_METADATA,
		RENDER_PROC_LASTLOGIN,
		RENDER_PROC_NEWEMAIL,
	};
	char **v, **e = render_command(t, RENDER_PROC_EXPORTER);
	char want[700];
	size_t i, n, k;

	for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		v = render_command(t, procs[i]);
		for (n = 0; v[n] != NULL; n++)
			;
		assert_str(v[n - 2], "--metrics");
		(void)snprintf(want, sizeof(want), "unix:%s/", t->run_dir);
		assert_int(strncmp(v[n - 1], want, strlen(want)), 0);
		(void)snprintf(want, sizeof(want), "--source=%s=%s",
			       render_procs[procs[i]], v[n - 1]);
		for (k = 0; e[k] != NULL && strcmp(e[k], want) != 0; k++)
			;
		if (e[k] == NULL)
			fail_msg("the exporter does not read %s", want);
		render_argv_free(&v);
	}
	(void)snprintf(want, sizeof(want), "--source=dovecot=http://%s:%u/",
		       t->local_addr, t->port[RENDER_PORT_DOVECOT_STATS]);
	for (k = 0; e[k] != NULL && strncmp(e[k], want, strlen(want)); k++)
		;
	assert_non_null(e[k]);
	render_argv_free(&e);
}

/* check_sockets: each service's socket, as its command names it, is
 * the one its clients' configs name; all distinct, all in run_dir */
static void
check_sockets(const struct render_target *t, const struct render_set *set)
{
	const char *const *sk = (const char *const *)t->sock;
	char *a, unix_sock[600];
	size_t i, j;

	/* the socket each service listens on is the one its client uses */
	a = arg(t, RENDER_PROC_DOVEAUTH, 1);
	assert_str(a, sk[RENDER_SOCK_DOVEAUTH]);
	contains(set, "dovecot/auth.conf", "uri = proxy:", a, ":auth\n");
	free(a);
	a = arg(t, RENDER_PROC_METADATA, 1);
	assert_str(a, sk[RENDER_SOCK_METADATA]);
	contains(set, "dovecot/dovecot.conf", "proxy:", a, ":metadata\n");
	free(a);
	a = arg(t, RENDER_PROC_LASTLOGIN, 1);
	assert_str(a, sk[RENDER_SOCK_LASTLOGIN]);
	contains(set, "dovecot/dovecot.conf", "proxy:", a, ":lastlogin\n");
	free(a);
	a = arg(t, RENDER_PROC_NEWEMAIL, 3);
	(void)snprintf(unix_sock, sizeof(unix_sock), "unix:%s",
		       sk[RENDER_SOCK_NEWEMAIL]);
	assert_str(a, unix_sock);
	contains(set, "nginx/nginx.conf", "http://", unix_sock, ":/new;");
	free(a);
	check_metric_sockets(t);
	/* Dovecot's listeners and Postfix's clients */
	contains(set, "dovecot/dovecot.conf", "unix_listener ",
		 sk[RENDER_SOCK_LMTP], " {");
	contains(set, "postfix/main.cf", "lmtp:unix:", sk[RENDER_SOCK_LMTP],
		 "\n");
	contains(set, "dovecot/dovecot.conf", "unix_listener ",
		 sk[RENDER_SOCK_AUTH], " {");
	contains(set, "postfix/master.cf",
		 "smtpd_sasl_path=", sk[RENDER_SOCK_AUTH], "\n");
	contains(set, "chatmail.ini",
		 "turn_socket_path = ", sk[RENDER_SOCK_TURN], "\n");
	/* the sockets: distinct, in run_dir */
	for (i = 0; i < RENDER_NSOCKS; i++) {
		assert_int(strncmp(sk[i], t->run_dir, strlen(t->run_dir)), 0);
		for (j = 0; j < i; j++)
			assert_true(strcmp(sk[i], sk[j]) != 0);
	}
}

/* check_files: the config files the commands name are rendered ones */
static void
check_files(const struct render_target *t, const struct render_set *set)
{
	/* where each service's command has chatmail.ini */
	static const struct {
		enum render_proc_id p;
		size_t i;
	} ini_procs[] = {
		{ RENDER_PROC_DOVEAUTH, 2 },
		{ RENDER_PROC_METADATA, 2 },
		{ RENDER_PROC_LASTLOGIN, 2 },
		{ RENDER_PROC_NEWEMAIL, 1 },
		{ RENDER_PROC_FILTERMAIL_OUTGOING, 1 },
		{ RENDER_PROC_FILTERMAIL_INCOMING, 1 },
		{ RENDER_PROC_FILTERMAIL_TRANSPORT, 1 },
		{ RENDER_PROC_EXPIRE, 1 },
		{ RENDER_PROC_METRICS, 1 },
	};
	char *a, *b;
	size_t i;

	/* the files the commands name are the rendered ones */
	for (i = 0; i < sizeof(ini_procs) / sizeof(ini_procs[0]); i++) {
		a = arg(t, ini_procs[i].p, ini_procs[i].i);
		assert_str(a, t->ini_path);
		free(a);
	}
	assert_non_null(strstr(file_at(t, set, t->ini_path), "[params]"));
	a = arg(t, RENDER_PROC_DOVECOT, 3);
	assert_non_null(strstr(file_at(t, set, a), "protocols = imap lmtp"));
	free(a);
	a = arg(t, RENDER_PROC_NGINX, 2);
	assert_non_null(strstr(file_at(t, set, a), "stream {"));
	free(a);
	a = arg(t, RENDER_PROC_IROH, 2);
	assert_non_null(strstr(file_at(t, set, a), "enable_relay = true"));
	free(a);
	/* chatmail-metrics writes what the exporter reads; nginx does
	 * not serve it (no public /metrics) */
	a = arg(t, RENDER_PROC_METRICS, 3);
	b = arg(t, RENDER_PROC_EXPORTER, 9);
	assert_true(strncmp(b, "--source=fsreport=file:", 23) == 0);
	assert_str(b + 23, a);
	free(a);
	a = arg(t, RENDER_PROC_NGINX, 2);
	assert_null(strstr(file_at(t, set, a), "/metrics"));
	free(a);
	free(b);
	a = arg(t, RENDER_PROC_CERT, 2);
	assert_str(a, t->tls_dir);
	contains(set, "nginx/nginx.conf", "ssl_certificate ", a, "/");
	free(a);
}

/* check_agrees: the rendered files and the commands of t name the
 * same sockets and files */
static void
check_agrees(const struct render_target *t)
{
	struct render_set set;

	render_for(t, &set);
	check_sockets(t, &set);
	check_files(t, &set);
	render_set_free(&set);
}

/* test_pod_and_local_agree: both layouts, and a local one whose
 * newemail listens on TCP */
static void
test_pod_and_local_agree(void **state)
{
	struct render_target *t;
	char *a;

	(void)state;
	t = render_target_new_pod();
	check_agrees(t);
	a = arg(t, RENDER_PROC_DOVEAUTH, 1);
	assert_str(a, "/run/chatmail/doveauth.socket");
	free(a);
	a = arg(t, RENDER_PROC_POSTFIX, 0);
	assert_str(a, "/usr/local/bin/postfix-run");
	free(a);
	a = arg(t, RENDER_PROC_DOVECOT, 0);
	assert_str(a, "/usr/local/bin/dovecot-run");
	free(a);
	render_target_free(&t);

	t = render_target_new_local("/srv/r1", "");
	check_agrees(t);
	a = arg(t, RENDER_PROC_DOVEAUTH, 2);
	assert_str(a, "/srv/r1/chatmail.ini");
	free(a);
	a = arg(t, RENDER_PROC_POSTFIX, 3);
	assert_str(a, "start-fg");
	free(a);
	t->port_newemail = 10090;
	a = arg(t, RENDER_PROC_NEWEMAIL, 3);
	assert_str(a, "127.0.0.1:10090");
	free(a);
	render_target_free(&t);
}

/* test_env: the shell form, with moved ports */
static void
test_env(void **state)
{
	static const char *const want[] = {
		"KIND=local\n",
		"ROOT='/srv/r1'\n",
		"INI_PATH='/srv/r1/chatmail.ini'\n",
		"RUN_DIR='/srv/r1/run/chatmail'\n",
		"POSTFIX_QUEUE_DIR='/srv/r1/spool/postfix'\n",
		"TLS_CERT='/srv/r1/tls/cert.pem'\n",
		"METRICS_FILE='/srv/r1/vmail/metrics/fsreport.prom'\n",
		"SOCK_DOVEAUTH='/srv/r1/run/chatmail/doveauth.socket'\n",
		"SOCK_DOVECOT_LMTP='/srv/r1/run/chatmail/dovecot-lmtp'\n",
		"SMTP_PORT=20025\n",
		"SMTPS_PORT=20465\n",
		"HTTPS_INTERNAL_PORT=28443\n",
		"NEWEMAIL_PORT=0\n",
		"PUBLIC_PORTS='20025 20080 20143 20443 20465 20587 20993'\n",
		"CMD_DOVEAUTH=('doveauth' "
		"'/srv/r1/run/chatmail/doveauth.socket' "
		"'/srv/r1/chatmail.ini' '--metrics' "
		"'unix:/srv/r1/run/chatmail/doveauth.metrics')\n",
		"CMD_FILTERMAIL_OUTGOING=('filtermail' '/srv/r1/chatmail.ini' "
		"'outgoing' '--metrics' "
		"'unix:/srv/r1/run/chatmail/filtermail-outgoing.metrics')\n",
		"CMD_EXPORTER=('chatmail-exporter' '--listen=127.0.0.1:29464' ",
		"CMD_NGINX=('nginx' '-c' '/srv/r1/nginx/nginx.conf' '-g' "
		"'daemon off;')\n",
	};
	struct render_target *t = render_target_new_local("/srv/r1", "");
	struct buf out = BUF_INIT(256 * 1024);
	size_t i;

	(void)state;
	assert_int(render_target_offset_ports(t, 20000), 0);
	assert_int(render_target_env(t, &out), 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(buf_cstr(&out), want[i]) == NULL)
			fail_msg("no %s in\n%s", want[i], buf_cstr(&out));
	/* a quote in a value stays inside the quoted word */
	buf_reset(&out);
	render_target_set(&t->instance, "a'b");
	assert_int(render_target_env(t, &out), 0);
	assert_non_null(strstr(buf_cstr(&out), "INSTANCE='a'\\''b'\n"));
	render_target_free(&t);
	buf_deinit(&out);
}

/* test_bad_layouts: ports that collide or overflow are refused */
static void
test_bad_layouts(void **state)
{
	struct render_target *t = render_target_new_pod();
	struct buf err = BUF_INIT(4096);

	(void)state;
	assert_int(render_target_check(t, &err), 0);
	assert_int(render_target_offset_ports(t, 60000), -ERANGE);
	assert_int(t->port[RENDER_PORT_SMTP], 25); /* unchanged */
	t->port[RENDER_PORT_IROH] = t->port[RENDER_PORT_HTTPS_INTERNAL];
	assert_int(render_target_check(t, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "are both 8443"));
	t->port[RENDER_PORT_IROH] = 0;
	buf_reset(&err);
	assert_int(render_target_check(t, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "port iroh is 0"));
	render_target_free(&t);

	t = render_target_new_local("/srv/r1", "");
	t->port_newemail = t->port[RENDER_PORT_HTTP];
	buf_reset(&err);
	assert_int(render_target_check(t, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "newemail port 80"));
	render_target_free(&t);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_and_local_agree),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_bad_layouts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
