/*
 * desired_dns: the external-dns DNSEndpoint of a relay
 * (spec.dns.externalDNS.enabled): status.dnsRecords as endpoints, one
 * per name and type, in the form external-dns's CRD source takes
 * (names without the trailing dot; MX "10 host", SRV "0 1 587 host",
 * TXT the text itself, unquoted and joined; CAA as in a zone file).
 * external-dns publishes the types its --managed-record-types lists.
 *
 * Untrusted input: none (the records are built by operator/status.c
 * from the spec, the Service's address and our DKIM key).
 */
#include <stdio.h>
#include <string.h>

#include "desired.h"
#include "dns.h"

#define DNSENDPOINT_TTL 3600

/* strip_dot: s without one trailing dot into out */
static void
strip_dot(const char *s, char *out, size_t outsize)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		n--;
	(void)snprintf(out, outsize, "%.*s", (int)n, s);
}

/* target_of: one record's value as an external-dns target */
static void
target_of(const char *type, const char *value, char *out, size_t outsize)
{
	if (strcmp(type, "TXT") == 0)
		dns_txt_unquote(value, out, outsize);
	else if (strcmp(type, "MX") == 0 || strcmp(type, "CNAME") == 0 ||
		 strcmp(type, "SRV") == 0)
		strip_dot(value, out, outsize);
	else
		(void)snprintf(out, outsize, "%s", value);
}

/* endpoint: the endpoint of name and type in eps, created if new */
static cJSON *
endpoint(cJSON *eps, const char *name, const char *type)
{
	cJSON *e;
	const cJSON *n, *t;

	cJSON_ArrayForEach(e, eps)
	{
		n = cJSON_GetObjectItemCaseSensitive(e, "dnsName");
		t = cJSON_GetObjectItemCaseSensitive(e, "recordType");
		if (strcmp(n->valuestring, name) == 0 &&
		    strcmp(t->valuestring, type) == 0)
			return e;
	}
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "dnsName", name);
	cJSON_AddStringToObject(e, "recordType", type);
	cJSON_AddNumberToObject(e, "recordTTL", DNSENDPOINT_TTL);
	cJSON_AddArrayToObject(e, "targets");
	cJSON_AddItemToArray(eps, e);
	return e;
}

cJSON *
desired_dnsendpoint(const struct desired_in *in)
{
	cJSON *o = cJSON_CreateObject(), *spec, *eps;
	const cJSON *r;
	char name[256], target[4096];

	cJSON_AddStringToObject(o, "apiVersion", "externaldns.k8s.io/v1alpha1");
	cJSON_AddStringToObject(o, "kind", "DNSEndpoint");
	desired_meta(o, in, in->name, "dns");
	spec = cJSON_AddObjectToObject(o, "spec");
	eps = cJSON_AddArrayToObject(spec, "endpoints");
	cJSON_ArrayForEach(r, in->dns_records)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "name");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "type");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");

		if (!cJSON_IsString(n) || !cJSON_IsString(t) ||
		    !cJSON_IsString(v))
			continue;
		strip_dot(n->valuestring, name, sizeof(name));
		target_of(t->valuestring, v->valuestring, target,
			  sizeof(target));
		cJSON_AddItemToArray(
			cJSON_GetObjectItemCaseSensitive(
				endpoint(eps, name, t->valuestring), "targets"),
			cJSON_CreateString(target));
	}
	return o;
}
