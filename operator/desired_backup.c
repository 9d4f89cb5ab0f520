/*
 * desired_backup: the backup CronJob <relay>-backup and the restore
 * init container of the relay's Pod (docs/DESIGN.md, Backup and
 * restore). Both run chatmail-backup (jobs image) with restic, told
 * the repository through restic's own environment: RESTIC_REPOSITORY
 * (s3:<endpoint>/<bucket>/<path>, or <claim mount>/<path>),
 * RESTIC_PASSWORD_FILE (the password Secret), the S3 credentials
 * Secret as environment, a cache on /tmp.
 *
 * They run as root with CHOWN, DAC_OVERRIDE and FOWNER only (all in
 * the baseline Pod Security Standard): the queue is Postfix's (0700
 * directories), hard links of vmail's files need FOWNER, and a restore
 * gives files to vmail, postfix and postdrop. Read-only root, no
 * privilege escalation, like every container of the relay.
 *
 * Untrusted input: the spec (validated by spec.c).
 */
#include <stdio.h>
#include <string.h>

#include "desired.h"

#define REPO_MOUNT "/backup-repo"
#define PASSWORD_DIR "/etc/restic"
#define VMAIL 2000

/* env_add: one {name, value} */
static void
env_add(cJSON *env, const char *name, const char *value)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "name", name);
	cJSON_AddStringToObject(e, "value", value);
	cJSON_AddItemToArray(env, e);
}

/* repo_env: restic's environment for the spec's repository */
static void
repo_env(cJSON *c, const struct desired_in *in)
{
	const struct relay_spec *s = in->spec;
	const char *path = s->backup.path[0] ? s->backup.path : in->name;
	cJSON *env = cJSON_AddArrayToObject(c, "env"), *from;
	char repo[1024];
	size_t n = strlen(s->backup.s3_endpoint);

	if (s->backup.target == SPEC_BACKUP_S3) {
		if (n > 0 && s->backup.s3_endpoint[n - 1] == '/')
			n--;
		(void)snprintf(repo, sizeof(repo), "s3:%.*s/%s/%s", (int)n,
			       s->backup.s3_endpoint, s->backup.s3_bucket,
			       path);
	} else {
		(void)snprintf(repo, sizeof(repo), REPO_MOUNT "/%s", path);
	}
	env_add(env, "RESTIC_REPOSITORY", repo);
	env_add(env, "RESTIC_PASSWORD_FILE", PASSWORD_DIR "/password");
	env_add(env, "RESTIC_CACHE_DIR", "/tmp/restic-cache");
	if (s->backup.target == SPEC_BACKUP_S3 &&
	    s->backup.s3_credentials_secret_name[0] != '\0') {
		from = cJSON_CreateObject();
		cJSON_AddStringToObject(
			cJSON_AddObjectToObject(from, "secretRef"), "name",
			s->backup.s3_credentials_secret_name);
		cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "envFrom"),
				     from);
	}
}

/* tool_security: root with CHOWN, DAC_OVERRIDE and FOWNER only */
static void
tool_security(cJSON *c)
{
	static const char *const caps[] = { "CHOWN", "DAC_OVERRIDE", "FOWNER",
					    NULL };
	cJSON *sc = cJSON_AddObjectToObject(c, "securityContext"), *cp;

	cJSON_AddFalseToObject(sc, "allowPrivilegeEscalation");
	cp = cJSON_AddObjectToObject(sc, "capabilities");
	cJSON_AddItemToObject(cp, "add", desired_str_array(caps));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(cp, "drop"),
			     cJSON_CreateString("ALL"));
	cJSON_AddTrueToObject(sc, "readOnlyRootFilesystem");
	cJSON_AddNumberToObject(sc, "runAsGroup", 0);
	cJSON_AddFalseToObject(sc, "runAsNonRoot");
	cJSON_AddNumberToObject(sc, "runAsUser", 0);
}

/* tool_container: chatmail-backup CMD with the volumes' paths */
static cJSON *
tool_container(const struct desired_in *in, const struct render_target *t,
	       const char *cmd, const char *const *extra)
{
	const struct relay_spec *s = in->spec;
	const char *argv[24];
	cJSON *c = cJSON_CreateObject(), *m;
	size_t n = 0;

	cJSON_AddStringToObject(c, "name", cmd);
	cJSON_AddStringToObject(c, "image",
				images_for(in->images, s, SPEC_C_JOBS));
	if (s->image_pull_policy[0] != '\0')
		cJSON_AddStringToObject(c, "imagePullPolicy",
					s->image_pull_policy);
	argv[n++] = "chatmail-backup";
	argv[n++] = cmd;
	argv[n++] = "--vmail";
	argv[n++] = t->mail_home;
	argv[n++] = "--queue";
	argv[n++] = t->postfix_queue_dir;
	argv[n++] = "--dkim";
	argv[n++] = t->dkim_key;
	while (*extra != NULL)
		argv[n++] = *extra++;
	argv[n] = NULL;
	cJSON_AddItemToObject(c, "command", desired_str_array(argv));
	repo_env(c, in);
	if (s->resources[SPEC_C_JOBS] != NULL)
		cJSON_AddItemToObject(
			c, "resources",
			cJSON_Duplicate(s->resources[SPEC_C_JOBS], 1));
	m = cJSON_AddArrayToObject(c, "volumeMounts");
	desired_mount(m, "mail", t->mail_home, NULL, 0);
	desired_mount(m, "queue", t->spool_dir, NULL, 0);
	desired_mount(m, "dkim", t->dkim_dir, NULL, 1);
	desired_mount(m, "restic-password", PASSWORD_DIR, NULL, 1);
	desired_mount(m, "tmp", "/tmp", NULL, 0);
	if (s->backup.target == SPEC_BACKUP_PVC)
		desired_mount(m, "backup-repo", REPO_MOUNT, NULL, 0);
	tool_security(c);
	return c;
}

void
desired_backup_volumes(cJSON *vols, const struct desired_in *in, int job)
{
	char pvc[128];

	if (job) {
		desired_pvc_name(in->name, "mail", pvc, sizeof(pvc));
		desired_vol(vols, "mail", "pvc", pvc, 0);
		desired_pvc_name(in->name, "queue", pvc, sizeof(pvc));
		desired_vol(vols, "queue", "pvc", pvc, 0);
		desired_vol(vols, "dkim", "secret", in->dkim_secret, 0440);
		desired_vol(vols, "tmp", "emptyDir", NULL, 0);
	}
	desired_vol(vols, "restic-password", "secret",
		    in->spec->backup.password_secret_name, 0400);
	if (in->spec->backup.target == SPEC_BACKUP_PVC)
		desired_vol(vols, "backup-repo", "pvc",
			    in->spec->backup.claim_name, 0);
}

cJSON *
desired_backup_cronjob(const struct desired_in *in,
		       const struct render_target *t)
{
	const struct relay_spec *s = in->spec;
	char d[16], w[16], m[16];
	const char *extra[] = { "--host",
				in->name,
				"--keep-daily",
				d,
				"--keep-weekly",
				w,
				"--keep-monthly",
				m,
				NULL };
	cJSON *pod = cJSON_CreateObject(), *sc;

	(void)snprintf(d, sizeof(d), "%u", s->backup.keep_daily);
	(void)snprintf(w, sizeof(w), "%u", s->backup.keep_weekly);
	(void)snprintf(m, sizeof(m), "%u", s->backup.keep_monthly);
	desired_relay_affinity(pod, in->name);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(pod, "containers"),
			     tool_container(in, t, "backup", extra));
	cJSON_AddStringToObject(pod, "restartPolicy", "OnFailure");
	sc = cJSON_AddObjectToObject(pod, "securityContext");
	cJSON_AddNumberToObject(sc, "fsGroup", VMAIL);
	cJSON_AddStringToObject(sc, "fsGroupChangePolicy", "OnRootMismatch");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(sc, "seccompProfile"),
				"type", "RuntimeDefault");
	desired_backup_volumes(cJSON_AddArrayToObject(pod, "volumes"), in, 1);
	return desired_cronjob_of(in, "backup", s->backup.schedule, pod);
}

cJSON *
desired_restore_container(const struct desired_in *in,
			  const struct render_target *t)
{
	const char *extra[] = { "--snapshot", in->spec->restore.snapshot,
				NULL };

	return tool_container(in, t, "restore", extra);
}
