/*
 * spec_check: the rules a ChatmailRelay spec must satisfy, the same the
 * CRD's OpenAPI schema and CEL rules enforce in the apiserver: value
 * syntax per field (domain, sizes, quantities, names, schedules, URLs,
 * addresses, paths) with the CRD pattern or CEL rule beside each check,
 * ranges from the field table (the option table's for chatmail.ini
 * options), and the cross-field rules (username lengths ordered, TLS
 * mode-dependent fields, iroh URL only when the local iroh-relay is
 * off, internal ports distinct, upstream's privacy-contact check).
 *
 * Untrusted input: every string of a spec (user-written). Checkers only
 * read their argument and never echo more than 64 bytes of it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "spec.h"
#include "spec_int.h"

/* is_lower_alnum: a-z or 0-9 */
static int
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* all_digits: s non-empty and only 0-9, at most 18 digits */
static int
all_digits(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 18)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* spec_is_ipv4: 1 if s is a dotted-quad IPv4 address */
int
spec_is_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

/* spec_check_domain: an FQDN of letters, digits, '-', '_' (upstream's
 * self-signed "_" domains), or an IPv4 address */
int
spec_check_domain(const char *v, struct buf *why)
{
	const char *label = v, *p;
	size_t n;

	if (spec_is_ipv4(v))
		return 0;
	for (p = v;; p++) {
		if (*p == '.' || *p == '\0') {
			n = (size_t)(p - label);
			if (n == 0 || n > 63 || label[0] == '-' ||
			    label[n - 1] == '-')
				goto bad;
			if (*p == '\0')
				break;
			label = p + 1;
		} else if (!is_lower_alnum(*p) && *p != '-' && *p != '_') {
			goto bad;
		}
	}
	if (strchr(v, '.') == NULL)
		goto bad;
	return 0;
bad:
	(void)buf_printf(why,
			 "must be a lowercase fully qualified domain name "
			 "or an IPv4 address, got \"%.64s\"",
			 v);
	return -EINVAL;
}

/* spec_check_size_mb: upstream's parse_size_mb syntax: digits (at most
 * 12 after leading zeros, not all zero), then optional M or G, then
 * optional B (case-insensitive); the CRD's pattern says the same */
int
spec_check_size_mb(const char *v, struct buf *why)
{
	size_t z = strspn(v, "0");
	size_t n = strspn(v + z, "0123456789");
	const char *rest = v + z + n;

	if (n > 0 && n <= 12) {
		if (*rest == 'M' || *rest == 'm' || *rest == 'G' ||
		    *rest == 'g')
			rest++;
		if (*rest == 'B' || *rest == 'b')
			rest++;
		if (*rest == '\0')
			return 0;
	}
	(void)buf_printf(why,
			 "must be a size like 500M or 2G (plain numbers are "
			 "MB), got \"%.64s\"",
			 v);
	return -EINVAL;
}

/* spec_check_quantity: a Kubernetes quantity: digits with an optional
 * fraction and an optional binary or decimal suffix */
int
spec_check_quantity(const char *v, struct buf *why)
{
	static const char *const suffixes[] = { "",   "Ki", "Mi", "Gi", "Ti",
						"Pi", "Ei", "m",  "k",	"M",
						"G",  "T",  "P",  "E",	NULL };
	size_t n = strspn(v, "0123456789"), f = 0;
	int i;

	if (all_digits(v, n)) {
		if (v[n] == '.') {
			f = strspn(v + n + 1, "0123456789");
			if (f == 0)
				goto bad;
			f++;
		}
		for (i = 0; suffixes[i] != NULL; i++)
			if (strcmp(v + n + f, suffixes[i]) == 0)
				return 0;
	}
bad:
	(void)buf_printf(why,
			 "must be a quantity like 10Gi or 500m, got "
			 "\"%.64s\"",
			 v);
	return -EINVAL;
}

/* spec_check_k8s_name: a DNS-1123 subdomain (object names) */
int
spec_check_k8s_name(const char *v, struct buf *why)
{
	size_t n = strlen(v), i;

	if (n == 0 || n > 253 || !is_lower_alnum(v[0]) ||
	    !is_lower_alnum(v[n - 1]))
		goto bad;
	for (i = 0; i < n; i++)
		if (!is_lower_alnum(v[i]) && v[i] != '-' && v[i] != '.')
			goto bad;
	return 0;
bad:
	(void)buf_printf(why,
			 "must be a lowercase DNS-1123 name, got \"%.64s\"", v);
	return -EINVAL;
}

/* spec_check_selector: a DKIM selector (one DNS label) */
int
spec_check_selector(const char *v, struct buf *why)
{
	size_t n = strlen(v), i;

	for (i = 0; i < n; i++)
		if (!is_lower_alnum(v[i]) && v[i] != '-' && v[i] != '_')
			break;
	if (n > 0 && n <= 63 && i == n && v[0] != '-')
		return 0;
	(void)buf_printf(why, "must be one lowercase DNS label, got \"%.64s\"",
			 v);
	return -EINVAL;
}

/* spec_check_schedule: a cron schedule of five fields, or a macro */
int
spec_check_schedule(const char *v, struct buf *why)
{
	static const char *const macros[] = { "@yearly",  "@annually",
					      "@monthly", "@weekly",
					      "@daily",	  "@midnight",
					      "@hourly",  NULL };
	const char *p = v;
	int i, fields = 0;

	for (i = 0; macros[i] != NULL; i++)
		if (strcmp(v, macros[i]) == 0)
			return 0;
	while (*p != '\0') {
		size_t n = strspn(p, "0123456789*/,-?ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz");
		if (n == 0)
			goto bad;
		fields++;
		p += n;
		if (*p == ' ')
			p++;
		else if (*p != '\0')
			goto bad;
	}
	if (fields == 5 && v[strlen(v) - 1] != ' ')
		return 0;
bad:
	(void)buf_printf(why,
			 "must be a cron schedule of five fields, got "
			 "\"%.64s\"",
			 v);
	return -EINVAL;
}

/* printable: only printable ASCII and, if allow_space, spaces; none of
 * the characters that break config files */
static int
printable(const char *v, int allow_space, const char *deny)
{
	const unsigned char *p;

	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p == ' ' && !allow_space)
			return 0;
		if (strchr(deny, *p) != NULL)
			return 0;
	}
	return 1;
}

/* spec_check_url: http(s) URL without spaces or quotes; "" allowed */
int
spec_check_url(const char *v, struct buf *why)
{
	if (*v == '\0')
		return 0;
	if ((strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0) &&
	    printable(v, 0, "\"'\\{}<>;`"))
		return 0;
	(void)buf_printf(why, "must be an http(s) URL, got \"%.64s\"", v);
	return -EINVAL;
}

/* spec_check_email: local@domain, no spaces or quotes; "" allowed */
int
spec_check_email(const char *v, struct buf *why)
{
	const char *at = strchr(v, '@');

	if (*v == '\0')
		return 0;
	if (at != NULL && at != v && at[1] != '\0' &&
	    strchr(at + 1, '@') == NULL && printable(v, 0, "\"'\\{}<>;`,()"))
		return 0;
	(void)buf_printf(why, "must be an email address, got \"%.64s\"", v);
	return -EINVAL;
}

/* spec_check_text: one line of free text for chatmail.ini and the
 * website (no control characters); "" allowed */
int
spec_check_text(const char *v, struct buf *why)
{
	if (printable(v, 1, ""))
		return 0;
	(void)buf_printf(why, "must be one line of text without control "
			      "characters");
	return -EINVAL;
}

/* spec_check_abs_path: an absolute path without "..", spaces or
 * control characters; "" allowed (the target's default) */
int
spec_check_abs_path(const char *v, struct buf *why)
{
	if (*v == '\0')
		return 0;
	if (v[0] == '/' && strstr(v, "/..") == NULL &&
	    printable(v, 0, "\"'\\{};#`$"))
		return 0;
	(void)buf_printf(why, "must be an absolute path, got \"%.64s\"", v);
	return -EINVAL;
}

/* spec_check_ip: an IPv4 or IPv6 address; "" allowed */
int
spec_check_ip(const char *v, struct buf *why)
{
	struct in6_addr a6;

	if (*v == '\0' || spec_is_ipv4(v) || inet_pton(AF_INET6, v, &a6) == 1)
		return 0;
	(void)buf_printf(why, "must be an IP address, got \"%.64s\"", v);
	return -EINVAL;
}

/* spec_check_image: an image reference (no spaces or quotes); "" is
 * the operator's default */
int
spec_check_image(const char *v, struct buf *why)
{
	if (strlen(v) <= SPEC_IMAGE_MAX && printable(v, 0, "\"'\\{}<>;`$"))
		return 0;
	(void)buf_printf(why, "must be an image reference, got \"%.64s\"", v);
	return -EINVAL;
}

/* spec_check_pull_policy: Always, IfNotPresent, Never or "" */
int
spec_check_pull_policy(const char *v, struct buf *why)
{
	if (*v == '\0' || strcmp(v, "Always") == 0 ||
	    strcmp(v, "IfNotPresent") == 0 || strcmp(v, "Never") == 0)
		return 0;
	(void)buf_printf(why, "must be Always, IfNotPresent or Never");
	return -EINVAL;
}

/* spec_check_pem: PEM certificates only (base64 lines between BEGIN and
 * END CERTIFICATE markers), as the CRD's pattern says */
int
spec_check_pem(const char *v, struct buf *why)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----",
			  end[] = "-----END CERTIFICATE-----";
	const char *p = v, *e;

	while (*p != '\0') {
		if (strncmp(p, begin, strlen(begin)) != 0)
			goto bad;
		p += strlen(begin);
		e = strstr(p, end);
		if (e == NULL || e == p)
			goto bad;
		for (; p < e; p++)
			if (!isalnum((unsigned char)*p) &&
			    strchr("+/= \t\r\n", *p) == NULL)
				goto bad;
		p += strlen(end);
		p += strspn(p, " \t\r\n");
	}
	return 0;
bad:
	(void)buf_printf(why, "must be PEM CERTIFICATE blocks");
	return -EINVAL;
}

/* spec_check_issuer_kind: Issuer or ClusterIssuer */
int
spec_check_issuer_kind(const char *v, struct buf *why)
{
	if (strcmp(v, "Issuer") == 0 || strcmp(v, "ClusterIssuer") == 0)
		return 0;
	(void)buf_printf(why, "must be Issuer or ClusterIssuer");
	return -EINVAL;
}

/* spec_check_annotation_key: [prefix/]name of letters, digits, -_. */
int
spec_check_annotation_key(const char *v, struct buf *why)
{
	size_t n = strlen(v);

	if (n > 0 && n <= 317 && printable(v, 0, "\"'\\{}<>;`$,:=@#") &&
	    v[0] != '/')
		return 0;
	(void)buf_printf(why, "not a valid key: \"%.64s\"", v);
	return -EINVAL;
}

/*
 * The syntaxes: each C check above with the pattern or CEL rule that
 * says the same to the apiserver (spec_crd.c puts them into the CRD; the
 * envtest tier feeds both the same invalid values). Patterns and rules
 * are for a non-empty value unless the flags say they accept "" too.
 */
static const char *const pull_policies[] = { "", "Always", "IfNotPresent",
					     "Never", NULL };
static const char *const issuer_kinds[] = { "Issuer", "ClusterIssuer", NULL };

const struct spec_syntax spec_syn_domain = {
	spec_check_domain,
	"^(([0-9]{1,3}\\.){3}[0-9]{1,3}|([a-z0-9_]([a-z0-9_-]{0,61}"
	"[a-z0-9_])?\\.)+[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)$",
	NULL,
	NULL,
	NULL,
	0
};
const struct spec_syntax spec_syn_size_mb = {
	spec_check_size_mb, "^0*[1-9][0-9]{0,11}[MmGg]?[Bb]?$",
	/* int-or-string: a number is megabytes */
	"type(self) == string || self > 0", "must be positive", NULL, 0
};
const struct spec_syntax spec_syn_quantity = {
	spec_check_quantity,
	"^[0-9]{1,18}(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$",
	NULL,
	NULL,
	NULL,
	0
};
const struct spec_syntax spec_syn_k8s_name = {
	spec_check_k8s_name,
	"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
	NULL,
	NULL,
	NULL,
	0
};
const struct spec_syntax spec_syn_selector = {
	spec_check_selector, "^[a-z0-9_][a-z0-9_-]{0,62}$", NULL, NULL, NULL, 0
};
const struct spec_syntax spec_syn_schedule = {
	spec_check_schedule,
	"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
	"[0-9A-Za-z*/,?-]+( [0-9A-Za-z*/,?-]+){4})$",
	NULL,
	NULL,
	NULL,
	0
};
const struct spec_syntax spec_syn_url = {
	spec_check_url, "^https?://[^\\s\"'\\\\{}<>;`]+$", NULL, NULL, NULL, 0
};
const struct spec_syntax spec_syn_email = {
	spec_check_email,
	"^[^@\\s\"'\\\\{}<>;`,()]+@[^@\\s\"'\\\\{}<>;`,()]+$",
	NULL,
	NULL,
	NULL,
	0
};
const struct spec_syntax spec_syn_text = {
	spec_check_text,       "^[^\\x00-\\x1f\\x7f]*$", NULL, NULL, NULL,
	SPEC_SYN_PATTERN_EMPTY
};
const struct spec_syntax spec_syn_abs_path = { spec_check_abs_path,
					       "^/[^\\s\"'\\\\{};#`$]*$",
					       "!self.contains('/..')",
					       "must not contain /..",
					       NULL,
					       SPEC_SYN_RULE_EMPTY };
const struct spec_syntax spec_syn_ip = { spec_check_ip, NULL,
					 "isIP(self)",	"must be an IP address",
					 NULL,		0 };
const struct spec_syntax spec_syn_port_range = {
	spec_check_port_range,
	"^[0-9]{4,5}-[0-9]{4,5}$",
	"int(self.split('-')[0]) >= 1024 && "
	"int(self.split('-')[1]) <= 65535 && "
	"int(self.split('-')[0]) <= int(self.split('-')[1]) && "
	"int(self.split('-')[1]) - int(self.split('-')[0]) < 100",
	"must be MIN-MAX with 1024 <= MIN <= MAX <= 65535 and at most 100 "
	"ports",
	NULL,
	0
};
const struct spec_syntax spec_syn_image = {
	spec_check_image,      "^[^\\s\"'\\\\{}<>;`$]*$", NULL, NULL, NULL,
	SPEC_SYN_PATTERN_EMPTY
};
const struct spec_syntax spec_syn_pull_policy = {
	spec_check_pull_policy, NULL, NULL, NULL, pull_policies, 0
};
const struct spec_syntax spec_syn_pem = {
	spec_check_pem,
	"^(-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\\s]+-----END "
	"CERTIFICATE-----\\s*)+$",
	NULL,
	NULL,
	NULL,
	0
};
const struct spec_syntax spec_syn_issuer_kind = {
	spec_check_issuer_kind, NULL, NULL, NULL, issuer_kinds, 0
};

/* check_string: a string's length, syntax and, for a size, the
 * option's range in megabytes */
static int
check_string(const struct spec_field *f, const char *str, struct buf *why)
{
	size_t n = strlen(str);
	double min, max;
	uint64_t mb = 0;

	spec_field_range(f, &min, &max);
	if (f->flags & SPEC_F_NUMSTR) {
		min = 1;
		max = SPEC_NUMSTR_MAX;
	}
	if (n < (size_t)min || n > (size_t)max) {
		(void)buf_printf(why, "length must be %.0f to %.0f", min, max);
		return -EINVAL;
	}
	if (f->syntax != NULL && *str != '\0' && f->syntax->check(str, why) < 0)
		return -EINVAL;
	if (!(f->flags & SPEC_F_NUMSTR) || f->ini == NULL)
		return 0;
	spec_field_range(f, &min, &max);
	if (config_parse_size_mb(str, &mb) == 0 && (double)mb >= min &&
	    (double)mb <= max)
		return 0;
	(void)buf_printf(why, "must be between %.0f and %.0f MB, got \"%.32s\"",
			 min, max, str);
	return -EINVAL;
}

/* check_field: one table field's value against its range and syntax */
static int
check_field(const struct relay_spec *s, const struct spec_field *f,
	    struct buf *err)
{
	const void *p = spec_field_ptr(s, f);
	struct buf why = BUF_INIT(256);
	double d = 0, min, max;
	int r = 0;

	switch (f->type) {
	case SPEC_FT_STR:
		if (*(char *const *)p != NULL)
			r = check_string(f, *(char *const *)p, &why);
		break;
	case SPEC_FT_UINT:
		d = *(const unsigned *)p;
		break;
	case SPEC_FT_U64:
		d = (double)*(const uint64_t *)p;
		break;
	case SPEC_FT_DOUBLE:
		d = *(const double *)p;
		break;
	case SPEC_FT_BOOL:
	case SPEC_FT_ENUM:
		break;
	}
	spec_field_range(f, &min, &max);
	if (r == 0 &&
	    (f->type == SPEC_FT_UINT || f->type == SPEC_FT_U64 ||
	     f->type == SPEC_FT_DOUBLE) &&
	    (d < min || d > max)) {
		(void)buf_printf(&why,
				 "must be between %.15g and %.15g, got "
				 "%.15g",
				 min, max, d);
		r = -EINVAL;
	}
	if (r < 0)
		(void)buf_printf(err, "spec.%s: %s\n", f->path, buf_cstr(&why));
	buf_deinit(&why);
	return r;
}

/* under: whether path is below the object at group ("a.b" under "a") */
static int
under(const char *path, const char *group)
{
	size_t n = strlen(group);

	return strncmp(path, group, n) == 0 && path[n] == '.';
}

/* check_distinct: the fields below a SPEC_G_DISTINCT object (the
 * internal ports) must differ; the CRD says the same in CEL */
static int
check_distinct(const struct relay_spec *s, const struct spec_group *g,
	       struct buf *err)
{
	const struct spec_field *a, *b;
	unsigned va;

	for (a = spec_fields; a < spec_fields + spec_nfields; a++) {
		if (a->type != SPEC_FT_UINT || !under(a->path, g->path))
			continue;
		va = *(const unsigned *)spec_field_ptr(s, a);
		for (b = a + 1; b < spec_fields + spec_nfields; b++)
			if (b->type == SPEC_FT_UINT &&
			    under(b->path, g->path) &&
			    *(const unsigned *)spec_field_ptr(s, b) == va) {
				(void)buf_printf(err,
						 "spec.%s: port %u is used "
						 "twice\n",
						 g->path, va);
				return -EINVAL;
			}
	}
	return 0;
}

/* check_ports: every SPEC_G_DISTINCT object */
static int
check_ports(const struct relay_spec *s, struct buf *err)
{
	size_t i;

	for (i = 0; i < spec_ngroups; i++)
		if ((spec_groups[i].flags & SPEC_G_DISTINCT) &&
		    check_distinct(s, &spec_groups[i], err) < 0)
			return -EINVAL;
	return 0;
}

/* check_privacy: upstream's deploy check: the example contacts of
 * testrun.org may not be copied onto another relay */
static int
check_privacy(const struct relay_spec *s, struct buf *err)
{
	static const char *const blocked[] = { "merlinux", "schmieder",
					       "testrun.org", NULL };
	const char *vals[] = { s->privacy.mail, s->privacy.postal,
			       s->privacy.pdo, s->privacy.supervisor };
	size_t n = strlen(s->domain), i;
	int b;

	if (strcmp(s->domain, "testrun.org") == 0 ||
	    (n > 12 && strcmp(s->domain + n - 12, ".testrun.org") == 0))
		return 0;
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		for (b = 0; blocked[b] != NULL; b++)
			if (strstr(vals[i], blocked[b]) != NULL) {
				(void)buf_printf(err,
						 "spec.privacy: please set "
						 "your own privacy "
						 "contacts/addresses\n");
				return -EINVAL;
			}
	return 0;
}

/* check_tls: the rules between the tls fields */
static int
check_tls(const struct relay_spec *s, struct buf *err)
{
	int r = 0;

	if (s->tls.mode == SPEC_TLS_SECRET && *s->tls.secret_name == '\0') {
		(void)buf_printf(err, "spec.tls.secretName: required when mode "
				      "is Secret\n");
		r = -EINVAL;
	}
	if (s->tls.mode == SPEC_TLS_CERT_MANAGER &&
	    *s->tls.issuer_name == '\0') {
		(void)buf_printf(err, "spec.tls.issuerRef.name: required when "
				      "mode is CertManager\n");
		r = -EINVAL;
	}
	if (s->tls.mode != SPEC_TLS_CERT_MANAGER &&
	    *s->tls.issuer_name != '\0') {
		(void)buf_printf(err, "spec.tls.issuerRef: only allowed when "
				      "mode is CertManager\n");
		r = -EINVAL;
	}
	if ((*s->tls.eab_key_id == '\0') != (*s->tls.eab_secret_name == '\0')) {
		(void)buf_printf(err,
				 "spec.tls: eabKeyId and eabSecretRef.name "
				 "go together\n");
		r = -EINVAL;
	}
	return r;
}

/* check_cross: rules that involve more than one field */
static int
check_cross(const struct relay_spec *s, struct buf *err)
{
	struct buf why = BUF_INIT(256);
	int r = 0, c;

	if (s->limits.username_min_length > s->limits.username_max_length) {
		(void)buf_printf(err, "spec.limits: usernameMinLength must "
				      "not exceed usernameMaxLength\n");
		r = -EINVAL;
	}
	if (check_tls(s, err) < 0)
		r = -EINVAL;
	if (spec_check_rules(s, err) < 0)
		r = -EINVAL;
	if (spec_check_turn(s, err) < 0)
		r = -EINVAL;
	for (c = 0; c < SPEC_C_COUNT; c++) {
		buf_reset(&why);
		if (spec_check_image(s->images[c], &why) < 0) {
			(void)buf_printf(err, "spec.images.%s: %s\n",
					 spec_container_name(c),
					 buf_cstr(&why));
			r = -EINVAL;
		}
	}
	for (size_t i = 0; i < s->service.n_annotations; i++) {
		buf_reset(&why);
		if (spec_check_annotation_key(s->service.annotations[i].key,
					      &why) < 0) {
			(void)buf_printf(err, "spec.service.annotations: %s\n",
					 buf_cstr(&why));
			r = -EINVAL;
		}
	}
	if (check_ports(s, err) < 0 || check_privacy(s, err) < 0)
		r = -EINVAL;
	buf_deinit(&why);
	return r;
}

/* spec_validate: every rule of the CRD on a filled-in spec */
int
spec_validate(const struct relay_spec *s, struct buf *err)
{
	size_t i;
	int r = 0;

	for (i = 0; i < spec_nfields; i++)
		if (check_field(s, &spec_fields[i], err) < 0)
			r = -EINVAL;
	if (r == 0 && check_cross(s, err) < 0)
		r = -EINVAL;
	return r;
}

/* spec_validate_update: the CRD's transition rules */
int
spec_validate_update(const struct relay_spec *old, const struct relay_spec *s,
		     struct buf *err)
{
	const struct spec_field *f;
	const char *a, *b;
	int r = 0;

	for (f = spec_fields; f < spec_fields + spec_nfields; f++) {
		if (!(f->flags & SPEC_F_IMMUTABLE) || f->type != SPEC_FT_STR)
			continue;
		a = *(char *const *)spec_field_ptr(old, f);
		b = *(char *const *)spec_field_ptr(s, f);
		if (a != NULL && (b == NULL || strcmp(a, b) != 0)) {
			(void)buf_printf(err, "spec.%s: is immutable\n",
					 f->path);
			r = -EINVAL;
		}
	}
	if (strcmp(old->storage.mail.storage_class_name,
		   s->storage.mail.storage_class_name) != 0 ||
	    strcmp(old->storage.queue.storage_class_name,
		   s->storage.queue.storage_class_name) != 0) {
		(void)buf_printf(err, "spec.storage: storageClassName is "
				      "immutable\n");
		r = -EINVAL;
	}
	return r;
}
