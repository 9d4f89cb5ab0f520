/*
 * http: a small HTTP/1.1 server on the process's one event loop.
 *
 * Used by filtermail (POST /mxdeliv), newemail (POST /new, behind nginx)
 * and the operator (/healthz, /readyz, /metrics). It reads a request line
 * and headers under hard limits, a Content-Length body up to a maximum,
 * then calls the handler, which answers at once or later (after some
 * other I/O on the loop) with http_respond(). Keep-alive and pipelined
 * requests are served one at a time in order. Chunked request bodies are
 * refused (501); bad requests get a clear 4xx and the connection closes.
 *
 * Untrusted input: everything a peer sends. Every buffer has a maximum,
 * every connection an idle timeout, the server a connection cap.
 *
 * Why not libwebsockets: its server wants to own the event loop (or be
 * driven through its own foreign-loop glue and service thread model),
 * and our rule is one loop per process, the evloop. What we need of HTTP
 * here is a few hundred lines of bounded parsing, which is easier to
 * audit and fuzz than a large dependency.
 */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"

struct http_server;
struct http_request;

struct http_header {
	const char *name;  /* as sent; compare with strcasecmp */
	const char *value; /* leading and trailing whitespace removed */
};

/* http_handler_fn: a complete request (headers and body) arrived. The
 * handler must call http_respond() exactly once, now or later; req stays
 * valid until then, or until the abort callback (if set) has run. */
typedef void http_handler_fn(void *arg, struct http_request *req);
/* http_head_fn: optional; headers arrived, the body not yet read. It may
 * respond at once (e.g. 405, 413); the body is then not read and the
 * connection closes after the response. */
typedef void http_head_fn(void *arg, struct http_request *req);
/* http_abort_fn: the connection of a pending request went away */
typedef void http_abort_fn(void *arg, struct http_request *req);

struct http_server_opts {
	size_t max_header;	    /* request line + headers, bytes (8192) */
	size_t max_headers;	    /* header fields (64) */
	uint64_t max_body;	    /* Content-Length limit (1 MiB) */
	size_t max_conns;	    /* open connections (1024) */
	uint64_t idle_ms;	    /* no progress reading or writing (60000) */
	const char *too_large_body; /* 413 body text ("Payload Too Large") */
};

/* http_server_opts_default: the defaults above */
void http_server_opts_default(struct http_server_opts *opts);

/* http_server_new: a server using loop; head may be NULL. The opts'
 * strings must outlive the server. */
struct http_server *http_server_new(struct evloop *loop,
				    const struct http_server_opts *opts,
				    http_head_fn *head,
				    http_handler_fn *handler, void *arg);
/* http_server_free: closes every connection (pending requests get their
 * abort callback) and every listening fd */
void http_server_free(struct http_server **srvp);
/* http_server_listen: serve the listening fd lfd (from net_listen_tcp or
 * net_listen_unix); the server owns it afterwards. 0 or -errno */
int http_server_listen(struct http_server *srv, int lfd);
/* http_server_close_listeners: stop accepting (graceful shutdown);
 * open connections are served on */
void http_server_close_listeners(struct http_server *srv);
/* http_server_conns: open connections (tests, metrics) */
size_t http_server_conns(const struct http_server *srv);

/* request accessors; strings valid as long as req */
const char *http_request_method(const struct http_request *req);
/* http_request_target: the request target as sent ("/new?x=1") */
const char *http_request_target(const struct http_request *req);
/* http_request_path: the target without its query */
const char *http_request_path(const struct http_request *req);
/* http_request_header: the first value of name, or NULL */
const char *http_request_header(const struct http_request *req,
				const char *name);
/* http_request_header_next: iterate values of name (repeated headers):
 * start with *idx = 0; 1 and *value_r for each, 0 when done */
int http_request_header_next(const struct http_request *req, const char *name,
			     size_t *idx, const char **value_r);
/* http_request_headers: all fields in order */
const struct http_header *http_request_headers(const struct http_request *req,
					       size_t *n_r);
/* http_request_body: the body (NUL-terminated, len excludes the NUL) */
const char *http_request_body(const struct http_request *req, size_t *len_r);
/* http_request_peer: "1.2.3.4:5678", "[::1]:80", or "unix" */
const char *http_request_peer(const struct http_request *req);
/* http_request_set_abort: call fn if the connection dies before the
 * response; after it ran, req is gone */
void http_request_set_abort(struct http_request *req, http_abort_fn *fn,
			    void *arg);

/* http_respond: send the response to req (once). content_type may be
 * NULL (then text/plain); extra_headers is NULL or "Name: value\r\n"
 * lines. Afterwards req is gone. 0, or -E2BIG if the response does not
 * fit the output limit (then a 500 is sent instead). */
int http_respond(struct http_request *req, int status, const char *content_type,
		 const char *extra_headers, const void *body, size_t len);
/* http_respond_text: http_respond with text/plain and a C string body */
int http_respond_text(struct http_request *req, int status, const char *text);
/* http_reason: the reason phrase of a status code ("OK", "Not Found") */
const char *http_reason(int status);

/* http_parse_head: parse a complete header block (request line through
 * the empty line, NUL-terminated, modified in place) into method,
 * target, version minor, headers. Returns 0, or the HTTP status for the
 * error (400, 431, 501, 505). Exposed for tests and fuzzing. */
struct http_head {
	char *method, *target;
	int minor; /* HTTP/1.<minor> */
	struct http_header *headers;
	size_t nheaders, max_headers;
	uint64_t content_length;
	int has_length;
	int close; /* Connection: close, or HTTP/1.0 without keep-alive */
};
int http_parse_head(char *text, struct http_head *h);

#endif
