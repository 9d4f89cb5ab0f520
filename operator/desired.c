/*
 * desired: a relay's children as cJSON objects (everything but the Pod
 * template, which is in desired_pod.c): ConfigMaps holding the rendered
 * files, the public and headless Services, the NetworkPolicy, the
 * cert-manager Certificate, PVC patches, the created-once Secrets, and
 * the hash that rolls the Pod when configuration changes.
 *
 * Objects are written in the exact form the API server stores (explicit
 * protocol: TCP, no empty maps), so projecting the live object onto our
 * managed fields gives back the same JSON and unchanged children cost
 * no write.
 *
 * Untrusted input: the spec (validated by spec.c; names checked again
 * here for length) and rendered file contents (opaque data).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "xmalloc.h"

cJSON *
desired_labels(cJSON *parent, const char *relay, const char *component)
{
	cJSON *l = cJSON_AddObjectToObject(parent, "labels");

	cJSON_AddStringToObject(l, DESIRED_LABEL_NAME, "chatmail-relay");
	cJSON_AddStringToObject(l, DESIRED_LABEL_COMPONENT, component);
	cJSON_AddStringToObject(l, DESIRED_LABEL_MANAGED, "chatmail-operator");
	cJSON_AddStringToObject(l, "app.kubernetes.io/part-of", "chatmail");
	cJSON_AddStringToObject(l, DESIRED_LABEL_RELAY, relay);
	return l;
}

cJSON *
desired_selector(const char *relay)
{
	cJSON *s = cJSON_CreateObject();

	cJSON_AddStringToObject(s, DESIRED_LABEL_NAME, "chatmail-relay");
	cJSON_AddStringToObject(s, DESIRED_LABEL_RELAY, relay);
	return s;
}

/* owner_ref: the relay as controlling owner */
static cJSON *
owner_ref(const struct desired_in *in)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "apiVersion", SPEC_API_VERSION);
	cJSON_AddStringToObject(r, "kind", SPEC_KIND);
	cJSON_AddStringToObject(r, "name", in->name);
	cJSON_AddStringToObject(r, "uid", in->uid);
	cJSON_AddTrueToObject(r, "controller");
	cJSON_AddTrueToObject(r, "blockOwnerDeletion");
	return r;
}

cJSON *
desired_meta(cJSON *obj, const struct desired_in *in, const char *name,
	     const char *component)
{
	cJSON *md = cJSON_AddObjectToObject(obj, "metadata");

	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", in->ns);
	desired_labels(md, in->name, component);
	if (in->uid != NULL)
		cJSON_AddItemToArray(
			cJSON_AddArrayToObject(md, "ownerReferences"),
			owner_ref(in));
	return md;
}

/* new_obj: {apiVersion, kind} */
static cJSON *
new_obj(const char *api_version, const char *kind)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "apiVersion", api_version);
	cJSON_AddStringToObject(o, "kind", kind);
	return o;
}

/* utf8_text: the bytes are valid UTF-8 without NUL (ConfigMap data) */
static int
utf8_text(const unsigned char *p, size_t n)
{
	size_t i = 0, k;
	unsigned c;

	while (i < n) {
		c = p[i++];
		if (c == 0)
			return 0;
		if (c < 0x80)
			continue;
		if ((c & 0xe0) == 0xc0)
			k = 1;
		else if ((c & 0xf0) == 0xe0)
			k = 2;
		else if ((c & 0xf8) == 0xf0)
			k = 3;
		else
			return 0;
		if (k > n - i)
			return 0;
		while (k-- > 0)
			if ((p[i++] & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* cm_add_file: one rendered file as a key of its ConfigMap */
static int
cm_add_file(cJSON *cm, const char *key, const struct render_file *f)
{
	struct buf b64 = BUF_INIT(4u << 20);
	cJSON *data;
	int r = 0;

	if (utf8_text((const unsigned char *)f->data, f->len)) {
		data = util_obj(cm, "data");
		cJSON_AddItemToObject(
			data, key, cJSON_CreateString(f->data ? f->data : ""));
	} else {
		r = util_b64_encode(f->data, f->len, &b64);
		data = util_obj(cm, "binaryData");
		cJSON_AddStringToObject(data, key, buf_cstr(&b64));
	}
	buf_deinit(&b64);
	return r;
}

/* group_of: the ConfigMap suffix of a rendered path ("config" for
 * top-level files) and the key within it (nested '/' become '_') */
static void
group_of(const char *path, char *group, size_t gsize, char *key, size_t ksize)
{
	const char *slash = strchr(path, '/');
	size_t i;

	if (slash == NULL) {
		(void)snprintf(group, gsize, "config");
		(void)snprintf(key, ksize, "%s", path);
	} else {
		(void)snprintf(group, gsize, "%.*s", (int)(slash - path), path);
		(void)snprintf(key, ksize, "%s", slash + 1);
	}
	for (i = 0; key[i] != '\0'; i++)
		if (key[i] == '/')
			key[i] = '_';
}

/* build_configmaps: every rendered file into <r>-<group> ConfigMaps */
static int
build_configmaps(const struct desired_in *in, cJSON *list, struct buf *err)
{
	char group[64], key[256], name[128];
	cJSON *cm;
	size_t i;
	int r;

	for (i = 0; i < in->files->n; i++) {
		const struct render_file *f = &in->files->files[i];

		group_of(f->path, group, sizeof(group), key, sizeof(key));
		(void)snprintf(name, sizeof(name), "%s-%s", in->name, group);
		cm = NULL;
		cJSON_ArrayForEach(cm, list)
		{
			if (strcmp(util_get_str(cm, "metadata.name"), name) ==
			    0)
				break;
		}
		if (cm == NULL) {
			cm = new_obj("v1", "ConfigMap");
			desired_meta(cm, in, name, "config");
			cJSON_AddItemToArray(list, cm);
		}
		if (util_get(cm, "data") &&
		    cJSON_GetObjectItemCaseSensitive(util_obj(cm, "data"),
						     key)) {
			(void)buf_printf(err,
					 "two rendered files map to key "
					 "%s of ConfigMap %s",
					 key, name);
			return -EINVAL;
		}
		if ((r = cm_add_file(cm, key, f)) < 0) {
			(void)buf_printf(err, "file %s too large", f->path);
			return r;
		}
	}
	return 0;
}

/* add_ports: the public ports of a Service (the layout's, render.h),
 * each to the Pod's port of the same name */
static void
add_ports(cJSON *spec, const struct render_target *t)
{
	cJSON *ports = cJSON_AddArrayToObject(spec, "ports"), *p;
	size_t i;

	for (i = 0; i < RENDER_NPUBLIC_PORTS; i++) {
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", render_ports[i].name);
		cJSON_AddNumberToObject(p, "port", render_ports[i].port);
		cJSON_AddStringToObject(p, "protocol", "TCP");
		cJSON_AddNumberToObject(p, "targetPort", t->port[i]);
		cJSON_AddItemToArray(ports, p);
	}
}

/* add_turn_ports: chatmail-turn's UDP ports on the public Service
 * (3478 and each relay port: a Service cannot name a range) */
static void
add_turn_ports(cJSON *spec, const struct relay_spec *s)
{
	cJSON *ports = cJSON_GetObjectItemCaseSensitive(spec, "ports"), *p;
	unsigned lo, hi, port;
	char name[16];

	if (!spec_turn_udp_in_pod(s))
		return;
	spec_port_range_of(s, &lo, &hi);
	for (port = 0; port == 0 || (port >= lo && port <= hi);) {
		p = cJSON_CreateObject();
		if (port == 0)
			(void)snprintf(name, sizeof(name), "turn");
		else
			(void)snprintf(name, sizeof(name), "turn-%u", port);
		cJSON_AddStringToObject(p, "name", name);
		cJSON_AddNumberToObject(p, "port",
					port == 0 ? RENDER_TURN_PORT : port);
		cJSON_AddStringToObject(p, "protocol", "UDP");
		cJSON_AddNumberToObject(p, "targetPort",
					port == 0 ? RENDER_TURN_PORT : port);
		cJSON_AddItemToArray(ports, p);
		port = port == 0 ? lo : port + 1;
		if (lo == 0)
			break;
	}
}

/* add_metrics_port: the private metrics port (headless Service only:
 * never on the public one) */
static void
add_metrics_port(cJSON *spec, const struct render_target *t)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "name",
				render_ports[RENDER_PORT_METRICS].name);
	cJSON_AddNumberToObject(p, "port", t->port[RENDER_PORT_METRICS]);
	cJSON_AddStringToObject(p, "protocol", "TCP");
	cJSON_AddNumberToObject(p, "targetPort", t->port[RENDER_PORT_METRICS]);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(spec, "ports"),
			     p);
}

/* build_services: the public Service and the headless one */
static void
build_services(const struct desired_in *in, const struct render_target *t,
	       cJSON *list)
{
	const struct relay_spec *s = in->spec;
	cJSON *svc = new_obj("v1", "Service"), *md, *spec, *ann;
	char name[128];
	size_t i;

	md = desired_meta(svc, in, in->name, "relay");
	if (s->service.n_annotations > 0) {
		ann = cJSON_AddObjectToObject(md, "annotations");
		for (i = 0; i < s->service.n_annotations; i++)
			cJSON_AddStringToObject(
				ann, s->service.annotations[i].key,
				s->service.annotations[i].value);
	}
	spec = cJSON_AddObjectToObject(svc, "spec");
	cJSON_AddStringToObject(spec, "type",
				spec_service_type_name(s->service.type));
	add_ports(spec, t);
	add_turn_ports(spec, s);
	cJSON_AddItemToObject(spec, "selector", desired_selector(in->name));
	if (s->service.type != SPEC_SVC_CLUSTER_IP)
		cJSON_AddStringToObject(
			spec, "externalTrafficPolicy",
			spec_traffic_policy_name(
				s->service.external_traffic_policy));
	if (s->service.type == SPEC_SVC_LOAD_BALANCER &&
	    s->service.load_balancer_ip[0] != '\0')
		cJSON_AddStringToObject(spec, "loadBalancerIP",
					s->service.load_balancer_ip);
	/* ACME: the Pod is not Ready until its certificate is served, and
	 * the CA's HTTP-01 request must reach the Pod's own nginx on port
	 * 80 through this Service before that; the relay is one Pod, so
	 * there is no ready one to prefer (docs/DESIGN.md, ACME mode) */
	if (s->tls.mode == SPEC_TLS_ACME)
		cJSON_AddTrueToObject(spec, "publishNotReadyAddresses");
	cJSON_AddItemToArray(list, svc);

	svc = new_obj("v1", "Service");
	(void)snprintf(name, sizeof(name), "%s-headless", in->name);
	desired_meta(svc, in, name, "relay");
	spec = cJSON_AddObjectToObject(svc, "spec");
	cJSON_AddStringToObject(spec, "clusterIP", "None");
	add_ports(spec, t);
	add_metrics_port(spec, t);
	cJSON_AddItemToObject(spec, "selector", desired_selector(in->name));
	cJSON_AddTrueToObject(spec, "publishNotReadyAddresses");
	cJSON_AddItemToArray(list, svc);
}

/* metrics_rule: the metrics port, from the spec's namespaces only
 * (none: no rule, the port is closed) */
static void
metrics_rule(const struct desired_in *in, const struct render_target *t,
	     cJSON *ingress)
{
	const struct relay_spec *s = in->spec;
	cJSON *rule, *p, *expr, *vals;
	size_t i;

	if (s->metrics.n_allowed_namespaces == 0)
		return;
	rule = cJSON_CreateObject();
	expr = cJSON_CreateObject();
	cJSON_AddStringToObject(expr, "key", "kubernetes.io/metadata.name");
	cJSON_AddStringToObject(expr, "operator", "In");
	vals = cJSON_AddArrayToObject(expr, "values");
	for (i = 0; i < s->metrics.n_allowed_namespaces; i++)
		cJSON_AddItemToArray(
			vals,
			cJSON_CreateString(s->metrics.allowed_namespaces[i]));
	p = cJSON_CreateObject();
	cJSON_AddItemToArray(
		cJSON_AddArrayToObject(
			cJSON_AddObjectToObject(p, "namespaceSelector"),
			"matchExpressions"),
		expr);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(rule, "from"), p);
	p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "port", t->port[RENDER_PORT_METRICS]);
	cJSON_AddStringToObject(p, "protocol", "TCP");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(rule, "ports"), p);
	cJSON_AddItemToArray(ingress, rule);
}

/* build_netpol: only the public ports (and TURN's UDP) reach the Pod,
 * and the metrics port from the spec's namespaces */
static void
build_netpol(const struct desired_in *in, const struct render_target *t,
	     cJSON *list)
{
	cJSON *np = new_obj("networking.k8s.io/v1", "NetworkPolicy");
	cJSON *spec, *sel, *rule, *ports, *p;
	size_t i;

	desired_meta(np, in, in->name, "relay");
	spec = cJSON_AddObjectToObject(np, "spec");
	sel = cJSON_AddObjectToObject(spec, "podSelector");
	cJSON_AddItemToObject(sel, "matchLabels", desired_selector(in->name));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "policyTypes"),
			     cJSON_CreateString("Ingress"));
	rule = cJSON_CreateObject();
	ports = cJSON_AddArrayToObject(rule, "ports");
	for (i = 0; i < RENDER_NPUBLIC_PORTS; i++) {
		p = cJSON_CreateObject();
		cJSON_AddNumberToObject(p, "port", t->port[i]);
		cJSON_AddStringToObject(p, "protocol", "TCP");
		cJSON_AddItemToArray(ports, p);
	}
	if (spec_turn_udp_in_pod(in->spec)) {
		unsigned lo, hi;

		p = cJSON_CreateObject();
		cJSON_AddNumberToObject(p, "port", RENDER_TURN_PORT);
		cJSON_AddStringToObject(p, "protocol", "UDP");
		cJSON_AddItemToArray(ports, p);
		spec_port_range_of(in->spec, &lo, &hi);
		p = cJSON_CreateObject();
		cJSON_AddNumberToObject(p, "port", lo);
		cJSON_AddNumberToObject(p, "endPort", hi);
		cJSON_AddStringToObject(p, "protocol", "UDP");
		cJSON_AddItemToArray(ports, p);
	}
	cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "ingress"), rule);
	metrics_rule(in, t, cJSON_GetObjectItemCaseSensitive(spec, "ingress"));
	cJSON_AddItemToArray(list, np);
}

/* build_pod_monitor: the Prometheus Operator's PodMonitor scraping the
 * Pod's metrics port */
static void
build_pod_monitor(const struct desired_in *in, cJSON *list)
{
	cJSON *pm = new_obj(DESIRED_PODMONITOR_API, "PodMonitor"), *spec, *ep;

	desired_meta(pm, in, in->name, "metrics");
	spec = cJSON_AddObjectToObject(pm, "spec");
	ep = cJSON_CreateObject();
	cJSON_AddStringToObject(ep, "path", "/metrics");
	cJSON_AddStringToObject(ep, "port",
				render_ports[RENDER_PORT_METRICS].name);
	cJSON_AddItemToArray(
		cJSON_AddArrayToObject(spec, "podMetricsEndpoints"), ep);
	cJSON_AddItemToObject(cJSON_AddObjectToObject(spec, "selector"),
			      "matchLabels", desired_selector(in->name));
	cJSON_AddItemToArray(list, pm);
}

/* build_certificate: cert-manager issues <r>-tls for the relay's names;
 * the Secret carries the relay's selector labels (secretTemplate), so
 * `-l chatmail.at/relay=<r>` finds it with the relay's other objects,
 * but not the managed-by label: it is cert-manager's, not a child */
static void
build_certificate(const struct desired_in *in, cJSON *list)
{
	const struct relay_spec *s = in->spec;
	cJSON *c = new_obj("cert-manager.io/v1", "Certificate"), *spec, *dns,
	      *iss;
	char buf[320];

	desired_meta(c, in, in->name, "tls");
	spec = cJSON_AddObjectToObject(c, "spec");
	cJSON_AddStringToObject(spec, "secretName", in->tls_secret);
	cJSON_AddItemToObject(cJSON_AddObjectToObject(spec, "secretTemplate"),
			      "labels", desired_selector(in->name));
	dns = cJSON_AddArrayToObject(spec, "dnsNames");
	cJSON_AddItemToArray(dns, cJSON_CreateString(s->domain));
	(void)snprintf(buf, sizeof(buf), "www.%s", s->domain);
	cJSON_AddItemToArray(dns, cJSON_CreateString(buf));
	(void)snprintf(buf, sizeof(buf), "mta-sts.%s", s->domain);
	cJSON_AddItemToArray(dns, cJSON_CreateString(buf));
	/* upstream's acmetool key: ECDSA P-256 */
	iss = cJSON_AddObjectToObject(spec, "privateKey");
	cJSON_AddStringToObject(iss, "algorithm", "ECDSA");
	cJSON_AddNumberToObject(iss, "size", 256);
	iss = cJSON_AddObjectToObject(spec, "issuerRef");
	cJSON_AddStringToObject(iss, "name", s->tls.issuer_name);
	cJSON_AddStringToObject(iss, "kind", s->tls.issuer_kind);
	cJSON_AddStringToObject(iss, "group", s->tls.issuer_group);
	cJSON_AddItemToArray(list, c);
}

int
desired_build(const struct desired_in *in, cJSON **list_r, struct buf *err)
{
	cJSON *list = cJSON_CreateArray();
	struct render_target *t;
	char hash[UTIL_SHA256_HEX];
	int r;

	*list_r = NULL;
	if (strlen(in->name) > DESIRED_MAX_NAME) {
		(void)buf_printf(err, "relay name longer than %d characters",
				 DESIRED_MAX_NAME);
		cJSON_Delete(list);
		return -EINVAL;
	}
	if ((r = build_configmaps(in, list, err)) < 0) {
		cJSON_Delete(list);
		return r;
	}
	/* the Pod's layout: the same target desired_render renders for */
	t = render_target_new_pod();
	render_target_spec(t, in->spec);
	build_services(in, t, list);
	build_netpol(in, t, list);
	if (in->spec->tls.mode == SPEC_TLS_CERT_MANAGER)
		build_certificate(in, list);
	if (in->spec->dns.external_dns &&
	    cJSON_GetArraySize(in->dns_records) > 0)
		cJSON_AddItemToArray(list, desired_dnsendpoint(in));
	if (in->spec->metrics.pod_monitor && in->monitoring)
		build_pod_monitor(in, list);
	desired_config_hash(in, hash);
	cJSON_AddItemToArray(list, desired_statefulset(in, t, hash));
	if (spec_turn_mode(in->spec) == SPEC_TURN_HOST)
		cJSON_AddItemToArray(list, desired_turn_statefulset(in));
	cJSON_AddItemToArray(list, desired_cronjob(in, t, RENDER_PROC_EXPIRE,
						   in->spec->expire.schedule));
	if (in->spec->metrics.schedule[0] != '\0')
		cJSON_AddItemToArray(
			list, desired_cronjob(in, t, RENDER_PROC_METRICS,
					      in->spec->metrics.schedule));
	if (in->spec->backup.enabled)
		cJSON_AddItemToArray(list, desired_backup_cronjob(in, t));
	render_target_free(&t);
	*list_r = list;
	return 0;
}

void
desired_pvc_name(const char *relay, const char *which, char *out,
		 size_t outsize)
{
	(void)snprintf(out, outsize, "%s-%s-0", which, relay);
}

cJSON *
desired_pvc(const struct desired_in *in, const char *which)
{
	const struct spec_volume *v = strcmp(which, "mail") == 0
					      ? &in->spec->storage.mail
					      : &in->spec->storage.queue;
	cJSON *pvc = new_obj("v1", "PersistentVolumeClaim"), *md, *req;
	char name[128];
	struct desired_in copy = *in;

	desired_pvc_name(in->name, which, name, sizeof(name));
	if (v->keep_on_delete)
		copy.uid = NULL; /* no owner: it outlives the relay */
	md = desired_meta(pvc, &copy, name, which);
	(void)md;
	req = cJSON_AddObjectToObject(
		cJSON_AddObjectToObject(cJSON_AddObjectToObject(pvc, "spec"),
					"resources"),
		"requests");
	cJSON_AddStringToObject(req, "storage", v->size);
	return pvc;
}

void
desired_tls_secret_name(const struct relay_spec *s, const char *relay,
			char *out, size_t outsize)
{
	switch (s->tls.mode) {
	case SPEC_TLS_SECRET:
		(void)snprintf(out, outsize, "%s", s->tls.secret_name);
		break;
	case SPEC_TLS_SELF_SIGNED:
		(void)snprintf(out, outsize, "%s-tls-selfsigned", relay);
		break;
	default:
		(void)snprintf(out, outsize, "%s-tls", relay);
		break;
	}
}

void
desired_turn_secret_name(const char *relay, char *out, size_t outsize)
{
	(void)snprintf(out, outsize, "%s-turn", relay);
}

void
desired_dkim_secret_name(const struct relay_spec *s, const char *relay,
			 char *out, size_t outsize)
{
	if (s->dkim.secret_name[0] != '\0')
		(void)snprintf(out, outsize, "%s", s->dkim.secret_name);
	else
		(void)snprintf(out, outsize, "%s-dkim", relay);
}

cJSON *
desired_secret(const struct desired_in *in, const char *name, const char *type,
	       const char *component, const char *key1, const char *val1,
	       size_t len1, const char *key2, const char *val2, size_t len2)
{
	cJSON *sec = new_obj("v1", "Secret"), *data;
	struct buf b64 = BUF_INIT(1u << 20);

	desired_meta(sec, in, name, component);
	cJSON_AddStringToObject(sec, "type", type);
	data = cJSON_AddObjectToObject(sec, "data");
	(void)util_b64_encode(val1, len1, &b64);
	cJSON_AddStringToObject(data, key1, buf_cstr(&b64));
	if (key2 != NULL) {
		buf_reset(&b64);
		(void)util_b64_encode(val2, len2, &b64);
		cJSON_AddStringToObject(data, key2, buf_cstr(&b64));
	}
	buf_wipe_deinit(&b64); /* it held key material */
	return sec;
}

void
desired_config_hash(const struct desired_in *in, char hex[UTIL_SHA256_HEX])
{
	struct buf b = BUF_INIT(64u << 20);
	size_t i;

	for (i = 0; i < in->files->n; i++) {
		(void)buf_printf(&b, "%s\n%zu\n", in->files->files[i].path,
				 in->files->files[i].len);
		(void)buf_append(&b, in->files->files[i].data,
				 in->files->files[i].len);
	}
	(void)buf_printf(&b, "\ntls=%s\ndkim=%s\n", in->tls_secret,
			 in->dkim_secret);
	util_sha256_hex(b.data ? b.data : "", b.len, hex);
	buf_deinit(&b);
}

int
desired_render(const struct relay_spec *s, struct render_set *set,
	       struct buf *err)
{
	struct render_target *t = render_target_new_pod();
	int r;

	memset(set, 0, sizeof(*set));
	r = render_all(s, t, set, err);
	render_target_free(&t);
	return r;
}
