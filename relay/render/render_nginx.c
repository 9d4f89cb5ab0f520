/*
 * render_nginx: nginx.conf of a chatmail relay, for Debian 12's nginx
 * 1.22 with libnginx-mod-stream.
 *
 * Follows upstream's cmdeploy nginx/nginx.conf.j2: port 443 is a TLS
 * passthrough ALPN multiplexer (ALPN smtp -> smtps 465, imap -> imaps
 * 993, anything else -> the internal HTTPS server on 8443, TLS
 * terminated by each backend); the internal server serves the website,
 * /mxdeliv (filtermail incoming HTTP), /new (and the legacy
 * /cgi-bin/newemail.py; GET redirects to dcaccount: except in
 * self-signed mode, where it is rate limited), /relay, /ping and
 * /generate_204 (iroh-relay); www.<domain> redirects; port 80
 * redirects to https, with the ACME challenge path in ACME mode.
 * Differences: newemail is our small HTTP service (no fcgiwrap), so
 * /new is proxied to it; no public /metrics (upstream removed it in
 * 1.10: it leaks user counts; the Pod's metrics are on a private port,
 * services/chatmail-exporter); logs go to files or stdout/stderr, pid
 * and temp files to the target's run directory.
 *
 * Untrusted input: none here (values checked by render_ctx_init).
 */
#include <errno.h>
#include <string.h>

#include "render.h"
#include "spec.h"

/* ngx_listen: "listen [addr:]port" lines for a public port */
static int
ngx_listen(const struct render_ctx *c, struct buf *out, const char *indent,
	   unsigned port)
{
	const struct render_target *t = c->t;
	int r;

	if (*t->public_addr != '\0')
		return buf_printf(out, "%slisten %s:%u;\n", indent,
				  t->public_addr, port);
	r = buf_printf(out, "%slisten %u;\n", indent, port);
	if (r == 0 && !c->cfg.disable_ipv6)
		r = buf_printf(out, "%slisten [::]:%u;\n", indent, port);
	return r;
}

/* ngx_head: main context, events, the 443 stream multiplexer */
static int
ngx_head(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;
	int r;

	r = buf_printf(out,
		       "# nginx.conf of chatmail relay %s, rendered by "
		       "chatmail-operator; do not edit.\n"
		       "load_module %s;\n"
		       "\n",
		       c->cfg.mail_domain, t->nginx_stream_module);
	if (r == 0 && *t->nginx_user != '\0')
		r = buf_printf(out, "user %s;\n", t->nginx_user);
	if (r == 0)
		r = buf_printf(
			out,
			"worker_processes auto;\n"
			"# Avoid \"Too many open files\" under load.\n"
			"worker_rlimit_nofile 2048;\n"
			"pid %s/nginx.pid;\n"
			"error_log %s%s;\n"
			"\n"
			"events {\n"
			"\tworker_connections 2048;\n"
			"}\n"
			"\n"
			"# Port %u: TLS passthrough by ALPN; each backend "
			"terminates TLS.\n"
			"stream {\n"
			"\tmap $ssl_preread_alpn_protocols $proxy {\n"
			"\t\tdefault %s:%u;\n"
			"\t\t~\\bsmtp\\b %s:%u;\n"
			"\t\t~\\bimap\\b %s:%u;\n"
			"\t}\n"
			"\n"
			"\tserver {\n",
			t->nginx_run_dir, *t->log_dir ? t->log_dir : "stderr",
			*t->log_dir ? "/nginx-error.log" : "",
			t->port[RENDER_PORT_HTTPS], t->local_addr,
			t->port[RENDER_PORT_HTTPS_INTERNAL], t->local_addr,
			t->port[RENDER_PORT_SMTPS], t->local_addr,
			t->port[RENDER_PORT_IMAPS]);
	if (r == 0)
		r = ngx_listen(c, out, "\t\t", t->port[RENDER_PORT_HTTPS]);
	if (r == 0)
		r = buf_puts(out, "\t\tproxy_pass $proxy;\n"
				  "\t\tssl_preread on;\n"
				  "\t}\n"
				  "}\n"
				  "\n");
	return r;
}

/* ngx_http_head: the http context's settings */
static int
ngx_http_head(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;
	const char *d = t->nginx_run_dir;
	int r;

	r = buf_printf(out,
		       "http {\n"
		       "\taccess_log %s%s;\n"
		       "\tclient_body_temp_path %s/body;\n"
		       "\tproxy_temp_path %s/proxy;\n"
		       "\tfastcgi_temp_path %s/fastcgi;\n"
		       "\tuwsgi_temp_path %s/uwsgi;\n"
		       "\tscgi_temp_path %s/scgi;\n"
		       "\n",
		       *t->log_dir ? t->log_dir : "/dev/stdout",
		       *t->log_dir ? "/nginx-access.log" : "", d, d, d, d, d);
	if (r == 0 && c->cfg.tls_cert_mode == TLS_CERT_SELF)
		r = buf_puts(out, "\tlimit_req_zone $binary_remote_addr "
				  "zone=newaccount:10m rate=2r/s;\n");
	if (r == 0)
		r = buf_printf(out,
			       "\tsendfile on;\n"
			       "\ttcp_nopush on;\n"
			       "\n"
			       "\t# Do not emit the nginx version on error "
			       "pages.\n"
			       "\tserver_tokens off;\n"
			       "\n"
			       "\tinclude %s;\n"
			       "\tdefault_type application/octet-stream;\n"
			       "\n"
			       "\tssl_protocols TLSv1.2 TLSv1.3;\n"
			       "\tssl_prefer_server_ciphers on;\n"
			       "\tssl_certificate %s;\n"
			       "\tssl_certificate_key %s;\n"
			       "\n"
			       "\tgzip on;\n"
			       "\n",
			       t->nginx_mime_types, t->tls_cert, t->tls_key);
	return r;
}

/* ngx_newemail: the /new location and its legacy alias */
static int
ngx_newemail(const struct render_ctx *c, struct buf *out, const char *loc)
{
	const struct render_target *t = c->t;
	int r;

	r = buf_printf(out, "\t\tlocation %s {\n", loc);
	if (r == 0 && c->cfg.tls_cert_mode != TLS_CERT_SELF)
		r = buf_printf(out,
			       "\t\t\tif ($request_method = GET) {\n"
			       "\t\t\t\t# Delta Chat follows this and POSTs.\n"
			       "\t\t\t\treturn 301 dcaccount:https://%s/new;\n"
			       "\t\t\t}\n",
			       c->cfg.mail_domain);
	else if (r == 0 && strcmp(loc, "/new") == 0)
		r = buf_puts(out, "\t\t\tlimit_req zone=newaccount burst=5 "
				  "nodelay;\n");
	if (r == 0 && t->port_newemail != 0)
		r = buf_printf(out, "\t\t\tproxy_pass http://%s:%u/new;\n",
			       t->local_addr, t->port_newemail);
	else if (r == 0)
		r = buf_printf(out,
			       "\t\t\tproxy_pass "
			       "http://unix:%s:/new;\n",
			       t->sock[RENDER_SOCK_NEWEMAIL]);
	if (r == 0)
		r = buf_puts(out, "\t\t}\n\n");
	return r;
}

/* ngx_mxdeliv: relay-to-relay delivery to filtermail incoming, bodies
 * up to max_message_size (as upstream; nginx's default is 1 MB) */
static void
ngx_mxdeliv(const struct render_ctx *c, char *out, size_t outsize)
{
	(void)snprintf(out, outsize,
		       "\t\t# Relay-to-relay delivery over HTTPS.\n"
		       "\t\tlocation /mxdeliv {\n"
		       "\t\t\tclient_max_body_size %llu;\n"
		       "\t\t\tproxy_pass http://%s:%u;\n"
		       "\t\t}\n"
		       "\n",
		       (unsigned long long)c->cfg.max_message_size,
		       c->t->local_addr, c->cfg.filtermail_http_port_incoming);
}

/* ngx_root: "location /": the built-in site, or the admin's pages
 * (www_folder) with the built-in site for a file they lack */
static int
ngx_root(const struct render_ctx *c, struct buf *out, int custom)
{
	if (!custom)
		return buf_puts(out, "\t\tlocation / {\n"
				     "\t\t\ttry_files $uri $uri/ =404;\n"
				     "\t\t}\n"
				     "\n");
	return buf_printf(out,
			  "\t\tlocation / {\n"
			  "\t\t\ttry_files $uri $uri/index.html @site;\n"
			  "\t\t}\n"
			  "\t\tlocation @site {\n"
			  "\t\t\troot %s;\n"
			  "\t\t\ttry_files $uri $uri/index.html =404;\n"
			  "\t\t}\n"
			  "\n",
			  c->t->www_dir);
}

/* ngx_main_server: the internal HTTPS server on local_addr:8443 */
static int
ngx_main_server(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;
	const char *iroh_loc[] = { "/ping", "/generate_204" };
	int custom = c->spec->website.enabled &&
		     *c->spec->website.config_map_name != '\0';
	char mx[512];
	size_t i;
	int r;

	ngx_mxdeliv(c, mx, sizeof(mx));
	r = buf_printf(out,
		       "\tserver {\n"
		       "\t\tlisten %s:%u ssl default_server;\n"
		       "\t\troot %s;\n"
		       "\t\tindex index.html index.htm;\n"
		       "\t\tserver_name %s mta-sts.%s;\n"
		       "\n"
		       "%s",
		       t->local_addr, t->port[RENDER_PORT_HTTPS_INTERNAL],
		       custom ? t->www_custom_dir : t->www_dir,
		       c->cfg.mail_domain, c->cfg.mail_domain, mx);
	if (r == 0)
		r = ngx_root(c, out, custom);
	if (r == 0)
		r = ngx_newemail(c, out, "/new");
	/* old URL of printed QR codes; Delta Chat does not follow
	 * redirects, so it is served, not redirected */
	if (r == 0)
		r = ngx_newemail(c, out, "/cgi-bin/newemail.py");
	if (r == 0)
		r = buf_printf(
			out,
			"\t\t# iroh-relay\n"
			"\t\tlocation /relay {\n"
			"\t\t\tproxy_pass http://%s:%u;\n"
			"\t\t\tproxy_http_version 1.1;\n"
			"\t\t\tproxy_set_header Upgrade $http_upgrade;\n"
			"\t\t\tproxy_set_header Connection \"upgrade\";\n"
			"\t\t}\n",
			t->local_addr, t->port[RENDER_PORT_IROH]);
	for (i = 0; r == 0 && i < sizeof(iroh_loc) / sizeof(iroh_loc[0]); i++)
		r = buf_printf(out,
			       "\n"
			       "\t\tlocation %s {\n"
			       "\t\t\tproxy_pass http://%s:%u;\n"
			       "\t\t\tproxy_http_version 1.1;\n"
			       "\t\t}\n",
			       iroh_loc[i], t->local_addr,
			       t->port[RENDER_PORT_IROH]);
	if (r == 0)
		r = buf_puts(out, "\t}\n\n");
	return r;
}

/* ngx_redirects: www. -> domain, port 80 -> https (+ ACME) */
static int
ngx_redirects(const struct render_ctx *c, struct buf *out)
{
	const struct render_target *t = c->t;
	int acme = c->spec->tls.mode == SPEC_TLS_ACME;
	int r;

	r = buf_printf(out,
		       "\t# Redirect www. to non-www\n"
		       "\tserver {\n"
		       "\t\tlisten %s:%u ssl;\n"
		       "\t\tserver_name www.%s;\n"
		       "\t\treturn 301 $scheme://%s$request_uri;\n"
		       "\t}\n"
		       "\n"
		       "\tserver {\n",
		       t->local_addr, t->port[RENDER_PORT_HTTPS_INTERNAL],
		       c->cfg.mail_domain, c->cfg.mail_domain);
	if (r == 0)
		r = ngx_listen(c, out, "\t\t", t->port[RENDER_PORT_HTTP]);
	if (r == 0 && acme)
		r = buf_puts(out,
			     "\t\tlocation /.well-known/acme-challenge/ {\n"
			     "\t\t\tproxy_pass http://acmetool;\n"
			     "\t\t}\n");
	if (r == 0)
		r = buf_puts(out,
			     "\t\tlocation / {\n"
			     "\t\t\treturn 301 https://$host$request_uri;\n"
			     "\t\t}\n"
			     "\t}\n");
	if (r == 0 && acme)
		r = buf_printf(out,
			       "\n"
			       "\tupstream acmetool {\n"
			       "\t\tserver %s:%u;\n"
			       "\t}\n",
			       t->local_addr, t->port[RENDER_PORT_ACME]);
	if (r == 0)
		r = buf_puts(out, "}\n");
	return r;
}

/* render_nginx_conf: nginx.conf */
int
render_nginx_conf(const struct render_ctx *c, struct buf *out)
{
	int r;

	r = ngx_head(c, out);
	if (r == 0)
		r = ngx_http_head(c, out);
	if (r == 0)
		r = ngx_main_server(c, out);
	if (r == 0)
		r = ngx_redirects(c, out);
	return r < 0 ? -E2BIG : 0;
}
