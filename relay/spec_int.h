/*
 * spec_int: private to spec*.c (and their tests). The one table of
 * ChatmailRelay spec fields (spec_table.c) that parsing, defaulting,
 * validation, the JSON dump, chatmail.ini and the CRD's schema all walk;
 * the objects between the fields (their descriptions, defaults and CEL
 * rules); and the value syntaxes, each a C check beside the pattern or
 * CEL rule that says the same in the CRD.
 *
 * A field that sets a chatmail.ini option names it (ini) and takes its
 * default and range from the option table (services/lib/config_opts.h),
 * so the services, the renderer and the apiserver agree on both.
 */
#ifndef CM_OPERATOR_SPEC_INT_H
#define CM_OPERATOR_SPEC_INT_H

#include <stddef.h>

#include "buf.h"
#include "spec.h"

struct config_opt;

enum spec_ftype {
	SPEC_FT_STR,	/* char *; min/max bound the length */
	SPEC_FT_UINT,	/* unsigned */
	SPEC_FT_U64,	/* uint64_t */
	SPEC_FT_DOUBLE, /* double */
	SPEC_FT_BOOL,	/* int 0/1 */
	SPEC_FT_ENUM,	/* int index into names */
};

/* field flags */
#define SPEC_F_REQUIRED 0x1u  /* no default: must be given */
#define SPEC_F_NULLABLE 0x2u  /* absent stays NULL (string); never "" */
#define SPEC_F_NUMSTR 0x4u    /* a string that may be written as a number */
#define SPEC_F_IMMUTABLE 0x8u /* cannot change once set (a CEL rule) */
/* the option's value is not the field's: "" (the default) means the
 * target's value, and spec_ini.c writes the option in an explicit case */
#define SPEC_F_OWN_DEFAULT 0x10u
/* the default depends on other fields (spec_parse.c, spec_derive):
 * the CRD has none; the table's is spec_new's placeholder */
#define SPEC_F_DERIVED 0x20u

/* the longest image reference in spec.images */
#define SPEC_IMAGE_MAX 512
/* the length of a SPEC_F_NUMSTR string (a size or quantity) */
#define SPEC_NUMSTR_MAX 32

/* a checker: 0 if v is acceptable, else -EINVAL with the reason (no
 * field name, no newline) appended to why */
typedef int spec_check_fn(const char *v, struct buf *why);

/* syntax flags */
#define SPEC_SYN_PATTERN_EMPTY 0x1u /* the pattern also matches "" */
#define SPEC_SYN_RULE_EMPTY 0x2u    /* the rule also holds for "" */

/*
 * A value syntax: the C check and the same rule for the apiserver, as a
 * pattern and/or a CEL rule on a non-empty value (the CRD generator
 * lets "" through when the field may be empty), or as an enum when the
 * check accepts exactly a list of values.
 */
struct spec_syntax {
	spec_check_fn *check;
	const char *pattern;	   /* anchored regular expression, or NULL */
	const char *rule;	   /* CEL on self, or NULL */
	const char *message;	   /* the rule's message */
	const char *const *values; /* NULL-ended enum, or NULL */
	unsigned flags;
};

struct spec_field {
	const char *path; /* below .spec, dotted camelCase */
	enum spec_ftype type;
	size_t off;
	const char *ini;	  /* the chatmail.ini option, or NULL */
	const char *def;	  /* default as text (NULL: none); ini
				   * fields: the option's (spec_field_def) */
	double min, max;	  /* numbers: range; strings: length; ini
				   * fields: the option's (spec_field_range) */
	unsigned flags;		  /* SPEC_F_* */
	const char *const *names; /* SPEC_FT_ENUM: values, NULL-ended */
	const struct spec_syntax *syntax; /* strings: or NULL */
	const char *desc;		  /* the CRD's description */
};

extern const struct spec_field spec_fields[];
extern const size_t spec_nfields;

/*
 * An object of the schema: .spec ("") and every object on the way to
 * the fields. Its default is {} with the defaults of the fields named
 * in defaults (paths relative to the object), which the apiserver needs
 * for rules that read them; NULL: no default (an optional object).
 */
#define SPEC_G_DISTINCT 0x1u	 /* the fields below must differ (ports) */
#define SPEC_G_ALL_DEFAULTS 0x2u /* default: every field below */
#define SPEC_G_NRULES 4
/* the rule between backup and restore (CEL in spec_groups, C in
 * spec_check.c's check_cross) */
#define SPEC_BACKUP_REPO_MSG                                               \
	"backup and restore need backup.passwordSecretName and the "       \
	"repository: backup.claimName (target PVC) or backup.s3.endpoint " \
	"and backup.s3.bucket (target S3)"

struct spec_group {
	const char *path;
	const char *desc;
	const char *defaults; /* space-separated paths, "" = {}, NULL */
	unsigned flags;	      /* SPEC_G_* */
	struct {
		const char *rule, *message;
	} rules[SPEC_G_NRULES]; /* CEL on self; the first NULL ends */
};

extern const struct spec_group spec_groups[];
extern const size_t spec_ngroups;

/* the free-form subtrees handled outside the table */
#define SPEC_PATH_IMAGES "images"
#define SPEC_PATH_RESOURCES "resources"
#define SPEC_PATH_ANNOTATIONS "service.annotations"
/* the one list of strings: namespace names */
#define SPEC_PATH_NAMESPACES "metrics.allowedNamespaces"
#define SPEC_NAMESPACES_MAX 32

/* spec_container_desc: what container c runs (the CRD's descriptions) */
const char *spec_container_desc(enum spec_container c);

/* spec_field_opt: the option of an ini field (aborts if the table
 * names an option that does not exist), or NULL */
const struct config_opt *spec_field_opt(const struct spec_field *f);
/* spec_field_def: the default as text, NULL if none */
const char *spec_field_def(const struct spec_field *f);
/* spec_field_range: the range (numbers) or length (strings) allowed;
 * for sizes (SPEC_F_NUMSTR with an option) the option's MB range */
void spec_field_range(const struct spec_field *f, double *min_r, double *max_r);

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

/* value syntaxes (spec_check.c) */
extern const struct spec_syntax spec_syn_domain, spec_syn_size_mb,
	spec_syn_quantity, spec_syn_k8s_name, spec_syn_selector,
	spec_syn_schedule, spec_syn_snapshot, spec_syn_url, spec_syn_email,
	spec_syn_text, spec_syn_abs_path, spec_syn_ip, spec_syn_image,
	spec_syn_pull_policy, spec_syn_issuer_kind, spec_syn_port_range,
	spec_syn_pem;

/* value checkers (spec_check.c) */
spec_check_fn spec_check_domain;
spec_check_fn spec_check_size_mb;
spec_check_fn spec_check_quantity;
spec_check_fn spec_check_k8s_name;
spec_check_fn spec_check_selector;
spec_check_fn spec_check_schedule;
spec_check_fn spec_check_snapshot;
/* spec_check_rules: the rules between the fields of iroh, website,
 * backup and restore (spec_check_rules.c); 0 or -EINVAL with every
 * problem in err */
int spec_check_rules(const struct relay_spec *s, struct buf *err);
spec_check_fn spec_check_url;
spec_check_fn spec_check_email;
spec_check_fn spec_check_text;
spec_check_fn spec_check_abs_path;
spec_check_fn spec_check_ip;
spec_check_fn spec_check_port_range;
spec_check_fn spec_check_image;
/* spec_check_turn: the rules between the turn fields (spec_turn.c);
 * 0 or -EINVAL with one line per problem in err */
int spec_check_turn(const struct relay_spec *s, struct buf *err);
/* spec_port_range: MIN and MAX of a checked "MIN-MAX" */
void spec_port_range(const char *v, unsigned *min_r, unsigned *max_r);
spec_check_fn spec_check_pull_policy;
spec_check_fn spec_check_issuer_kind;
spec_check_fn spec_check_pem;
spec_check_fn spec_check_annotation_key;
/* spec_check_namespaces: metrics.allowedNamespaces are namespace names
 * (DNS-1123 labels); 0 or -EINVAL with each bad one in err */
int spec_check_namespaces(const struct relay_spec *s, struct buf *err);

/* spec_is_ipv4: 1 if s is a dotted-quad IPv4 address */
int spec_is_ipv4(const char *s);

/* spec_ini_source: how chatmail.ini gets the option key (spec_ini.c) */
enum spec_ini_source {
	SPEC_INI_NONE,	  /* not at all: a missing case (or two of them) */
	SPEC_INI_FIELD,	  /* from the spec field that names it */
	SPEC_INI_SPECIAL, /* from an explicit case (other fields, target) */
	SPEC_INI_DEFAULT, /* never written: the services' default */
};
int spec_ini_source(const char *key);

#endif
