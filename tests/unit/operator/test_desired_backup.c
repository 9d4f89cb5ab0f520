/*
 * test_desired_backup: the backup CronJob and the restore init
 * container as the operator renders them (operator/desired_backup.c):
 * none without the spec asking; restic's repository from the target
 * (a claim mounted at /backup-repo, or s3:<endpoint>/<bucket>/<path>),
 * its password Secret, the S3 credentials as environment; the relay's
 * claims, DKIM key and queue mounted where chatmail-backup is told
 * they are; root with CHOWN, DAC_OVERRIDE and FOWNER only, read-only
 * root; the Job on the relay's node. And the spec's rules: backup or
 * restore without a repository or password is refused, a snapshot is
 * "latest" or an ID.
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

/* env_of: the value of environment variable name of container c */
static const char *
env_of(const cJSON *c, const char *name)
{
	const cJSON *e = named(util_get(c, "env"), name);

	return e ? util_get_str(e, "value") : "";
}

/* mount_path: where container c mounts volume vol ("" if not) */
static const char *
mount_path(const cJSON *c, const char *vol)
{
	const cJSON *m = named(util_get(c, "volumeMounts"), vol);

	return m ? util_get_str(m, "mountPath") : "";
}

/* check_tool: what backup and restore containers share */
static void
check_tool(const cJSON *c)
{
	char buf[256];

	assert_str(util_get_str(c, "image"),
		   "localhost/chatmail-services:0.1.0");
	assert_str(joined(util_get(c, "securityContext.capabilities.add"), buf,
			  sizeof(buf)),
		   "CHOWN,DAC_OVERRIDE,FOWNER");
	assert_str(joined(util_get(c, "securityContext.capabilities.drop"), buf,
			  sizeof(buf)),
		   "ALL");
	assert_true(cJSON_IsTrue(
		util_get(c, "securityContext.readOnlyRootFilesystem")));
	assert_true(cJSON_IsFalse(
		util_get(c, "securityContext.allowPrivilegeEscalation")));
	assert_int(util_get(c, "securityContext.runAsUser")->valueint, 0);
	assert_str(mount_path(c, "mail"), "/home/vmail");
	assert_str(mount_path(c, "queue"), "/var/spool/postfix");
	assert_str(mount_path(c, "dkim"), "/etc/dkimkeys");
	assert_str(mount_path(c, "restic-password"), "/etc/restic");
	assert_str(mount_path(c, "tmp"), "/tmp");
	assert_str(env_of(c, "RESTIC_PASSWORD_FILE"), "/etc/restic/password");
	assert_str(env_of(c, "RESTIC_CACHE_DIR"), "/tmp/restic-cache");
}

static void
test_off_by_default(void **state)
{
	struct fixture f;

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 1);
	assert_null(fixture_find(f.list, "CronJob", "chat-backup"));
	assert_null(named(util_get(fixture_find(f.list, "StatefulSet", "chat"),
				   "spec.template.spec.initContainers"),
			  "restore"));
	fixture_teardown(&f);
}

static void
test_backup_pvc(void **state)
{
	struct fixture f;
	const cJSON *cj, *pod, *c, *v;
	char buf[512];

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"backup\":{"
		      "\"enabled\":true,\"claimName\":\"backups\","
		      "\"passwordSecretName\":\"restic\",\"keepWeekly\":2}}",
		      1);
	cj = fixture_find(f.list, "CronJob", "chat-backup");
	assert_non_null(cj);
	assert_str(util_get_str(cj, "spec.schedule"), "30 1 * * *");
	assert_str(util_get_str(cj, "spec.concurrencyPolicy"), "Forbid");
	pod = util_get(cj, "spec.jobTemplate.spec.template.spec");
	assert_non_null(util_get(pod, "affinity.podAffinity"));
	c = cJSON_GetArrayItem(util_get(pod, "containers"), 0);
	check_tool(c);
	assert_str(joined(util_get(c, "command"), buf, sizeof(buf)),
		   "chatmail-backup,backup,--vmail,/home/vmail,--queue,"
		   "/var/spool/postfix/queue,--dkim,"
		   "/etc/dkimkeys/opendkim.private,--host,chat,--keep-daily,7,"
		   "--keep-weekly,2,--keep-monthly,6");
	assert_str(env_of(c, "RESTIC_REPOSITORY"), "/backup-repo/chat");
	assert_str(mount_path(c, "backup-repo"), "/backup-repo");
	assert_null(util_get(c, "envFrom"));
	v = named(util_get(pod, "volumes"), "backup-repo");
	assert_str(util_get_str(v, "persistentVolumeClaim.claimName"),
		   "backups");
	v = named(util_get(pod, "volumes"), "queue");
	assert_str(util_get_str(v, "persistentVolumeClaim.claimName"),
		   "queue-chat-0");
	v = named(util_get(pod, "volumes"), "restic-password");
	assert_str(util_get_str(v, "secret.secretName"), "restic");
	v = named(util_get(pod, "volumes"), "dkim");
	assert_str(util_get_str(v, "secret.secretName"), "chat-dkim");
	/* no restore without the spec asking */
	assert_null(named(util_get(fixture_find(f.list, "StatefulSet", "chat"),
				   "spec.template.spec.initContainers"),
			  "restore"));
	fixture_teardown(&f);
}

static void
test_restore_s3(void **state)
{
	struct fixture f;
	const cJSON *pod, *c;
	char buf[512];

	(void)state;
	fixture_setup(
		&f,
		"{\"domain\":\"chat.example.org\",\"backup\":{\"target\":"
		"\"S3\",\"path\":\"old-relay\",\"s3\":{\"endpoint\":"
		"\"https://s3.example.com/\",\"bucket\":\"bkt\","
		"\"credentialsSecretName\":\"s3-keys\"},"
		"\"passwordSecretName\":\"restic\"},\"restore\":{\"enabled\":"
		"true,\"snapshot\":\"0123abcd\"}}",
		1);
	assert_null(fixture_find(f.list, "CronJob", "chat-backup"));
	pod = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		       "spec.template.spec");
	/* one initContainers list: restore first (then ACME's cert-init) */
	assert_int(cJSON_GetArraySize(util_get(pod, "initContainers")), 2);
	assert_str(util_get_str(cJSON_GetArrayItem(
					util_get(pod, "initContainers"), 1),
				"name"),
		   "cert-init");
	c = cJSON_GetArrayItem(util_get(pod, "initContainers"), 0);
	assert_str(util_get_str(c, "name"), "restore");
	check_tool(c);
	assert_str(joined(util_get(c, "command"), buf, sizeof(buf)),
		   "chatmail-backup,restore,--vmail,/home/vmail,--queue,"
		   "/var/spool/postfix/queue,--dkim,"
		   "/etc/dkimkeys/opendkim.private,--snapshot,0123abcd");
	assert_str(env_of(c, "RESTIC_REPOSITORY"),
		   "s3:https://s3.example.com/bkt/old-relay");
	assert_str(util_get_str(cJSON_GetArrayItem(util_get(c, "envFrom"), 0),
				"secretRef.name"),
		   "s3-keys");
	assert_str(mount_path(c, "backup-repo"), "");
	assert_null(named(util_get(pod, "volumes"), "backup-repo"));
	assert_non_null(named(util_get(pod, "volumes"), "restic-password"));
	fixture_teardown(&f);
}

static void
test_rules(void **state)
{
	static const struct {
		const char *spec, *want;
	} bad[] = {
		{ "\"backup\":{\"enabled\":true,\"claimName\":\"b\"}",
		  "backup.passwordSecretName" },
		{ "\"backup\":{\"enabled\":true,\"passwordSecretName\":\"p\"}",
		  "backup.claimName (target PVC)" },
		{ "\"backup\":{\"target\":\"S3\",\"passwordSecretName\":\"p\","
		  "\"s3\":{\"endpoint\":\"https://s3.example.com\"}},"
		  "\"restore\":{\"enabled\":true}",
		  "backup.s3.bucket" },
		{ "\"restore\":{\"snapshot\":\"yesterday\"}",
		  "spec.restore.snapshot" },
		{ "\"backup\":{\"target\":\"Tape\"}", "spec.backup.target" },
	};
	struct relay_spec *s = NULL;
	struct buf err = BUF_INIT(4096);
	char json[512];
	cJSON *j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(json, sizeof(json),
			       "{\"domain\":\"chat.example.org\",%s}",
			       bad[i].spec);
		j = cJSON_Parse(json);
		assert_non_null(j);
		buf_reset(&err);
		assert_int(spec_from_json(j, 0, &s, &err, NULL), -EINVAL);
		if (strstr(buf_cstr(&err), bad[i].want) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].spec,
				 buf_cstr(&err), bad[i].want);
		cJSON_Delete(j);
	}
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_by_default),
		cmocka_unit_test(test_backup_pvc),
		cmocka_unit_test(test_restore_s3),
		cmocka_unit_test(test_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
