/*
 * spec_ini: a ChatmailRelay spec as chatmail.ini, the one file every
 * service reads, and as struct chatmail_config by loading that text
 * with the services' own parser, so the renderer and the services can
 * never disagree on a value or a derived value.
 *
 * The writer is one loop over the option table (services/lib/
 * config_opts.h), in its order (upstream's, our own options last under
 * a comment). An option is written
 *  - from the spec field that names it (spec_table.c), converted the
 *    way the services read it back; a field left unset (NULL) is not
 *    written, so the option keeps its meaning of "unset" (mtail_address);
 *  - or by one of the special cases below, each with its reason: the
 *    value depends on other fields or on the target's layout (struct
 *    render_target: where the relay's files and sockets are), or the
 *    option is left to the services' default;
 * and never both: spec_ini_source() says which, and the unit tests
 * (tests/unit/relay/test_spec_ini.c) fail for an option with neither.
 *
 * Untrusted input: spec strings, validated by spec_validate; each value
 * is checked again here to be one line before it is written.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_opts.h"
#include "render/render.h"
#include "spec.h"
#include "spec_int.h"
#include "xmalloc.h"

/* a special case's value for spec s on target t (caller frees), or
 * NULL: the option is not written */
typedef char *ini_value_fn(const struct relay_spec *s,
			   const struct render_target *t);

/* tls_external_cert_and_key: "" (self-signed mode) for a SelfSigned
 * relay whose domain upstream treats as self-signed ("_" prefix or
 * IPv4), so the services see tls_cert_mode = self as upstream's would
 * (newemail's dclogin_url, nginx's /new); in every other case the
 * target's certificate paths, i.e. external mode, which is what they
 * are: a certificate managed outside the relay (operator, Secret,
 * cert-manager) */
static char *
tls_pair(const struct relay_spec *s, const struct render_target *t)
{
	if (s->tls.mode == SPEC_TLS_SELF_SIGNED &&
	    (s->domain[0] == '_' || spec_is_ipv4(s->domain)))
		return xstrdup("");
	return xasprintf("%s %s", t->tls_cert, t->tls_key);
}

/* www_folder: "" for the built-in site, the directory of the custom
 * pages (nginx falls back to the built-in ones for a file they lack),
 * "disabled" (a path that does not exist, upstream's way to skip the
 * site) when the website is off */
static char *
www_folder(const struct relay_spec *s, const struct render_target *t)
{
	if (!s->website.enabled)
		return xstrdup("disabled");
	if (*s->website.config_map_name != '\0')
		return xstrdup(t->www_custom_dir);
	return xstrdup("");
}

/* appversions_file: appVersions.configMapName's index as mounted, or
 * unset (the services' built-in index) */
static char *
appversions_file(const struct relay_spec *s, const struct render_target *t)
{
	if (*s->app_versions.config_map_name == '\0')
		return NULL;
	return xstrdup(t->appversions_file);
}

/* iroh_relay: unset runs the local iroh-relay; any value (also "")
 * turns it off and is what clients are told */
static char *
iroh_relay(const struct relay_spec *s, const struct render_target *t)
{
	(void)t;
	return s->iroh.enabled ? NULL : xstrdup(s->iroh.url);
}

/* turn_socket_path: the spec's, or the target's socket directory */
static char *
turn_socket(const struct relay_spec *s, const struct render_target *t)
{
	if (*s->turn.socket_path != '\0')
		return xstrdup(s->turn.socket_path);
	return xstrdup(t->sock[RENDER_SOCK_TURN]);
}

/* mailboxes_dir: the spec's, or <the target's vmail dir>/<domain> */
static char *
mailboxes_dir(const struct relay_spec *s, const struct render_target *t)
{
	if (*s->storage.mailboxes_dir != '\0')
		return xstrdup(s->storage.mailboxes_dir);
	return xasprintf("%s/%s", t->vmail_dir, s->domain);
}

/* passdb_path: the spec's, or beside the mailboxes as upstream's
 * /home/vmail/passdb.sqlite is beside /home/vmail/mail */
static char *
passdb_path(const struct relay_spec *s, const struct render_target *t)
{
	const char *slash = strrchr(t->vmail_dir, '/');

	if (*s->storage.passdb_path != '\0')
		return xstrdup(s->storage.passdb_path);
	return xasprintf("%.*s/passdb.sqlite",
			 (int)(slash ? slash - t->vmail_dir : 0), t->vmail_dir);
}

/* filtermail_smtp_host, postfix_reinject_host: the internal address */
static char *
local_addr(const struct relay_spec *s, const struct render_target *t)
{
	(void)s;
	return xstrdup(t->local_addr);
}

/* nocreate_file: where the target keeps it (registration Closed
 * renders the file there) */
static char *
nocreate_file(const struct relay_spec *s, const struct render_target *t)
{
	(void)s;
	return xstrdup(t->nocreate_file);
}

/* dkim_key_file: where the target mounts the key */
static char *
dkim_key(const struct relay_spec *s, const struct render_target *t)
{
	(void)s;
	return xstrdup(t->dkim_key);
}

/* filtermail_milter_port: the target's; the option has no default (no
 * milter, as on an upstream host), the relay's Postfix signs its
 * bounces through it (non_smtpd_milters). Not on an IPv4 relay, which
 * signs nothing (upstream runs no OpenDKIM there). */
static char *
milter_port(const struct relay_spec *s, const struct render_target *t)
{
	if (spec_is_ipv4(s->domain))
		return NULL;
	return xasprintf("%u", t->port[RENDER_PORT_MILTER]);
}

/* dns_server: the target's resolver ("" = the system's) */
static char *
dns_server(const struct relay_spec *s, const struct render_target *t)
{
	(void)s;
	return xstrdup(t->dns_server);
}

/* turn_hostname: the host chatmail-metadata tells clients for TURN when
 * it is not the domain (spec_turn_host) */
static char *
turn_hostname(const struct relay_spec *s, const struct render_target *t)
{
	const char *h = spec_turn_host(s);

	(void)t;
	return h != NULL ? xstrdup(h) : NULL;
}

static const struct {
	const char *key;
	ini_value_fn *value; /* NULL: never written */
} specials[] = {
	{ "tls_external_cert_and_key", tls_pair },
	{ "www_folder", www_folder },
	{ "iroh_relay", iroh_relay },
	{ "turn_socket_path", turn_socket },
	{ "mailboxes_dir", mailboxes_dir },
	{ "passdb_path", passdb_path },
	{ "filtermail_smtp_host", local_addr },
	{ "postfix_reinject_host", local_addr },
	{ "nocreate_file", nocreate_file },
	{ "dkim_key_file", dkim_key },
	{ "dns_server", dns_server },
	/* unset: the services' built-in app versions */
	{ "appversions_file", appversions_file },
	/* DKIM signing and the bounce milter are on only when chatmail.ini
	 * asks (docs/UPSTREAM.md, DKIM): the relay's asks for both */
	{ "filtermail_milter_port", milter_port },
	{ "turn_hostname", turn_hostname },
};

#define NSPECIALS (sizeof(specials) / sizeof(specials[0]))

/* special_find: the special case of an option, or -1 */
static int
special_find(const char *key)
{
	size_t i;

	for (i = 0; i < NSPECIALS; i++)
		if (strcmp(specials[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* field_find: the spec field an option is written from, or NULL */
static const struct spec_field *
field_find(const char *key)
{
	size_t i;

	for (i = 0; i < spec_nfields; i++)
		if (spec_fields[i].ini != NULL &&
		    strcmp(spec_fields[i].ini, key) == 0 &&
		    !(spec_fields[i].flags & SPEC_F_OWN_DEFAULT))
			return &spec_fields[i];
	return NULL;
}

/* spec_ini_source: how an option gets into chatmail.ini */
int
spec_ini_source(const char *key)
{
	int sp = special_find(key), fd = field_find(key) != NULL;

	if (sp >= 0 && fd)
		return SPEC_INI_NONE; /* both: a table mistake */
	if (fd)
		return SPEC_INI_FIELD;
	if (sp < 0)
		return SPEC_INI_NONE;
	return specials[sp].value != NULL ? SPEC_INI_SPECIAL : SPEC_INI_DEFAULT;
}

/* ini_kv: one "key = value" line; *bad if the value could break the
 * file (a newline would start a new option) */
static int
ini_kv(struct buf *out, const char *key, const char *value, int *bad)
{
	const unsigned char *p;

	for (p = (const unsigned char *)value; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*bad = 1;
	if (*value == '\0')
		return buf_printf(out, "%s =\n", key);
	return buf_printf(out, "%s = %s\n", key, value);
}

/* write_field: option key from field f of s, as the services read it */
static int
write_field(const struct relay_spec *s, const struct spec_field *f,
	    const char *key, struct buf *out, int *bad)
{
	const void *p = spec_field_ptr(s, f);

	switch (f->type) {
	case SPEC_FT_STR:
		if (*(char *const *)p == NULL)
			return 0; /* unset stays unset */
		return ini_kv(out, key, *(char *const *)p, bad);
	case SPEC_FT_UINT:
		return buf_printf(out, "%s = %u\n", key, *(const unsigned *)p);
	case SPEC_FT_U64:
		return buf_printf(out, "%s = %llu\n", key,
				  (unsigned long long)*(const uint64_t *)p);
	case SPEC_FT_DOUBLE:
		return buf_printf(out, "%s = %.15g\n", key, *(const double *)p);
	case SPEC_FT_BOOL:
		return ini_kv(out, key, *(const int *)p ? "true" : "false",
			      bad);
	case SPEC_FT_ENUM:
		return ini_kv(out, key, f->names[*(const int *)p], bad);
	}
	return 0;
}

/* write_option: one option of the table, from its field or its case */
static int
write_option(const struct relay_spec *s, const struct render_target *t,
	     const struct config_opt *o, struct buf *out, int *bad)
{
	const struct spec_field *f = field_find(o->name);
	int sp = special_find(o->name), r = 0;
	char *v;

	if (f != NULL)
		return write_field(s, f, o->name, out, bad);
	if (sp < 0 || specials[sp].value == NULL)
		return 0;
	v = specials[sp].value(s, t);
	if (v != NULL)
		r = ini_kv(out, o->name, v, bad);
	free(v);
	return r;
}

/* spec_to_ini: chatmail.ini for spec s on target t */
int
spec_to_ini(const struct relay_spec *s, const struct render_target *t,
	    struct buf *out)
{
	int r = 0, bad = 0, ours = 0;
	size_t i;

	r |= buf_printf(out,
			"# chatmail.ini rendered by chatmail-operator from "
			"ChatmailRelay %s%s%s; do not edit\n",
			s->namespace, *s->namespace ? "/" : "", s->name);
	r |= buf_puts(out, "[params]\n");
	for (i = 0; i < config_nopts; i++) {
		if ((config_opts[i].flags & OF_OURS) && !ours) {
			ours = 1;
			r |= buf_puts(out,
				      "\n# chatmail-operator's own options "
				      "(upstream warns about them as "
				      "unknown)\n");
		}
		r |= write_option(s, t, &config_opts[i], out, &bad);
	}
	if (bad)
		return -EINVAL;
	return r < 0 ? -E2BIG : 0;
}

/* spec_to_config: the spec as the services will read it */
int
spec_to_config(const struct relay_spec *s, const struct render_target *t,
	       struct chatmail_config *cfg, struct buf *err)
{
	struct buf ini = BUF_INIT(64 * 1024);
	int r;

	r = spec_to_ini(s, t, &ini);
	if (r < 0) {
		(void)buf_printf(err, "chatmail.ini: a value does not fit on "
				      "one line\n");
		goto out;
	}
	r = config_load_string(cfg, buf_cstr(&ini), 0, err);
	if (r < 0)
		r = -EINVAL;
out:
	buf_deinit(&ini);
	return r;
}
