/*
 * kube_config: where the API server is and how to authenticate to it.
 *
 * Sources, first match wins (as kubectl and client-go do): the
 * --kubeconfig flag, $KUBECONFIG (the first file of the list that
 * exists), in-cluster (KUBERNETES_SERVICE_HOST with the mounted
 * ServiceAccount token, CA and namespace), ~/.kube/config.
 * Kubeconfig files are YAML (libyaml via yamljson); supported: server,
 * certificate-authority(-data), insecure-skip-tls-verify, client
 * certificate and key (files or -data), token and tokenFile. Exec and
 * auth-provider plugins are refused with a clear error.
 *
 * Tokens from files (in-cluster, tokenFile) are re-read when older than
 * KUBE_TOKEN_REFRESH_MS, because bound ServiceAccount tokens rotate.
 * Every secret (token, client key) is wiped when freed.
 */
#ifndef OP_KUBE_CONFIG_H
#define OP_KUBE_CONFIG_H

#include <stdint.h>

#include "buf.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_TOKEN_REFRESH_MS 60000u
#define KUBE_CONFIG_MAX (4u << 20)
#define KUBE_TOKEN_MAX 65536u

struct kube_config {
	char *server;	 /* "https://host:port" without trailing slash */
	char *namespace; /* the context's / pod's namespace, "" if none */
	char *source;	 /* file path or "in-cluster", for logs */
	struct buf ca;	 /* PEM bundle; empty = the system's CAs */
	struct buf client_cert, client_key; /* PEM; key wiped on free */
	int insecure;			    /* insecure-skip-tls-verify */
	struct buf token;		    /* current bearer token */
	char *token_file;		    /* NULL = static token */
	uint64_t token_read_ms;		    /* when token_file was read */
};

/* kube_config_init / kube_config_deinit: an empty config; deinit
 * wipes secrets and frees everything */
void kube_config_init(struct kube_config *kc);
void kube_config_deinit(struct kube_config *kc);

/* kube_config_load: the first source that applies (see above), for
 * flag_path (NULL = none) and the named context (NULL = current);
 * 0 or -errno with the reason in err */
int kube_config_load(struct kube_config *kc, const char *flag_path,
		     const char *context, struct buf *err);
/* kube_config_load_file: one kubeconfig file */
int kube_config_load_file(struct kube_config *kc, const char *path,
			  const char *context, struct buf *err);
/* kube_config_load_text: kubeconfig text; relative file names are
 * resolved against base_dir */
int kube_config_load_text(struct kube_config *kc, const char *text, size_t len,
			  const char *base_dir, const char *context,
			  struct buf *err);
/* kube_config_in_cluster: host and port from the environment, token,
 * CA and namespace from sa_dir (KUBE_SA_DIR in a Pod) */
int kube_config_in_cluster(struct kube_config *kc, const char *sa_dir,
			   struct buf *err);

/* kube_config_token: the bearer token to send now ("" = none),
 * re-reading token_file when it is older than the refresh interval or
 * force is set; a failed re-read keeps the previous token. Valid until
 * the next call. */
const char *kube_config_token(struct kube_config *kc, uint64_t now_ms,
			      int force);

#endif
