/*
 * web: renders the relay's web content (see web.h) from the built-in
 * templates (web_pages.c) and the QR code (web_png.c).
 *
 * Role: a pure function for the operator (ConfigMap) and the local
 * relay (files for nginx). Untrusted input: the configured values are
 * the operator's, but they end up in HTML and XML served to anyone, so
 * every one is escaped on insertion; the domain, which also becomes a
 * file name, must not contain '/'.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/render.h"
#include "web.h"
#include "web_int.h"
#include "xmalloc.h"

#define FILE_MAX (256 * 1024) /* no page comes close */
#define NVARS 24

struct var {
	const char *name, *value;
};

struct vars {
	struct var v[NVARS];
	size_t n;
	/* storage for numbers turned into text */
	char num[10][32];
	size_t nnum;
};

/* web_html_escape: see web.h */
int
web_html_escape(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		switch (*s) {
		case '&':
			rc = buf_puts(out, "&amp;");
			break;
		case '<':
			rc = buf_puts(out, "&lt;");
			break;
		case '>':
			rc = buf_puts(out, "&gt;");
			break;
		case '"':
			rc = buf_puts(out, "&quot;");
			break;
		case '\'':
			rc = buf_puts(out, "&#39;");
			break;
		default:
			rc = buf_putc(out, *s);
		}
	}
	return rc;
}

/* web_int_to_english: see web.h */
void
web_int_to_english(unsigned n, char *out, size_t outsize)
{
	static const char *const words[13] = {
		"zero",	 "one",	  "two",  "three", "four",   "five",   "six",
		"seven", "eight", "nine", "ten",   "eleven", "twelve",
	};

	if (n <= 12)
		(void)snprintf(out, outsize, "%s", words[n]);
	else if (n <= 50)
		(void)snprintf(out, outsize, "%u", n);
	else
		(void)snprintf(out, outsize, "more");
}

/* var_set: name = value (NULL counts as "") */
static void
var_set(struct vars *vs, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < vs->n; i++) {
		if (strcmp(vs->v[i].name, name) == 0) {
			vs->v[i].value = value != NULL ? value : "";
			return;
		}
	}
	if (vs->n == NVARS)
		abort(); /* a template table bug, not an input problem */
	vs->v[vs->n].name = name;
	vs->v[vs->n].value = value != NULL ? value : "";
	vs->n++;
}

/* var_num: name = a number as text (or its English word) */
static void
var_num(struct vars *vs, const char *name, unsigned long long v, int words)
{
	char *s;

	if (vs->nnum == sizeof(vs->num) / sizeof(vs->num[0]))
		abort();
	s = vs->num[vs->nnum++];
	if (words)
		web_int_to_english(v > 1000 ? 1000 : (unsigned)v, s, 32);
	else
		(void)snprintf(s, 32, "%llu", v);
	var_set(vs, name, s);
}

/* fill: tpl with every {{name}} replaced by its escaped value */
static int
fill(struct buf *out, const char *tpl, const struct vars *vs, struct buf *err)
{
	const char *p = tpl, *open, *close;
	size_t i, n;

	while ((open = strstr(p, "{{")) != NULL) {
		if (buf_append(out, p, (size_t)(open - p)) < 0)
			return -E2BIG;
		close = strstr(open + 2, "}}");
		if (close == NULL)
			abort(); /* templates are ours */
		n = (size_t)(close - open - 2);
		for (i = 0; i < vs->n; i++)
			if (strlen(vs->v[i].name) == n &&
			    memcmp(vs->v[i].name, open + 2, n) == 0)
				break;
		if (i == vs->n) {
			(void)buf_printf(err, "template: no value for %.*s",
					 (int)n, open + 2);
			return -EINVAL;
		}
		if (web_html_escape(out, vs->v[i].value) < 0)
			return -E2BIG;
		p = close + 2;
	}
	return buf_puts(out, p) < 0 ? -E2BIG : 0;
}

/* key_of: path as a ConfigMap key (see web.h) */
static char *
key_of(const char *path)
{
	char *k = xstrdup(path), *p;

	for (p = k; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		      *p == '_'))
			*p = '_';
	return k;
}

/* site_add: append a file; takes data */
static void
site_add(struct web_site *s, const char *path, unsigned char *data, size_t len,
	 int binary)
{
	s->files = xreallocarray(s->files, s->n + 1, sizeof(*s->files));
	s->files[s->n].path = xstrdup(path);
	s->files[s->n].key = key_of(path);
	s->files[s->n].data = data;
	s->files[s->n].len = len;
	s->files[s->n].binary = binary;
	s->n++;
}

/* add_text: render the templates (NULL-terminated list) into one file */
static int
add_text(struct web_site *s, const char *path, const char *const *tpls,
	 const struct vars *vs, struct buf *err)
{
	struct buf b = BUF_INIT(FILE_MAX);
	size_t len;
	char *data;
	int rc = 0;

	for (; *tpls != NULL && rc == 0; tpls++)
		rc = fill(&b, *tpls, vs, err);
	if (rc < 0) {
		buf_deinit(&b);
		return rc;
	}
	data = buf_steal(&b, &len);
	site_add(s, path, (unsigned char *)data, len, 0);
	return 0;
}

/* add_page: one HTML page in the layout */
static int
add_page(struct web_site *s, struct vars *vs, const char *path,
	 const char *pagename, const char *const *body, struct buf *err)
{
	const char *tpls[8];
	size_t n = 0;

	tpls[n++] = web_tpl_layout;
	for (; *body != NULL && n < 6; body++)
		tpls[n++] = *body;
	tpls[n++] = web_tpl_layout_end;
	tpls[n] = NULL;
	var_set(vs, "pagename", pagename);
	return add_text(s, path, tpls, vs, err);
}

/* add_autoconfig: upstream's six servers, in its order, on the
 * target's ports */
static int
add_autoconfig(struct web_site *s, struct vars *vs,
	       const struct render_target *t, struct buf *err)
{
	static const struct {
		const char *kind, *proto;
		enum render_port_id port;
		const char *socket;
	} servers[] = {
		{ "incomingServer", "imap", RENDER_PORT_IMAPS, "SSL" },
		{ "incomingServer", "imap", RENDER_PORT_IMAP, "STARTTLS" },
		{ "incomingServer", "imap", RENDER_PORT_HTTPS, "SSL" },
		{ "outgoingServer", "smtp", RENDER_PORT_SMTPS, "SSL" },
		{ "outgoingServer", "smtp", RENDER_PORT_SUBMISSION,
		  "STARTTLS" },
		{ "outgoingServer", "smtp", RENDER_PORT_HTTPS, "SSL" },
	};
	struct buf b = BUF_INIT(FILE_MAX);
	char port[16];
	size_t i, len;
	char *data;
	int rc;

	rc = fill(&b, web_tpl_autoconfig_head, vs, err);
	for (i = 0; i < sizeof(servers) / sizeof(servers[0]) && rc == 0; i++) {
		(void)snprintf(port, sizeof(port), "%u",
			       t->port[servers[i].port]);
		var_set(vs, "kind", servers[i].kind);
		var_set(vs, "proto", servers[i].proto);
		var_set(vs, "port", port);
		var_set(vs, "socket", servers[i].socket);
		rc = fill(&b, web_tpl_autoconfig_server, vs, err);
	}
	/* port points into this frame: no later fill may see it */
	var_set(vs, "port", "");
	if (rc == 0)
		rc = fill(&b, web_tpl_autoconfig_tail, vs, err);
	if (rc < 0) {
		buf_deinit(&b);
		return rc;
	}
	data = buf_steal(&b, &len);
	site_add(s, ".well-known/autoconfig/mail/config-v1.1.xml",
		 (unsigned char *)data, len, 0);
	return 0;
}

/* set_vars: the values the templates use */
static void
set_vars(struct vars *vs, const struct chatmail_config *cfg, const char *qr_png)
{
	var_set(vs, "mail_domain", cfg->mail_domain);
	var_set(vs, "max_mailbox_size", cfg->max_mailbox_size);
	var_set(vs, "privacy_mail", cfg->privacy_mail);
	var_set(vs, "privacy_postal", cfg->privacy_postal);
	var_set(vs, "privacy_pdo", cfg->privacy_pdo);
	var_set(vs, "privacy_supervisor", cfg->privacy_supervisor);
	var_set(vs, "qr_png", qr_png);
	var_num(vs, "max_user_send_per_minute", cfg->max_user_send_per_minute,
		0);
	var_num(vs, "max_message_size", cfg->max_message_size, 0);
	var_num(vs, "delete_mails_after", cfg->delete_mails_after, 0);
	var_num(vs, "delete_large_after", cfg->delete_large_after, 0);
	var_num(vs, "delete_inactive_users_after",
		cfg->delete_inactive_users_after, 0);
	var_num(vs, "username_min_length", cfg->username_min_length, 1);
	var_num(vs, "username_max_length", cfg->username_max_length, 1);
	var_num(vs, "password_min_length", cfg->password_min_length, 1);
}

/* add_qr: the DCACCOUNT QR code */
static int
add_qr(struct web_site *s, const struct chatmail_config *cfg, const char *path,
       struct buf *err)
{
	unsigned char *png;
	size_t len;
	char *text;
	int rc;

	text = xasprintf("DCACCOUNT:https://%s/new", cfg->mail_domain);
	rc = web_qr_png(text, &png, &len);
	if (rc < 0) {
		(void)buf_printf(err, "cannot make a QR code of %s", text);
		free(text);
		return rc;
	}
	free(text);
	site_add(s, path, png, len, 1);
	return 0;
}

/* render_site: every file into s */
static int
render_site(struct web_site *s, const struct chatmail_config *cfg,
	    const struct render_target *t, struct buf *err)
{
	const char *index_body[4] = { web_tpl_index_head, web_tpl_index_account,
				      web_tpl_index_tail, NULL };
	const char *info_body[2] = { web_tpl_info, NULL };
	const char *privacy_body[3] = { web_tpl_privacy, web_tpl_privacy2,
					NULL };
	const char *one[2] = { NULL, NULL };
	struct vars vs;
	char qr[512];
	int self = cfg->tls_cert_mode == TLS_CERT_SELF, rc;

	memset(&vs, 0, sizeof(vs));
	(void)snprintf(qr, sizeof(qr), "qr-chatmail-invite-%s.png",
		       cfg->mail_domain);
	set_vars(&vs, cfg, qr);
	if (self)
		index_body[1] = web_tpl_index_dclogin;
	rc = add_page(s, &vs, "index.html", "home", index_body, err);
	if (rc == 0)
		rc = add_page(s, &vs, "info.html", "info", info_body, err);
	if (rc == 0)
		rc = add_page(s, &vs, "privacy.html", "privacy", privacy_body,
			      err);
	one[0] = web_tpl_css;
	if (rc == 0)
		rc = add_text(s, "main.css", one, &vs, err);
	one[0] = web_tpl_robots;
	if (rc == 0)
		rc = add_text(s, "robots.txt", one, &vs, err);
	one[0] = web_tpl_dclogin_js;
	if (rc == 0 && self)
		rc = add_text(s, "dclogin.js", one, &vs, err);
	if (rc == 0)
		rc = add_autoconfig(s, &vs, t, err);
	one[0] = web_tpl_mta_sts;
	if (rc == 0)
		rc = add_text(s, ".well-known/mta-sts.txt", one, &vs, err);
	if (rc == 0)
		rc = add_qr(s, cfg, qr, err);
	return rc;
}

/* web_render: see web.h */
int
web_render(const struct chatmail_config *cfg, const struct render_target *t,
	   struct web_site **site_r, struct buf *err)
{
	struct web_site *s;
	int rc;

	*site_r = NULL;
	if (cfg->mail_domain == NULL || cfg->mail_domain[0] == '\0' ||
	    strchr(cfg->mail_domain, '/') != NULL ||
	    strlen(cfg->mail_domain) > 253) {
		(void)buf_printf(err, "web: mail_domain unusable");
		return -EINVAL;
	}
	s = xcalloc(1, sizeof(*s));
	rc = render_site(s, cfg, t, err);
	if (rc < 0) {
		web_site_free(&s);
		return rc == -E2BIG ? -EINVAL : rc;
	}
	*site_r = s;
	return 0;
}

/* web_site_find: see web.h */
const struct web_file *
web_site_find(const struct web_site *site, const char *path)
{
	size_t i;

	for (i = 0; i < site->n; i++)
		if (strcmp(site->files[i].path, path) == 0)
			return &site->files[i];
	return NULL;
}

/* web_site_free: see web.h */
void
web_site_free(struct web_site **sp)
{
	struct web_site *s = *sp;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		free(s->files[i].path);
		free(s->files[i].key);
		free(s->files[i].data);
	}
	free(s->files);
	free(s);
	*sp = NULL;
}
