/*
 * test_fields: no CRD field does nothing. For every field of the spec
 * table (relay/spec_table.c, what the CRD is generated from) and every
 * free-form subtree (images and resources per container, service
 * annotations, metrics.allowedNamespaces), `chatmail-operator render`
 * (render_cmd_main, the command's own code) runs on a relay without it
 * and on the same relay with it set to another valid value; the output
 * must differ. A field that acts only at run time is allow-listed with
 * the test that checks it, and must indeed leave the output alone (so
 * the list cannot outlive its reason). A new field fails here until it
 * has a value (by syntax or by path) and changes the output.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "fs.h"
#include "images.h"
#include "xmalloc.h"
#include "render_cmd.h"
#include "spec.h"
#include "spec_int.h"

/* fields that act at run time only, and the test that shows it */
static const struct {
	const char *path, *test;
} runtime_only[] = {
	{ "paused", "tests/envtest/operator/test_operator.sh:t_paused" },
	{ "storage.mail.keepOnDelete",
	  "tests/unit/operator/test_reconcile.c:test_delete_keeps_volumes" },
	{ "storage.queue.keepOnDelete",
	  "tests/unit/operator/test_reconcile.c:test_delete_keeps_volumes" },
	/* the DNSEndpoint holds status.dnsRecords, known only once the
	 * Services have addresses: render has none */
	{ "dns.externalDNS.enabled",
	  "tests/envtest/operator/test_dns_check.sh:t_external_dns" },
};

/* an EAB pair is set together */
#define EAB                                                            \
	"{\"tls\":{\"eabKeyId\":\"kid-1\",\"eabSecretRef\":{\"name\":" \
	"\"eab\"}}}"

/* backup and restore need a password and a repository (both targets
 * here); their other fields act when backup or restore is on */
#define BK_REPO                                                 \
	"\"passwordSecretName\":\"pw\",\"claimName\":\"repo\"," \
	"\"s3\":{\"endpoint\":\"https://s3.example.org\",\"bucket\":\"b\"}"
#define BK_OFF "{\"backup\":{" BK_REPO "}}"
#define BK_ON "{\"backup\":{\"enabled\":true," BK_REPO "}}"
#define BK_S3 "{\"backup\":{\"enabled\":true,\"target\":\"S3\"," BK_REPO "}}"
#define RS_ON "{\"backup\":{" BK_REPO "},\"restore\":{\"enabled\":true}}"

/* what a field needs beside it to be valid (JSON merged into the
 * spec of both renders), and values where the rule by type would break
 * another rule */
static const struct {
	const char *path, *context, *value;
} by_path[] = {
	{ "domain", NULL, "other.example.org" },
	{ "tls.mode", "{\"tls\":{\"secretName\":\"base-tls\"}}", "Secret" },
	/* the turn container runs only with an address */
	{ "images.turn", "{\"turn\":{\"externalIP\":\"203.0.113.7\"}}", NULL },
	{ "resources.turn", "{\"turn\":{\"externalIP\":\"203.0.113.7\"}}",
	  NULL },
	{ "tls.acmeCABundle", NULL,
	  "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n" },
	{ "tls.peerCABundle", NULL,
	  "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n" },
	{ "tls.eabKeyId", EAB, "kid-2" },
	{ "tls.eabSecretRef.name", EAB, "eab2" },
	{ "tls.eabSecretRef.key", EAB, "hmac" },
	{ "tls.secretName",
	  "{\"tls\":{\"mode\":\"Secret\",\"secretName\":"
	  "\"base-tls\"}}",
	  "other-tls" },
	{ "tls.issuerRef.name",
	  "{\"tls\":{\"mode\":\"CertManager\",\"issuerRef\":{\"name\":"
	  "\"base\"}}}",
	  "other" },
	{ "tls.issuerRef.kind",
	  "{\"tls\":{\"mode\":\"CertManager\",\"issuerRef\":{\"name\":"
	  "\"base\"}}}",
	  NULL },
	{ "tls.issuerRef.group",
	  "{\"tls\":{\"mode\":\"CertManager\",\"issuerRef\":{\"name\":"
	  "\"base\"}}}",
	  "issuers.example.org" },
	{ "iroh.url", "{\"iroh\":{\"enabled\":false}}", NULL },
	{ "turn.enabled", "{\"turn\":{\"externalIP\":\"203.0.113.7\"}}", NULL },
	{ "turn.portRange", "{\"turn\":{\"externalIP\":\"203.0.113.7\"}}",
	  NULL },
	{ "backup.enabled", BK_OFF, NULL },
	{ "backup.target", BK_ON, NULL },
	{ "backup.claimName", BK_ON, NULL },
	{ "backup.passwordSecretName", BK_ON, NULL },
	{ "backup.path", BK_ON, NULL },
	{ "backup.schedule", BK_ON, NULL },
	{ "backup.keepDaily", BK_ON, NULL },
	{ "backup.keepWeekly", BK_ON, NULL },
	{ "backup.keepMonthly", BK_ON, NULL },
	{ "backup.s3.endpoint", BK_S3, NULL },
	{ "backup.s3.bucket", BK_S3, NULL },
	{ "backup.s3.credentialsSecretName", BK_S3, NULL },
	{ "restore.enabled", BK_OFF, NULL },
	{ "restore.snapshot", RS_ON, "0123abcd" },
	{ "limits.usernameMinLength", NULL, "8" },
	{ "limits.usernameMaxLength", NULL, "10" },
};

/* a valid value other than any default, by syntax */
static const struct {
	const struct spec_syntax *syn;
	const char *value;
} by_syntax[] = {
	{ &spec_syn_domain, "other.example.org" },
	{ &spec_syn_size_mb, "700M" },
	{ &spec_syn_quantity, "30Gi" },
	{ &spec_syn_k8s_name, "custom" },
	{ &spec_syn_selector, "sel2" },
	{ &spec_syn_schedule, "5 4 * * *" },
	{ &spec_syn_url, "https://other.example.net/x" },
	{ &spec_syn_email, "privacy@example.net" },
	{ &spec_syn_text, "Other Street 1" },
	{ &spec_syn_abs_path, "/home/vmail/other" },
	{ &spec_syn_ip, "10.9.8.7" },
	{ &spec_syn_image, "registry.example.org/other:1" },
	{ &spec_syn_pull_policy, "Always" },
	{ &spec_syn_issuer_kind, "ClusterIssuer" },
	{ &spec_syn_port_range, "50000-50009" },
};

static struct images im;
static char *dir;

/* top: the repository root (tests run there; TOP overrides) */
static const char *
top(void)
{
	const char *t = getenv("TOP");

	return t != NULL ? t : ".";
}

/* render: the output of `render -f` for a relay with this .spec */
static char *
render(const cJSON *spec)
{
	char path[600], *text = NULL;
	char a0[] = "render", a1[] = "-f", *argv[] = { a0, a1, path, NULL };
	cJSON *cr = cJSON_CreateObject(), *md;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	char *json;
	int rc;

	assert_non_null(out);
	cJSON_AddStringToObject(cr, "apiVersion", "chatmail.at/v1alpha1");
	cJSON_AddStringToObject(cr, "kind", "ChatmailRelay");
	md = cJSON_AddObjectToObject(cr, "metadata");
	cJSON_AddStringToObject(md, "name", "chat");
	cJSON_AddStringToObject(md, "namespace", "mail");
	cJSON_AddItemToObject(cr, "spec", cJSON_Duplicate(spec, 1));
	json = cJSON_Print(cr);
	cJSON_Delete(cr);
	(void)snprintf(path, sizeof(path), "%s/relay.yaml", dir);
	assert_int(fs_write_atomic(path, json, strlen(json), 0644, 0), 0);
	rc = render_cmd_main(3, argv, &im, out);
	(void)fclose(out);
	if (rc != 0)
		fail_msg("render failed (%d) for\n%s", rc, json);
	free(json);
	return text;
}

/* by_path_of: the by_path entry of path, or NULL */
static const char *
by_path_of(const char *path, int context)
{
	size_t i;

	for (i = 0; i < sizeof(by_path) / sizeof(by_path[0]); i++)
		if (strcmp(by_path[i].path, path) == 0)
			return context ? by_path[i].context : by_path[i].value;
	return NULL;
}

/* value_of: another valid value for field f, or NULL if none known */
static cJSON *
value_of(const struct spec_field *f)
{
	const char *def = spec_field_def(f), *v = by_path_of(f->path, 0);
	double lo, hi, d = def != NULL ? strtod(def, NULL) : 0;
	size_t i;

	if (v != NULL)
		return f->type == SPEC_FT_STR || f->type == SPEC_FT_ENUM
			       ? cJSON_CreateString(v)
			       : cJSON_CreateNumber(strtod(v, NULL));
	switch (f->type) {
	case SPEC_FT_BOOL:
		return cJSON_CreateBool(def == NULL || strcmp(def, "true"));
	case SPEC_FT_ENUM:
		for (i = 0; f->names[i] != NULL; i++)
			if (def == NULL || strcmp(f->names[i], def) != 0)
				return cJSON_CreateString(f->names[i]);
		return NULL;
	case SPEC_FT_UINT:
	case SPEC_FT_U64:
	case SPEC_FT_DOUBLE:
		spec_field_range(f, &lo, &hi);
		d = d + 100 <= hi ? d + 100 : d + 1 <= hi ? d + 1 : d - 1;
		return cJSON_CreateNumber(d);
	case SPEC_FT_STR:
		for (i = 0; i < sizeof(by_syntax) / sizeof(by_syntax[0]); i++)
			if (by_syntax[i].syn == f->syntax)
				return cJSON_CreateString(by_syntax[i].value);
		return NULL;
	}
	return NULL;
}

/* put: v (taken) at the dotted path below obj, replacing what is there */
static void
put(cJSON *obj, const char *path, cJSON *v)
{
	char key[64];
	const char *dot;
	cJSON *sub;

	while ((dot = strchr(path, '.')) != NULL) {
		(void)snprintf(key, sizeof(key), "%.*s", (int)(dot - path),
			       path);
		sub = cJSON_GetObjectItemCaseSensitive(obj, key);
		if (sub == NULL)
			sub = cJSON_AddObjectToObject(obj, key);
		obj = sub;
		path = dot + 1;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, path);
	cJSON_AddItemToObject(obj, path, v);
}

/* base_of: the spec a field is changed in: the domain and its context */
static cJSON *
base_of(const char *path)
{
	const char *ctx = by_path_of(path, 1);
	cJSON *s = ctx != NULL ? cJSON_Parse(ctx) : cJSON_CreateObject();

	assert_non_null(s);
	cJSON_AddStringToObject(s, "domain", "chat.example.org");
	return s;
}

/* changes: setting v (taken) at path changes the rendered output */
static int
changes(const char *path, cJSON *v)
{
	cJSON *base = base_of(path), *with = base_of(path);
	char *a, *b;
	int d;

	put(with, path, v);
	a = render(base);
	b = render(with);
	d = strcmp(a, b) != 0;
	free(a);
	free(b);
	cJSON_Delete(base);
	cJSON_Delete(with);
	return d;
}

/* runtime_test: the test named for a run-time-only field, or NULL */
static const char *
runtime_test(const char *path)
{
	size_t i;

	for (i = 0; i < sizeof(runtime_only) / sizeof(runtime_only[0]); i++)
		if (strcmp(runtime_only[i].path, path) == 0)
			return runtime_only[i].test;
	return NULL;
}

/* test_every_field: each table field changes the output, or is
 * allow-listed, leaves it alone, and its test exists */
static void
test_every_field(void **state)
{
	struct buf bad = BUF_INIT(8192), file = BUF_INIT(1 << 20);
	const struct spec_field *f;
	const char *rt, *colon;
	char path[512];
	cJSON *v;
	int d;

	(void)state;
	for (f = spec_fields; f < spec_fields + spec_nfields; f++) {
		v = value_of(f);
		if (v == NULL) {
			(void)buf_printf(&bad, "%s: no other value known\n",
					 f->path);
			continue;
		}
		d = changes(f->path, v);
		rt = runtime_test(f->path);
		if (!d && rt == NULL)
			(void)buf_printf(&bad, "%s: changes nothing\n",
					 f->path);
		if (d && rt != NULL)
			(void)buf_printf(&bad,
					 "%s: allow-listed, but changes the "
					 "output\n",
					 f->path);
		if (rt == NULL)
			continue;
		/* the named test exists */
		colon = strchr(rt, ':');
		(void)snprintf(path, sizeof(path), "%s/%.*s", top(),
			       (int)(colon - rt), rt);
		buf_reset(&file);
		if (fs_read_file(path, &file) < 0 ||
		    strstr(buf_cstr(&file), colon + 1) == NULL)
			(void)buf_printf(&bad, "%s: test %s not found\n",
					 f->path, rt);
	}
	if (bad.len > 0)
		fail_msg("%s", buf_cstr(&bad));
	buf_deinit(&bad);
	buf_deinit(&file);
}

/* test_every_subtree: images and resources of every container, the
 * Service's annotations and the metrics namespaces change the output */
static void
test_every_subtree(void **state)
{
	struct buf bad = BUF_INIT(4096);
	char path[128];
	int c;

	(void)state;
	for (c = 0; c < SPEC_C_COUNT; c++) {
		(void)snprintf(path, sizeof(path), "%s.%s", SPEC_PATH_IMAGES,
			       spec_container_name(c));
		if (!changes(path, cJSON_CreateString("registry.example.org/"
						      "x:1")))
			(void)buf_printf(&bad, "%s: changes nothing\n", path);
		(void)snprintf(path, sizeof(path), "%s.%s", SPEC_PATH_RESOURCES,
			       spec_container_name(c));
		if (!changes(path, cJSON_Parse("{\"limits\":{\"memory\":"
					       "\"3Gi\"}}")))
			(void)buf_printf(&bad, "%s: changes nothing\n", path);
	}
	if (!changes(SPEC_PATH_ANNOTATIONS,
		     cJSON_Parse("{\"lb.example.org/x\":\"y\"}")))
		(void)buf_printf(&bad, "%s: changes nothing\n",
				 SPEC_PATH_ANNOTATIONS);
	if (!changes(SPEC_PATH_NAMESPACES, cJSON_Parse("[\"monitoring\"]")))
		(void)buf_printf(&bad, "%s: changes nothing\n",
				 SPEC_PATH_NAMESPACES);
	if (bad.len > 0)
		fail_msg("%s", buf_cstr(&bad));
	buf_deinit(&bad);
}

static int
setup(void **state)
{
	(void)state;
	dir = test_tmpdir();
	return images_init(&im);
}

static int
teardown(void **state)
{
	(void)state;
	images_deinit(&im);
	test_rmtree(dir);
	free(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_every_subtree),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
