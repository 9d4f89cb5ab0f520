/*
 * fuzz_metadata_json: loading metadata.json (any bytes on disk) through
 * the same path the service takes: list the tokens (pruning, legacy
 * migration, rewriting in Python's format), add one, list again; also
 * the queue item parser on the same bytes. A crash, a leak or a
 * sanitizer report is a finding. The file lives in /dev/shm (tmpfs):
 * on disk, the service's fsyncs made this the slowest target.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metadata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], file[128], lock[160];

/* cleanup: the scratch directory goes with the process */
static void
cleanup(void)
{
	(void)unlink(file);
	(void)unlink(lock);
	(void)rmdir(dir);
}

/* list_free: tokens_list's result */
static void
list_free(char **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *addr, *token;
	int64_t ts;
	char **list, *text;
	FILE *fp;
	int n;

	if (dir[0] == '\0') {
		log_init("fuzz_metadata_json", -2);
		(void)snprintf(dir, sizeof(dir), "/dev/shm/fuzzmeta.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		(void)snprintf(file, sizeof(file), "%s/metadata.json", dir);
		(void)snprintf(lock, sizeof(lock), "%s.lock", file);
		(void)atexit(cleanup);
	}
	fp = fopen(file, "w");
	if (fp == NULL)
		return 0;
	(void)fwrite(data, 1, size, fp);
	(void)fclose(fp);
	n = tokens_list(dir, 1800000000, &list);
	if (n >= 0)
		list_free(list, n);
	(void)tokens_add(dir, "tok", 1800000000);
	n = tokens_list(dir, 1800000000, &list);
	if (n >= 0)
		list_free(list, n);
	text = malloc(size + 1);
	if (text != NULL) {
		memcpy(text, data, size);
		text[size] = '\0';
		(void)notify_item_parse(text, &addr, &ts, &token);
		free(text);
	}
	return 0;
}
