/*
 * desired_turn: the TURN server on the node's network (spec.turn.
 * hostNetwork; docs/DESIGN.md, TURN on the node's network): the
 * StatefulSet <relay>-turn, one Pod with hostNetwork that runs
 * chatmail-turn on the node's own addresses (UDP 3478 and the relay
 * ports, declared as host ports so the scheduler never puts two of them
 * on one node), with the relay's <relay>-turn Secret. The relay Pod
 * keeps its own network; its turn container answers credentials only.
 *
 * A StatefulSet, not a Deployment: a rollout deletes the old Pod before
 * it starts the new one, so the node's ports are free when it binds
 * them, and the Pod's name (<relay>-turn-0) is known, so the status can
 * name its node. It runs on the relay Pod's node (required pod
 * affinity), where a bare-metal relay's domain points.
 *
 * Untrusted input: the spec (validated by spec.c).
 */
#include <stdio.h>
#include <string.h>

#include "desired.h"

#define VMAIL 2000

/* turn_ports: UDP 3478 and every relay port, each a host port */
static void
turn_ports(cJSON *c, const struct relay_spec *s)
{
	cJSON *ports = cJSON_AddArrayToObject(c, "ports"), *p;
	unsigned lo, hi, port;

	spec_port_range_of(s, &lo, &hi);
	for (port = 0; port == 0 || (lo != 0 && port <= hi);) {
		unsigned n = port == 0 ? RENDER_TURN_PORT : port;

		p = cJSON_CreateObject();
		cJSON_AddNumberToObject(p, "containerPort", n);
		cJSON_AddNumberToObject(p, "hostPort", n);
		cJSON_AddStringToObject(p, "protocol", "UDP");
		cJSON_AddItemToArray(ports, p);
		if (lo == 0)
			break;
		port = port == 0 ? lo : port + 1;
	}
}

/* turn_security: vmail, no capabilities, read-only root */
static void
turn_security(cJSON *c)
{
	cJSON *sc = cJSON_AddObjectToObject(c, "securityContext");

	cJSON_AddFalseToObject(sc, "allowPrivilegeEscalation");
	cJSON_AddItemToArray(
		cJSON_AddArrayToObject(
			cJSON_AddObjectToObject(sc, "capabilities"), "drop"),
		cJSON_CreateString("ALL"));
	cJSON_AddTrueToObject(sc, "readOnlyRootFilesystem");
	cJSON_AddNumberToObject(sc, "runAsGroup", VMAIL);
	cJSON_AddTrueToObject(sc, "runAsNonRoot");
	cJSON_AddNumberToObject(sc, "runAsUser", VMAIL);
}

/* add_mount: one volumeMount */
static void
add_mount(cJSON *mounts, const char *vol, const char *path, int ro)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "name", vol);
	cJSON_AddStringToObject(m, "mountPath", path);
	if (ro)
		cJSON_AddTrueToObject(m, "readOnly");
	cJSON_AddItemToArray(mounts, m);
}

/* turn_container: chatmail-turn with the relay ports and
 * turn.externalIP; its credential socket is unused here */
static cJSON *
turn_container(const struct desired_in *in, const struct render_target *t)
{
	const struct relay_spec *s = in->spec;
	cJSON *c = cJSON_CreateObject(), *m;
	char **cmd = render_command(t, RENDER_PROC_TURN);
	const char *slash = strrchr(t->turn_secret, '/');
	char dir[256];

	cJSON_AddStringToObject(c, "name", render_procs[RENDER_PROC_TURN]);
	cJSON_AddStringToObject(c, "image",
				images_for(in->images, s, SPEC_C_TURN));
	if (s->image_pull_policy[0] != '\0')
		cJSON_AddStringToObject(c, "imagePullPolicy",
					s->image_pull_policy);
	m = cJSON_AddArrayToObject(c, "command");
	for (char **a = cmd; *a != NULL; a++)
		cJSON_AddItemToArray(m, cJSON_CreateString(*a));
	render_argv_free(&cmd);
	turn_ports(c, s);
	if (s->resources[SPEC_C_TURN] != NULL)
		cJSON_AddItemToObject(
			c, "resources",
			cJSON_Duplicate(s->resources[SPEC_C_TURN], 1));
	turn_security(c);
	m = cJSON_AddArrayToObject(c, "volumeMounts");
	(void)snprintf(dir, sizeof(dir), "%.*s",
		       (int)(slash != NULL ? slash - t->turn_secret : 0),
		       t->turn_secret);
	add_mount(m, "run", t->run_dir, 0);
	add_mount(m, "turn-secret", dir, 1);
	return c;
}

/* turn_pod: the Pod template's spec */
static cJSON *
turn_pod(const struct desired_in *in, const struct render_target *t)
{
	cJSON *pod = cJSON_CreateObject(), *sc, *v, *vols;
	char secret[128];

	/* on the relay Pod's node */
	desired_relay_affinity(pod, in->name);
	cJSON_AddFalseToObject(pod, "automountServiceAccountToken");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(pod, "containers"),
			     turn_container(in, t));
	cJSON_AddFalseToObject(pod, "enableServiceLinks");
	cJSON_AddTrueToObject(pod, "hostNetwork");
	sc = cJSON_AddObjectToObject(pod, "securityContext");
	cJSON_AddNumberToObject(sc, "fsGroup", VMAIL);
	cJSON_AddTrueToObject(sc, "runAsNonRoot");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(sc, "seccompProfile"),
				"type", "RuntimeDefault");
	cJSON_AddNumberToObject(pod, "terminationGracePeriodSeconds", 10);
	vols = cJSON_AddArrayToObject(pod, "volumes");
	v = cJSON_CreateObject();
	cJSON_AddObjectToObject(v, "emptyDir");
	cJSON_AddStringToObject(v, "name", "run");
	cJSON_AddItemToArray(vols, v);
	desired_turn_secret_name(in->name, secret, sizeof(secret));
	v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "name", "turn-secret");
	sc = cJSON_AddObjectToObject(v, "secret");
	/* 0440 with fsGroup: vmail reads it */
	cJSON_AddNumberToObject(sc, "defaultMode", 0440);
	cJSON_AddStringToObject(sc, "secretName", secret);
	cJSON_AddItemToArray(vols, v);
	return pod;
}

/* turn_selector: the TURN Pod's labels that the relay's Services and
 * StatefulSet do not select */
static cJSON *
turn_selector(const char *relay)
{
	cJSON *s = desired_selector(relay);

	cJSON_ReplaceItemInObjectCaseSensitive(
		s, DESIRED_LABEL_NAME, cJSON_CreateString("chatmail-turn"));
	return s;
}

void
desired_turn_name(const char *relay, char *out, size_t outsize)
{
	(void)snprintf(out, outsize, "%s-turn", relay);
}

cJSON *
desired_turn_statefulset(const struct desired_in *in)
{
	cJSON *sts = cJSON_CreateObject(), *spec, *tmpl, *l;
	struct render_target *t = render_target_new_pod();
	char name[128];

	render_target_turn_host(t, in->spec);
	desired_turn_name(in->name, name, sizeof(name));
	cJSON_AddStringToObject(sts, "apiVersion", "apps/v1");
	cJSON_AddStringToObject(sts, "kind", "StatefulSet");
	desired_meta(sts, in, name, "turn");
	spec = cJSON_AddObjectToObject(sts, "spec");
	cJSON_AddNumberToObject(spec, "replicas", 1);
	cJSON_AddItemToObject(cJSON_AddObjectToObject(spec, "selector"),
			      "matchLabels", turn_selector(in->name));
	(void)snprintf(name, sizeof(name), "%s-headless", in->name);
	cJSON_AddStringToObject(spec, "serviceName", name);
	tmpl = cJSON_AddObjectToObject(spec, "template");
	l = desired_labels(cJSON_AddObjectToObject(tmpl, "metadata"), in->name,
			   "turn");
	cJSON_ReplaceItemInObjectCaseSensitive(
		l, DESIRED_LABEL_NAME, cJSON_CreateString("chatmail-turn"));
	cJSON_AddItemToObject(tmpl, "spec", turn_pod(in, t));
	render_target_free(&t);
	return sts;
}
