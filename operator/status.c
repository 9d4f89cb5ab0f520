/*
 * status: conditions and DNS records of a ChatmailRelay.
 *
 * Condition logic (kstatus-compatible: an object is current when Ready
 * is True and observedGeneration matches):
 *   Degraded     True when the last reconcile failed (reason, message)
 *   Progressing  True while the DKIM key is being generated, the
 *                StatefulSet is being created or rolled out, or a
 *                certificate is being issued; False with
 *                ReconciliationPaused while spec.paused is set
 *   Ready        True when nothing failed, the rollout is complete, the
 *                Pod is ready and (CertManager) the certificate issued
 *   DNSReady     the live DNS check (operator/dnscheck.h): True when
 *                every required record is published; never part of
 *                Ready (a relay with wrong DNS still serves)
 * lastTransitionTime is carried over from the previous status while a
 * condition's status stays the same, so an unchanged relay gets a
 * byte-identical status and the operator writes nothing.
 *
 * Untrusted input: the previous status (from the API server; only the
 * timestamps of matching conditions are reused).
 */
#include <stdio.h>
#include <string.h>

#include "render/render.h"
#include "status.h"
#include "util.h"

const cJSON *
status_condition(const cJSON *status, const char *type)
{
	const cJSON *c;
	const char *t;

	cJSON_ArrayForEach(
		c, cJSON_GetObjectItemCaseSensitive(status, "conditions"))
	{
		t = util_get_str(c, "type");
		if (t != NULL && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

/* add_cond: one condition, keeping the old transition time unless the
 * status flipped */
static void
add_cond(cJSON *conds, const struct status_in *in, const char *type, int val,
	 const char *reason, const char *message)
{
	const cJSON *old = status_condition(in->old_status, type);
	const char *st = val ? "True" : "False";
	const char *old_st = util_get_str(old, "status");
	const char *old_t = util_get_str(old, "lastTransitionTime");
	cJSON *c = cJSON_CreateObject();

	cJSON_AddStringToObject(c, "type", type);
	cJSON_AddStringToObject(c, "status", st);
	cJSON_AddNumberToObject(c, "observedGeneration",
				(double)in->generation);
	cJSON_AddStringToObject(
		c, "lastTransitionTime",
		old_st && old_t && strcmp(old_st, st) == 0 ? old_t : in->now);
	cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddStringToObject(c, "message", message ? message : "");
	cJSON_AddItemToArray(conds, c);
}

static int is_ip_domain(const char *d);

/* rollout: 1 when the StatefulSet is rolled out; else reason/message */
static int
rollout(const struct status_in *in, const char **reason, char *msg,
	size_t msize)
{
	if (in->dkim_pending) {
		*reason = "GeneratingDKIMKey";
		(void)snprintf(msg, msize, "generating the DKIM key");
		return 0;
	}
	if (!in->sts_found) {
		*reason = "Creating";
		(void)snprintf(msg, msize, "StatefulSet not created yet");
		return 0;
	}
	/* before the Pod: on a real cluster a Pod cannot start without the
	 * Secret it mounts, so the certificate is the cause to report */
	if (in->cert_ready == 0) {
		*reason = "CertificateNotReady";
		(void)snprintf(msg, msize,
			       "waiting for cert-manager to issue the "
			       "certificate");
		return 0;
	}
	if (in->sts_observed_generation < in->sts_generation ||
	    in->updated_replicas < in->replicas ||
	    (in->current_revision && in->update_revision &&
	     *in->current_revision &&
	     strcmp(in->current_revision, in->update_revision) != 0)) {
		*reason = "RollingOut";
		(void)snprintf(msg, msize,
			       "StatefulSet rolling out: %d of %d Pods updated",
			       in->updated_replicas, in->replicas);
		return 0;
	}
	if (in->ready_replicas < in->replicas || in->replicas == 0) {
		*reason = "PodNotReady";
		(void)snprintf(msg, msize, "%d of %d Pods ready",
			       in->ready_replicas, in->replicas);
		return 0;
	}
	return 1;
}

/* turn_host_cond: TURNReady of a TURN server on the node's network:
 * it needs a node with an address (the Pod is scheduled only where its
 * host ports are free, next to the relay Pod) */
static void
turn_host_cond(cJSON *conds, const struct status_in *in)
{
	const char *relayed = *in->turn_address ? in->turn_address
						: "the node's own addresses";
	char msg[640];

	if (in->turn_node_ip == NULL) {
		(void)snprintf(msg, sizeof(msg),
			       "the node address of the TURN Pod %.128s cannot "
			       "be found: %s%.128s; it runs on the relay Pod's "
			       "node and needs UDP 3478 and "
			       "spec.turn.portRange free there",
			       in->turn_pod,
			       in->turn_node ? "its node reports none: "
					     : "it is not scheduled",
			       in->turn_node ? in->turn_node : "");
		add_cond(conds, in, "TURNReady", 0, "NodeAddressUnknown", msg);
		return;
	}
	(void)snprintf(msg, sizeof(msg),
		       "chatmail-turn %s on node %.128s (%.64s, host network: "
		       "UDP 3478 and spec.turn.portRange); clients are told "
		       "%.128s:3478, relayed addresses %.64s",
		       in->turn_pod_ready ? "listens" : "is not Ready yet",
		       in->turn_node ? in->turn_node : "", in->turn_node_ip,
		       in->turn_host, relayed);
	add_cond(conds, in, "TURNReady", in->turn_pod_ready,
		 in->turn_pod_ready ? "Running" : "Pending", msg);
}

/* turn_cond: TURNReady, and why not: a TURN server needs an address
 * clients can reach, which the operator cannot guess */
static void
turn_cond(cJSON *conds, const struct status_in *in)
{
	char msg[256];

	if (in->turn_state > 0 && in->turn_host_network) {
		turn_host_cond(conds, in);
	} else if (in->turn_state < 0) {
		add_cond(conds, in, "TURNReady", 0, "Disabled",
			 "spec.turn.enabled is false");
	} else if (in->turn_state == 0) {
		add_cond(conds, in, "TURNReady", 0, "NoExternalAddress",
			 "no TURN server runs: set spec.turn.externalIP or "
			 "spec.service.loadBalancerIP to the address clients "
			 "reach the relay's UDP ports on; calls between "
			 "clients behind NAT fail until then");
	} else {
		(void)snprintf(msg, sizeof(msg),
			       "chatmail-turn relays on %.64s (UDP 3478 and "
			       "spec.turn.portRange)",
			       in->turn_address);
		add_cond(conds, in, "TURNReady", 1, "Running", msg);
	}
}

/* acme_pending: the Pending message: the cert container's own words
 * when a probe event of it was seen, else where to look */
static void
acme_pending(const struct status_in *in, char *msg, size_t msize)
{
	const struct cert_probe *p = in->acme_probe;

	if (p == NULL) {
		(void)snprintf(msg, msize,
			       "no certificate from %.300s is served yet (or "
			       "the Pod is not Ready); the cert container's "
			       "status: kubectl exec %.100s -c cert -- "
			       "cert-reloader --acme-status "
			       "/var/lib/chatmail-acme/status.json",
			       in->acme_directory,
			       in->pod_name ? in->pod_name : "");
		return;
	}
	if (!p->parsed) {
		(void)snprintf(msg, msize,
			       "no certificate from %.300s is served yet; the "
			       "cert container's probe since %s: %.400s",
			       in->acme_directory, p->first, p->last_error);
		return;
	}
	(void)snprintf(msg, msize,
		       "no certificate from %.300s is served yet; the cert "
		       "container's probe since %s: lastError \"%.400s\", "
		       "failures %u, nextAttempt %s, names %.200s, "
		       "notAfter %s",
		       in->acme_directory, p->first, p->last_error, p->failures,
		       p->next_attempt, *p->names ? p->names : "-",
		       p->not_after);
}

/* acme_issued: the Issued message: the served certificate's names and
 * notAfter as read over TLS, once they are */
static void
acme_issued(const struct status_in *in, char *msg, size_t msize)
{
	const struct served_cert *c = in->acme_served;

	if (c != NULL && c->error[0] == '\0') {
		(void)snprintf(msg, msize,
			       "a certificate from %.300s for %.500s, notAfter "
			       "%s, is served on 443 (read over TLS from the "
			       "Service); renewed at two thirds of its "
			       "lifetime",
			       in->acme_directory, c->names, c->not_after);
		return;
	}
	(void)snprintf(
		msg, msize,
		"a certificate from %.300s for %.200s, www. and "
		"mta-sts. is served (the cert container's probe); "
		"renewed at two thirds of its lifetime; %s%.250s",
		in->acme_directory, in->domain,
		c == NULL ? "its names and notAfter are being read "
			    "over TLS from the Service"
			  : "reading it over TLS from the Service failed: ",
		c == NULL ? "" : c->error);
}

/* acme_cond: CertificateReady in ACME mode. The operator has no API
 * access into the Pod and the Pod none to the API: what it observes is
 * the spec, the Pod's readiness, which includes the cert container's
 * probe (`cert-reloader --acme-status`, ready only while a certificate
 * from the ACME server is served; docs/DESIGN.md, Certificates in ACME
 * mode), and the kubelet's Unhealthy events of that probe, whose
 * message is the probe's line (names, notAfter, last error, next
 * attempt, failures); once Ready, the certificate served on 443, read
 * over TLS (servedcert.h). */
static void
acme_cond(cJSON *conds, const struct status_in *in)
{
	char msg[2048];

	if (in->acme_directory == NULL)
		return;
	if (!in->acme_tos_agreed) {
		(void)snprintf(msg, sizeof(msg),
			       "no ACME account is registered until "
			       "spec.tls.acmeTermsOfServiceAgreed is true "
			       "(the terms of service of %.300s)",
			       in->acme_directory);
		add_cond(conds, in, "CertificateReady", 0,
			 "TermsOfServiceNotAgreed", msg);
		return;
	}
	if (in->sts_found && in->replicas > 0 &&
	    in->ready_replicas >= in->replicas) {
		acme_issued(in, msg, sizeof(msg));
		add_cond(conds, in, "CertificateReady", 1, "Issued", msg);
		return;
	}
	acme_pending(in, msg, sizeof(msg));
	add_cond(conds, in, "CertificateReady", 0, "Pending", msg);
}

/* dns_check: DNSReady and status.dnsCheck from the last check, else
 * carried over from the previous status (an operator that just started
 * has not checked yet). An empty dnsCheck (the zone was not found) is
 * left out: a server-side apply of {} over the subfields this manager
 * owned turns the field into null, which the schema refuses, and the
 * whole status write with it. */
static void
dns_check(cJSON *st, cJSON *conds, const struct status_in *in)
{
	const cJSON *old = status_condition(in->old_status, "DNSReady");
	const cJSON *oc = util_get(in->old_status, "dnsCheck");
	const char *ost = util_get_str(old, "status");

	if (in->dns != NULL) {
		add_cond(conds, in, "DNSReady", in->dns->ready, in->dns->reason,
			 buf_cstr(&in->dns->message));
		if (in->dns->check != NULL && in->dns->check->child != NULL)
			cJSON_AddItemToObject(
				st, "dnsCheck",
				cJSON_Duplicate(in->dns->check, 1));
		return;
	}
	if (ost != NULL)
		add_cond(conds, in, "DNSReady", strcmp(ost, "True") == 0,
			 util_get_str(old, "reason")
				 ? util_get_str(old, "reason")
				 : "",
			 util_get_str(old, "message"));
	if (cJSON_IsObject(oc) && oc->child != NULL)
		cJSON_AddItemToObject(st, "dnsCheck", cJSON_Duplicate(oc, 1));
}

cJSON *
status_build(const struct status_in *in)
{
	cJSON *st = cJSON_CreateObject(), *conds;
	const char *why = "";
	char msg[256];
	int done = rollout(in, &why, msg, sizeof(msg));
	int failed = in->err_reason != NULL;

	cJSON_AddNumberToObject(st, "observedGeneration",
				(double)in->generation);
	conds = cJSON_AddArrayToObject(st, "conditions");
	if (failed)
		add_cond(conds, in, "Ready", 0, "ReconcileFailed",
			 in->err_message);
	else
		add_cond(conds, in, "Ready", done, done ? "Ready" : why,
			 done ? "the relay is running" : msg);
	if (in->paused)
		add_cond(conds, in, "Progressing", 0, "ReconciliationPaused",
			 "spec.paused is set: the operator changes nothing");
	else
		add_cond(conds, in, "Progressing", !done && !failed,
			 done || failed ? "Stable" : why, done ? "" : msg);
	add_cond(conds, in, "Degraded", failed,
		 failed ? in->err_reason : "AsExpected",
		 failed ? in->err_message : "");
	if (in->domain != NULL) {
		turn_cond(conds, in);
		acme_cond(conds, in);
	}
	if (in->address && *in->address)
		cJSON_AddStringToObject(st, "address", in->address);
	if (in->tls_secret && *in->tls_secret)
		cJSON_AddStringToObject(st, "tlsSecretName", in->tls_secret);
	if (in->dkim_secret && *in->dkim_secret)
		cJSON_AddStringToObject(st, "dkimSecretName", in->dkim_secret);
	cJSON_AddItemToObject(st, "dnsRecords", status_dns_records(in));
	if (in->domain != NULL && !is_ip_domain(in->domain))
		dns_check(st, conds, in);
	if (cJSON_GetArraySize(in->kept) > 0)
		cJSON_AddItemToObject(st, "keptOnDelete",
				      cJSON_Duplicate(in->kept, 1));
	return st;
}

/* rec: one DNS record */
static void
rec(cJSON *arr, int required, const char *type, const char *value,
    const char *prefix, const char *domain)
{
	cJSON *r = cJSON_CreateObject();
	char name[600];

	(void)snprintf(name, sizeof(name), "%s%s.", prefix, domain);
	cJSON_AddStringToObject(r, "name", name);
	cJSON_AddStringToObject(r, "type", type);
	cJSON_AddStringToObject(r, "value", value);
	cJSON_AddBoolToObject(r, "required", required);
	cJSON_AddItemToArray(arr, r);
}

/* txt_chunks: a TXT value as quoted strings of at most 255 bytes */
static void
txt_chunks(const char *v, struct buf *out)
{
	size_t n = strlen(v), k;

	while (n > 0) {
		k = n > 255 ? 255 : n;
		(void)buf_printf(out, "%s\"%.*s\"", out->len ? " " : "", (int)k,
				 v);
		v += k;
		n -= k;
	}
}

/* is_ip_domain: an IP-only relay publishes no DNS records */
static int
is_ip_domain(const char *d)
{
	return strspn(d, "0123456789.") == strlen(d) ||
	       (d[0] == '[' && strchr(d, ']'));
}

cJSON *
status_dns_records(const struct status_in *in)
{
	/* RFC 6186 and RFC 8314 records for clients, on the public ports
	 * of the relay's Service (the layout's, render.h) */
	static const struct {
		const char *name;
		enum render_port_id port;
	} srv[] = {
		{ "_submission._tcp.", RENDER_PORT_SUBMISSION },
		{ "_submissions._tcp.", RENDER_PORT_SMTPS },
		{ "_imap._tcp.", RENDER_PORT_IMAP },
		{ "_imaps._tcp.", RENDER_PORT_IMAPS },
	};
	cJSON *arr = cJSON_CreateArray();
	size_t i;
	const char *d = in->domain;
	struct buf v = BUF_INIT(8192);
	char val[600];

	if (d == NULL || *d == '\0' || is_ip_domain(d))
		return arr;
	if (in->address && *in->address &&
	    strspn(in->address, "0123456789.") == strlen(in->address))
		rec(arr, 1, "A", in->address, "", d);
	else if (in->address && strchr(in->address, ':') != NULL)
		rec(arr, 1, "AAAA", in->address, "", d);
	(void)snprintf(val, sizeof(val), "10 %s.", d);
	rec(arr, 1, "MX", val, "", d);
	if (in->strict_tls) {
		(void)snprintf(val, sizeof(val), "\"v=STSv1; id=%s\"",
			       in->sts_id);
		rec(arr, 1, "TXT", val, "_mta-sts.", d);
		(void)snprintf(val, sizeof(val), "%s.", d);
		rec(arr, 1, "CNAME", val, "mta-sts.", d);
	}
	(void)snprintf(val, sizeof(val), "%s.", d);
	rec(arr, 1, "CNAME", val, "www.", d);
	if (in->dkim_txt && *in->dkim_txt) {
		txt_chunks(in->dkim_txt, &v);
		(void)snprintf(val, sizeof(val), "%s._domainkey.",
			       in->dkim_selector);
		rec(arr, 1, "TXT", buf_cstr(&v), val, d);
	}
	rec(arr, 0, "TXT", "\"v=spf1 a ~all\"", "", d);
	rec(arr, 0, "TXT", "\"v=DMARC1;p=reject;adkim=s;aspf=s\"", "_dmarc.",
	    d);
	rec(arr, 0, "TXT", "\"dkim=discardable\"", "_adsp._domainkey.", d);
	for (i = 0; i < sizeof(srv) / sizeof(srv[0]); i++) {
		(void)snprintf(val, sizeof(val), "0 1 %u %s.",
			       render_ports[srv[i].port].port, d);
		rec(arr, 0, "SRV", val, srv[i].name, d);
	}
	if (in->caa_issuer != NULL) {
		(void)snprintf(val, sizeof(val), "0 issue \"%s\"",
			       in->caa_issuer);
		rec(arr, 0, "CAA", val, "", d);
	}
	buf_deinit(&v);
	return arr;
}

void
status_compact(cJSON *status)
{
	cJSON *recs = cJSON_GetObjectItemCaseSensitive(status, "dnsRecords");
	char hex[UTIL_SHA256_HEX], val[80];

	if (!cJSON_IsArray(recs))
		return;
	util_hash_json(recs, hex);
	(void)snprintf(val, sizeof(val), "sha256:%s", hex);
	cJSON_ReplaceItemInObjectCaseSensitive(status, "dnsRecords",
					       cJSON_CreateString(val));
}

int
status_equal(const cJSON *a, const cJSON *b)
{
	char ha[UTIL_SHA256_HEX], hb[UTIL_SHA256_HEX];

	if (a == NULL || b == NULL)
		return a == b;
	util_hash_json(a, ha);
	util_hash_json(b, hb);
	return strcmp(ha, hb) == 0;
}
