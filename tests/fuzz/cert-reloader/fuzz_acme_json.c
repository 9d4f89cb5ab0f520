/*
 * fuzz_acme_json: everything the ACME client parses from a server
 * (services/cert-reloader/acme_msg.c): the first byte picks the parser
 * (directory, order, authorization, problem document, account, renewal
 * information, Retry-After, RFC 3339 time), the rest is the body. A
 * crash, a leak, a sanitizer report, or a parser that accepts a value
 * that breaks the invariants checked here (URLs with spaces or quotes,
 * more authorizations than the order may have, a token outside
 * base64url) is a finding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* url_ok: what the parsers promise about a URL they return */
static void
url_ok(const char *u)
{
	if (*u != '\0' &&
	    (strncmp(u, "http", 4) != 0 || strpbrk(u, " \t\r\n\"") != NULL))
		abort();
}

static void
parse(unsigned which, const char *body, size_t len)
{
	struct buf err = BUF_INIT(1024);
	struct acme_directory d;
	struct acme_order o;
	struct acme_authz a;
	struct acme_problem p;
	time_t s, e;
	size_t i;

	switch (which % 8) {
	case 0:
		if (acme_parse_directory(body, len, &d, &err) == 0) {
			url_ok(d.new_nonce);
			url_ok(d.new_account);
			url_ok(d.new_order);
			url_ok(d.renewal_info);
		}
		break;
	case 1:
		if (acme_parse_order(body, len, &o, &err) == 0) {
			if (o.nauthz == 0 || o.nauthz > ACME_MAX_AUTHZ)
				abort();
			for (i = 0; i < o.nauthz; i++)
				url_ok(o.authz[i]);
			url_ok(o.finalize);
			url_ok(o.certificate);
		}
		break;
	case 2:
		if (acme_parse_authz(body, len, &a, &err) == 0) {
			url_ok(a.chall_url);
			if (strspn(a.token,
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
				   "klmnopqrstuvwxyz0123456789-_") !=
			    strlen(a.token))
				abort();
		}
		break;
	case 3:
		(void)acme_parse_problem(body, len, &p);
		break;
	case 4:
		(void)acme_parse_account(body, len, &err);
		break;
	case 5:
		if (acme_parse_renewal_info(body, len, &s, &e, &err) == 0 &&
		    e < s)
			abort();
		break;
	case 6:
		if (acme_parse_retry_after(body, 1796618000) > 86400)
			abort();
		break;
	default:
		(void)acme_parse_time(body, &s);
		break;
	}
	buf_deinit(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body;

	if (size < 1 || size > 65536)
		return 0;
	/* the transport hands on a NUL-terminated body */
	body = malloc(size);
	if (body == NULL)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	parse(data[0], body, size - 1);
	free(body);
	return 0;
}
