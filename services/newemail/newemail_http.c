/*
 * newemail_http: the /new endpoint as a small HTTP service behind nginx
 * (http.h on the evloop), answering as upstream's nginx + fcgiwrap +
 * newemail.py do together:
 *
 *   POST /new                 200 application/json credentials
 *   GET  /new                 301 Location: dcaccount:https://<domain>/new
 *                             (self-signed TLS mode: the credentials, as
 *                             upstream's nginx passes GET to the CGI there)
 *   /cgi-bin/newemail.py      the same (old printed QR codes use it)
 *   other methods on them     405; any other path 404
 *
 * Role: request dispatch only; the body comes from newemail.c. Untrusted
 * input: the HTTP request (parsed and bounded by http.c; only its method
 * and path are looked at, bodies are capped at 4 KiB and ignored, by the server
 * options in newemail_new). No request data reaches the logs except the
 * method and path, and credentials are never logged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "newemail.h"
#include "prom.h"
#include "xmalloc.h"

#define ANSWER_MAX 4096

struct newemail {
	const struct chatmail_config *cfg;
	struct http_server *srv;
	char *location; /* "Location: dcaccount:https://<domain>/new\r\n" */
	/* answers since start (newemail_metrics) */
	uint64_t credentials, redirects, failed, refused, open;
};

/* is_new_path: the two paths upstream serves the CGI under */
static int
is_new_path(const char *path)
{
	return strcmp(path, "/new") == 0 ||
	       strcmp(path, "/cgi-bin/newemail.py") == 0;
}

/* answer_credentials: 200 with a fresh account */
static void
answer_credentials(struct newemail *ne, struct http_request *req)
{
	struct buf body = BUF_INIT(ANSWER_MAX);

	if (newemail_answer(ne->cfg, &body) < 0) {
		ne->failed++;
		log_error("cannot make credentials");
		(void)http_respond_text(req, 500, "Internal Server Error\n");
	} else {
		ne->credentials++;
		(void)http_respond(req, 200, "application/json",
				   "Cache-Control: no-store\r\n", body.data,
				   body.len);
	}
	buf_wipe_deinit(&body);
}

/* handle: one complete request */
static void
handle(void *arg, struct http_request *req)
{
	struct newemail *ne = arg;
	const char *method = http_request_method(req);
	int self = ne->cfg->tls_cert_mode == TLS_CERT_SELF;

	if (!is_new_path(http_request_path(req))) {
		ne->refused++;
		(void)http_respond_text(req, 404, "Not Found\n");
		return;
	}
	if (strcmp(method, "POST") == 0 ||
	    (self && strcmp(method, "GET") == 0)) {
		answer_credentials(ne, req);
		return;
	}
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
		ne->redirects++;
		(void)http_respond(req, 301, "text/plain", ne->location, NULL,
				   0);
		return;
	}
	ne->refused++;
	(void)http_respond(req, 405, "text/plain", "Allow: GET, POST\r\n",
			   "Method Not Allowed\n", 19);
}

/* newemail_new: see newemail.h */
struct newemail *
newemail_new(struct evloop *loop, const struct chatmail_config *cfg, int lfd)
{
	struct http_server_opts opts;
	struct newemail *ne = xcalloc(1, sizeof(*ne));

	http_server_opts_default(&opts);
	opts.max_body = 4096; /* /new takes no input; a stray body is ignored */
	opts.max_header = 8192;
	opts.idle_ms = 30000;
	ne->cfg = cfg;
	ne->location = xasprintf("Location: dcaccount:https://%s/new\r\n",
				 cfg->mail_domain);
	ne->srv = http_server_new(loop, &opts, NULL, handle, ne);
	if (http_server_listen(ne->srv, lfd) < 0) {
		newemail_free(&ne);
		return NULL;
	}
	return ne;
}

#define NE struct newemail
static const struct prom_metric metrics_table[] = {
	PROM_C("chatmail_newemail_answers_total", "answer=\"credentials\"", NE,
	       credentials,
	       "Answers of /new: credentials handed out (the account is "
	       "created on its first login), redirects to dcaccount:, "
	       "failures, refused requests."),
	PROM_C("chatmail_newemail_answers_total", "answer=\"redirect\"", NE,
	       redirects, ""),
	PROM_C("chatmail_newemail_answers_total", "answer=\"failed\"", NE,
	       failed, ""),
	PROM_C("chatmail_newemail_answers_total", "answer=\"refused\"", NE,
	       refused, ""),
	PROM_G("chatmail_newemail_connections", NULL, NE, open,
	       "Connections from nginx open now."),
};

/* newemail_metrics: see newemail.h */
int
newemail_metrics(void *arg, struct buf *out)
{
	struct newemail *ne = arg;

	ne->open = http_server_conns(ne->srv);
	return prom_render(out, metrics_table,
			   sizeof(metrics_table) / sizeof(metrics_table[0]),
			   ne);
}

/* newemail_free: see newemail.h */
void
newemail_free(struct newemail **nep)
{
	struct newemail *ne = *nep;

	if (ne == NULL)
		return;
	http_server_free(&ne->srv);
	free(ne->location);
	free(ne);
	*nep = NULL;
}
