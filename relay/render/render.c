/*
 * render: the renderer's entry points. render_ctx_init turns a spec
 * into the values every file is rendered from (spec + target + the
 * chatmail_config the services will read); render_all renders every
 * file of a relay into a render_set with paths relative to the
 * target's root, which the operator maps onto ConfigMaps and
 * relay-render writes into a directory.
 *
 * Untrusted input: the spec (validated by spec.c) and the target
 * (checked by render_target_check). Values are inserted into config
 * files only after render_safe_value said they cannot change the
 * files' structure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "spec.h"
#include "web/web.h"
#include "xmalloc.h"

#define RENDER_FILE_MAX (1024 * 1024)

/* render_safe_value: nothing that could end a value or a block */
int
render_safe_value(const char *v)
{
	const unsigned char *p;

	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || strchr("\"'\\{};`$", *p))
			return 0;
	return 1;
}

/* check_spec_values: the spec strings that reach config files */
static int
check_spec_values(const struct relay_spec *s, struct buf *err)
{
	const char *vals[] = { s->domain,	    s->privacy.mail,
			       s->dkim.selector,    s->push.notification_url,
			       s->iroh.url,	    s->storage.mailboxes_dir,
			       s->turn.socket_path, s->tls.acme_email };
	size_t i;

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		if (!render_safe_value(vals[i])) {
			(void)buf_printf(err,
					 "spec: value \"%.64s\" cannot be "
					 "put into a config file\n",
					 vals[i]);
			return -EINVAL;
		}
	return 0;
}

/* render_ctx_init: convert the spec for target t */
int
render_ctx_init(struct render_ctx *c, const struct relay_spec *s,
		const struct render_target *t, struct buf *err)
{
	int r;

	/* config_load_string initialises cfg itself; zeroed until then */
	memset(c, 0, sizeof(*c));
	c->spec = s;
	c->t = t;
	r = render_target_check(t, err);
	if (r == 0)
		r = check_spec_values(s, err);
	if (r == 0 && *t->public_addr != '\0' &&
	    strcmp(t->public_addr, t->local_addr) != 0) {
		/* nginx's 443 hands TLS to local_addr:465/993, so the
		 * public listeners must be reachable there too */
		(void)buf_printf(err, "target: public_addr must be empty (all "
				      "addresses) or equal local_addr\n");
		r = -EINVAL;
	}
	if (r == 0)
		r = spec_to_config(s, t, &c->cfg, err);
	return r;
}

/* render_ctx_deinit: free the converted config */
void
render_ctx_deinit(struct render_ctx *c)
{
	config_deinit(&c->cfg);
}

/* set_add: append a file to the set, taking the buffer's contents */
static void
set_add(struct render_set *set, const char *path, struct buf *b, unsigned mode)
{
	struct render_file *f;

	set->files = xreallocarray(set->files, set->n + 1, sizeof(*f));
	f = &set->files[set->n++];
	f->path = xstrdup(path);
	f->data = buf_steal(b, &f->len);
	f->mode = mode;
	f->binary = 0;
}

/* rel_dir: dir relative to the target's root ("postfix"); -EINVAL if
 * dir is not below root */
static int
rel_dir(const struct render_target *t, const char *dir, const char **rel_r)
{
	size_t n = strlen(t->root);

	if (strncmp(dir, t->root, n) != 0 || dir[n] != '/' || dir[n + 1] == 0)
		return -EINVAL;
	*rel_r = dir + n + 1;
	return 0;
}

typedef int render_fn(const struct render_ctx *c, struct buf *out);

/* add_rendered: render one file with fn into the set at dir/name */
static int
add_rendered(struct render_set *set, const struct render_ctx *c,
	     const char *dir, const char *name, render_fn *fn, unsigned mode,
	     struct buf *err)
{
	struct buf b = BUF_INIT(RENDER_FILE_MAX);
	const char *rel = NULL;
	char *path;
	int r;

	if (dir != NULL && rel_dir(c->t, dir, &rel) < 0) {
		(void)buf_printf(err, "target: %s is not below root %s\n", dir,
				 c->t->root);
		buf_deinit(&b);
		return -EINVAL;
	}
	r = fn(c, &b);
	if (r < 0) {
		(void)buf_printf(err, "%s: cannot be rendered (%s)\n", name,
				 strerror(-r));
		buf_deinit(&b);
		return r;
	}
	path = rel != NULL ? xasprintf("%s/%s", rel, name) : xstrdup(name);
	set_add(set, path, &b, mode);
	free(path);
	buf_deinit(&b);
	return 0;
}

/* map renderers, one per Postfix map file */
static int
map_login(const struct render_ctx *c, struct buf *out)
{
	return render_postfix_maps(c, "login_map", out);
}

static int
map_submission(const struct render_ctx *c, struct buf *out)
{
	return render_postfix_maps(c, "submission_header_cleanup", out);
}

static int
map_lmtp(const struct render_ctx *c, struct buf *out)
{
	return render_postfix_maps(c, "lmtp_header_cleanup", out);
}

static int
map_tls_policy(const struct render_ctx *c, struct buf *out)
{
	return render_postfix_maps(c, "smtp_tls_policy_map", out);
}

static int
render_ini(const struct render_ctx *c, struct buf *out)
{
	return spec_to_ini(c->spec, c->t, out);
}

/* render_iroh: iroh-relay.toml as upstream writes it (docs/UPSTREAM.md,
 * iroh-relay and TURN), but bound to the internal address: nginx
 * proxies /relay, /ping and /generate_204 to it, nothing else needs to
 * reach it */
static int
render_iroh(const struct render_ctx *c, struct buf *out)
{
	return buf_printf(out,
			  "# iroh-relay of chatmail relay %s, rendered by "
			  "chatmail-operator; do not edit.\n"
			  "enable_relay = true\n"
			  "http_bind_addr = \"%s:%u\"\n"
			  "# the TURN server replaces STUN\n"
			  "enable_stun = false\n"
			  "enable_metrics = false\n"
			  "metrics_bind_addr = \"127.0.0.1:%u\"\n",
			  c->spec->domain, c->t->local_addr,
			  c->t->port[RENDER_PORT_IROH],
			  c->t->port[RENDER_PORT_IROH_METRICS]);
}

void
render_target_spec(struct render_target *t, const struct relay_spec *s)
{
	const char *addr = spec_turn_address(s);

	render_target_set(&t->turn_realm, s->domain);
	t->transport = s->delivery.mode == SPEC_DELIVERY_TRANSPORT;
	if (spec_turn_mode(s) == SPEC_TURN_HOST) {
		/* the relay Pod only answers credentials */
		render_target_set(&t->turn_address, "");
		render_target_set(&t->turn_relay_ports, "");
		return;
	}
	render_target_set(&t->turn_address, addr != NULL ? addr : "");
	render_target_set(&t->turn_relay_ports, s->turn.port_range);
}

void
render_target_turn_host(struct render_target *t, const struct relay_spec *s)
{
	render_target_set(&t->turn_realm, s->domain);
	render_target_set(&t->turn_address, s->turn.external_ip);
	render_target_set(&t->turn_relay_ports, s->turn.port_range);
}

/* render_acme_ca: the CA bundle of a private ACME server (ACME mode) */
static int
render_acme_ca(const struct render_ctx *c, struct buf *out)
{
	return buf_puts(out, c->spec->tls.acme_ca_bundle);
}

/* render_peer_ca: the CAs trusted for outgoing delivery besides the
 * system's store (tls.peerCABundle) */
static int
render_peer_ca(const struct render_ctx *c, struct buf *out)
{
	return buf_puts(out, c->spec->tls.peer_ca_bundle);
}

static int
render_empty(const struct render_ctx *c, struct buf *out)
{
	(void)c;
	(void)out;
	return 0;
}

/* add_web: the website files below the target's www_dir; only the
 * .well-known files when the site is off (with custom pages, the
 * built-in ones are their fallback) */
static int
add_web(struct render_set *set, const struct render_ctx *c, struct buf *err)
{
	const struct relay_spec *s = c->spec;
	int all = s->website.enabled;
	struct web_site *site = NULL;
	struct buf b = BUF_INIT(RENDER_FILE_MAX);
	const char *rel;
	char *path;
	size_t i;
	int r;

	if (rel_dir(c->t, c->t->www_dir, &rel) < 0) {
		(void)buf_printf(err, "target: www_dir is not below root\n");
		return -EINVAL;
	}
	r = web_render(&c->cfg, c->t, &site, err);
	for (i = 0; r == 0 && i < site->n; i++) {
		const struct web_file *f = &site->files[i];

		if (!all && strncmp(f->path, ".well-known/", 12) != 0)
			continue;
		buf_reset(&b);
		r = buf_append(&b, f->data, f->len);
		if (r < 0) {
			(void)buf_printf(err, "www/%s: too large\n", f->path);
			break;
		}
		path = xasprintf("%s/%s", rel, f->path);
		set_add(set, path, &b, 0644);
		set->files[set->n - 1].binary = f->binary;
		free(path);
	}
	web_site_free(&site);
	buf_deinit(&b);
	return r < 0 ? -EINVAL : 0;
}

/* add_at: render one file with fn into the set at the target's path
 * (below its root) */
static int
add_at(struct render_set *set, const struct render_ctx *c, const char *path,
       render_fn *fn, struct buf *err)
{
	const char *rel;

	if (rel_dir(c->t, path, &rel) < 0) {
		(void)buf_printf(err, "target: %s is not below root %s\n", path,
				 c->t->root);
		return -EINVAL;
	}
	return add_rendered(set, c, NULL, rel, fn, 0644, err);
}

/* render_all: every file for spec s on target t */
int
render_all(const struct relay_spec *s, const struct render_target *t,
	   struct render_set *set, struct buf *err)
{
	const struct {
		int which; /* 0 root, 1 postfix, 2 dovecot, 3 nginx */
		const char *name;
		render_fn *fn;
	} files[] = {
		{ 0, "chatmail.ini", render_ini },
		{ 1, "main.cf", render_postfix_main_cf },
		{ 1, "master.cf", render_postfix_master_cf },
		{ 1, "login_map", map_login },
		{ 1, "submission_header_cleanup", map_submission },
		{ 1, "lmtp_header_cleanup", map_lmtp },
		{ 1, "smtp_tls_policy_map", map_tls_policy },
		{ 2, "dovecot.conf", render_dovecot_conf },
		{ 2, "auth.conf", render_dovecot_auth_conf },
		{ 2, "push_notification.lua", render_dovecot_push_lua },
		{ 3, "nginx.conf", render_nginx_conf },
	};
	struct render_ctx c;
	const char *dir;
	size_t i;
	int r;

	memset(set, 0, sizeof(*set));
	r = render_ctx_init(&c, s, t, err);
	for (i = 0; r == 0 && i < sizeof(files) / sizeof(files[0]); i++) {
		dir = files[i].which == 1   ? t->postfix_config_dir
		      : files[i].which == 2 ? t->dovecot_config_dir
		      : files[i].which == 3 ? t->nginx_config_dir
					    : NULL;
		r = add_rendered(set, &c, dir, files[i].name, files[i].fn, 0644,
				 err);
	}
	if (r == 0)
		r = add_web(set, &c, err);
	/* upstream runs iroh-relay only when iroh_relay is unset */
	if (r == 0 && s->iroh.enabled)
		r = add_at(set, &c, t->iroh_config, render_iroh, err);
	/* upstream's kill switch for new accounts is the file's presence */
	if (r == 0 && s->registration == SPEC_REG_CLOSED)
		r = add_at(set, &c, t->nocreate_file, render_empty, err);
	if (r == 0 && s->tls.mode == SPEC_TLS_ACME && *s->tls.acme_ca_bundle)
		r = add_rendered(set, &c, NULL, "acme-ca.pem", render_acme_ca,
				 0644, err);
	if (r == 0 && *s->tls.peer_ca_bundle)
		r = add_rendered(set, &c, NULL, "peer-ca.pem", render_peer_ca,
				 0644, err);
	render_ctx_deinit(&c);
	if (r < 0)
		render_set_free(set);
	return r;
}

/* render_set_free: free every file of the set */
void
render_set_free(struct render_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		free(set->files[i].path);
		free(set->files[i].data);
	}
	free(set->files);
	set->files = NULL;
	set->n = 0;
}

/* render_set_find: the file with this relative path, or NULL */
const struct render_file *
render_set_find(const struct render_set *set, const char *path)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->files[i].path, path) == 0)
			return &set->files[i];
	return NULL;
}
