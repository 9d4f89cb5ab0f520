/*
 * config_dump: print the effective configuration (what -n shows) in
 * chatmail.ini syntax, so the output loads back to the same config.
 * Values come from a loaded config (trusted); multi-line values are
 * written as continuation lines.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "num.h"

/* fmt_double: the shortest text that reads back as v, without an
 * exponent (num_parse_double takes none) */
static void
fmt_double(double v, char *out, size_t outsize)
{
	const char *e;
	int prec, exp = 0;

	for (prec = 1; prec < 17; prec++) {
		(void)snprintf(out, outsize, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	(void)snprintf(out, outsize, "%.*g", prec, v);
	e = strchr(out, 'e');
	if (e == NULL)
		return;
	if (num_parse_int(e[1] == '+' ? e + 2 : e + 1, -400, 400, &exp) < 0)
		exp = 0;
	(void)snprintf(out, outsize, "%.*f", exp < prec ? prec - 1 - exp : 0,
		       v);
}

/* dump_value: "name = value", continuation lines indented */
static void
dump_value(FILE *out, const char *name, const char *v)
{
	(void)fprintf(out, "%s =%s", name, *v != '\0' ? " " : "");
	for (; *v != '\0'; v++) {
		if (*v == '\n')
			(void)fputs("\n    ", out);
		else
			(void)fputc(*v, out);
	}
	(void)fputc('\n', out);
}

/* dump_opt: one option as a line (or a comment when unset) */
static void
dump_opt(const struct chatmail_config *cfg, size_t i, FILE *out)
{
	const struct config_opt *o = &config_opts[i];
	const char *field = (const char *)cfg + o->off;
	const char *s;
	char num[512];

	switch (o->type) {
	case OPT_UINT:
		/* a number without a default is 0 while unset */
		if (o->def == NULL &&
		    *(const unsigned *)(const void *)field == 0)
			(void)fprintf(out, "# %s is unset\n", o->name);
		else
			(void)fprintf(out, "%s = %u\n", o->name,
				      *(const unsigned *)(const void *)field);
		return;
	case OPT_U64:
		(void)fprintf(out, "%s = %llu\n", o->name,
			      (unsigned long long)*(
				      const uint64_t *)(const void *)field);
		return;
	case OPT_DOUBLE:
		fmt_double(*(const double *)(const void *)field, num,
			   sizeof(num));
		(void)fprintf(out, "%s = %s\n", o->name, num);
		return;
	case OPT_BOOL:
		(void)fprintf(out, "%s = %s\n", o->name,
			      *(const int *)(const void *)field ? "true"
								: "false");
		return;
	default:
		break;
	}
	s = *(char *const *)(const void *)field;
	if (i == 0 && cfg->mail_domain_bare != NULL)
		s = cfg->mail_domain_bare;
	if (strcmp(o->name, "iroh_relay") == 0 && cfg->enable_iroh_relay)
		(void)fprintf(out,
			      "# iroh_relay is unset: local iroh-relay,"
			      " clients get %s\n",
			      s);
	else if (s == NULL)
		(void)fprintf(out, "# %s is unset\n", o->name);
	else
		dump_value(out, o->name, s);
}

/* config_dump: the effective configuration, loadable again */
void
config_dump(const struct chatmail_config *cfg, FILE *out)
{
	const char *w;
	size_t i;

	(void)fputs("[params]\n", out);
	for (i = 0; i < config_nopts; i++)
		dump_opt(cfg, i, out);
	if (cfg->mail_domain_bare != NULL) {
		(void)fprintf(out,
			      "# derived: mail_domain %s, ipv4_relay %s,"
			      " postfix_myhostname %s\n",
			      cfg->mail_domain, cfg->ipv4_relay ? "yes" : "no",
			      cfg->postfix_myhostname);
		(void)fprintf(out,
			      "# derived: tls_cert_mode %s, tls_cert_path %s,"
			      " tls_key_path %s\n",
			      config_tls_cert_mode_name(cfg->tls_cert_mode),
			      cfg->tls_cert_path, cfg->tls_key_path);
	}
	(void)fprintf(out,
		      "# derived: max_mailbox_size_mb %llu,"
		      " min_available_memory_mb %llu,"
		      " min_free_disk_space_mb %llu\n",
		      (unsigned long long)cfg->max_mailbox_size_mb,
		      (unsigned long long)cfg->min_available_memory_mb,
		      (unsigned long long)cfg->min_free_disk_space_mb);
	if (cfg->unknown != NULL && *cfg->unknown != '\0')
		(void)fprintf(out, "# unknown keys (ignored): %s\n",
			      cfg->unknown);
	for (w = cfg->warnings; w != NULL && *w != '\0';) {
		size_t n = strcspn(w, "\n");

		(void)fprintf(out, "# warning: %.*s\n", (int)n, w);
		w += n + (w[n] == '\n');
	}
}
