/* fuzz_http: the HTTP request-head parser on arbitrary bytes. The input
 * is cut at its first NUL (the server refuses heads holding one) and
 * parsed in place; every field handed out must lie inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* inside: whether s points into [base, base + n] */
static void
inside(const char *s, const char *base, size_t n)
{
	if (s != NULL && (s < base || s > base + n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_header hdrs[16];
	struct http_head h;
	char *text;
	size_t i;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&h, 0, sizeof(h));
	h.headers = hdrs;
	h.max_headers = 16;
	if (http_parse_head(text, &h) == 0) {
		inside(h.method, text, size);
		inside(h.target, text, size);
		if (h.nheaders > 16)
			abort();
		for (i = 0; i < h.nheaders; i++) {
			inside(hdrs[i].name, text, size);
			inside(hdrs[i].value, text, size);
		}
		if (h.method[0] == '\0' || h.target[0] == '\0')
			abort();
	}
	free(text);
	return 0;
}
