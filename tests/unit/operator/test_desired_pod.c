/*
 * test_desired_pod: the relay Pod's security and mounts as the
 * operator renders them. Every container: read-only root file system,
 * no privilege escalation, all capabilities dropped; the chatmail
 * services run as vmail (runAsNonRoot); Postfix and Dovecot add only
 * what their masters need; the cert helper runs as root with KILL only (a
 * non-root user's added capabilities are never effective on a
 * cluster); nginx runs as www-data with none (the Pod's sysctl
 * net.ipv4.ip_unprivileged_port_start=0, no "user" directive). The Pod
 * uses the RuntimeDefault seccomp profile and shares its process
 * namespace. nginx mounts the mail claim read-only (the
 * metrics textfile), Postfix starts through postfix-run with an
 * emptyDir for its copy of the config, and the CronJobs' Pods are held
 * to the same rules. iroh-relay.toml comes from the renderer. The
 * containers' commands, ports and probes are the Pod layout's
 * (render_command, render_ports), and the Services and the
 * NetworkPolicy send exactly those ports to the Pod.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "desired.h"
#include "operator.h"

#include "desired_fixture.h"

/* sc_int: a number of the container's securityContext, -1 if unset */
static int
sc_int(const cJSON *c, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		util_get(c, "securityContext"), key);

	return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* check_container: the securityContext every container has, and the
 * user and added capabilities of its kind */
static void
check_container(const cJSON *c, int uid, const char *caps)
{
	const cJSON *sc = util_get(c, "securityContext");
	char got[256];

	assert_non_null(sc);
	assert_true(cJSON_IsFalse(util_get(sc, "allowPrivilegeEscalation")));
	assert_true(cJSON_IsTrue(util_get(sc, "readOnlyRootFilesystem")));
	assert_str(joined(util_get(sc, "capabilities.drop"), got, sizeof(got)),
		   "ALL");
	assert_str(joined(util_get(sc, "capabilities.add"), got, sizeof(got)),
		   caps);
	assert_int(sc_int(c, "runAsUser"), uid);
	if (uid > 0) {
		assert_int(sc_int(c, "runAsGroup"), uid);
		assert_true(cJSON_IsTrue(util_get(sc, "runAsNonRoot")));
	} else if (uid == 0) {
		assert_int(sc_int(c, "runAsGroup"), 0);
		assert_true(cJSON_IsFalse(util_get(sc, "runAsNonRoot")));
	} else {
		assert_null(util_get(sc, "runAsNonRoot"));
	}
}

static void
test_security_contexts(void **state)
{
	static const char *const vmail[] = { "filtermail-outgoing",
					     "filtermail-incoming",
					     "filtermail-transport",
					     "doveauth",
					     "metadata",
					     "lastlogin",
					     "newemail",
					     "iroh-relay",
					     "exporter",
					     NULL };
	const char *daemon_caps = "CHOWN,DAC_OVERRIDE,FOWNER,KILL,"
				  "NET_BIND_SERVICE,SETGID,SETUID,SYS_CHROOT";
	struct fixture f;
	const cJSON *pod, *cs, *sysctl;
	size_t i;

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 1);
	pod = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		       "spec.template.spec");
	assert_non_null(pod);
	assert_str(util_get_str(pod, "securityContext.seccompProfile.type"),
		   "RuntimeDefault");
	assert_int(util_get(pod, "securityContext.fsGroup")->valueint, 2000);
	assert_true(cJSON_IsTrue(util_get(pod, "shareProcessNamespace")));
	assert_true(
		cJSON_IsFalse(util_get(pod, "automountServiceAccountToken")));
	cs = util_get(pod, "containers");
	assert_int(cJSON_GetArraySize(cs), 13);
	for (i = 0; vmail[i] != NULL; i++) {
		assert_non_null(named(cs, vmail[i]));
		check_container(named(cs, vmail[i]), 2000, "");
	}
	check_container(named(cs, "postfix"), -1, daemon_caps);
	check_container(named(cs, "dovecot"), -1, daemon_caps);
	/* www-data without capabilities: the sysctl opens 80 and 443 */
	check_container(named(cs, "nginx"), 33, "");
	sysctl =
		cJSON_GetArrayItem(util_get(pod, "securityContext.sysctls"), 0);
	assert_str(util_get_str(sysctl, "name"),
		   "net.ipv4.ip_unprivileged_port_start");
	assert_str(util_get_str(sysctl, "value"), "0");
	assert_null(strstr(render_set_find(&f.files, "nginx/nginx.conf")->data,
			   "\nuser "));
	/* root (the masters' owner) with KILL only: no SYS_PTRACE */
	check_container(named(cs, "cert"), 0, "KILL");
	fixture_teardown(&f);
}

static void
test_mounts(void **state)
{
	struct fixture f;
	const cJSON *pod, *cs, *c, *v;
	char got[256];

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":"
		      "\"SelfSigned\"}}",
		      1);
	pod = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		       "spec.template.spec");
	cs = util_get(pod, "containers");
	/* the exporter reads /home/vmail/metrics/fsreport.prom; nginx
	 * has no /metrics and no mail volume */
	assert_str(mount_of(named(cs, "exporter"), "mail", "/home/vmail"),
		   "ro");
	c = named(cs, "nginx");
	assert_str(mount_of(c, "mail", "/home/vmail"), "");
	assert_str(mount_of(c, "nginx-run", "/run/nginx"), "rw");
	/* the services write the mail store */
	assert_str(mount_of(named(cs, "doveauth"), "mail", "/home/vmail"),
		   "rw");
	assert_str(mount_of(named(cs, "dovecot"), "mail", "/home/vmail"), "rw");
	/* Postfix: the image's entrypoint, its writable directories */
	c = named(cs, "postfix");
	assert_str(joined(util_get(c, "command"), got, sizeof(got)),
		   "/usr/local/bin/postfix-run");
	assert_str(mount_of(c, "config-postfix", "/etc/chatmail/postfix"),
		   "ro");
	assert_str(mount_of(c, "postfix-config", "/run/postfix-config"), "rw");
	assert_str(mount_of(c, "postfix-data", "/var/lib/postfix"), "rw");
	assert_str(mount_of(c, "queue", "/var/spool/postfix"), "rw");
	assert_str(mount_of(c, "mail", "/home/vmail"), "");
	/* the cert helper reads the certificate only */
	c = named(cs, "cert");
	assert_int(cJSON_GetArraySize(util_get(c, "volumeMounts")), 1);
	assert_str(mount_of(c, "tls", "/etc/chatmail/tls"), "ro");
	v = named(util_get(pod, "volumes"), "postfix-config");
	assert_non_null(v);
	assert_true(cJSON_IsObject(util_get(v, "emptyDir")));
	/* Postfix's queue is a subdirectory of the claim (postfix-run) */
	assert_non_null(
		strstr(render_set_find(&f.files, "postfix/main.cf")->data,
		       "\nqueue_directory = /var/spool/postfix/queue\n"));
	fixture_teardown(&f);
}

static void
test_cronjobs(void **state)
{
	static const char *const jobs[] = { "chat-expire", "chat-metrics",
					    NULL };
	struct fixture f;
	const cJSON *pod, *c;
	size_t i;

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 1);
	for (i = 0; jobs[i] != NULL; i++) {
		pod = util_get(fixture_find(f.list, "CronJob", jobs[i]),
			       "spec.jobTemplate.spec.template.spec");
		assert_non_null(pod);
		assert_str(util_get_str(pod,
					"securityContext.seccompProfile.type"),
			   "RuntimeDefault");
		assert_true(cJSON_IsTrue(
			util_get(pod, "securityContext.runAsNonRoot")));
		c = cJSON_GetArrayItem(util_get(pod, "containers"), 0);
		check_container(c, 2000, "");
		assert_str(mount_of(c, "mail", "/home/vmail"), "rw");
	}
	fixture_teardown(&f);
}

static void
test_iroh(void **state)
{
	struct fixture f;
	const cJSON *cs, *c;
	const struct render_file *toml;

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 1);
	toml = render_set_find(&f.files, "iroh-relay.toml");
	assert_non_null(toml);
	assert_non_null(strstr(toml->data, "enable_relay = true\n"));
	assert_non_null(
		strstr(toml->data, "http_bind_addr = \"127.0.0.1:3340\"\n"));
	cs = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		      "spec.template.spec.containers");
	c = named(cs, "iroh-relay");
	assert_str(mount_of(c, "config", "/etc/chatmail/iroh-relay.toml"),
		   "ro");
	fixture_teardown(&f);
	/* disabled: neither the file nor the container */
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"iroh\":"
		      "{\"enabled\":false}}",
		      1);
	assert_null(render_set_find(&f.files, "iroh-relay.toml"));
	cs = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		      "spec.template.spec.containers");
	assert_null(named(cs, "iroh-relay"));
	assert_int(cJSON_GetArraySize(cs), 12);
	fixture_teardown(&f);
}

/* test_delivery: delivery mode Transport (the default) runs filtermail
 * transport with chatmail.ini and its metrics socket, one of the exporter's
 * sources; PostfixSMTP runs none, and the exporter does not wait for
 * it */
static void
test_delivery(void **state)
{
	struct fixture f;
	const cJSON *cs, *c;
	char got[1024];

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 1);
	cs = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		      "spec.template.spec.containers");
	c = named(cs, "filtermail-transport");
	assert_non_null(c);
	assert_str(joined(util_get(c, "command"), got, sizeof(got)),
		   "filtermail,/etc/chatmail/chatmail.ini,transport,--metrics,"
		   "unix:/run/chatmail/filtermail-transport.metrics");
	assert_non_null(
		strstr(joined(util_get(named(cs, "exporter"), "command"), got,
			      sizeof(got)),
		       ",--source=filtermail-transport=unix:/run/chatmail/"
		       "filtermail-transport.metrics,"));
	assert_str(mount_of(c, "config", "/etc/chatmail/chatmail.ini"), "ro");
	assert_str(mount_of(c, "run", "/run/chatmail"), "rw"); /* --metrics */
	assert_str(mount_of(c, "mail", "/home/vmail"), "");
	assert_str(mount_of(c, "dkim", "/etc/dkimkeys"), "");
	assert_null(util_get(c, "env")); /* no peer CAs */
	assert_non_null(
		strstr(render_set_find(&f.files, "postfix/main.cf")->data,
		       "\ndefault_transport = lmtp-filtermail:"));
	fixture_teardown(&f);
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"delivery\":"
		      "{\"mode\":\"PostfixSMTP\"}}",
		      1);
	cs = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		      "spec.template.spec.containers");
	assert_null(named(cs, "filtermail-transport"));
	assert_int(cJSON_GetArraySize(cs), 12);
	assert_null(strstr(joined(util_get(named(cs, "exporter"), "command"),
				  got, sizeof(got)),
			   "filtermail-transport"));
	assert_non_null(strstr(got, "--source=filtermail-outgoing="));
	assert_null(strstr(render_set_find(&f.files, "postfix/main.cf")->data,
			   "default_transport"));
	fixture_teardown(&f);
}

/* test_peer_cas: tls.peerCABundle reaches the transport (file and
 * FILTERMAIL_PEER_CA_FILE) and Postfix (file and smtp_tls_CAfile) */
static void
test_peer_cas(void **state)
{
	struct fixture f;
	const cJSON *cs, *c;
	char got[256];

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"tls\":{"
		      "\"peerCABundle\":\"-----BEGIN CERTIFICATE-----\\nMIIB"
		      "\\n-----END CERTIFICATE-----\\n\"}}",
		      1);
	cs = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		      "spec.template.spec.containers");
	c = named(cs, "filtermail-transport");
	assert_str(mount_of(c, "config", "/etc/chatmail/peer-ca.pem"), "ro");
	assert_str(
		util_get_str(cJSON_GetArrayItem(util_get(c, "env"), 0), "name"),
		"FILTERMAIL_PEER_CA_FILE");
	assert_str(util_get_str(cJSON_GetArrayItem(util_get(c, "env"), 0),
				"value"),
		   "/etc/chatmail/peer-ca.pem");
	c = named(cs, "postfix");
	assert_str(mount_of(c, "config", "/etc/chatmail/peer-ca.pem"), "ro");
	assert_non_null(
		strstr(render_set_find(&f.files, "postfix/main.cf")->data,
		       "\nsmtp_tls_CAfile = /etc/chatmail/peer-ca.pem\n"));
	(void)snprintf(got, sizeof(got), "%s",
		       render_set_find(&f.files, "peer-ca.pem")->data);
	assert_str(got, "-----BEGIN CERTIFICATE-----\nMIIB\n"
			"-----END CERTIFICATE-----\n");
	fixture_teardown(&f);
}

/* port_list: the numbers at key of each element of a, joined by ","
 * into out */
static const char *
port_list(const cJSON *a, const char *key, char *out, size_t outsize)
{
	const cJSON *e;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(e, a)
	{
		n += (size_t)snprintf(out + n, outsize - n, "%s%d",
				      n ? "," : "", util_get(e, key)->valueint);
		if (n >= outsize)
			break;
	}
	return out;
}

/* container_of: the container of process i: in the relay's Pod, or in
 * its CronJob for the two job processes */
static const cJSON *
container_of(const cJSON *list, const cJSON *cs, size_t i)
{
	const cJSON *c = named(cs, render_procs[i]), *job;

	if (i != RENDER_PROC_EXPIRE && i != RENDER_PROC_METRICS)
		return c;
	assert_null(c);
	job = fixture_find(list, "CronJob",
			   i == RENDER_PROC_EXPIRE ? "chat-expire"
						   : "chat-metrics");
	return cJSON_GetArrayItem(
		util_get(job, "spec.jobTemplate.spec.template.spec.containers"),
		0);
}

/* check_commands: every process's command is the layout's */
static void
check_commands(const cJSON *list, const cJSON *cs,
	       const struct relay_spec *spec)
{
	struct render_target *t = render_target_new_pod();
	const cJSON *c;
	char got[512], all[512], **cmd;
	size_t i, n;

	render_target_spec(t, spec);
	for (i = 0; i < RENDER_NPROCS; i++) {
		c = container_of(list, cs, i);
		assert_non_null(c);
		cmd = render_command(t, (enum render_proc_id)i);
		(void)joined((const cJSON *)util_get(c, "command"), got,
			     sizeof(got));
		for (n = 0, all[0] = '\0'; cmd[n] != NULL; n++)
			(void)snprintf(all + strlen(all),
				       sizeof(all) - strlen(all), "%s%s",
				       n ? "," : "", cmd[n]);
		assert_str(got, all);
		render_argv_free(&cmd);
	}
	render_target_free(&t);
}

/* check_public_ports: what the Services and the policy let in is what
 * the Pod serves */
static void
check_public_ports(const cJSON *list)
{
	static const char udp[] = "25,80,143,443,465,587,993,3478,49160,49161";
	const cJSON *svc = fixture_find(list, "Service", "chat");
	const cJSON *np = fixture_find(list, "NetworkPolicy", "chat");
	char got[512];

	assert_str(port_list(util_get(svc, "spec.ports"), "targetPort", got,
			     sizeof(got)),
		   udp);
	assert_str(port_list(util_get(fixture_find(list, "Service",
						   "chat-headless"),
				      "spec.ports"),
			     "port", got, sizeof(got)),
		   "25,80,143,443,465,587,993,9464");
	assert_str(port_list(util_get(cJSON_GetArrayItem(
					      util_get(np, "spec.ingress"), 0),
				      "ports"),
			     "port", got, sizeof(got)),
		   "25,80,143,443,465,587,993,3478,49160");
	assert_int(
		util_get(cJSON_GetArrayItem(
				 util_get(cJSON_GetArrayItem(
						  util_get(np, "spec.ingress"),
						  0),
					  "ports"),
				 8),
			 "endPort")
			->valueint,
		49161);
	assert_str(
		util_get_str(cJSON_GetArrayItem(util_get(svc, "spec.ports"), 5),
			     "name"),
		"submission");
}

/* test_layout: commands, ports and probes from the Pod layout; the
 * Services and NetworkPolicy agree with the containers' ports */
static void
test_layout(void **state)
{
	static const struct {
		const char *name, *ports;
		int probe;
	} want[] = {
		{ "postfix", "25,465,587", 25 },
		{ "dovecot", "143,993", 143 },
		{ "nginx", "80,443", 443 },
		{ "doveauth", "", 0 },
		{ "turn", "3478,49160,49161", 0 },
		{ "exporter", "9464", 0 },
	};
	struct fixture f;
	const cJSON *cs, *c, *sts;
	char got[512];
	size_t i;

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"turn\":{"
		      "\"externalIP\":\"203.0.113.7\",\"portRange\":"
		      "\"49160-49161\"},\"tls\":{\"mode\":\"Secret\","
		      "\"secretName\":\"mine\"}}",
		      1);
	sts = fixture_find(f.list, "StatefulSet", "chat");
	cs = util_get(sts, "spec.template.spec.containers");
	check_commands(f.list, cs, f.spec);
	assert_str(joined(util_get(named(cs, "doveauth"), "command"), got,
			  sizeof(got)),
		   "doveauth,/run/chatmail/doveauth.socket,"
		   "/etc/chatmail/chatmail.ini,--metrics,"
		   "unix:/run/chatmail/doveauth.metrics");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		c = named(cs, want[i].name);
		assert_str(port_list(util_get(c, "ports"), "containerPort", got,
				     sizeof(got)),
			   want[i].ports);
		if (want[i].probe != 0)
			assert_int(util_get(c, "readinessProbe.tcpSocket.port")
					   ->valueint,
				   want[i].probe);
		else
			assert_null(util_get(c, "readinessProbe"));
	}
	check_public_ports(f.list);
	fixture_teardown(&f);
}

/* mounting: how many containers of pod mount volume vol */
static int
mounting(const cJSON *pod, const char *vol)
{
	const cJSON *ctr;
	int n = 0;

	cJSON_ArrayForEach(ctr, util_get(pod, "containers"))
	{
		n += named(util_get(ctr, "volumeMounts"), vol) != NULL;
	}
	return n;
}

/* test_turn: the turn container, its Secret volume and the UDP ports
 * exist only with an address clients can reach */
static void
test_turn(void **state)
{
	static const struct {
		const char *spec, *addr; /* addr NULL: no TURN server */
	} cases[] = {
		{ "{\"domain\":\"a.b\"}", NULL },
		{ "{\"domain\":\"a.b\",\"turn\":{\"externalIP\":"
		  "\"198.51.100.2\"}}",
		  "198.51.100.2" },
		{ "{\"domain\":\"a.b\",\"service\":{\"loadBalancerIP\":"
		  "\"198.51.100.3\"}}",
		  "198.51.100.3" },
		{ "{\"domain\":\"a.b\",\"turn\":{\"enabled\":false,"
		  "\"externalIP\":\"198.51.100.2\"}}",
		  NULL },
	};
	struct fixture f;
	const cJSON *pod, *c, *svc;
	char got[1024], want[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture_setup(&f, cases[i].spec, 1);
		pod = util_get(fixture_find(f.list, "StatefulSet", "chat"),
			       "spec.template.spec");
		c = named(util_get(pod, "containers"), "turn");
		svc = fixture_find(f.list, "Service", "chat");
		(void)port_list(util_get(svc, "spec.ports"), "port", got,
				sizeof(got));
		if (cases[i].addr == NULL) {
			assert_null(c);
			assert_null(
				named(util_get(pod, "volumes"), "turn-secret"));
			assert_null(strstr(got, "3478"));
			fixture_teardown(&f);
			continue;
		}
		assert_non_null(c);
		assert_non_null(strstr(got, ",3478,49160,"));
		(void)snprintf(want, sizeof(want),
			       "chatmail-turn,--realm,a.b,--socket,"
			       "/run/chatmail/turn.socket,--secret-file,"
			       "/etc/chatmail-turn/secret,--relay-ports,"
			       "49160-49199,--external-ip,%s",
			       cases[i].addr);
		assert_str(joined(util_get(c, "command"), got, sizeof(got)),
			   want);
		assert_str(util_get_str(named(util_get(pod, "volumes"),
					      "turn-secret"),
					"secret.secretName"),
			   "chat-turn");
		assert_int(mounting(pod, "turn-secret"), 1);
		fixture_teardown(&f);
	}
}

/* test_acme_pod: ACME mode (the default for a public domain): the
 * certificate lives on the mail volume (acme/tls, read-only for the
 * daemons, written by cert), no tls Secret volume, the cert container
 * runs the ACME client with the spec's settings and is probed with
 * --acme-status, an init container writes the placeholder */
static void
test_acme_pod(void **state)
{
	static const char *const daemons[] = { "postfix", "dovecot", "nginx",
					       NULL };
	struct fixture f;
	const cJSON *pod, *cs, *c, *m;
	char got[1024];
	size_t i;

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 1);
	pod = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		       "spec.template.spec");
	cs = util_get(pod, "containers");
	assert_null(named(util_get(pod, "volumes"), "tls"));
	for (i = 0; daemons[i] != NULL; i++) {
		c = named(cs, daemons[i]);
		assert_str(mount_of(c, "mail", "/etc/chatmail/tls"), "ro");
		assert_str(mount_of(c, "tls", "/etc/chatmail/tls"), "");
	}
	c = named(cs, "cert");
	assert_str(mount_of(c, "mail", "/etc/chatmail/tls"), "rw");
	assert_str(mount_of(c, "mail", "/var/lib/chatmail-acme"), "rw");
	cJSON_ArrayForEach(m, util_get(c, "volumeMounts"))
		assert_non_null(strstr(util_get_str(m, "subPath"), "acme"));
	assert_str(joined(util_get(c, "command"), got, sizeof(got)),
		   "cert-reloader,--dir,/etc/chatmail/tls,--acme-directory,"
		   "https://acme-v02.api.letsencrypt.org/directory,"
		   "--acme-state,/var/lib/chatmail-acme,--acme-key-group,2000,"
		   "--acme-name,chat.example.org,--acme-name,"
		   "www.chat.example.org,--acme-name,mta-sts.chat.example.org");
	assert_str(joined(util_get(c, "readinessProbe.exec.command"), got,
			  sizeof(got)),
		   "cert-reloader,--acme-status,"
		   "/var/lib/chatmail-acme/status.json");
	c = named(util_get(pod, "initContainers"), "cert-init");
	assert_non_null(c);
	assert_non_null(
		strstr(joined(util_get(c, "command"), got, sizeof(got)),
		       "--dir,/var/lib/chatmail-acme/tls,--acme-init,"));
	assert_null(util_get(c, "readinessProbe"));
	assert_null(render_set_find(&f.files, "acme-ca.pem"));
	fixture_teardown(&f);
}

/* test_acme_options: the spec's ACME settings reach the cert container:
 * email, agreement, a private server's CA bundle (a config file), EAB
 * (its Secret mounted) */
static void
test_acme_options(void **state)
{
	struct fixture f;
	const cJSON *pod, *c, *v;
	char got[2048];

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"tls\":{"
		      "\"acmeDirectory\":\"https://acme.test/dir\","
		      "\"acmeEmail\":\"ops@example.org\","
		      "\"acmeTermsOfServiceAgreed\":true,\"acmeCABundle\":"
		      "\"-----BEGIN CERTIFICATE-----\\nQUJD\\n-----END "
		      "CERTIFICATE-----\\n\",\"eabKeyId\":\"kid-1\","
		      "\"eabSecretRef\":{\"name\":\"eab\"}}}",
		      1);
	pod = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		       "spec.template.spec");
	c = named(util_get(pod, "containers"), "cert");
	assert_str(
		joined(util_get(c, "command"), got, sizeof(got)),
		"cert-reloader,--dir,/etc/chatmail/tls,--acme-directory,"
		"https://acme.test/dir,--acme-state,/var/lib/chatmail-acme,"
		"--acme-key-group,2000,--acme-name,chat.example.org,"
		"--acme-name,www.chat.example.org,--acme-name,"
		"mta-sts.chat.example.org,--acme-email,ops@example.org,"
		"--acme-agree-tos,--acme-ca-bundle,/etc/chatmail/acme-ca.pem,"
		"--acme-eab-kid,kid-1,--acme-eab-hmac-file,"
		"/etc/chatmail-acme-eab/secret");
	assert_str(mount_of(c, "config", "/etc/chatmail/acme-ca.pem"), "ro");
	assert_str(mount_of(c, "acme-eab", "/etc/chatmail-acme-eab"), "ro");
	v = named(util_get(pod, "volumes"), "acme-eab");
	assert_str(util_get_str(v, "secret.secretName"), "eab");
	assert_non_null(render_set_find(&f.files, "acme-ca.pem"));
	assert_non_null(
		strstr(render_set_find(&f.files, "acme-ca.pem")->data, "QUJD"));
	fixture_teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_security_contexts),
		cmocka_unit_test(test_mounts),
		cmocka_unit_test(test_cronjobs),
		cmocka_unit_test(test_iroh),
		cmocka_unit_test(test_delivery),
		cmocka_unit_test(test_peer_cas),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_turn),
		cmocka_unit_test(test_acme_pod),
		cmocka_unit_test(test_acme_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
