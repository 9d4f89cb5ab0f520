/*
 * config: chatmail.ini into struct chatmail_config (config.h).
 *
 * The option table (config_opts.c) lists every option in upstream's
 * order with its type, default, range and field; defaults go through
 * the same setter as file values, so they obey the same rules.
 * Loading is: defaults, [params] of the file (ini.c), CHATMAIL_*
 * environment overrides, conversion and range checks of every option
 * (all problems collected), cross-option checks, then the values upstream
 * derives (IPv4 relays, TLS mode and paths, iroh relay, mailboxes_dir).
 * The file is operator input but is parsed as untrusted text.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "cursor.h"
#include "fs.h"
#include "ini.h"
#include "log.h"
#include "num.h"
#include "xmalloc.h"

#define NOPTS config_nopts

/* other names of options: filtermail's README spelling */
static const struct {
	const char *alias, *name;
} aliases[] = {
	{ "filtermail_host", "filtermail_smtp_host" },
	{ "postfix_host", "postfix_reinject_host" },
};

/* one load: where each option's value came from, and what went wrong */
struct load {
	struct chatmail_config *cfg;
	/* per option (config_nopts entries each, allocated) */
	const char **raw; /* the value to apply, NULL = default */
	unsigned *line;	  /* its line in the file, 0 = environment */
	const char **via; /* the name it was given under */
	char **envval;	  /* stripped environment values (owned) */
	struct buf unknown, warn;
	struct buf *err;
	int bad;
};

/* env_name: "CHATMAIL_<NAME>" of option i into out (at least 80 bytes) */
static void
env_name(size_t i, char *out, size_t outsize)
{
	size_t j;

	(void)snprintf(out, outsize, "CHATMAIL_%s", config_opts[i].name);
	for (j = 9; out[j] != '\0'; j++)
		if (out[j] >= 'a' && out[j] <= 'z')
			out[j] = (char)(out[j] - 'a' + 'A');
}

/* oops: record one bad value, naming the option and where it was set */
static void
oops(struct load *ld, size_t i, const char *v, const char *why)
{
	char q[200], env[80];

	ld->bad = 1;
	if (ld->err == NULL)
		return;
	if (ld->raw[i] == NULL) {
		(void)buf_printf(ld->err,
				 "%s (default): ", config_opts[i].name);
	} else if (ld->line[i] == 0) {
		env_name(i, env, sizeof(env));
		(void)buf_printf(ld->err,
				 "%s (environment %s): ", config_opts[i].name,
				 env);
	} else {
		(void)buf_printf(ld->err, "%s (line %u): ", ld->via[i],
				 ld->line[i]);
	}
	(void)log_escape(q, sizeof(q), v, 120);
	(void)buf_printf(ld->err, "invalid value \"%s\": %s\n", q, why);
}

/* problem: a load-wide error not tied to one option */
static void
problem(struct load *ld, const char *text)
{
	ld->bad = 1;
	if (ld->err != NULL)
		(void)buf_printf(ld->err, "%s\n", text);
}

/* stripped: a copy of s without blanks at either end */
static char *
stripped(const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && config_check_blank(*s)) {
		s++;
		n--;
	}
	while (n > 0 && config_check_blank(s[n - 1]))
		n--;
	return xstrndup(s, n);
}

/* bad_chars: whether s holds control characters it may not */
static int
bad_chars(const char *s, unsigned flags)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n' && (flags & OF_MULTILINE))
			continue;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 1;
	}
	return 0;
}

/* set_str: store a string option after its checks */
static int
set_str(struct load *ld, size_t i, const char *v)
{
	const struct config_opt *o = &config_opts[i];
	char **field = (char **)((char *)ld->cfg + o->off);
	const char *why = NULL;
	char *copy;
	size_t n;

	if (bad_chars(v, o->flags)) {
		oops(ld, i, v, "control characters are not allowed");
		return -EINVAL;
	}
	copy = xstrdup(v);
	n = strlen(copy);
	/* pathlib drops trailing '/'; blanks freed by that go too, so the
	 * value survives a dump and reload (found by fuzz_ini) */
	while ((o->flags & OF_PATH) && n > 1 &&
	       (copy[n - 1] == '/' || config_check_blank(copy[n - 1])))
		copy[--n] = '\0';
	if (o->type == OPT_STR && (n < o->min || n > o->max)) {
		oops(ld, i, v, n < o->min ? "must not be empty" : "too long");
		free(copy);
		return -EINVAL;
	}
	if (o->check != NULL && n > 0 && o->check(copy, &why) < 0) {
		oops(ld, i, v, why);
		free(copy);
		return -EINVAL;
	}
	free(*field);
	*field = copy;
	if ((o->flags & OF_EMPTY_NULL) && n == 0) {
		free(*field);
		*field = NULL;
	}
	return 0;
}

/* parse_int: Python int() on a stripped string: optional '+', digits */
static int
parse_int(const char *v, uint64_t min, uint64_t max, uint64_t *r)
{
	if (*v == '+')
		v++;
	return num_parse_u64(v, min, max, r);
}

/* set_number: store an integer, size or decimal option */
static int
set_number(struct load *ld, size_t i, const char *v)
{
	const struct config_opt *o = &config_opts[i];
	char *field = (char *)ld->cfg + o->off;
	char why[96];
	uint64_t u = 0;
	double d = 0;
	int e;

	if (o->type == OPT_DOUBLE)
		e = num_parse_double(v, (double)o->min, (double)o->max, &d);
	else if (o->type == OPT_SIZE)
		e = config_parse_size_mb(v, &u);
	else
		e = parse_int(v, o->min, o->max, &u);
	if (e == 0 && o->type == OPT_SIZE && (u < o->min || u > o->max))
		e = -ERANGE;
	if (e < 0) {
		if (e == -ERANGE)
			(void)snprintf(why, sizeof(why),
				       "out of range %llu..%llu%s",
				       (unsigned long long)o->min,
				       (unsigned long long)o->max,
				       o->type == OPT_SIZE ? " MB" : "");
		else
			(void)snprintf(why, sizeof(why), "%s",
				       o->type == OPT_SIZE
					       ? "not a size like 500M or 2G"
					       : "not a number");
		oops(ld, i, v, why);
		return -EINVAL;
	}
	switch (o->type) {
	case OPT_UINT:
		*(unsigned *)(void *)field = (unsigned)u;
		break;
	case OPT_U64:
		*(uint64_t *)(void *)field = u;
		break;
	case OPT_DOUBLE:
		*(double *)(void *)field = d;
		break;
	default:
		*(uint64_t *)(void *)((char *)ld->cfg + o->off_mb) = u;
		return set_str(ld, i, v);
	}
	return 0;
}

/* set_bool: upstream's value.lower() == "true", with a warning for
 * values that look like they meant something else */
static int
set_bool(struct load *ld, size_t i, const char *v)
{
	int *field = (int *)(void *)((char *)ld->cfg + config_opts[i].off);
	char q[80];

	*field = strcasecmp(v, "true") == 0;
	if (!*field && *v != '\0' && strcasecmp(v, "false") != 0) {
		(void)log_escape(q, sizeof(q), v, 40);
		(void)buf_printf(&ld->warn,
				 "%s = \"%s\" is read as false (only \"true\""
				 " is true, as upstream)\n",
				 config_opts[i].name, q);
	}
	return 0;
}

/* opt_set: convert, check and store one option's value */
static int
opt_set(struct load *ld, size_t i, const char *v)
{
	switch (config_opts[i].type) {
	case OPT_STR:
		return set_str(ld, i, v);
	case OPT_BOOL:
		return set_bool(ld, i, v);
	default:
		return set_number(ld, i, v);
	}
}

/* opt_find: the table index of a name or alias, or -1 */
static int
opt_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(name, aliases[i].alias) == 0)
			name = aliases[i].name;
	for (i = 0; i < NOPTS; i++)
		if (strcmp(name, config_opts[i].name) == 0)
			return (int)i;
	return -1;
}

/* config_parse_size_mb: "500M", "2G", "100MB", "256" into megabytes */
int
config_parse_size_mb(const char *s, uint64_t *mb_r)
{
	char *v = stripped(s);
	size_t n = strlen(v);
	uint64_t mult = 1, num;
	int e;

	if (n > 0 && (v[n - 1] == 'b' || v[n - 1] == 'B'))
		v[--n] = '\0';
	if (n > 0 && (v[n - 1] == 'g' || v[n - 1] == 'G'))
		mult = 1024;
	if (n > 0 && strchr("gGmM", v[n - 1]) != NULL)
		v[--n] = '\0';
	/* int() ignores blanks around the digits ("5 M") */
	while (n > 0 && config_check_blank(v[n - 1]))
		v[--n] = '\0';
	e = parse_int(v, 0, UINT64_MAX / mult, &num);
	free(v);
	if (e < 0)
		return e;
	*mb_r = num * mult;
	return 0;
}

/* config_tls_cert_mode_name: upstream's tls_cert_mode strings */
const char *
config_tls_cert_mode_name(enum tls_cert_mode mode)
{
	switch (mode) {
	case TLS_CERT_SELF:
		return "self";
	case TLS_CERT_EXTERNAL:
		return "external";
	default:
		return "acme";
	}
}

/* config_init: the defaults of the table */
void
config_init(struct chatmail_config *cfg)
{
	struct load ld;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	buf_init(&ld.warn, 4096);
	for (i = 0; i < NOPTS; i++)
		if (config_opts[i].def != NULL &&
		    opt_set(&ld, i, config_opts[i].def) < 0)
			abort(); /* the table contradicts itself */
	buf_deinit(&ld.warn);
	cfg->tls_cert_mode = TLS_CERT_ACME;
	cfg->unknown = xstrdup("");
	cfg->warnings = xstrdup("");
}

/* config_deinit: free every string option and derived value */
void
config_deinit(struct chatmail_config *cfg)
{
	size_t i;

	for (i = 0; i < NOPTS; i++) {
		if (config_opts[i].type == OPT_STR ||
		    config_opts[i].type == OPT_SIZE) {
			char **field =
				(char **)((char *)cfg + config_opts[i].off);

			free(*field);
			*field = NULL;
		}
	}
	free(cfg->mail_domain_bare);
	free(cfg->tls_cert_path);
	free(cfg->tls_key_path);
	free(cfg->postfix_myhostname);
	free(cfg->unknown);
	free(cfg->warnings);
	memset(cfg, 0, sizeof(*cfg));
}

/* take_params: the [params] keys as raw values; others are unknown */
static void
take_params(struct load *ld, const struct ini *ini)
{
	char msg[256];
	size_t i;
	int k;

	for (i = 0; i < ini->n; i++) {
		const struct ini_entry *en = &ini->entries[i];

		if (en->key == NULL || strcmp(en->section, "params") != 0)
			continue;
		k = opt_find(en->key);
		if (k < 0) {
			if (ld->unknown.len > 0)
				(void)buf_puts(&ld->unknown, ", ");
			(void)buf_puts(&ld->unknown,
				       *en->key ? en->key : "\"\"");
			continue;
		}
		if (ld->raw[k] != NULL) {
			(void)snprintf(msg, sizeof(msg),
				       "%s (line %u): the same option as %s"
				       " (line %u); set only one",
				       en->key, en->line, ld->via[k],
				       ld->line[k]);
			problem(ld, msg);
			continue;
		}
		ld->raw[k] = en->value;
		ld->line[k] = en->line;
		ld->via[k] = en->key;
	}
}

/* take_env: CHATMAIL_<NAME> overrides, values stripped */
static void
take_env(struct load *ld)
{
	char name[80];
	const char *v;
	size_t i;

	for (i = 0; i < NOPTS; i++) {
		env_name(i, name, sizeof(name));
		v = getenv(name);
		if (v == NULL)
			continue;
		ld->envval[i] = stripped(v);
		ld->raw[i] = ld->envval[i];
		ld->line[i] = 0;
		ld->via[i] = config_opts[i].name;
	}
}

/* cross_check: rules between options, and the required mail_domain */
static void
cross_check(struct load *ld)
{
	const struct chatmail_config *cfg = ld->cfg;
	char msg[160];

	if (cfg->mail_domain == NULL && ld->raw[0] == NULL)
		problem(ld, "mail_domain is not set (it is required)");
	if (cfg->username_min_length > cfg->username_max_length) {
		(void)snprintf(msg, sizeof(msg),
			       "username_min_length (%u) is greater than"
			       " username_max_length (%u)",
			       cfg->username_min_length,
			       cfg->username_max_length);
		problem(ld, msg);
	}
}

/* derive_tls: upstream's tls_cert_mode and certificate paths */
static void
derive_tls(struct chatmail_config *cfg)
{
	const char *w = NULL;
	size_t n = 0;

	if (config_check_words(cfg->tls_external_cert_and_key, &w, &n) == 2) {
		cfg->tls_cert_mode = TLS_CERT_EXTERNAL;
		cfg->tls_cert_path = xstrndup(w, n);
		w += n;
		(void)config_check_words(w, &w, &n);
		cfg->tls_key_path = xstrndup(w, n);
	} else if (cfg->mail_domain_bare[0] == '_' || cfg->ipv4_relay) {
		cfg->tls_cert_mode = TLS_CERT_SELF;
		cfg->tls_cert_path = xstrdup("/etc/ssl/certs/mailserver.pem");
		cfg->tls_key_path = xstrdup("/etc/ssl/private/mailserver.key");
	} else {
		cfg->tls_cert_mode = TLS_CERT_ACME;
		cfg->tls_cert_path =
			xasprintf("/var/lib/acme/live/%s/fullchain",
				  cfg->mail_domain_bare);
		cfg->tls_key_path = xasprintf("/var/lib/acme/live/%s/privkey",
					      cfg->mail_domain_bare);
	}
}

/* derive: the values upstream computes from the options */
static void
derive(struct load *ld, size_t iroh)
{
	struct chatmail_config *cfg = ld->cfg;
	unsigned char o[4];

	cfg->mail_domain_bare = cfg->mail_domain;
	cfg->mail_domain = NULL;
	if (config_check_ipv4(cfg->mail_domain_bare, o)) {
		cfg->ipv4_relay = 1;
		cfg->mail_domain = xasprintf("[%s]", cfg->mail_domain_bare);
		cfg->postfix_myhostname = xasprintf("%u.%u.%u.%u.in-addr.arpa",
						    o[3], o[2], o[1], o[0]);
	} else {
		cfg->mail_domain = xstrdup(cfg->mail_domain_bare);
		cfg->postfix_myhostname = xstrdup(cfg->mail_domain_bare);
	}
	cfg->enable_iroh_relay = ld->raw[iroh] == NULL;
	if (cfg->enable_iroh_relay) {
		free(cfg->iroh_relay);
		cfg->iroh_relay =
			xasprintf("https://%s", cfg->mail_domain_bare);
	}
	derive_tls(cfg);
	if (cfg->mailboxes_dir == NULL)
		cfg->mailboxes_dir =
			xasprintf("/home/vmail/mail/%s", cfg->mail_domain_bare);
}

/* load_text: the whole load over text in memory */
static int
load_text(struct chatmail_config *cfg, const char *text, size_t len,
	  int use_env, struct buf *err)
{
	struct load ld;
	struct ini *ini = NULL;
	size_t i;

	config_deinit(cfg);
	config_init(cfg);
	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	ld.err = err;
	ld.raw = xcalloc(NOPTS, sizeof(*ld.raw));
	ld.line = xcalloc(NOPTS, sizeof(*ld.line));
	ld.via = xcalloc(NOPTS, sizeof(*ld.via));
	ld.envval = xcalloc(NOPTS, sizeof(*ld.envval));
	buf_init(&ld.unknown, 65536);
	buf_init(&ld.warn, 4096);
	if (ini_parse(text, len, &ini, err) < 0) {
		ld.bad = 1;
		goto out;
	}
	if (!ini_has_section(ini, "params")) {
		problem(&ld, "no [params] section");
		goto out;
	}
	take_params(&ld, ini);
	if (use_env)
		take_env(&ld);
	for (i = 0; i < NOPTS; i++)
		if (ld.raw[i] != NULL)
			(void)opt_set(&ld, i, ld.raw[i]);
	cross_check(&ld);
	if (!ld.bad)
		derive(&ld, (size_t)opt_find("iroh_relay"));
	free(cfg->unknown);
	cfg->unknown = buf_steal(&ld.unknown, NULL);
	free(cfg->warnings);
	cfg->warnings = buf_steal(&ld.warn, NULL);
out:
	for (i = 0; i < NOPTS; i++)
		free(ld.envval[i]);
	free(ld.envval);
	free(ld.via);
	free(ld.line);
	free(ld.raw);
	ini_free(&ini);
	buf_deinit(&ld.unknown);
	buf_deinit(&ld.warn);
	return ld.bad ? -1 : 0;
}

/* config_load_string: load from a NUL-terminated text */
int
config_load_string(struct chatmail_config *cfg, const char *text, int use_env,
		   struct buf *err)
{
	return load_text(cfg, text, strlen(text), use_env, err);
}

/* config_load: read the file, then load its text with the environment */
int
config_load(struct chatmail_config *cfg, const char *path, struct buf *err)
{
	struct buf text = BUF_INIT(CONFIG_FILE_MAX);
	const char *why = NULL;
	int e;

	e = fs_read_file(path, &text);
	if (e == -EINVAL)
		why = "not a regular file";
	else if (e == -EFBIG)
		why = "file too large";
	if (e == 0 && memchr(buf_cstr(&text), '\0', text.len) != NULL) {
		why = "NUL byte in file";
		e = -EINVAL;
	}
	if (e == 0 && !config_check_utf8((const unsigned char *)buf_cstr(&text),
					 text.len)) {
		why = "not valid UTF-8";
		e = -EINVAL;
	}
	if (e < 0) {
		config_deinit(cfg);
		config_init(cfg);
		if (err != NULL)
			(void)buf_printf(err, "%s: %s\n", path,
					 why != NULL ? why : strerror(-e));
		buf_deinit(&text);
		return -1;
	}
	e = load_text(cfg, buf_cstr(&text), text.len, 1, err);
	buf_deinit(&text);
	return e;
}
