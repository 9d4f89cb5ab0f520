/*
 * fuzz_maildir_name: maildir_parse_name on arbitrary file names (any
 * bytes but NUL and '/', as a directory can hold), checked against a
 * slow, obviously correct statement of upstream's regex
 * ".+/(\d+)\..+,S=(\d+)" on "cur/<name>": digits, a dot, at least one
 * character, the last ",S=<digit>" before any newline.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maildir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* slow_match: the reference; 1 and the S= digits' offset, or 0 */
static int
slow_match(const char *s, size_t *sz_off)
{
	size_t n = strlen(s), i = 0, j, best = 0;
	int found = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0 || i >= n || s[i] != '.')
		return 0;
	for (j = i + 2; j + 3 < n; j++) {
		/* no line break in s[i + 1 .. j - 1]: the earlier ones were
		 * checked on the way (linear; a rescan made the target the
		 * campaign's slowest on long inputs) */
		if (s[j - 1] == '\n')
			break;
		if (s[j] == ',' && s[j + 1] == 'S' && s[j + 2] == '=' &&
		    s[j + 3] >= '0' && s[j + 3] <= '9') {
			best = j + 3;
			found = 1;
		}
	}
	*sz_off = best;
	return found;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = malloc(size + 1);
	uint64_t ts, sz;
	size_t i, off = 0;
	int r;

	if (name == NULL)
		return 0;
	for (i = 0; i < size; i++)
		name[i] =
			(data[i] == 0 || data[i] == '/') ? 'x' : (char)data[i];
	name[size] = '\0';
	r = maildir_parse_name(name, &ts, &sz);
	if (r != slow_match(name, &off))
		abort();
	/* the size starts at the reference's digit: never 0 unless it is */
	if (r && sz == 0 && name[off] != '0')
		abort();
	free(name);
	return 0;
}
