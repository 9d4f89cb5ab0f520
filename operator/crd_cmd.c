/*
 * crd_cmd: print the ChatmailRelay CRD.
 *
 *   chatmail-operator crd [-o yaml|json]
 *
 * YAML is the file committed as crds/chatmail.at_chatmailrelays.yaml
 * (and the chart's copy), byte for byte; JSON is the same object for
 * tools that want it. `make crd` rewrites both files from this output.
 *
 * Untrusted input: none (the arguments are the administrator's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "crd_cmd.h"
#include "spec.h"

/* usage: the synopsis */
static int
usage(void)
{
	(void)fprintf(stderr, "usage: chatmail-operator crd [-o yaml|json]\n");
	return EX_USAGE;
}

/* crd_json: the CRD as one JSON document */
static int
crd_json(FILE *out)
{
	cJSON *crd = spec_crd_json();
	char *txt = cJSON_Print(crd);
	int rc = EX_OK;

	if (txt == NULL || fprintf(out, "%s\n", txt) < 0)
		rc = EX_IOERR;
	cJSON_free(txt);
	cJSON_Delete(crd);
	return rc;
}

/* crd_cmd_main: -o yaml (the default) or -o json */
int
crd_cmd_main(int argc, char **argv, FILE *out)
{
	struct buf text = BUF_INIT(1 << 20);
	const char *fmt = "yaml";
	int rc = EX_OK;

	if (argc == 3 && strcmp(argv[1], "-o") == 0)
		fmt = argv[2];
	else if (argc != 1)
		return usage();
	if (strcmp(fmt, "json") == 0)
		return crd_json(out);
	if (strcmp(fmt, "yaml") != 0)
		return usage();
	if (spec_crd_yaml(&text) < 0) {
		(void)fprintf(stderr, "chatmail-operator crd: the CRD does not "
				      "fit in 1 MB\n");
		rc = EX_SOFTWARE;
	} else if (fwrite(text.data, 1, text.len, out) != text.len ||
		   fflush(out) != 0) {
		rc = EX_IOERR;
	}
	buf_deinit(&text);
	return rc;
}
