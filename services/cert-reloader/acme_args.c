/*
 * acme_args: cert-reloader's --acme-* flags (see main.c for the usage
 * and acme.h for what they set), -n's lines for them, and
 * --acme-status, which prints status.json as one line and exits 0 only
 * while a valid certificate is served (the cert container's readiness
 * probe).
 *
 * Untrusted input: none (flags are the Pod spec's; status.json is our
 * own file, read bounded).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acme.h"
#include "acme_args.h"
#include "fs.h"
#include "log.h"
#include "num.h"

const struct option acme_longopts[] = {
	{ "acme-directory", required_argument, NULL, ACME_OPT_DIRECTORY },
	{ "acme-state", required_argument, NULL, ACME_OPT_STATE },
	{ "acme-email", required_argument, NULL, ACME_OPT_EMAIL },
	{ "acme-agree-tos", no_argument, NULL, ACME_OPT_AGREE },
	{ "acme-eab-kid", required_argument, NULL, ACME_OPT_EAB_KID },
	{ "acme-eab-hmac-file", required_argument, NULL, ACME_OPT_EAB_HMAC },
	{ "acme-ca-bundle", required_argument, NULL, ACME_OPT_CA },
	{ "acme-name", required_argument, NULL, ACME_OPT_NAME },
	{ "acme-listen", required_argument, NULL, ACME_OPT_LISTEN },
	{ "acme-backoff", required_argument, NULL, ACME_OPT_BACKOFF },
	{ "acme-poll-ms", required_argument, NULL, ACME_OPT_POLL },
	{ "acme-ari-check", required_argument, NULL, ACME_OPT_ARI },
	{ "acme-status", required_argument, NULL, ACME_OPT_STATUS },
	{ "acme-init", no_argument, NULL, ACME_OPT_INIT },
	{ "acme-key-group", required_argument, NULL, ACME_OPT_KEY_GROUP },
	{ NULL, 0, NULL, 0 },
};

/* copy: a flag value into a fixed field */
static int
copy(char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return -1;
	(void)snprintf(dst, size, "%s", v);
	return 0;
}

/* backoff: "MIN:MAX" seconds */
static int
backoff(struct acme_opts *o, const char *v)
{
	char min[16];
	const char *colon = strchr(v, ':');

	if (colon == NULL || (size_t)(colon - v) >= sizeof(min))
		return -1;
	(void)snprintf(min, sizeof(min), "%.*s", (int)(colon - v), v);
	if (num_parse_uint(min, 1, 86400, &o->backoff_min_s) < 0 ||
	    num_parse_uint(colon + 1, 1, 604800, &o->backoff_max_s) < 0 ||
	    o->backoff_max_s < o->backoff_min_s)
		return -1;
	return 0;
}

int
acme_args_opt(struct acme_opts *o, int c, const char *v, int *on)
{
	unsigned gid;

	switch (c) {
	case ACME_OPT_DIRECTORY:
		*on = 1;
		return copy(o->directory, sizeof(o->directory), v);
	case ACME_OPT_STATE:
		return copy(o->state_dir, sizeof(o->state_dir), v);
	case ACME_OPT_EMAIL:
		return copy(o->email, sizeof(o->email), v);
	case ACME_OPT_AGREE:
		o->agree_tos = 1;
		return 0;
	case ACME_OPT_EAB_KID:
		return copy(o->eab_kid, sizeof(o->eab_kid), v);
	case ACME_OPT_EAB_HMAC:
		return copy(o->eab_hmac_file, sizeof(o->eab_hmac_file), v);
	case ACME_OPT_CA:
		return copy(o->ca_bundle, sizeof(o->ca_bundle), v);
	case ACME_OPT_NAME:
		if (o->nnames == ACME_MAX_NAMES || *v == '\0')
			return -1;
		return copy(o->names[o->nnames++], sizeof(o->names[0]), v);
	case ACME_OPT_LISTEN:
		return copy(o->listen, sizeof(o->listen), v);
	case ACME_OPT_BACKOFF:
		return backoff(o, v);
	case ACME_OPT_POLL:
		return num_parse_uint(v, 10, 60000, &o->poll_ms);
	case ACME_OPT_ARI:
		return num_parse_uint(v, 1, 604800, &o->ari_check_s);
	case ACME_OPT_KEY_GROUP:
		if (num_parse_uint(v, 0, 2147483647, &gid) < 0)
			return -1;
		o->key_gid = (long)gid;
		return 0;
	default:
		return -1;
	}
}

int
acme_args_check(const struct acme_opts *o, int on)
{
	if (!on)
		return 0;
	if (o->nnames == 0) {
		(void)fprintf(stderr, "cert-reloader: --acme-directory needs "
				      "--acme-name\n");
		return -1;
	}
	if ((o->eab_kid[0] == '\0') != (o->eab_hmac_file[0] == '\0')) {
		(void)fprintf(stderr, "cert-reloader: --acme-eab-kid and "
				      "--acme-eab-hmac-file go together\n");
		return -1;
	}
	return 0;
}

void
acme_args_print(const struct acme_opts *o)
{
	size_t i;

	(void)printf("acme-directory = %s\nacme-state = %s\nacme-email = %s\n"
		     "acme-agree-tos = %s\nacme-eab-kid = %s\n"
		     "acme-ca-bundle = %s\nacme-listen = %s\n"
		     "acme-backoff = %u:%u\nacme-poll-ms = %u\n"
		     "acme-ari-check = %u\nacme-key-group = %ld\n",
		     o->directory, o->state_dir, o->email,
		     o->agree_tos ? "yes" : "no", o->eab_kid, o->ca_bundle,
		     o->listen, o->backoff_min_s, o->backoff_max_s, o->poll_ms,
		     o->ari_check_s, o->key_gid);
	for (i = 0; i < o->nnames; i++)
		(void)printf("acme-name = %s\n", o->names[i]);
}

int
acme_args_status(const char *path)
{
	struct acme_status_rec st;
	struct buf err = BUF_INIT(512);
	char na[32], next[32];
	int r;

	r = acme_status_read(path, &st, &err);
	if (r < 0) {
		(void)printf("no ACME status yet: %s\n", buf_cstr(&err));
		buf_deinit(&err);
		return 1;
	}
	buf_deinit(&err);
	acme_format_time(st.not_after, na);
	acme_format_time(st.next_attempt, next);
	(void)printf("ready=%s names=%s notAfter=%s nextAttempt=%s "
		     "failures=%u lastError=\"%s\"\n",
		     st.ready ? "true" : "false", st.names,
		     st.not_after ? na : "-", st.next_attempt ? next : "-",
		     st.failures, st.last_error);
	return st.ready ? 0 : 1;
}

int
acme_args_init(const struct acme_opts *o)
{
	static struct acme_opts names; /* a writable copy of the names */
	struct buf err = BUF_INIT(512);
	int r;

	names = *o;
	if ((r = fs_mkdirs(o->state_dir, 0755)) < 0 ||
	    (r = fs_mkdirs(o->tls_dir, 0755)) < 0) {
		log_error("cannot create %s: %s", o->state_dir, strerror(-r));
		return EX_CANTCREAT;
	}
	r = acme_cert_placeholder(o->tls_dir, names.names, o->nnames,
				  o->key_gid, &err);
	if (r < 0)
		log_error("%s", buf_cstr(&err));
	buf_deinit(&err);
	return r < 0 ? EX_CANTCREAT : 0;
}
