/*
 * fuzz_ini: chatmail.ini parsing. Feeds arbitrary bytes to ini_parse()
 * (exactly size bytes, so ASan catches any read past the end), then the
 * same text to config_load_string() (no environment). Whenever a config
 * loads, its -n dump must load again and dump identically, so the dump
 * and the parser agree; any difference aborts (a crash for libFuzzer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* dump: config_dump into a malloc'ed string */
static char *
dump(const struct chatmail_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		abort();
	config_dump(cfg, f);
	if (fclose(f) != 0)
		abort();
	return text;
}

/* drop_notes: remove "# unknown" and "# warning" lines, which describe
 * the input rather than the effective config */
static void
drop_notes(char *text)
{
	char *r = text, *w = text;
	size_t n;

	while (*r != '\0') {
		n = strcspn(r, "\n");
		n += r[n] == '\n';
		if (strncmp(r, "# unknown", 9) != 0 &&
		    strncmp(r, "# warning", 9) != 0) {
			memmove(w, r, n);
			w += n;
		}
		r += n;
	}
	*w = '\0';
}

/* roundtrip: dump, reload, dump again: the two dumps must be equal */
static void
roundtrip(const struct chatmail_config *cfg)
{
	struct chatmail_config again = { 0 };
	struct buf err = BUF_INIT(1 << 16);
	char *one = dump(cfg), *two;

	if (config_load_string(&again, one, 0, &err) != 0) {
		fprintf(stderr, "dump does not load:\n%s\nerrors:\n%s", one,
			buf_cstr(&err));
		abort();
	}
	two = dump(&again);
	drop_notes(one);
	if (strcmp(one, two) != 0) {
		fprintf(stderr, "dump changed:\n%s\n---\n%s", one, two);
		abort();
	}
	free(one);
	free(two);
	config_deinit(&again);
	buf_deinit(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chatmail_config cfg = { 0 };
	struct buf err = BUF_INIT(1 << 16);
	struct ini *ini = NULL;
	char *text;

	if (size > 256 * 1024)
		return 0;
	if (ini_parse((const char *)data, size, &ini, &err) == 0)
		ini_free(&ini);
	buf_reset(&err);

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_load_string(&cfg, text, 0, &err) == 0)
		roundtrip(&cfg);
	config_deinit(&cfg);
	buf_deinit(&err);
	free(text);
	return 0;
}
