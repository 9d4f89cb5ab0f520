/*
 * http_parse: the protocol text of the HTTP server (http.h): the
 * request-head parser, reason phrases, default limits.
 *
 * Role: turns one complete header block (request line, header fields,
 * empty line) into method, target, version and fields, in place, and
 * decides the framing (Content-Length, Connection). Kept apart from the
 * connection code so it can be tested and fuzzed on its own.
 *
 * Untrusted input: the whole block comes from the network. It is
 * bounded by the caller (max_header); here every byte is checked against
 * RFC 9110/9112 grammar and anything doubtful is a 4xx: obsolete line
 * folding, control characters, spaces before the colon, a second
 * differing Content-Length, any Transfer-Encoding (refused with 501,
 * this server reads Content-Length bodies only).
 */
#include "http.h"

#include <string.h>
#include <strings.h>

#include "num.h"

/* is_tchar: RFC 9110 token character */
static int
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* next_line: cut the line at *p (LF or CRLF terminated, or the end of
 * the text) and advance *p past it; NULL at the end of the text */
static char *
next_line(char **p)
{
	char *line = *p, *lf;
	size_t len;

	if (*line == '\0')
		return NULL;
	lf = strchr(line, '\n');
	if (lf != NULL) {
		*lf = '\0';
		*p = lf + 1;
	} else {
		*p = line + strlen(line);
	}
	len = strlen(line);
	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	return line;
}

/* parse_request_line: "METHOD SP target SP HTTP/1.x"; 0 or a status */
static int
parse_request_line(char *line, struct http_head *h)
{
	char *p = line, *sp;

	while (is_tchar((unsigned char)*p))
		p++;
	if (p == line || *p != ' ')
		return 400;
	*p++ = '\0';
	h->method = line;
	sp = p;
	while ((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	if (p == sp || *p != ' ')
		return 400;
	*p++ = '\0';
	h->target = sp;
	if (strncmp(p, "HTTP/", 5) != 0)
		return 400;
	if (strcmp(p + 5, "1.1") == 0)
		h->minor = 1;
	else if (strcmp(p + 5, "1.0") == 0)
		h->minor = 0;
	else if (p[5] >= '0' && p[5] <= '9' && p[6] == '.' && p[7] >= '0' &&
		 p[7] <= '9' && p[8] == '\0')
		return 505;
	else
		return 400;
	h->close = h->minor == 0;
	return 0;
}

/* trim_value: strip leading and trailing spaces and tabs in place;
 * 0, or 400 if the value holds a control character */
static int
trim_value(char **vp)
{
	char *v = *vp, *end;
	unsigned char c;

	while (*v == ' ' || *v == '\t')
		v++;
	for (end = v; *end != '\0'; end++) {
		c = (unsigned char)*end;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 400;
	}
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	*vp = v;
	return 0;
}

/* has_token: whether a comma-separated list holds tok (any case) */
static int
has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok), len;
	const char *p = list;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		len = strcspn(p, ", \t");
		if (len == n && strncasecmp(p, tok, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

/* framing: interpret one field for body length and persistence */
static int
framing(struct http_head *h, const char *name, const char *value)
{
	uint64_t n;

	if (strcasecmp(name, "Transfer-Encoding") == 0)
		return 501;
	if (strcasecmp(name, "Content-Length") == 0) {
		if (num_parse_u64(value, 0, UINT64_MAX / 2, &n) < 0)
			return 400;
		if (h->has_length && n != h->content_length)
			return 400;
		h->content_length = n;
		h->has_length = 1;
	} else if (strcasecmp(name, "Connection") == 0) {
		if (has_token(value, "close"))
			h->close = 1;
		else if (h->minor == 0 && has_token(value, "keep-alive"))
			h->close = 0;
	}
	return 0;
}

/* parse_field: one "Name: value" line into the next header slot */
static int
parse_field(char *line, struct http_head *h)
{
	char *p = line, *value;
	int r;

	if (*line == ' ' || *line == '\t')
		return 400; /* obsolete line folding */
	while (is_tchar((unsigned char)*p))
		p++;
	if (p == line || *p != ':')
		return 400;
	*p = '\0';
	value = p + 1;
	if ((r = trim_value(&value)) != 0)
		return r;
	if (h->nheaders >= h->max_headers)
		return 431;
	h->headers[h->nheaders].name = line;
	h->headers[h->nheaders].value = value;
	h->nheaders++;
	return framing(h, line, value);
}

/* http_parse_head: see http.h */
int
http_parse_head(char *text, struct http_head *h)
{
	char *p = text, *line;
	int r;

	h->method = h->target = NULL;
	h->minor = 1;
	h->nheaders = 0;
	h->content_length = 0;
	h->has_length = 0;
	h->close = 0;
	/* RFC 9112 2.2: ignore empty lines before the request line */
	while ((line = next_line(&p)) != NULL && *line == '\0')
		;
	if (line == NULL)
		return 400;
	if ((r = parse_request_line(line, h)) != 0)
		return r;
	while ((line = next_line(&p)) != NULL && *line != '\0') {
		if ((r = parse_field(line, h)) != 0)
			return r;
	}
	return 0;
}

/* http_server_opts_default: see http.h */
void
http_server_opts_default(struct http_server_opts *opts)
{
	opts->max_header = 8192;
	opts->max_headers = 64;
	opts->max_body = 1u << 20;
	opts->max_conns = 1024;
	opts->idle_ms = 60000;
	opts->too_large_body = "Payload Too Large";
}

/* http_reason: see http.h */
const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}
