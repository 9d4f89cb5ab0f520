/*
 * spec: the one table of ChatmailRelay spec fields (every CRD field
 * with its type, default and limits), creating and freeing specs with
 * every default, setting a field from text, and dumping a spec back to
 * JSON (what the apiserver stores after defaulting). Parsing is in
 * spec_parse.c, the rules in spec_check.c, chatmail.ini in spec_ini.c.
 *
 * Untrusted input: the JSON tree (any user who may create a CR, or a
 * file given to relay-render). Nothing is trusted for type, length or
 * shape; values are checked by spec_validate (spec_check.c) once the
 * struct is filled, so parsing and validation of programmatically
 * built specs share one set of rules.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "num.h"
#include "spec.h"
#include "spec_int.h"
#include "xmalloc.h"

static const char *const reg_names[] = { "Open", "Closed", NULL };
static const char *const tls_names[] = { "SelfSigned", "Secret", "CertManager",
					 "ACME", NULL };
static const char *const svc_names[] = { "LoadBalancer", "NodePort",
					 "ClusterIP", NULL };
static const char *const etp_names[] = { "Local", "Cluster", NULL };
static const char *const container_names[SPEC_C_COUNT] = {
	"postfix",   "dovecot",	 "nginx",     "filtermail",
	"doveauth",  "metadata", "lastlogin", "newemail",
	"irohRelay", "cert",	 "jobs",
};

#define OFF(m) offsetof(struct relay_spec, m)
#define STR(p, m, def, lo, hi, chk)                               \
	{                                                         \
		p, SPEC_FT_STR, OFF(m), def, lo, hi, 0, NULL, chk \
	}
#define NUMSTR(p, m, def, chk)                                               \
	{                                                                    \
		p, SPEC_FT_STR, OFF(m), def, 1, 32, SPEC_F_NUMSTR, NULL, chk \
	}
#define UINT(p, m, def, lo, hi)                                     \
	{                                                           \
		p, SPEC_FT_UINT, OFF(m), def, lo, hi, 0, NULL, NULL \
	}
#define BOOL(p, m, def)                                           \
	{                                                         \
		p, SPEC_FT_BOOL, OFF(m), def, 0, 1, 0, NULL, NULL \
	}
#define ENUM(p, m, def, names)                                     \
	{                                                          \
		p, SPEC_FT_ENUM, OFF(m), def, 0, 0, 0, names, NULL \
	}
#define PORT(p, m, def) UINT(p, m, def, 1, 65535)

/* every field of spec, in the CRD's order; defaults are upstream's
 * chatmail.ini defaults where upstream has the option */
const struct spec_field spec_fields[] = {
	{ "domain", SPEC_FT_STR, OFF(domain), NULL, 1, 253, SPEC_F_REQUIRED,
	  NULL, spec_check_domain },
	ENUM("registration", registration, "Open", reg_names),
	BOOL("paused", paused, "false"),

	UINT("limits.maxUserSendPerMinute", limits.max_user_send_per_minute,
	     "60", 1, 1000000),
	UINT("limits.maxUserSendBurstSize", limits.max_user_send_burst_size,
	     "10", 1, 1000000),
	NUMSTR("limits.maxMailboxSize", limits.max_mailbox_size, "500M",
	       spec_check_size_mb),
	{ "limits.maxMessageSize", SPEC_FT_U64, OFF(limits.max_message_size),
	  "31457280", 1024, 1073741824, 0, NULL, NULL },
	UINT("limits.usernameMinLength", limits.username_min_length, "9", 1,
	     64),
	UINT("limits.usernameMaxLength", limits.username_max_length, "9", 1,
	     64),
	UINT("limits.passwordMinLength", limits.password_min_length, "9", 1,
	     256),
	UINT("limits.maxImapConnections", limits.max_imap_connections, "10000",
	     1, 1000000),
	UINT("limits.maxSmtpConnections", limits.max_smtp_connections, "1000",
	     5, 100000),

	UINT("retention.deleteMailsAfterDays",
	     retention.delete_mails_after_days, "20", 1, 36500),
	UINT("retention.deleteLargeAfterDays",
	     retention.delete_large_after_days, "7", 1, 36500),
	UINT("retention.deleteInactiveUsersAfterDays",
	     retention.delete_inactive_users_after_days, "90", 1, 36500),

	{ "systemLimits.maxLoad1m", SPEC_FT_DOUBLE,
	  OFF(system_limits.max_load_1m), "5", 0, 1000000, 0, NULL, NULL },
	NUMSTR("systemLimits.minAvailableMemory",
	       system_limits.min_available_memory, "200M", spec_check_size_mb),
	NUMSTR("systemLimits.minFreeDiskSpace",
	       system_limits.min_free_disk_space, "1G", spec_check_size_mb),

	ENUM("tls.mode", tls.mode, "SelfSigned", tls_names),
	STR("tls.secretName", tls.secret_name, "", 0, 253, spec_check_k8s_name),
	STR("tls.issuerRef.name", tls.issuer_name, "", 0, 253,
	    spec_check_k8s_name),
	STR("tls.issuerRef.kind", tls.issuer_kind, "Issuer", 1, 63,
	    spec_check_issuer_kind),
	STR("tls.issuerRef.group", tls.issuer_group, "cert-manager.io", 1, 253,
	    spec_check_k8s_name),
	STR("tls.acmeEmail", tls.acme_email, "", 0, 254, spec_check_email),

	STR("dkim.selector", dkim.selector, "opendkim", 1, 63,
	    spec_check_selector),
	STR("dkim.secretName", dkim.secret_name, "", 0, 253,
	    spec_check_k8s_name),

	NUMSTR("storage.mail.size", storage.mail.size, "10Gi",
	       spec_check_quantity),
	STR("storage.mail.storageClassName", storage.mail.storage_class_name,
	    "", 0, 253, spec_check_k8s_name),
	BOOL("storage.mail.keepOnDelete", storage.mail.keep_on_delete, "true"),
	NUMSTR("storage.queue.size", storage.queue.size, "1Gi",
	       spec_check_quantity),
	STR("storage.queue.storageClassName", storage.queue.storage_class_name,
	    "", 0, 253, spec_check_k8s_name),
	BOOL("storage.queue.keepOnDelete", storage.queue.keep_on_delete,
	     "true"),
	STR("storage.mailboxesDir", storage.mailboxes_dir, "", 0, 1024,
	    spec_check_abs_path),
	STR("storage.passdbPath", storage.passdb_path, "", 0, 1024,
	    spec_check_abs_path),

	ENUM("service.type", service.type, "LoadBalancer", svc_names),
	ENUM("service.externalTrafficPolicy", service.external_traffic_policy,
	     "Local", etp_names),
	STR("service.loadBalancerIP", service.load_balancer_ip, "", 0, 45,
	    spec_check_ip),

	BOOL("network.disableIPv6", network.disable_ipv6, "false"),

	STR("imagePullPolicy", image_pull_policy, "", 0, 16,
	    spec_check_pull_policy),

	BOOL("iroh.enabled", iroh.enabled, "true"),
	STR("iroh.url", iroh.url, "", 0, 2048, spec_check_url),

	STR("turn.socketPath", turn.socket_path, "", 0, 1024,
	    spec_check_abs_path),

	STR("expire.schedule", expire.schedule, "2 0 * * *", 1, 128,
	    spec_check_schedule),
	STR("metrics.schedule", metrics.schedule, "*/15 * * * *", 1, 128,
	    spec_check_schedule),
	{ "metrics.mtailAddress", SPEC_FT_STR, OFF(metrics.mtail_address), NULL,
	  1, 45, SPEC_F_NULLABLE, NULL, spec_check_ip },

	BOOL("imap.rawlog", imap.rawlog, "false"),
	BOOL("imap.compress", imap.compress, "false"),

	STR("privacy.mail", privacy.mail, "", 0, 254, spec_check_email),
	STR("privacy.postal", privacy.postal, "", 0, 1024, spec_check_text),
	STR("privacy.pdo", privacy.pdo, "", 0, 1024, spec_check_text),
	STR("privacy.supervisor", privacy.supervisor, "", 0, 1024,
	    spec_check_text),

	BOOL("website.enabled", website.enabled, "true"),
	STR("website.configMapName", website.config_map_name, "", 0, 253,
	    spec_check_k8s_name),

	STR("push.notificationUrl", push.notification_url,
	    "https://notifications.delta.chat/notify", 1, 2048, spec_check_url),

	PORT("ports.filtermailSmtp", ports.filtermail_smtp, "10080"),
	PORT("ports.filtermailSmtpIncoming", ports.filtermail_smtp_incoming,
	     "10081"),
	PORT("ports.filtermailHttpIncoming", ports.filtermail_http_incoming,
	     "10082"),
	PORT("ports.filtermailLmtpTransport", ports.filtermail_lmtp_transport,
	     "10083"),
	PORT("ports.postfixReinject", ports.postfix_reinject, "10025"),
	PORT("ports.postfixReinjectIncoming", ports.postfix_reinject_incoming,
	     "10026"),
};
const size_t spec_nfields = sizeof(spec_fields) / sizeof(spec_fields[0]);

/* spec_field_ptr: the address of field f inside s */
void *
spec_field_ptr(const struct relay_spec *s, const struct spec_field *f)
{
	return (char *)(uintptr_t)s + f->off;
}

/* spec_enum_index: position of name in a NULL-ended list, or -1 */
int
spec_enum_index(const char *const *names, const char *name)
{
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* spec_field_set_text: parse text as f's type into s */
int
spec_field_set_text(struct relay_spec *s, const struct spec_field *f,
		    const char *text, struct buf *why)
{
	void *p = spec_field_ptr(s, f);
	uint64_t u;
	int r = 0, i;

	switch (f->type) {
	case SPEC_FT_STR:
		free(*(char **)p);
		*(char **)p = xstrdup(text);
		break;
	case SPEC_FT_UINT:
		r = num_parse_u64(text, 0, UINT32_MAX, &u);
		if (r == 0)
			*(unsigned *)p = (unsigned)u;
		break;
	case SPEC_FT_U64:
		r = num_parse_u64(text, 0, UINT64_MAX, (uint64_t *)p);
		break;
	case SPEC_FT_DOUBLE:
		r = num_parse_double(text, -1e300, 1e300, (double *)p);
		break;
	case SPEC_FT_BOOL:
		r = num_parse_bool(text, (int *)p);
		break;
	case SPEC_FT_ENUM:
		i = spec_enum_index(f->names, text);
		if (i < 0)
			r = -EINVAL;
		else
			*(int *)p = i;
		break;
	}
	if (r < 0) {
		(void)buf_printf(why, "not a valid value: \"%.64s\"", text);
		return -EINVAL;
	}
	return 0;
}

/* spec_new: a spec with every default and domain "" */
struct relay_spec *
spec_new(void)
{
	struct relay_spec *s = xcalloc(1, sizeof(*s));
	struct buf why = BUF_INIT(256);
	size_t i;
	int c;

	s->name = xstrdup("");
	s->namespace = xstrdup("");
	for (i = 0; i < spec_nfields; i++) {
		const struct spec_field *f = &spec_fields[i];
		const char *def = f->def;

		if (def == NULL && (f->flags & SPEC_F_NULLABLE))
			continue;
		if (def == NULL)
			def = "";
		/* the table's defaults are constants; a bad one is a bug */
		if (spec_field_set_text(s, f, def, &why) < 0)
			abort();
	}
	for (c = 0; c < SPEC_C_COUNT; c++)
		s->images[c] = xstrdup("");
	buf_deinit(&why);
	return s;
}

/* spec_free: free a spec and everything it owns */
void
spec_free(struct relay_spec **sp)
{
	struct relay_spec *s;
	size_t i;
	int c;

	if (sp == NULL || *sp == NULL)
		return;
	s = *sp;
	for (i = 0; i < spec_nfields; i++)
		if (spec_fields[i].type == SPEC_FT_STR)
			free(*(char **)spec_field_ptr(s, &spec_fields[i]));
	for (c = 0; c < SPEC_C_COUNT; c++) {
		free(s->images[c]);
		cJSON_Delete(s->resources[c]);
	}
	for (i = 0; i < s->service.n_annotations; i++) {
		free(s->service.annotations[i].key);
		free(s->service.annotations[i].value);
	}
	free(s->service.annotations);
	free(s->name);
	free(s->namespace);
	free(s);
	*sp = NULL;
}

/* json_put: add v at the dotted path below obj, creating objects */
static void
json_put(cJSON *obj, const char *path, cJSON *v)
{
	char key[64];
	const char *dot;
	cJSON *sub;
	size_t n;

	while ((dot = strchr(path, '.')) != NULL) {
		n = (size_t)(dot - path);
		if (n >= sizeof(key))
			abort();
		memcpy(key, path, n);
		key[n] = '\0';
		sub = cJSON_GetObjectItemCaseSensitive(obj, key);
		if (sub == NULL)
			sub = cJSON_AddObjectToObject(obj, key);
		obj = sub;
		path = dot + 1;
	}
	cJSON_AddItemToObject(obj, path, v);
}

/* field_json: the JSON value of field f in s, or NULL (unset) */
static cJSON *
field_json(const struct relay_spec *s, const struct spec_field *f)
{
	const void *p = spec_field_ptr(s, f);

	switch (f->type) {
	case SPEC_FT_STR:
		if (*(char *const *)p == NULL)
			return NULL;
		return cJSON_CreateString(*(char *const *)p);
	case SPEC_FT_UINT:
		return cJSON_CreateNumber(*(const unsigned *)p);
	case SPEC_FT_U64:
		return cJSON_CreateNumber((double)*(const uint64_t *)p);
	case SPEC_FT_DOUBLE:
		return cJSON_CreateNumber(*(const double *)p);
	case SPEC_FT_BOOL:
		return cJSON_CreateBool(*(const int *)p);
	case SPEC_FT_ENUM:
		return cJSON_CreateString(f->names[*(const int *)p]);
	}
	return NULL;
}

/* spec_dump_json: the fully defaulted spec as a .spec object */
cJSON *
spec_dump_json(const struct relay_spec *s)
{
	cJSON *o = cJSON_CreateObject(), *v, *m;
	size_t i;
	int c;

	if (o == NULL)
		abort();
	for (i = 0; i < spec_nfields; i++) {
		v = field_json(s, &spec_fields[i]);
		if (v != NULL)
			json_put(o, spec_fields[i].path, v);
	}
	m = cJSON_CreateObject();
	for (i = 0; i < s->service.n_annotations; i++)
		cJSON_AddStringToObject(m, s->service.annotations[i].key,
					s->service.annotations[i].value);
	json_put(o, SPEC_PATH_ANNOTATIONS, m);
	m = cJSON_AddObjectToObject(o, SPEC_PATH_IMAGES);
	for (c = 0; c < SPEC_C_COUNT; c++)
		if (*s->images[c] != '\0')
			cJSON_AddStringToObject(m, container_names[c],
						s->images[c]);
	m = cJSON_AddObjectToObject(o, SPEC_PATH_RESOURCES);
	for (c = 0; c < SPEC_C_COUNT; c++)
		if (s->resources[c] != NULL)
			cJSON_AddItemToObject(
				m, container_names[c],
				cJSON_Duplicate(s->resources[c], 1));
	return o;
}

/* spec_container_index: the container whose JSON key is key, or -1 */
int
spec_container_index(const char *key)
{
	int c;

	for (c = 0; c < SPEC_C_COUNT; c++)
		if (strcmp(container_names[c], key) == 0)
			return c;
	return -1;
}

/* spec_container_name: the JSON key of container c */
const char *
spec_container_name(enum spec_container c)
{
	return c < SPEC_C_COUNT ? container_names[c] : "";
}

const char *
spec_tls_mode_name(enum spec_tls_mode m)
{
	return tls_names[m];
}

const char *
spec_registration_name(enum spec_registration r)
{
	return reg_names[r];
}

const char *
spec_service_type_name(enum spec_service_type t)
{
	return svc_names[t];
}

const char *
spec_traffic_policy_name(enum spec_traffic_policy p)
{
	return etp_names[p];
}
