/*
 * acme_args: cert-reloader's --acme-* command-line flags (acme_args.c).
 *
 * Untrusted input: none (flags are the Pod spec's).
 */
#ifndef CR_ACME_ARGS_H
#define CR_ACME_ARGS_H

#include <getopt.h>

struct acme_opts;

enum {
	ACME_OPT_DIRECTORY = 256,
	ACME_OPT_STATE,
	ACME_OPT_EMAIL,
	ACME_OPT_AGREE,
	ACME_OPT_EAB_KID,
	ACME_OPT_EAB_HMAC,
	ACME_OPT_CA,
	ACME_OPT_NAME,
	ACME_OPT_LISTEN,
	ACME_OPT_BACKOFF,
	ACME_OPT_POLL,
	ACME_OPT_ARI,
	ACME_OPT_STATUS,
	ACME_OPT_INIT,
	ACME_OPT_KEY_GROUP,
};

/* the --acme-* entries of getopt_long's table, NULL-terminated */
extern const struct option acme_longopts[];

/* acme_args_opt: one --acme-* flag c with value v into o; *on set when
 * ACME is enabled (--acme-directory); 0 or -1 (bad value) */
int acme_args_opt(struct acme_opts *o, int c, const char *v, int *on);
/* acme_args_check: the flags make sense together; 0 or -1 (printed) */
int acme_args_check(const struct acme_opts *o, int on);
/* acme_args_print: -n's lines */
void acme_args_print(const struct acme_opts *o);
/* acme_args_status: --acme-status FILE: one line; 0 when ready, else 1 */
int acme_args_status(const char *path);
/* acme_args_init: --acme-init: the state directory and, unless the TLS
 * directory has a certificate, a placeholder; a sysexits code */
int acme_args_init(const struct acme_opts *o);

#endif
