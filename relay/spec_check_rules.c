/*
 * spec_check_rules: rules between the fields of one feature (iroh,
 * website, backup and restore; their CEL twins are in spec_groups,
 * spec_table.c) and the syntax of a restic snapshot (docs/DESIGN.md,
 * Backup and restore). spec_check.c's check_cross calls them.
 *
 * Untrusted input: spec values (bounded strings, checked here).
 */
#include <errno.h>
#include <string.h>

#include "spec.h"
#include "spec_int.h"

/* spec_check_snapshot: a restic snapshot: latest or an ID (hex) */
int
spec_check_snapshot(const char *v, struct buf *why)
{
	size_t n = strspn(v, "0123456789abcdef");

	if (strcmp(v, "latest") == 0 || (n >= 8 && n <= 64 && v[n] == '\0'))
		return 0;
	(void)buf_printf(why, "must be latest or a snapshot ID, got \"%.64s\"",
			 v);
	return -EINVAL;
}

const struct spec_syntax spec_syn_snapshot = {
	spec_check_snapshot, "^(latest|[0-9a-f]{8,64})$", NULL, NULL, NULL, 0
};

/* check_backup: backup and restore need the repository and password */
static int
check_backup(const struct relay_spec *s, struct buf *err)
{
	const char *miss;

	if (!s->backup.enabled && !s->restore.enabled)
		return 0;
	if (s->backup.target == SPEC_BACKUP_S3)
		miss = s->backup.s3_endpoint[0] == '\0' ||
				       s->backup.s3_bucket[0] == '\0'
			       ? "s3"
			       : NULL;
	else
		miss = s->backup.claim_name[0] == '\0' ? "claimName" : NULL;
	if (s->backup.password_secret_name[0] == '\0')
		miss = "passwordSecretName";
	if (miss == NULL)
		return 0;
	(void)buf_printf(err, "spec: %s\n", SPEC_BACKUP_REPO_MSG);
	return -EINVAL;
}

int
spec_check_rules(const struct relay_spec *s, struct buf *err)
{
	int r = check_backup(s, err);

	if (s->iroh.enabled && *s->iroh.url != '\0') {
		(void)buf_printf(err, "spec.iroh.url: only allowed when "
				      "enabled is false\n");
		r = -EINVAL;
	}
	if (s->website.config_map_name[0] != '\0' && !s->website.enabled) {
		(void)buf_printf(err,
				 "spec.website.configMapName: only allowed "
				 "when enabled is true\n");
		r = -EINVAL;
	}
	return r;
}
