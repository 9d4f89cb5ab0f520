/*
 * kube_config: kubeconfig files and in-cluster configuration.
 *
 * A kubeconfig is parsed into a cJSON tree (yamljson), then the current
 * (or named) context picks one cluster and one user. Embedded -data
 * fields are base64 PEM; file fields are read with a size bound and
 * relative names resolved against the kubeconfig's directory, as
 * kubectl does. The token of a tokenFile or of the in-cluster
 * ServiceAccount is re-read once a minute (bound tokens rotate) and
 * immediately after the API server answered 401.
 *
 * Untrusted input: the kubeconfig text and the mounted files (size
 * bounded; secrets wiped on free, never logged).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fs.h"
#include "kube_config.h"
#include "util.h"
#include "xmalloc.h"
#include "yamljson.h"

void
kube_config_init(struct kube_config *kc)
{
	memset(kc, 0, sizeof(*kc));
	buf_init(&kc->ca, 1u << 20);
	buf_init(&kc->client_cert, 1u << 20);
	buf_init(&kc->client_key, 1u << 20);
	buf_init(&kc->token, KUBE_TOKEN_MAX);
}

void
kube_config_deinit(struct kube_config *kc)
{
	free(kc->server);
	free(kc->namespace);
	free(kc->source);
	free(kc->token_file);
	buf_deinit(&kc->ca);
	buf_deinit(&kc->client_cert);
	buf_wipe_deinit(&kc->client_key);
	buf_wipe_deinit(&kc->token);
	kube_config_init(kc); /* empty and reusable */
}

/* resolve: name relative to base_dir unless absolute; caller frees */
static char *
resolve(const char *base_dir, const char *name)
{
	if (name[0] == '/' || base_dir == NULL || *base_dir == '\0')
		return xstrdup(name);
	return xasprintf("%s/%s", base_dir, name);
}

/* strip_token: drop surrounding whitespace (token files end in \n) */
static void
strip_token(struct buf *b)
{
	size_t s = 0;

	while (b->len > 0 &&
	       (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r' ||
		b->data[b->len - 1] == ' '))
		b->data[--b->len] = '\0';
	while (s < b->len && (b->data[s] == ' ' || b->data[s] == '\n'))
		s++;
	buf_consume(b, s);
}

/* load_blob: field "<name>-data" (base64) or "<name>" (a file) of obj
 * into out; 0 when neither is present */
static int
load_blob(const cJSON *obj, const char *name, const char *base_dir,
	  struct buf *out, struct buf *err)
{
	char key[64];
	const char *data, *file;
	char *path;
	int r;

	(void)snprintf(key, sizeof(key), "%s-data", name);
	data = util_get_str(obj, key);
	file = util_get_str(obj, name);
	buf_reset(out);
	if (data != NULL && *data != '\0') {
		r = util_b64_decode(data, strlen(data), out);
		if (r < 0)
			(void)buf_printf(err, "kubeconfig: %s is not base64",
					 key);
		return r;
	}
	if (file == NULL || *file == '\0')
		return 0;
	path = resolve(base_dir, file);
	r = fs_read_stream(path, out);
	if (r < 0)
		(void)buf_printf(err, "kubeconfig: %s %s: %s", name, path,
				 strerror(-r));
	free(path);
	return r;
}

/* find_named: the ".<inner>" object of the list entry called name */
static const cJSON *
find_named(const cJSON *doc, const char *list, const char *name,
	   const char *inner)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, list))
	{
		const char *n = util_get_str(e, "name");

		if (n != NULL && strcmp(n, name) == 0)
			return cJSON_GetObjectItemCaseSensitive(e, inner);
	}
	return NULL;
}

/* load_user: credentials of the user entry */
static int
load_user(struct kube_config *kc, const cJSON *user, const char *base_dir,
	  struct buf *err)
{
	const char *tok = util_get_str(user, "token");
	const char *tokfile = util_get_str(user, "tokenFile");
	int r;

	if (util_get(user, "exec") != NULL ||
	    util_get(user, "auth-provider") != NULL) {
		(void)buf_puts(err, "kubeconfig: exec and auth-provider "
				    "credential plugins are not supported");
		return -ENOTSUP;
	}
	if ((r = load_blob(user, "client-certificate", base_dir,
			   &kc->client_cert, err)) < 0)
		return r;
	if ((r = load_blob(user, "client-key", base_dir, &kc->client_key,
			   err)) < 0)
		return r;
	if ((kc->client_cert.len == 0) != (kc->client_key.len == 0)) {
		(void)buf_puts(err, "kubeconfig: client certificate "
				    "without key (or key without certificate)");
		return -EINVAL;
	}
	if (tok != NULL && *tok != '\0') {
		buf_reset(&kc->token);
		if (buf_puts(&kc->token, tok) < 0)
			return -E2BIG;
	} else if (tokfile != NULL && *tokfile != '\0') {
		kc->token_file = resolve(base_dir, tokfile);
		if (kube_config_token(kc, 0, 1)[0] == '\0') {
			(void)buf_printf(err,
					 "kubeconfig: tokenFile %s "
					 "unreadable or empty",
					 kc->token_file);
			return -ENOENT;
		}
	}
	return 0;
}

/* load_cluster: server, CA and TLS settings of the cluster entry */
static int
load_cluster(struct kube_config *kc, const cJSON *cl, const char *base_dir,
	     struct buf *err)
{
	const char *server = util_get_str(cl, "server");
	size_t n;
	int r;

	if (server == NULL || strncmp(server, "https://", 8) != 0) {
		(void)buf_puts(err, "kubeconfig: cluster server must be an "
				    "https:// URL");
		return -EINVAL;
	}
	kc->server = xstrdup(server);
	n = strlen(kc->server);
	while (n > 8 && kc->server[n - 1] == '/')
		kc->server[--n] = '\0';
	kc->insecure = cJSON_IsTrue(util_get(cl, "insecure-skip-tls-verify"));
	if ((r = load_blob(cl, "certificate-authority", base_dir, &kc->ca,
			   err)) < 0)
		return r;
	return 0;
}

/* load_doc: pick context, cluster and user out of a parsed kubeconfig */
static int
load_doc(struct kube_config *kc, const cJSON *doc, const char *base_dir,
	 const char *context, struct buf *err)
{
	const cJSON *ctx, *cl, *user;
	const char *cname, *uname, *ns;
	int r;

	if (context == NULL || *context == '\0')
		context = util_get_str(doc, "current-context");
	if (context == NULL) {
		(void)buf_puts(err, "kubeconfig: no current-context");
		return -EINVAL;
	}
	ctx = find_named(doc, "contexts", context, "context");
	cname = util_get_str(ctx, "cluster");
	uname = util_get_str(ctx, "user");
	if (ctx == NULL || cname == NULL) {
		(void)buf_printf(err,
				 "kubeconfig: context %s not found or "
				 "without cluster",
				 context);
		return -EINVAL;
	}
	cl = find_named(doc, "clusters", cname, "cluster");
	if (cl == NULL) {
		(void)buf_printf(err, "kubeconfig: cluster %s not found",
				 cname);
		return -EINVAL;
	}
	if ((r = load_cluster(kc, cl, base_dir, err)) < 0)
		return r;
	user = uname ? find_named(doc, "users", uname, "user") : NULL;
	if (uname != NULL && user == NULL) {
		(void)buf_printf(err, "kubeconfig: user %s not found", uname);
		return -EINVAL;
	}
	if (user != NULL && (r = load_user(kc, user, base_dir, err)) < 0)
		return r;
	ns = util_get_str(ctx, "namespace");
	kc->namespace = xstrdup(ns ? ns : "");
	return 0;
}

int
kube_config_load_text(struct kube_config *kc, const char *text, size_t len,
		      const char *base_dir, const char *context,
		      struct buf *err)
{
	cJSON *doc = NULL;
	int r;

	if ((r = yamljson_parse_one(text, len, &doc, err)) < 0)
		return r;
	r = load_doc(kc, doc, base_dir, context, err);
	cJSON_Delete(doc);
	return r;
}

int
kube_config_load_file(struct kube_config *kc, const char *path,
		      const char *context, struct buf *err)
{
	struct buf text = BUF_INIT(KUBE_CONFIG_MAX);
	char *dir = xstrdup(path), *slash;
	int r;

	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	else
		dir[0] = '\0';
	r = fs_read_stream(path, &text);
	if (r < 0) {
		(void)buf_printf(err, "kubeconfig %s: %s", path, strerror(-r));
		goto out;
	}
	r = kube_config_load_text(kc, text.data ? text.data : "", text.len,
				  slash ? dir : ".", context, err);
	if (r == 0)
		kc->source = xstrdup(path);
out:
	/* kubeconfigs embed keys and tokens */
	buf_wipe_deinit(&text);
	free(dir);
	return r;
}

int
kube_config_in_cluster(struct kube_config *kc, const char *sa_dir,
		       struct buf *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct buf ns = BUF_INIT(256);
	char *path;
	int r;

	if (host == NULL || *host == '\0' || port == NULL || *port == '\0') {
		(void)buf_puts(err, "in-cluster: KUBERNETES_SERVICE_HOST/PORT "
				    "not set");
		return -ENOENT;
	}
	/* an IPv6 service address needs brackets in a URL */
	kc->server = strchr(host, ':')
			     ? xasprintf("https://[%s]:%s", host, port)
			     : xasprintf("https://%s:%s", host, port);
	path = xasprintf("%s/ca.crt", sa_dir);
	buf_reset(&kc->ca);
	r = fs_read_stream(path, &kc->ca);
	if (r < 0)
		(void)buf_printf(err, "in-cluster: %s: %s", path, strerror(-r));
	free(path);
	if (r < 0)
		return r;
	kc->token_file = xasprintf("%s/token", sa_dir);
	if (kube_config_token(kc, 0, 1)[0] == '\0') {
		(void)buf_printf(err, "in-cluster: %s unreadable or empty",
				 kc->token_file);
		return -ENOENT;
	}
	path = xasprintf("%s/namespace", sa_dir);
	if (fs_read_stream(path, &ns) == 0)
		strip_token(&ns);
	kc->namespace = xstrdup(buf_cstr(&ns));
	free(path);
	buf_deinit(&ns);
	kc->source = xstrdup("in-cluster");
	return 0;
}

const char *
kube_config_token(struct kube_config *kc, uint64_t now_ms, int force)
{
	struct buf fresh = BUF_INIT(KUBE_TOKEN_MAX);

	if (kc->token_file == NULL)
		return buf_cstr(&kc->token);
	if (!force && kc->token.len > 0 &&
	    now_ms - kc->token_read_ms < KUBE_TOKEN_REFRESH_MS)
		return buf_cstr(&kc->token);
	if (fs_read_stream(kc->token_file, &fresh) == 0) {
		strip_token(&fresh);
		if (fresh.len > 0) {
			buf_wipe_deinit(&kc->token);
			buf_init(&kc->token, KUBE_TOKEN_MAX);
			(void)buf_append(&kc->token, fresh.data, fresh.len);
		}
	}
	kc->token_read_ms = now_ms;
	buf_wipe_deinit(&fresh);
	return buf_cstr(&kc->token);
}

/* first_existing: the first file of a colon-separated list that
 * exists; caller frees; NULL when none */
static char *
first_existing(const char *list)
{
	char *copy = xstrdup(list), *p = copy, *colon, *found = NULL;

	while (p != NULL && found == NULL) {
		colon = strchr(p, ':');
		if (colon != NULL)
			*colon++ = '\0';
		if (*p != '\0' && access(p, R_OK) == 0)
			found = xstrdup(p);
		p = colon;
	}
	free(copy);
	return found;
}

int
kube_config_load(struct kube_config *kc, const char *flag_path,
		 const char *context, struct buf *err)
{
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
	char *path = NULL;
	int r;

	if (flag_path != NULL && *flag_path != '\0')
		return kube_config_load_file(kc, flag_path, context, err);
	if (env != NULL && *env != '\0' &&
	    (path = first_existing(env)) != NULL) {
		r = kube_config_load_file(kc, path, context, err);
		free(path);
		return r;
	}
	if (getenv("KUBERNETES_SERVICE_HOST") != NULL)
		return kube_config_in_cluster(kc, KUBE_SA_DIR, err);
	if (home != NULL) {
		path = xasprintf("%s/.kube/config", home);
		if (access(path, R_OK) == 0) {
			r = kube_config_load_file(kc, path, context, err);
			free(path);
			return r;
		}
		free(path);
	}
	(void)buf_puts(err, "no kubeconfig: use --kubeconfig, KUBECONFIG, "
			    "run in a Pod, or create ~/.kube/config");
	return -ENOENT;
}
