/*
 * metadata_appversions: the client version index served as IMAP
 * METADATA /shared/vendor/deltachat/appversions (upstream's
 * read_appversions and defaults/appversions.json).
 *
 * The index is read from appversions_file in chatmail.ini on every
 * lookup (so an operator can update it without a restart), or, when
 * that option is empty, from the copy built into the program, which is
 * the same as services/chatmail-metadata/appversions.json (a unit test
 * keeps them equal and checks the schema chatmail core parses). The dict
 * protocol is line-based, so the value is re-serialized compactly on one
 * line, as upstream does with separators (",", ":").
 *
 * Untrusted input: the file (size-capped, must be valid JSON).
 */
#include "metadata.h"

#include <cjson/cJSON.h>
#include <errno.h>

#include "fs.h"
#include "log.h"

/* keep equal to appversions.json next to this file */
static const char builtin[] =
	"{\n"
	"  \"clients\": [\n"
	"    {\n"
	"      \"clientId\": \"deltachat\",\n"
	"      \"sources\": [\n"
	"        {\n"
	"          \"sourceId\": \"gplay\",\n"
	"          \"versionInteger\": 754,\n"
	"          \"versionString\": \"2.57.0\",\n"
	"          \"downloadUrl\": \"https://github.com/deltachat/"
	"deltachat-android/releases/download/v2.57.0/"
	"deltachat-gplay-release-2.57.0.apk\"\n"
	"        }\n"
	"      ]\n"
	"    }\n"
	"  ]\n"
	"}\n";

const char *
appversions_builtin(void)
{
	return builtin;
}

int
appversions_get(const char *path, struct buf *out)
{
	struct buf text = BUF_INIT(META_FILE_MAX);
	cJSON *doc = NULL;
	int r;

	if (path == NULL || *path == '\0') {
		r = buf_puts(&text, builtin);
	} else {
		r = fs_read_file(path, &text);
		if (r == -ENOENT) {
			buf_deinit(&text);
			return 0;
		}
	}
	if (r == 0 && (doc = cJSON_Parse(buf_cstr(&text))) != NULL)
		r = json_py_print(doc, 1, out);
	else
		r = -EINVAL;
	if (r < 0)
		log_error("failed to read %s",
			  path && *path ? path : "builtin");
	cJSON_Delete(doc);
	buf_deinit(&text);
	return r < 0 ? -1 : 1;
}
