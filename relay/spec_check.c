/*
 * spec_check: the rules a ChatmailRelay spec must satisfy, the same the
 * CRD's OpenAPI schema and CEL rules enforce in the apiserver: value
 * syntax per field (domain, sizes, quantities, names, schedules, URLs,
 * addresses, paths), ranges from the field table, and the cross-field
 * rules (username lengths ordered, TLS mode-dependent fields, iroh URL
 * only when the local iroh-relay is off, internal ports distinct,
 * upstream's privacy-contact check).
 *
 * Untrusted input: every string of a spec (user-written). Checkers only
 * read their argument and never echo more than 64 bytes of it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

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
	if (strlen(v) <= 512 && printable(v, 0, "\"'\\{}<>;`$"))
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

/* check_field: one table field's value against its range and checker */
static int
check_field(const struct relay_spec *s, const struct spec_field *f,
	    struct buf *err)
{
	const void *p = spec_field_ptr(s, f);
	struct buf why = BUF_INIT(256);
	const char *str;
	double d = 0;
	int r = 0;

	switch (f->type) {
	case SPEC_FT_STR:
		str = *(char *const *)p;
		if (str == NULL)
			break;
		if (strlen(str) < (size_t)f->min ||
		    strlen(str) > (size_t)f->max) {
			(void)buf_printf(&why, "length must be %.0f to %.0f",
					 f->min, f->max);
			r = -EINVAL;
		} else if (f->check != NULL && *str != '\0') {
			r = f->check(str, &why);
		}
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
	if (r == 0 &&
	    (f->type == SPEC_FT_UINT || f->type == SPEC_FT_U64 ||
	     f->type == SPEC_FT_DOUBLE) &&
	    (d < f->min || d > f->max)) {
		(void)buf_printf(&why,
				 "must be between %.15g and %.15g, got "
				 "%.15g",
				 f->min, f->max, d);
		r = -EINVAL;
	}
	if (r < 0)
		(void)buf_printf(err, "spec.%s: %s\n", f->path, buf_cstr(&why));
	buf_deinit(&why);
	return r;
}

/* check_ports: the six internal ports must differ */
static int
check_ports(const struct relay_spec *s, struct buf *err)
{
	const unsigned ports[] = {
		s->ports.filtermail_smtp,
		s->ports.filtermail_smtp_incoming,
		s->ports.filtermail_http_incoming,
		s->ports.filtermail_lmtp_transport,
		s->ports.postfix_reinject,
		s->ports.postfix_reinject_incoming,
	};
	size_t i, j, n = sizeof(ports) / sizeof(ports[0]);

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (ports[i] == ports[j]) {
				(void)buf_printf(err,
						 "spec.ports: port %u is "
						 "used twice\n",
						 ports[i]);
				return -EINVAL;
			}
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
	int r = 0;

	if (strcmp(old->domain, s->domain) != 0) {
		(void)buf_printf(err, "spec.domain: is immutable\n");
		r = -EINVAL;
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
