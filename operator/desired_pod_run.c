/*
 * desired_pod_run: how the Pod's containers run, beside their layout
 * (desired_pod.c): the probes that tell the kubelet a process is ready,
 * alive, started, and the resources a container gets when the spec
 * does not size it (docs/DESIGN.md, Containers).
 *
 * Untrusted input: none (the spec's resources are copied as written;
 * the API server validates them).
 */
#include <string.h>

#include "desired.h"
#include "xmalloc.h"

/* argv_json: a JSON array of the NULL-terminated strings */
static cJSON *
argv_json(char **v)
{
	cJSON *a = cJSON_CreateArray();

	for (; *v != NULL; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

/* probe_of: a probe (tcpSocket on port, else exec of argv) with its
 * timing, the API server's defaults written out */
static cJSON *
probe_of(unsigned port, char **argv, int period, int timeout, int failures)
{
	cJSON *p = cJSON_CreateObject();

	if (argv != NULL)
		cJSON_AddItemToObject(cJSON_AddObjectToObject(p, "exec"),
				      "command", argv_json(argv));
	cJSON_AddNumberToObject(p, "failureThreshold", failures);
	cJSON_AddNumberToObject(p, "periodSeconds", period);
	cJSON_AddNumberToObject(p, "successThreshold", 1);
	if (argv == NULL)
		cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "tcpSocket"),
					"port", port);
	cJSON_AddNumberToObject(p, "timeoutSeconds", timeout);
	return p;
}

/* probe_port: the port the kubelet can reach that shows the process is
 * alive (a public port marked for it, the exporter's), or 0 */
static unsigned
probe_port(enum render_proc_id proc, const struct render_target *t)
{
	size_t i;

	if (proc == RENDER_PROC_EXPORTER)
		return t->port[RENDER_PORT_METRICS];
	for (i = 0; i < RENDER_NPUBLIC_PORTS; i++)
		if (render_ports[i].proc == proc &&
		    (render_ports[i].flags & RENDER_PORT_PROBE))
			return t->port[i];
	return 0;
}

/* check_argv: the exec probe of a service that listens only on Unix
 * sockets: its --metrics listener, on the loop that does its work,
 * must answer (chatmail-exporter --check, in the same image); NULL
 * for the processes without one */
static char **
check_argv(enum render_proc_id proc, const struct render_target *t)
{
	char **cmd = render_command(t, proc), **v = NULL;
	size_t n;

	for (n = 0; cmd[n] != NULL; n++)
		;
	if (n >= 2 && strcmp(cmd[n - 2], "--metrics") == 0) {
		v = xcalloc(5, sizeof(*v));
		v[0] = xstrdup("chatmail-exporter");
		v[1] = xstrdup("--check");
		v[2] = xstrdup(cmd[n - 1]);
		v[3] = xstrdup("--timeout=10000");
	}
	render_argv_free(&cmd);
	return v;
}

/* desired_probes: readiness on the public probe port; liveness where a
 * hung process would otherwise stay ready (a TCP port the kubelet
 * reaches, else the --metrics check), slow enough for a busy Dovecot
 * (3 minutes of failures); startup probes give a slow start (postfix
 * fixing a large queue's owners) 10 minutes before liveness counts */
void
desired_probes(cJSON *c, enum render_proc_id proc,
	       const struct render_target *t)
{
	unsigned port = probe_port(proc, t);
	char **argv = port != 0 ? NULL : check_argv(proc, t);

	if (port == 0 && argv == NULL)
		return;
	cJSON_AddItemToObject(c, "livenessProbe",
			      probe_of(port, argv, 30, 15, 6));
	if (port != 0 && proc != RENDER_PROC_EXPORTER)
		cJSON_AddItemToObject(c, "readinessProbe",
				      probe_of(port, NULL, 10, 1, 3));
	cJSON_AddItemToObject(c, "startupProbe",
			      probe_of(port, argv, 5, 15, 120));
	render_argv_free(&argv);
}

/* the resources of a container the spec does not size, from upstream's
 * smallest host (1 vCPU, 1 GiB: the requests add up to under half of
 * it); memory limits only (a CPU limit throttles a burst for nothing).
 * doveauth has no memory limit: its registration check measures the
 * memory its own cgroup has left (docs/UPSTREAM.md, doveauth), which
 * must be the node's unless the admin sizes it */
static const struct {
	const char *cpu, *mem, *limit;
} res_default[SPEC_C_COUNT] = {
	[SPEC_C_POSTFIX] = { "50m", "64Mi", "1Gi" },
	[SPEC_C_DOVECOT] = { "100m", "128Mi", "2Gi" },
	[SPEC_C_NGINX] = { "20m", "32Mi", "256Mi" },
	[SPEC_C_FILTERMAIL] = { "20m", "32Mi", "512Mi" },
	[SPEC_C_DOVEAUTH] = { "10m", "16Mi", NULL },
	[SPEC_C_METADATA] = { "10m", "16Mi", "256Mi" },
	[SPEC_C_LASTLOGIN] = { "5m", "8Mi", "64Mi" },
	[SPEC_C_NEWEMAIL] = { "5m", "8Mi", "64Mi" },
	[SPEC_C_IROH] = { "20m", "32Mi", "512Mi" },
	[SPEC_C_CERT] = { "5m", "8Mi", "32Mi" },
	[SPEC_C_TURN] = { "20m", "16Mi", "256Mi" },
	[SPEC_C_EXPORTER] = { "10m", "16Mi", "64Mi" },
	[SPEC_C_JOBS] = { "50m", "32Mi", "512Mi" },
};

void
desired_resources(cJSON *c, const struct relay_spec *s, enum spec_container img)
{
	cJSON *r, *q;

	if (s->resources[img] != NULL) {
		cJSON_AddItemToObject(c, "resources",
				      cJSON_Duplicate(s->resources[img], 1));
		return;
	}
	r = cJSON_AddObjectToObject(c, "resources");
	if (res_default[img].limit != NULL)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "limits"),
					"memory", res_default[img].limit);
	q = cJSON_AddObjectToObject(r, "requests");
	cJSON_AddStringToObject(q, "cpu", res_default[img].cpu);
	cJSON_AddStringToObject(q, "memory", res_default[img].mem);
}
