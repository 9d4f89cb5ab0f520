/*
 * render_cmd: print a relay's manifests.
 *
 *   chatmail-operator render -f relay.yaml [-o yaml|json] [--with-secrets]
 *
 * The objects are exactly those the controller applies (desired.c),
 * without owner references (there is no live relay to point at) and in
 * apply order. The generated Secrets (DKIM key, self-signed
 * certificate, TURN secret) are only printed with --with-secrets, freshly generated
 * on every run: commit them once, or let the operator create them. With
 * -o json the output is one List object.
 *
 * Untrusted input: the relay file (parsed and validated by spec.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "desired.h"
#include "keys.h"
#include "log.h"
#include "render_cmd.h"
#include "yamljson.h"

/* usage: the synopsis */
static int
usage(void)
{
	(void)fprintf(stderr, "usage: chatmail-operator render -f FILE "
			      "[-o yaml|json] [--with-secrets]\n");
	return EX_USAGE;
}

/* add_secrets: the created-once Secrets, freshly generated */
static int
add_secrets(const struct desired_in *in, cJSON *list)
{
	struct buf a = BUF_INIT(16384), b = BUF_INIT(16384);
	int r = 0;

	if (in->spec->dkim.secret_name[0] == '\0') {
		r = keys_dkim_generate(2048, &a);
		if (r == 0)
			cJSON_AddItemToArray(
				list,
				desired_secret(in, in->dkim_secret, "Opaque",
					       "dkim", "opendkim.private",
					       a.data, a.len, NULL, NULL, 0));
	}
	if (r == 0 && in->spec->tls.mode == SPEC_TLS_SELF_SIGNED) {
		buf_wipe_deinit(&a);
		buf_init(&a, 16384);
		r = keys_self_signed(in->spec->domain, 36500, &a, &b);
		if (r == 0)
			cJSON_AddItemToArray(
				list, desired_secret(in, in->tls_secret,
						     "kubernetes.io/tls", "tls",
						     "tls.crt", a.data, a.len,
						     "tls.key", b.data, b.len));
	}
	if (r == 0 && spec_turn_address(in->spec) != NULL) {
		char name[128];

		buf_wipe_deinit(&a);
		buf_init(&a, 128);
		desired_turn_secret_name(in->name, name, sizeof(name));
		r = keys_turn_secret(&a);
		if (r == 0)
			cJSON_AddItemToArray(
				list, desired_secret(in, name, "Opaque", "turn",
						     "secret", a.data, a.len,
						     NULL, NULL, 0));
	}
	buf_wipe_deinit(&a);
	buf_wipe_deinit(&b);
	return r;
}

/* print_list: YAML documents or one JSON List */
static int
print_list(cJSON *list, int json, FILE *out)
{
	struct buf y = BUF_INIT(64u << 20);
	const cJSON *obj;
	cJSON *wrap;
	char *txt;
	int r = 0;

	if (json) {
		wrap = cJSON_CreateObject();
		cJSON_AddStringToObject(wrap, "apiVersion", "v1");
		cJSON_AddStringToObject(wrap, "kind", "List");
		cJSON_AddItemReferenceToObject(wrap, "items", list);
		txt = cJSON_Print(wrap);
		r = txt != NULL && fprintf(out, "%s\n", txt) >= 0 ? 0 : -1;
		cJSON_free(txt);
		cJSON_Delete(wrap);
		return r;
	}
	cJSON_ArrayForEach(obj, list)
	{
		buf_reset(&y);
		if (yamljson_emit(obj, &y) < 0 ||
		    fprintf(out, "---\n# %s %s\n%s", util_get_str(obj, "kind"),
			    util_get_str(obj, "metadata.name"),
			    buf_cstr(&y)) < 0) {
			r = -1;
			break;
		}
	}
	buf_deinit(&y);
	return r;
}

/* render_file: load, render and build the objects of one relay file */
static int
render_file(const char *file, const struct images *im, int secrets,
	    cJSON **list_r)
{
	struct relay_spec *spec = NULL;
	struct render_set files;
	struct desired_in in;
	struct buf err = BUF_INIT(8192), warn = BUF_INIT(8192);
	char tls[256], dkim[256];
	int rc = EX_DATAERR;

	memset(&files, 0, sizeof(files));
	if (spec_load_file(file, 0, &spec, &err, &warn) < 0) {
		log_error("%s: %s", file, buf_cstr(&err));
		goto out;
	}
	if (warn.len > 0)
		log_warn("%s: %s", file, buf_cstr(&warn));
	if (desired_render(spec, &files, &err) < 0) {
		log_error("%s: %s", file, buf_cstr(&err));
		goto out;
	}
	memset(&in, 0, sizeof(in));
	in.spec = spec;
	in.name = spec->name[0] ? spec->name : "relay";
	in.ns = spec->namespace[0] ? spec->namespace : "default";
	in.images = im;
	in.files = &files;
	/* no cluster to ask: print the PodMonitor when the spec asks */
	in.monitoring = 1;
	desired_tls_secret_name(spec, in.name, tls, sizeof(tls));
	desired_dkim_secret_name(spec, in.name, dkim, sizeof(dkim));
	in.tls_secret = tls;
	in.dkim_secret = dkim;
	if (desired_build(&in, list_r, &err) < 0) {
		log_error("%s: %s", file, buf_cstr(&err));
		goto out;
	}
	rc = EX_SOFTWARE;
	if (secrets && add_secrets(&in, *list_r) < 0)
		goto out;
	rc = 0;
out:
	render_set_free(&files);
	spec_free(&spec);
	buf_deinit(&err);
	buf_deinit(&warn);
	return rc;
}

int
render_cmd_main(int argc, char **argv, const struct images *im, FILE *out)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "with-secrets", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	int c, json = 0, secrets = 0, rc;
	cJSON *list = NULL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "yaml") != 0)
				return usage();
			json = strcmp(optarg, "json") == 0;
			break;
		case 's':
			secrets = 1;
			break;
		default:
			return usage();
		}
	}
	if (file == NULL || optind != argc)
		return usage();
	rc = render_file(file, im, secrets, &list);
	if (rc == 0 && print_list(list, json, out) < 0)
		rc = EX_IOERR;
	cJSON_Delete(list);
	return rc;
}
