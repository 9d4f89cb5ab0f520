/*
 * desired_pod: the relay's StatefulSet (its one Pod with every daemon,
 * docs/DESIGN.md, The Pod) and the expire and metrics CronJobs.
 *
 * Containers are a table: the process (whose name, command line and
 * ports are the Pod layout's, relay/render/render.h, like every path
 * mounted here), image key, which volumes they mount, how they run.
 * Every container has a read-only
 * root file system, no privilege escalation and drops all
 * capabilities; the Pod uses the runtime's default seccomp profile.
 * The chatmail services run as vmail (2000, runAsNonRoot), nginx as
 * www-data (33) with no capabilities: the Pod's sysctl
 * net.ipv4.ip_unprivileged_port_start=0 lets it bind 80 and 443.
 * Postfix and Dovecot start as root and drop privileges themselves,
 * keeping only the capabilities that needs. Writable state is on
 * emptyDirs (/run/..., /var/lib/...). The Pod shares its process
 * namespace so the cert helper can signal the three to reload a
 * renewed certificate: it runs as root with KILL only (to signal the
 * masters of root and www-data; a non-root user's added capabilities
 * never become effective under containerd or CRI-O); finding them needs no
 * more, since /proc/<pid>/comm and stat are world-readable (no
 * SYS_PTRACE). Unix sockets live in the shared emptyDir run_dir.
 *
 * Untrusted input: the spec (validated by spec.c); resource objects
 * are copied as the user wrote them (the API server validates them).
 */
#include <stdio.h>
#include <string.h>

#include "desired.h"

#define VMAIL 2000
#define WWW_DATA 33 /* Debian's, in the nginx image */
/* the postfix image's copy of the config (images/postfix/postfix-run) */
#define POSTFIX_RUN_CONFIG "/run/postfix-config"

enum {
	M_RUN = 1 << 0,
	M_MAIL = 1 << 1,
	M_QUEUE = 1 << 2,
	M_CONFIG = 1 << 3, /* top-level files: chatmail.ini ... */
	M_TLS = 1 << 4,
	M_DKIM = 1 << 5,
	M_DOVECOT_RUN = 1 << 6,
	M_POSTFIX_DATA = 1 << 7,
	M_NGINX_RUN = 1 << 8,
	M_TMP = 1 << 9,
	M_MAIL_RO = 1 << 10,	    /* exporter: the metrics textfile */
	M_POSTFIX_CONFIG = 1 << 11, /* postfix-run's copy of the config */
	M_TURN_SECRET = 1 << 12,    /* the TURN Secret: chatmail-turn only */
	M_WWW_CUSTOM = 1 << 13,	    /* nginx: website.configMapName */
	M_APPVERSIONS = 1 << 14,    /* metadata: appVersions.configMapName */
};

/* how a container runs */
enum ctr_run {
	RUN_VMAIL,  /* uid/gid 2000, no capabilities */
	RUN_DAEMON, /* root master that drops privileges itself */
	RUN_NGINX,  /* www-data, no capabilities (the Pod's sysctl) */
	RUN_CERT,   /* root with KILL only: signals the masters */
};

/* a container; its name, command and ports are the layout's
 * (render_procs, render_command, render_ports) */
struct ctr_def {
	const char *group1, *group2; /* ConfigMap groups mounted */
	enum render_proc_id proc;
	enum spec_container img;
	unsigned mounts;
	enum ctr_run run;
};

#define CTR(p, i, g1, g2, m, r)                                          \
	{                                                                \
		.group1 = (g1), .group2 = (g2), .proc = (p), .img = (i), \
		.mounts = (m), .run = (r)                                \
	}

static const struct ctr_def ctrs[] = {
	CTR(RENDER_PROC_POSTFIX, SPEC_C_POSTFIX, "postfix", NULL,
	    M_RUN | M_QUEUE | M_CONFIG | M_TLS | M_POSTFIX_DATA |
		    M_POSTFIX_CONFIG,
	    RUN_DAEMON),
	CTR(RENDER_PROC_DOVECOT, SPEC_C_DOVECOT, "dovecot", NULL,
	    M_RUN | M_MAIL | M_CONFIG | M_TLS | M_DOVECOT_RUN, RUN_DAEMON),
	CTR(RENDER_PROC_NGINX, SPEC_C_NGINX, "nginx", "www",
	    M_RUN | M_CONFIG | M_TLS | M_NGINX_RUN | M_WWW_CUSTOM, RUN_NGINX),
	CTR(RENDER_PROC_FILTERMAIL_OUTGOING, SPEC_C_FILTERMAIL, NULL, NULL,
	    M_RUN | M_CONFIG | M_DKIM | M_TMP, RUN_VMAIL),
	CTR(RENDER_PROC_FILTERMAIL_INCOMING, SPEC_C_FILTERMAIL, NULL, NULL,
	    M_RUN | M_MAIL | M_CONFIG | M_TMP, RUN_VMAIL),
	/* remote delivery (delivery mode Transport): chatmail.ini, and
	 * run for its --metrics socket */
	CTR(RENDER_PROC_FILTERMAIL_TRANSPORT, SPEC_C_FILTERMAIL, NULL, NULL,
	    M_RUN | M_CONFIG, RUN_VMAIL),
	CTR(RENDER_PROC_DOVEAUTH, SPEC_C_DOVEAUTH, NULL, NULL,
	    M_RUN | M_MAIL | M_CONFIG, RUN_VMAIL),
	CTR(RENDER_PROC_METADATA, SPEC_C_METADATA, NULL, NULL,
	    M_RUN | M_MAIL | M_CONFIG | M_APPVERSIONS, RUN_VMAIL),
	CTR(RENDER_PROC_LASTLOGIN, SPEC_C_LASTLOGIN, NULL, NULL,
	    M_RUN | M_MAIL | M_CONFIG, RUN_VMAIL),
	CTR(RENDER_PROC_NEWEMAIL, SPEC_C_NEWEMAIL, NULL, NULL,
	    M_RUN | M_MAIL | M_CONFIG, RUN_VMAIL),
	CTR(RENDER_PROC_IROH, SPEC_C_IROH, NULL, NULL, M_CONFIG, RUN_VMAIL),
	CTR(RENDER_PROC_TURN, SPEC_C_TURN, NULL, NULL, M_RUN | M_TURN_SECRET,
	    RUN_VMAIL),
	CTR(RENDER_PROC_CERT, SPEC_C_CERT, NULL, NULL, M_TLS, RUN_CERT),
	/* the private metrics port: the services' sockets in run, the
	 * chatmail-metrics textfile on the mail volume */
	CTR(RENDER_PROC_EXPORTER, SPEC_C_EXPORTER, NULL, NULL,
	    M_RUN | M_MAIL_RO, RUN_VMAIL),
};

/* desired_str_array: a JSON array of the NULL-terminated strings */
cJSON *
desired_str_array(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	for (; *v != NULL; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

/* desired_mount: one volumeMount */
void
desired_mount(cJSON *mounts, const char *vol, const char *path, const char *sub,
	      int ro)
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

/* add_env: one environment variable of a container */
static void
add_env(cJSON *c, const char *name, const char *value)
{
	cJSON *env = cJSON_GetObjectItemCaseSensitive(c, "env"), *e;

	if (env == NULL)
		env = cJSON_AddArrayToObject(c, "env");
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "name", name);
	cJSON_AddStringToObject(e, "value", value);
	cJSON_AddItemToArray(env, e);
}

/* has_group: a rendered file lives under group/ */
static int
has_group(const struct render_set *files, const char *group)
{
	size_t i, n = strlen(group);

	for (i = 0; i < files->n; i++)
		if (strncmp(files->files[i].path, group, n) == 0 &&
		    files->files[i].path[n] == '/')
			return 1;
	return 0;
}

/* mount_group: the ConfigMap of one rendered directory at its place */
static void
mount_group(cJSON *m, const struct render_target *t,
	    const struct render_set *files, const char *group)
{
	char vol[80], path[512];

	if (group == NULL || !has_group(files, group))
		return;
	(void)snprintf(vol, sizeof(vol), "config-%s", group);
	(void)snprintf(path, sizeof(path), "%s/%s", t->root, group);
	desired_mount(m, vol, path, NULL, 1);
}

/* add_user_mounts: the ConfigMaps the spec names, where the layout
 * (and chatmail.ini: www_folder, appversions_file) expects them */
static void
add_user_mounts(cJSON *m, const struct ctr_def *d,
		const struct render_target *t, const struct relay_spec *s)
{
	char path[512];
	const char *slash;

	if ((d->mounts & M_WWW_CUSTOM) && s->website.enabled &&
	    *s->website.config_map_name != '\0')
		desired_mount(m, "www-custom", t->www_custom_dir, NULL, 1);
	if ((d->mounts & M_APPVERSIONS) &&
	    *s->app_versions.config_map_name != '\0') {
		slash = strrchr(t->appversions_file, '/');
		(void)snprintf(path, sizeof(path), "%.*s",
			       (int)(slash - t->appversions_file),
			       t->appversions_file);
		desired_mount(m, "appversions", path, NULL, 1);
	}
}

/* add_mounts: the volumeMounts of container d, at the layout's paths */
static void
add_mounts(cJSON *c, const struct ctr_def *d, const struct render_target *t,
	   const struct render_set *files)
{
	cJSON *m = cJSON_AddArrayToObject(c, "volumeMounts");
	char path[512];
	size_t i;

	if (d->mounts & M_RUN)
		desired_mount(m, "run", t->run_dir, NULL, 0);
	if (d->mounts & (M_MAIL | M_MAIL_RO))
		desired_mount(m, "mail", t->mail_home, NULL,
			      !(d->mounts & M_MAIL));
	if (d->mounts & M_QUEUE)
		desired_mount(m, "queue", t->spool_dir, NULL, 0);
	for (i = 0; (d->mounts & M_CONFIG) && i < files->n; i++) {
		if (strchr(files->files[i].path, '/') != NULL)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", t->root,
			       files->files[i].path);
		desired_mount(m, "config", path, files->files[i].path, 1);
	}
	mount_group(m, t, files, d->group1);
	mount_group(m, t, files, d->group2);
	if (d->mounts & M_TLS)
		desired_mount(m, "tls", t->tls_dir, NULL, 1);
	if (d->mounts & M_DKIM)
		desired_mount(m, "dkim", t->dkim_dir, NULL, 1);
	if (d->mounts & M_DOVECOT_RUN) {
		desired_mount(m, "dovecot-run", t->dovecot_base_dir, NULL, 0);
		desired_mount(m, "dovecot-state", t->dovecot_state_dir, NULL,
			      0);
	}
	if (d->mounts & M_POSTFIX_DATA)
		desired_mount(m, "postfix-data", t->postfix_data_dir, NULL, 0);
	if (d->mounts & M_POSTFIX_CONFIG)
		desired_mount(m, "postfix-config", POSTFIX_RUN_CONFIG, NULL, 0);
	if (d->mounts & M_NGINX_RUN)
		desired_mount(m, "nginx-run", t->nginx_run_dir, NULL, 0);
	if (d->mounts & M_TMP)
		desired_mount(m, "tmp", "/tmp", NULL, 0);
	if (d->mounts & M_TURN_SECRET) {
		const char *slash = strrchr(t->turn_secret, '/');

		(void)snprintf(path, sizeof(path), "%.*s",
			       (int)(slash - t->turn_secret), t->turn_secret);
		desired_mount(m, "turn-secret", path, NULL, 1);
	}
}

/* security: the container's securityContext */
static void
security(cJSON *c, const struct ctr_def *d)
{
	static const char *const daemon_caps[] = {
		"CHOWN",  "DAC_OVERRIDE",     "FOWNER",
		"KILL",	  "NET_BIND_SERVICE", "SETGID",
		"SETUID", "SYS_CHROOT",	      NULL
	};
	static const char *const kill_cap[] = { "KILL", NULL };
	cJSON *sc = cJSON_AddObjectToObject(c, "securityContext"), *caps;

	cJSON_AddFalseToObject(sc, "allowPrivilegeEscalation");
	caps = cJSON_AddObjectToObject(sc, "capabilities");
	if (d->run == RUN_DAEMON || d->run == RUN_CERT)
		cJSON_AddItemToObject(caps, "add",
				      desired_str_array(d->run == RUN_CERT
								? kill_cap
								: daemon_caps));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(caps, "drop"),
			     cJSON_CreateString("ALL"));
	cJSON_AddTrueToObject(sc, "readOnlyRootFilesystem");
	switch (d->run) {
	case RUN_VMAIL:
		cJSON_AddNumberToObject(sc, "runAsGroup", VMAIL);
		cJSON_AddTrueToObject(sc, "runAsNonRoot");
		cJSON_AddNumberToObject(sc, "runAsUser", VMAIL);
		break;
	case RUN_NGINX:
		/* Debian's www-data; the TLS key via fsGroup */
		cJSON_AddNumberToObject(sc, "runAsGroup", WWW_DATA);
		cJSON_AddTrueToObject(sc, "runAsNonRoot");
		cJSON_AddNumberToObject(sc, "runAsUser", WWW_DATA);
		break;
	case RUN_CERT:
		/* the services image's user is vmail: override it */
		cJSON_AddNumberToObject(sc, "runAsGroup", 0);
		cJSON_AddFalseToObject(sc, "runAsNonRoot");
		cJSON_AddNumberToObject(sc, "runAsUser", 0);
		break;
	case RUN_DAEMON:
		break;
	}
}

/* add_ports: the container's public ports (the layout's); the
 * exporter's private one, named for the headless Service and the
 * PodMonitor */
static void
add_ports(cJSON *c, const struct ctr_def *d, const struct render_target *t)
{
	cJSON *ports = NULL, *p;
	size_t i;

	if (d->proc == RENDER_PROC_EXPORTER) {
		p = cJSON_CreateObject();
		cJSON_AddNumberToObject(p, "containerPort",
					t->port[RENDER_PORT_METRICS]);
		cJSON_AddStringToObject(p, "name",
					render_ports[RENDER_PORT_METRICS].name);
		cJSON_AddStringToObject(p, "protocol", "TCP");
		cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "ports"), p);
		return;
	}
	for (i = 0; i < RENDER_NPUBLIC_PORTS; i++) {
		if (render_ports[i].proc != d->proc)
			continue;
		if (ports == NULL)
			ports = cJSON_AddArrayToObject(c, "ports");
		p = cJSON_CreateObject();
		cJSON_AddNumberToObject(p, "containerPort", t->port[i]);
		cJSON_AddStringToObject(p, "protocol", "TCP");
		cJSON_AddItemToArray(ports, p);
	}
}

/* udp_port: one UDP containerPort */
static void
udp_port(cJSON *ports, unsigned port)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddNumberToObject(p, "containerPort", port);
	cJSON_AddStringToObject(p, "protocol", "UDP");
	cJSON_AddItemToArray(ports, p);
}

/* add_turn_ports: chatmail-turn's UDP 3478 and every relay port (a
 * Service can only name ports, not ranges) */
static void
add_turn_ports(cJSON *c, const struct relay_spec *s)
{
	cJSON *ports = cJSON_AddArrayToObject(c, "ports");
	unsigned lo, hi, p;

	udp_port(ports, RENDER_TURN_PORT);
	spec_port_range_of(s, &lo, &hi);
	for (p = lo; p != 0 && p <= hi; p++)
		udp_port(ports, p);
}

/* container: one container of the Pod (or of a CronJob's Pod) */
static cJSON *
container(const struct desired_in *in, const struct ctr_def *d,
	  const struct render_target *t)
{
	const struct relay_spec *s = in->spec;
	cJSON *c = cJSON_CreateObject();
	char **cmd = render_command(t, d->proc);

	cJSON_AddStringToObject(c, "name", render_procs[d->proc]);
	cJSON_AddStringToObject(c, "image", images_for(in->images, s, d->img));
	if (s->image_pull_policy[0] != '\0')
		cJSON_AddStringToObject(c, "imagePullPolicy",
					s->image_pull_policy);
	cJSON_AddItemToObject(c, "command",
			      desired_str_array((const char *const *)cmd));
	render_argv_free(&cmd);
	if (d->proc == RENDER_PROC_TURN) {
		if (spec_turn_udp_in_pod(s))
			add_turn_ports(c, s);
	} else
		add_ports(c, d, t);
	desired_resources(c, s, d->img);
	add_mounts(c, d, t, in->files);
	add_user_mounts(cJSON_GetObjectItemCaseSensitive(c, "volumeMounts"), d,
			t, s);
	/* tls.peerCABundle: the transport trusts it besides the system's
	 * store (rendered beside chatmail.ini, mounted with it) */
	if (d->proc == RENDER_PROC_FILTERMAIL_TRANSPORT &&
	    *s->tls.peer_ca_bundle != '\0')
		add_env(c, "FILTERMAIL_PEER_CA_FILE", t->peer_ca_file);
	if (d->img != SPEC_C_JOBS)
		desired_probes(c, d->proc, t);
	security(c, d);
	return c;
}

/* vol_cm: a ConfigMap volume; nested files get explicit items */
static void
vol_cm(cJSON *vols, const struct desired_in *in, const char *vol,
       const char *group)
{
	cJSON *v = cJSON_CreateObject(), *cm, *items = NULL, *it;
	char name[128], key[256];
	size_t i, n = strlen(group);
	const char *rel;

	(void)snprintf(name, sizeof(name), "%s-%s", in->name, group);
	cJSON_AddStringToObject(v, "name", vol);
	cm = cJSON_AddObjectToObject(v, "configMap");
	cJSON_AddStringToObject(cm, "name", name);
	for (i = 0; i < in->files->n; i++) {
		rel = in->files->files[i].path;
		if (strncmp(rel, group, n) != 0 || rel[n] != '/' ||
		    strchr(rel + n + 1, '/') == NULL)
			continue;
		if (items == NULL)
			items = cJSON_CreateArray();
		(void)snprintf(key, sizeof(key), "%s", rel + n + 1);
		for (char *q = key; *q != '\0'; q++)
			if (*q == '/')
				*q = '_';
		it = cJSON_CreateObject();
		cJSON_AddStringToObject(it, "key", key);
		cJSON_AddStringToObject(it, "path", rel + n + 1);
		cJSON_AddItemToArray(items, it);
	}
	if (items != NULL) {
		/* every key must be listed once items are */
		for (i = 0; i < in->files->n; i++) {
			rel = in->files->files[i].path;
			if (strncmp(rel, group, n) != 0 || rel[n] != '/' ||
			    strchr(rel + n + 1, '/') != NULL)
				continue;
			it = cJSON_CreateObject();
			cJSON_AddStringToObject(it, "key", rel + n + 1);
			cJSON_AddStringToObject(it, "path", rel + n + 1);
			cJSON_AddItemToArray(items, it);
		}
		cJSON_AddItemToObject(cm, "items", items);
	}
	cJSON_AddItemToArray(vols, v);
}

/* desired_vol: an emptyDir, Secret or PVC volume */
void
desired_vol(cJSON *vols, const char *vol, const char *kind, const char *ref,
	    int mode)
{
	cJSON *v = cJSON_CreateObject(), *src;

	cJSON_AddStringToObject(v, "name", vol);
	if (strcmp(kind, "emptyDir") == 0) {
		cJSON_AddObjectToObject(v, "emptyDir");
	} else if (strcmp(kind, "secret") == 0) {
		src = cJSON_AddObjectToObject(v, "secret");
		cJSON_AddNumberToObject(src, "defaultMode", mode);
		cJSON_AddStringToObject(src, "secretName", ref);
	} else {
		src = cJSON_AddObjectToObject(v, "persistentVolumeClaim");
		cJSON_AddStringToObject(src, "claimName", ref);
	}
	cJSON_AddItemToArray(vols, v);
}

/* user_volumes: the ConfigMaps the spec names (not optional: a
 * missing one keeps the Pod from starting, with the kubelet's event
 * naming it, rather than serving something else) */
static void
user_volumes(cJSON *vols, const struct relay_spec *s)
{
	cJSON *v, *cm, *it;

	if (s->website.enabled && *s->website.config_map_name != '\0') {
		v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "name", "www-custom");
		cm = cJSON_AddObjectToObject(v, "configMap");
		cJSON_AddNumberToObject(cm, "defaultMode", 0444);
		cJSON_AddStringToObject(cm, "name", s->website.config_map_name);
		cJSON_AddItemToArray(vols, v);
	}
	if (*s->app_versions.config_map_name != '\0') {
		v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "name", "appversions");
		cm = cJSON_AddObjectToObject(v, "configMap");
		cJSON_AddNumberToObject(cm, "defaultMode", 0444);
		it = cJSON_CreateObject();
		cJSON_AddStringToObject(it, "key", "appversions.json");
		cJSON_AddStringToObject(it, "path", "appversions.json");
		cJSON_AddItemToArray(cJSON_AddArrayToObject(cm, "items"), it);
		cJSON_AddStringToObject(cm, "name",
					s->app_versions.config_map_name);
		cJSON_AddItemToArray(vols, v);
	}
}

/* volumes: every volume of the Pod */
static void
pod_volumes(cJSON *pod, const struct desired_in *in)
{
	static const char *const groups[] = { "postfix", "dovecot", "nginx",
					      "www", NULL };
	cJSON *vols = cJSON_AddArrayToObject(pod, "volumes");
	char vol[80];
	size_t i;

	desired_vol(vols, "run", "emptyDir", NULL, 0);
	vol_cm(vols, in, "config", "config");
	for (i = 0; groups[i] != NULL; i++) {
		if (!has_group(in->files, groups[i]))
			continue;
		(void)snprintf(vol, sizeof(vol), "config-%s", groups[i]);
		vol_cm(vols, in, vol, groups[i]);
	}
	/* 0440 with fsGroup: root and vmail can read the keys */
	desired_vol(vols, "tls", "secret", in->tls_secret, 0440);
	desired_vol(vols, "dkim", "secret", in->dkim_secret, 0440);
	desired_vol(vols, "dovecot-run", "emptyDir", NULL, 0);
	desired_vol(vols, "dovecot-state", "emptyDir", NULL, 0);
	desired_vol(vols, "postfix-data", "emptyDir", NULL, 0);
	desired_vol(vols, "postfix-config", "emptyDir", NULL, 0);
	desired_vol(vols, "nginx-run", "emptyDir", NULL, 0);
	desired_vol(vols, "tmp", "emptyDir", NULL, 0);
	if (spec_turn_address(in->spec) != NULL) {
		/* also with hostNetwork: the credentials-only container */
		char name[128];

		desired_turn_secret_name(in->name, name, sizeof(name));
		desired_vol(vols, "turn-secret", "secret", name, 0440);
	}
	user_volumes(vols, in->spec);
	if (in->spec->restore.enabled)
		desired_backup_volumes(vols, in, 0);
}

/* pod_spec: the Pod template's spec */
static cJSON *
pod_spec(const struct desired_in *in, const struct render_target *t)
{
	cJSON *pod = cJSON_CreateObject(), *cs, *sc, *sysctl;
	size_t i;

	cJSON_AddFalseToObject(pod, "automountServiceAccountToken");
	cs = cJSON_AddArrayToObject(pod, "containers");
	for (i = 0; i < sizeof(ctrs) / sizeof(ctrs[0]); i++) {
		if (ctrs[i].proc == RENDER_PROC_FILTERMAIL_TRANSPORT &&
		    in->spec->delivery.mode != SPEC_DELIVERY_TRANSPORT)
			continue;
		if (ctrs[i].img == SPEC_C_IROH && !in->spec->iroh.enabled)
			continue;
		if (ctrs[i].img == SPEC_C_TURN &&
		    spec_turn_address(in->spec) == NULL)
			continue;
		cJSON_AddItemToArray(cs, container(in, &ctrs[i], t));
	}
	cJSON_AddFalseToObject(pod, "enableServiceLinks");
	if (in->spec->restore.enabled)
		cJSON_AddItemToArray(
			cJSON_AddArrayToObject(pod, "initContainers"),
			desired_restore_container(in, t));
	sc = cJSON_AddObjectToObject(pod, "securityContext");
	cJSON_AddNumberToObject(sc, "fsGroup", VMAIL);
	cJSON_AddStringToObject(sc, "fsGroupChangePolicy", "OnRootMismatch");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(sc, "seccompProfile"),
				"type", "RuntimeDefault");
	/* nginx binds 80 and 443 without root or capabilities; a "safe"
	 * sysctl of the Pod's own network namespace (Kubernetes 1.22+,
	 * allowed by the baseline Pod Security Standard) */
	sysctl = cJSON_CreateObject();
	cJSON_AddStringToObject(sysctl, "name",
				"net.ipv4.ip_unprivileged_port_start");
	cJSON_AddStringToObject(sysctl, "value", "0");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(sc, "sysctls"), sysctl);
	cJSON_AddTrueToObject(pod, "shareProcessNamespace");
	cJSON_AddNumberToObject(pod, "terminationGracePeriodSeconds", 60);
	pod_volumes(pod, in);
	if (in->spec->tls.mode == SPEC_TLS_ACME)
		desired_acme_pod(pod, in);
	return pod;
}

/* vct: one volumeClaimTemplate in the form the server stores */
static cJSON *
vct(const struct desired_in *in, const char *which, const char *size,
    const char *cls)
{
	cJSON *t = cJSON_CreateObject(), *md, *spec;

	cJSON_AddStringToObject(t, "apiVersion", "v1");
	cJSON_AddStringToObject(t, "kind", "PersistentVolumeClaim");
	md = cJSON_AddObjectToObject(t, "metadata");
	desired_labels(md, in->name, which);
	cJSON_AddStringToObject(md, "name", which);
	spec = cJSON_AddObjectToObject(t, "spec");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "accessModes"),
			     cJSON_CreateString("ReadWriteOnce"));
	cJSON_AddStringToObject(
		cJSON_AddObjectToObject(
			cJSON_AddObjectToObject(spec, "resources"), "requests"),
		"storage", size);
	if (cls[0] != '\0')
		cJSON_AddStringToObject(spec, "storageClassName", cls);
	cJSON_AddStringToObject(spec, "volumeMode", "Filesystem");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "status"), "phase",
				"Pending");
	return t;
}

/* split_vct: "size;class" recorded on an existing StatefulSet */
static void
split_vct(const char *rec, const struct spec_volume *v, char *size,
	  size_t ssize, char *cls, size_t csize)
{
	const char *semi = rec ? strchr(rec, ';') : NULL;

	if (semi == NULL) {
		(void)snprintf(size, ssize, "%s", v->size);
		(void)snprintf(cls, csize, "%s", v->storage_class_name);
		return;
	}
	(void)snprintf(size, ssize, "%.*s", (int)(semi - rec), rec);
	(void)snprintf(cls, csize, "%s", semi + 1);
}

cJSON *
desired_statefulset(const struct desired_in *in, const struct render_target *t,
		    const char *hash)
{
	const struct relay_spec *s = in->spec;
	cJSON *sts = cJSON_CreateObject(), *md, *spec, *tmpl, *tmd, *vcts, *r;
	char msize[64], mcls[256], qsize[64], qcls[256], rec[330];

	cJSON_AddStringToObject(sts, "apiVersion", "apps/v1");
	cJSON_AddStringToObject(sts, "kind", "StatefulSet");
	md = desired_meta(sts, in, in->name, "relay");
	split_vct(in->vct_mail, &s->storage.mail, msize, sizeof(msize), mcls,
		  sizeof(mcls));
	split_vct(in->vct_queue, &s->storage.queue, qsize, sizeof(qsize), qcls,
		  sizeof(qcls));
	r = cJSON_AddObjectToObject(md, "annotations");
	(void)snprintf(rec, sizeof(rec), "%s;%s", msize, mcls);
	cJSON_AddStringToObject(r, DESIRED_VCT_MAIL, rec);
	(void)snprintf(rec, sizeof(rec), "%s;%s", qsize, qcls);
	cJSON_AddStringToObject(r, DESIRED_VCT_QUEUE, rec);
	spec = cJSON_AddObjectToObject(sts, "spec");
	r = cJSON_AddObjectToObject(spec,
				    "persistentVolumeClaimRetentionPolicy");
	/* PVCs are kept by the StatefulSet; the operator owner-references
	 * those the spec does not keep (desired_pvc) */
	cJSON_AddStringToObject(r, "whenDeleted", "Retain");
	cJSON_AddStringToObject(r, "whenScaled", "Retain");
	cJSON_AddNumberToObject(spec, "replicas", 1);
	cJSON_AddItemToObject(cJSON_AddObjectToObject(spec, "selector"),
			      "matchLabels", desired_selector(in->name));
	(void)snprintf(rec, sizeof(rec), "%s-headless", in->name);
	cJSON_AddStringToObject(spec, "serviceName", rec);
	tmpl = cJSON_AddObjectToObject(spec, "template");
	tmd = cJSON_AddObjectToObject(tmpl, "metadata");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(tmd, "annotations"),
				DESIRED_CONFIG_HASH, hash);
	desired_labels(tmd, in->name, "relay");
	cJSON_AddItemToObject(tmpl, "spec", pod_spec(in, t));
	vcts = cJSON_AddArrayToObject(spec, "volumeClaimTemplates");
	cJSON_AddItemToArray(vcts, vct(in, "mail", msize, mcls));
	cJSON_AddItemToArray(vcts, vct(in, "queue", qsize, qcls));
	return sts;
}

void
desired_relay_affinity(cJSON *pod, const char *relay)
{
	cJSON *term = cJSON_CreateObject(), *sel;

	/* the mail volume is ReadWriteOnce: run where the relay runs */
	sel = cJSON_AddObjectToObject(term, "labelSelector");
	cJSON_AddItemToObject(sel, "matchLabels", desired_selector(relay));
	cJSON_AddStringToObject(term, "topologyKey", "kubernetes.io/hostname");
	cJSON_AddItemToArray(
		cJSON_AddArrayToObject(
			cJSON_AddObjectToObject(
				cJSON_AddObjectToObject(pod, "affinity"),
				"podAffinity"),
			"requiredDuringSchedulingIgnoredDuringExecution"),
		term);
}

/* job_pod: the Pod of a CronJob's Job, on the relay Pod's node */
static cJSON *
job_pod(const struct desired_in *in, const struct render_target *t,
	enum render_proc_id job)
{
	const struct ctr_def def =
		CTR(job, SPEC_C_JOBS, NULL, NULL, M_MAIL | M_CONFIG, RUN_VMAIL);
	cJSON *pod = cJSON_CreateObject(), *c, *vols, *sc;
	char pvc[128];

	desired_relay_affinity(pod, in->name);
	c = container(in, &def, t);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(pod, "containers"), c);
	cJSON_AddStringToObject(pod, "restartPolicy", "OnFailure");
	sc = cJSON_AddObjectToObject(pod, "securityContext");
	cJSON_AddNumberToObject(sc, "fsGroup", VMAIL);
	cJSON_AddTrueToObject(sc, "runAsNonRoot");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(sc, "seccompProfile"),
				"type", "RuntimeDefault");
	vols = cJSON_AddArrayToObject(pod, "volumes");
	desired_pvc_name(in->name, "mail", pvc, sizeof(pvc));
	desired_vol(vols, "mail", "pvc", pvc, 0);
	vol_cm(vols, in, "config", "config");
	return pod;
}

cJSON *
desired_cronjob(const struct desired_in *in, const struct render_target *t,
		enum render_proc_id job, const char *schedule)
{
	return desired_cronjob_of(in, render_procs[job], schedule,
				  job_pod(in, t, job));
}

cJSON *
desired_cronjob_of(const struct desired_in *in, const char *which,
		   const char *schedule, cJSON *pod)
{
	cJSON *cj = cJSON_CreateObject(), *spec, *jt, *tmpl, *tmd, *l;
	char name[128];

	cJSON_AddStringToObject(cj, "apiVersion", "batch/v1");
	cJSON_AddStringToObject(cj, "kind", "CronJob");
	(void)snprintf(name, sizeof(name), "%s-%s", in->name, which);
	desired_meta(cj, in, name, which);
	spec = cJSON_AddObjectToObject(cj, "spec");
	cJSON_AddStringToObject(spec, "concurrencyPolicy", "Forbid");
	cJSON_AddNumberToObject(spec, "failedJobsHistoryLimit", 3);
	jt = cJSON_AddObjectToObject(
		cJSON_AddObjectToObject(spec, "jobTemplate"), "spec");
	cJSON_AddNumberToObject(jt, "backoffLimit", 2);
	tmpl = cJSON_AddObjectToObject(jt, "template");
	tmd = cJSON_AddObjectToObject(tmpl, "metadata");
	l = desired_labels(tmd, in->name, which);
	/* not the relay's selector: the Services must not pick jobs up */
	cJSON_ReplaceItemInObjectCaseSensitive(
		l, DESIRED_LABEL_NAME, cJSON_CreateString("chatmail-job"));
	cJSON_AddItemToObject(tmpl, "spec", pod);
	cJSON_AddStringToObject(spec, "schedule", schedule);
	cJSON_AddNumberToObject(spec, "startingDeadlineSeconds", 3600);
	cJSON_AddNumberToObject(spec, "successfulJobsHistoryLimit", 1);
	return cj;
}
