/*
 * spec_int: private to spec*.c. The one table of ChatmailRelay spec
 * fields {path, type, offset, default, min, max, checker} that parsing,
 * defaulting, validation, the JSON dump and the CRD-consistency test
 * all walk, plus the value checkers shared by spec.c and spec_check.c.
 */
#ifndef CM_OPERATOR_SPEC_INT_H
#define CM_OPERATOR_SPEC_INT_H

#include <stddef.h>

#include "buf.h"
#include "spec.h"

enum spec_ftype {
	SPEC_FT_STR,	/* char *; min/max bound the length */
	SPEC_FT_UINT,	/* unsigned */
	SPEC_FT_U64,	/* uint64_t */
	SPEC_FT_DOUBLE, /* double */
	SPEC_FT_BOOL,	/* int 0/1 */
	SPEC_FT_ENUM,	/* int index into names */
};

/* field flags */
#define SPEC_F_REQUIRED 0x1u /* no default: must be given */
#define SPEC_F_NULLABLE 0x2u /* absent stays NULL (string) */
#define SPEC_F_NUMSTR 0x4u   /* a string that may be written as a number */

/* a checker: 0 if v is acceptable, else -EINVAL with the reason (no
 * field name, no newline) appended to why */
typedef int spec_check_fn(const char *v, struct buf *why);

struct spec_field {
	const char *path; /* below .spec, dotted camelCase */
	enum spec_ftype type;
	size_t off;
	const char *def; /* default as text (NULL: none) */
	double min, max; /* numbers: range; strings: length */
	unsigned flags;
	const char *const *names; /* SPEC_FT_ENUM: values, NULL-ended */
	spec_check_fn *check;	  /* strings: syntax, or NULL */
};

extern const struct spec_field spec_fields[];
extern const size_t spec_nfields;

/* the free-form subtrees handled outside the table */
#define SPEC_PATH_IMAGES "images"
#define SPEC_PATH_RESOURCES "resources"
#define SPEC_PATH_ANNOTATIONS "service.annotations"

/* spec_field_ptr: the address of field f inside s */
void *spec_field_ptr(const struct relay_spec *s, const struct spec_field *f);
/* spec_field_set_text: parse text as f's type into s (defaults and
 * numbers-as-strings go through here); 0 or -EINVAL with why */
int spec_field_set_text(struct relay_spec *s, const struct spec_field *f,
			const char *text, struct buf *why);

/* spec_enum_index: position of name in a NULL-ended list, or -1 */
int spec_enum_index(const char *const *names, const char *name);
/* spec_container_index: the container whose JSON key is key, or -1 */
int spec_container_index(const char *key);

/* value checkers (spec_check.c) */
spec_check_fn spec_check_domain;
spec_check_fn spec_check_size_mb;
spec_check_fn spec_check_quantity;
spec_check_fn spec_check_k8s_name;
spec_check_fn spec_check_selector;
spec_check_fn spec_check_schedule;
spec_check_fn spec_check_url;
spec_check_fn spec_check_email;
spec_check_fn spec_check_text;
spec_check_fn spec_check_abs_path;
spec_check_fn spec_check_ip;
spec_check_fn spec_check_image;
spec_check_fn spec_check_pull_policy;
spec_check_fn spec_check_issuer_kind;
spec_check_fn spec_check_annotation_key;

/* spec_is_ipv4: 1 if s is a dotted-quad IPv4 address */
int spec_is_ipv4(const char *s);

#endif
