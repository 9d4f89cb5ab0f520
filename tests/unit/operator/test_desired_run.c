/*
 * test_desired_run: what the relay Pod's containers run with besides
 * their commands (operator/desired_pod_run.c): probes where a hung
 * process would stay ready, resources from the spec or upstream-sized
 * defaults, and the admin's ConfigMaps (website pages, app versions)
 * mounted where chatmail.ini says.
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

/* test_probes: liveness where a hung process would stay ready (TCP
 * on a port the kubelet reaches, else the --metrics check), generous;
 * startup probes before them; none for what has no way to be asked */
static void
test_probes(void **state)
{
	struct fixture f;
	const cJSON *cs, *c;
	char got[512];

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 1);
	cs = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		      "spec.template.spec.containers");
	c = named(cs, "dovecot");
	assert_int((int)util_get_num(c, "livenessProbe.tcpSocket.port", 0),
		   143);
	/* 6 failures 30 s apart: a busy Dovecot is never killed */
	assert_int((int)util_get_num(c, "livenessProbe.periodSeconds", 0), 30);
	assert_int((int)util_get_num(c, "livenessProbe.failureThreshold", 0),
		   6);
	assert_int((int)util_get_num(c, "startupProbe.tcpSocket.port", 0), 143);
	assert_int((int)util_get_num(c, "readinessProbe.tcpSocket.port", 0),
		   143);
	c = named(cs, "doveauth");
	assert_str(joined(util_get(c, "livenessProbe.exec.command"), got,
			  sizeof(got)),
		   "chatmail-exporter,--check,"
		   "unix:/run/chatmail/doveauth.metrics,--timeout=10000");
	assert_non_null(util_get(c, "startupProbe.exec"));
	assert_null(util_get(c, "readinessProbe"));
	c = named(cs, "exporter");
	assert_int((int)util_get_num(c, "livenessProbe.tcpSocket.port", 0),
		   9464);
	assert_null(util_get(c, "readinessProbe"));
	/* filtermail transport's counters share its loop with LMTP */
	assert_str(joined(util_get(named(cs, "filtermail-transport"),
				   "livenessProbe.exec.command"),
			  got, sizeof(got)),
		   "chatmail-exporter,--check,"
		   "unix:/run/chatmail/filtermail-transport.metrics,"
		   "--timeout=10000");
	/* whatever serves --metrics on a socket has the socket directory */
	cJSON_ArrayForEach(c, cs)
	{
		joined(util_get(c, "command"), got, sizeof(got));
		if (strstr(got, ",--metrics,unix:/run/chatmail/") != NULL)
			assert_str(mount_of(c, "run", "/run/chatmail"), "rw");
	}
	/* no --metrics, no reachable port: no probe */
	assert_null(util_get(named(cs, "cert"), "livenessProbe"));
	fixture_teardown(&f);
}

/* test_resources: each container's from the spec, verbatim; else the
 * defaults: requests, a memory limit but for doveauth, no CPU limit */
static void
test_resources(void **state)
{
	struct fixture f;
	const cJSON *cs, *c;

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"resources\":{"
		      "\"dovecot\":{\"limits\":{\"memory\":\"3Gi\"}}}}",
		      1);
	cs = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		      "spec.template.spec.containers");
	c = named(cs, "dovecot");
	assert_str(util_get_str(c, "resources.limits.memory"), "3Gi");
	assert_null(util_get(c, "resources.requests"));
	c = named(cs, "postfix");
	assert_str(util_get_str(c, "resources.limits.memory"), "1Gi");
	assert_str(util_get_str(c, "resources.requests.cpu"), "50m");
	assert_null(util_get(c, "resources.limits.cpu"));
	c = named(cs, "doveauth");
	assert_null(util_get(c, "resources.limits"));
	assert_str(util_get_str(c, "resources.requests.memory"), "16Mi");
	c = cJSON_GetArrayItem(
		util_get(fixture_find(f.list, "CronJob", "chat-expire"),
			 "spec.jobTemplate.spec.template.spec.containers"),
		0);
	assert_str(util_get_str(c, "resources.limits.memory"), "512Mi");
	assert_null(util_get(c, "livenessProbe"));
	fixture_teardown(&f);
}

/* test_user_configmaps: website.configMapName is nginx's root (the
 * built-in pages stay for a file it lacks) and www_folder;
 * appVersions.configMapName is metadata's appversions_file */
static void
test_user_configmaps(void **state)
{
	struct fixture f;
	const cJSON *pod, *cs, *v;
	const char *ngx, *ini;

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"website\":{"
		      "\"configMapName\":\"pages\"},\"appVersions\":{"
		      "\"configMapName\":\"versions\"}}",
		      1);
	pod = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		       "spec.template.spec");
	cs = util_get(pod, "containers");
	assert_str(mount_of(named(cs, "nginx"), "www-custom",
			    "/etc/chatmail/www-custom"),
		   "ro");
	assert_str(mount_of(named(cs, "metadata"), "appversions",
			    "/etc/chatmail/appversions"),
		   "ro");
	assert_str(mount_of(named(cs, "doveauth"), "appversions",
			    "/etc/chatmail/appversions"),
		   "");
	cJSON_ArrayForEach(v, util_get(pod, "volumes"))
	{
		if (strcmp(util_get_str(v, "name"), "www-custom") == 0)
			assert_str(util_get_str(v, "configMap.name"), "pages");
		if (strcmp(util_get_str(v, "name"), "appversions") == 0)
			assert_str(util_get_str(v, "configMap.name"),
				   "versions");
	}
	ngx = render_set_find(&f.files, "nginx/nginx.conf")->data;
	assert_non_null(strstr(ngx, "\t\troot /etc/chatmail/www-custom;\n"));
	assert_non_null(strstr(ngx, "try_files $uri $uri/index.html @site;"));
	assert_non_null(strstr(ngx, "location @site {\n"
				    "\t\t\troot /etc/chatmail/www;\n"));
	/* the built-in pages are still rendered: the fallback */
	assert_non_null(render_set_find(&f.files, "www/index.html"));
	ini = render_set_find(&f.files, "chatmail.ini")->data;
	assert_non_null(strstr(ini, "www_folder = /etc/chatmail/www-custom\n"));
	assert_non_null(strstr(ini, "appversions_file = "
				    "/etc/chatmail/appversions/"
				    "appversions.json\n"));
	fixture_teardown(&f);
	/* neither: no mounts, no volumes, the built-in site as root */
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 1);
	cs = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		      "spec.template.spec.containers");
	assert_str(mount_of(named(cs, "nginx"), "www-custom",
			    "/etc/chatmail/www-custom"),
		   "");
	ini = render_set_find(&f.files, "chatmail.ini")->data;
	assert_null(strstr(ini, "appversions_file"));
	fixture_teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probes),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_user_configmaps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
