/*
 * desired_acme: the relay Pod in ACME mode (docs/DESIGN.md, Certificates
 * in ACME mode). The certificate is not a Secret: the cert container's
 * ACME client (services/cert-reloader/acme.h) writes it onto the mail
 * volume, below acme/ (account key, account URL, status.json, and tls/
 * in the Secret-volume layout), so it survives restarts with the mail.
 * The daemons mount acme/tls read-only where the Secret would be; the
 * cert container mounts acme/ read-write. An init container puts a
 * self-signed placeholder there first, so nginx (port 80 answers the
 * HTTP-01 challenges), Dovecot and Postfix start before the first
 * certificate; the cert container's readiness probe
 * (`cert-reloader --acme-status`) keeps the Pod not Ready until a real
 * one is served. A CA bundle for a private ACME server comes from the
 * config ConfigMap (acme-ca.pem), the EAB HMAC key from its Secret.
 *
 * Untrusted input: none (the spec, validated by spec_check.c).
 */
#include <stdio.h>
#include <string.h>

#include "desired.h"

#define ACME_STATE "/var/lib/chatmail-acme"
#define ACME_EAB_DIR "/etc/chatmail-acme-eab"
#define ACME_SUBPATH "acme"
#define ACME_TLS_SUBPATH "acme/tls"

/* add_arg: one more command-line word */
static void
add_arg(cJSON *cmd, const char *a)
{
	cJSON_AddItemToArray(cmd, cJSON_CreateString(a));
}

/* acme_args: the cert container's --acme-* flags from the spec */
static void
acme_args(cJSON *cmd, const struct relay_spec *s)
{
	char name[300];

	add_arg(cmd, "--acme-directory");
	add_arg(cmd, s->tls.acme_directory);
	add_arg(cmd, "--acme-state");
	add_arg(cmd, ACME_STATE);
	/* nginx (www-data) reads the key through the Pod's fsGroup */
	add_arg(cmd, "--acme-key-group");
	add_arg(cmd, "2000");
	add_arg(cmd, "--acme-name");
	add_arg(cmd, s->domain);
	(void)snprintf(name, sizeof(name), "www.%s", s->domain);
	add_arg(cmd, "--acme-name");
	add_arg(cmd, name);
	(void)snprintf(name, sizeof(name), "mta-sts.%s", s->domain);
	add_arg(cmd, "--acme-name");
	add_arg(cmd, name);
	if (*s->tls.acme_email != '\0') {
		add_arg(cmd, "--acme-email");
		add_arg(cmd, s->tls.acme_email);
	}
	if (s->tls.acme_tos_agreed)
		add_arg(cmd, "--acme-agree-tos");
	if (*s->tls.acme_ca_bundle != '\0') {
		add_arg(cmd, "--acme-ca-bundle");
		add_arg(cmd, "/etc/chatmail/acme-ca.pem");
	}
	if (*s->tls.eab_key_id != '\0') {
		(void)snprintf(name, sizeof(name), "%s/%s", ACME_EAB_DIR,
			       s->tls.eab_secret_key);
		add_arg(cmd, "--acme-eab-kid");
		add_arg(cmd, s->tls.eab_key_id);
		add_arg(cmd, "--acme-eab-hmac-file");
		add_arg(cmd, name);
	}
}

/* retarget_tls: the container's "tls" mount becomes the mail volume's
 * acme/tls (read-only but for the cert container) */
static void
retarget_tls(cJSON *c, int writable)
{
	cJSON *mounts = cJSON_GetObjectItem(c, "volumeMounts"), *m;

	cJSON_ArrayForEach(m, mounts)
	{
		const cJSON *v = cJSON_GetObjectItem(m, "name");

		if (!cJSON_IsString(v) || strcmp(v->valuestring, "tls") != 0)
			continue;
		cJSON_ReplaceItemInObject(m, "name",
					  cJSON_CreateString("mail"));
		cJSON_AddStringToObject(m, "subPath", ACME_TLS_SUBPATH);
		if (writable)
			cJSON_DeleteItemFromObject(m, "readOnly");
	}
}

/* mount: one volumeMount */
static void
mount(cJSON *mounts, const char *vol, const char *path, const char *sub, int ro)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "name", vol);
	cJSON_AddStringToObject(m, "mountPath", path);
	if (ro)
		cJSON_AddTrueToObject(m, "readOnly");
	if (sub != NULL)
		cJSON_AddStringToObject(m, "subPath", sub);
	cJSON_AddItemToArray(mounts, m);
}

/* cert_container: flags, state and secret mounts, readiness probe */
static void
cert_container(cJSON *c, const struct relay_spec *s)
{
	cJSON *mounts = cJSON_GetObjectItem(c, "volumeMounts"), *probe, *cmd;

	acme_args(cJSON_GetObjectItem(c, "command"), s);
	mount(mounts, "mail", ACME_STATE, ACME_SUBPATH, 0);
	if (*s->tls.acme_ca_bundle != '\0')
		mount(mounts, "config", "/etc/chatmail/acme-ca.pem",
		      "acme-ca.pem", 1);
	if (*s->tls.eab_key_id != '\0')
		mount(mounts, "acme-eab", ACME_EAB_DIR, NULL, 1);
	probe = cJSON_AddObjectToObject(c, "readinessProbe");
	cmd = cJSON_AddArrayToObject(cJSON_AddObjectToObject(probe, "exec"),
				     "command");
	add_arg(cmd, "cert-reloader");
	add_arg(cmd, "--acme-status");
	add_arg(cmd, ACME_STATE "/status.json");
	cJSON_AddNumberToObject(probe, "periodSeconds", 10);
}

/* init_container: the placeholder certificate before the daemons */
static cJSON *
init_container(const cJSON *cert, const struct relay_spec *s)
{
	cJSON *c = cJSON_Duplicate(cert, 1), *cmd;

	cJSON_ReplaceItemInObject(c, "name", cJSON_CreateString("cert-init"));
	cJSON_DeleteItemFromObject(c, "readinessProbe");
	cmd = cJSON_CreateArray();
	add_arg(cmd, "cert-reloader");
	add_arg(cmd, "--dir");
	add_arg(cmd, ACME_STATE "/tls");
	add_arg(cmd, "--acme-init");
	acme_args(cmd, s);
	cJSON_ReplaceItemInObject(c, "command", cmd);
	return c;
}

/* eab_volume: the Secret with the EAB HMAC key */
static void
eab_volume(cJSON *vols, const struct relay_spec *s)
{
	cJSON *v = cJSON_CreateObject(), *src;

	cJSON_AddStringToObject(v, "name", "acme-eab");
	src = cJSON_AddObjectToObject(v, "secret");
	cJSON_AddNumberToObject(src, "defaultMode", 0400);
	cJSON_AddStringToObject(src, "secretName", s->tls.eab_secret_name);
	cJSON_AddItemToArray(vols, v);
}

void
desired_acme_pod(cJSON *pod, const struct desired_in *in)
{
	const struct relay_spec *s = in->spec;
	cJSON *cs = cJSON_GetObjectItem(pod, "containers"), *c, *vols, *v;
	cJSON *cert = NULL;
	int is_cert;

	cJSON_ArrayForEach(c, cs)
	{
		is_cert = strcmp(cJSON_GetObjectItem(c, "name")->valuestring,
				 "cert") == 0;
		retarget_tls(c, is_cert);
		if (is_cert)
			cert = c;
	}
	vols = cJSON_GetObjectItem(pod, "volumes");
	for (v = vols ? vols->child : NULL; v != NULL; v = v->next)
		if (strcmp(cJSON_GetObjectItem(v, "name")->valuestring,
			   "tls") == 0) {
			cJSON_Delete(cJSON_DetachItemViaPointer(vols, v));
			break;
		}
	if (*s->tls.eab_key_id != '\0')
		eab_volume(vols, s);
	if (cert == NULL)
		return;
	cert_container(cert, s);
	/* after the restore init container, if there is one */
	v = cJSON_GetObjectItemCaseSensitive(pod, "initContainers");
	if (v == NULL)
		v = cJSON_AddArrayToObject(pod, "initContainers");
	cJSON_AddItemToArray(v, init_container(cert, s));
}
