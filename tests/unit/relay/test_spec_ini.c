/*
 * test_spec_ini: chatmail.ini rendered from a ChatmailRelay spec and
 * read back by the services' own parser (services/lib/config.c), option
 * by option over the option table (services/lib/config_opts.c):
 *  - the default spec gives the services' defaults, except the options
 *    whose value is the target's layout, which are named here with the
 *    value they must have;
 *  - every option is written from a spec field or by a stated case in
 *    relay/spec_ini.c (a new option fails here until it is), in the
 *    table's order;
 *  - a spec that sets every option-backed field away from its default
 *    arrives in the services' config unchanged.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "config.h"
#include "config_opts.h"
#include "render/render.h"
#include "spec.h"
#include "spec_int.h"
#include "xmalloc.h"

#define DOMAIN "chat.example.org"

/* opt_text: an option's value in cfg as text ("<unset>" for NULL) */
static char *
opt_text(const struct chatmail_config *cfg, const struct config_opt *o)
{
	const char *p = (const char *)cfg + o->off;
	const char *s;

	switch (o->type) {
	case OPT_UINT:
		return xasprintf("%u", *(const unsigned *)(const void *)p);
	case OPT_U64:
		return xasprintf(
			"%llu",
			(unsigned long long)*(const uint64_t *)(const void *)p);
	case OPT_DOUBLE:
		return xasprintf("%.17g", *(const double *)(const void *)p);
	case OPT_BOOL:
		return xstrdup(*(const int *)(const void *)p ? "true"
							     : "false");
	case OPT_SIZE:
		return xasprintf(
			"%s = %llu MB", *(char *const *)(const void *)p,
			(unsigned long long)*(
				const uint64_t *)(const void *)((const char *)
									cfg +
								o->off_mb));
	case OPT_STR:
		break;
	}
	s = *(char *const *)(const void *)p;
	return xstrdup(s != NULL ? s : "<unset>");
}

/* field_text: a spec field's value as the option's text would be */
static char *
field_text(const struct relay_spec *s, const struct spec_field *f,
	   const struct chatmail_config *cfg, const struct config_opt *o)
{
	const void *p = spec_field_ptr(s, f);

	switch (f->type) {
	case SPEC_FT_UINT:
		return xasprintf("%u", *(const unsigned *)p);
	case SPEC_FT_U64:
		return xasprintf("%llu",
				 (unsigned long long)*(const uint64_t *)p);
	case SPEC_FT_DOUBLE:
		return xasprintf("%.17g", *(const double *)p);
	case SPEC_FT_BOOL:
		return xstrdup(*(const int *)p ? "true" : "false");
	default:
		break;
	}
	if (*(char *const *)p == NULL)
		return xstrdup("<unset>");
	if (o->type == OPT_SIZE) /* the megabytes are the parser's */
		return xasprintf(
			"%s = %llu MB", *(char *const *)p,
			(unsigned long long)*(
				const uint64_t *)(const void *)((const char *)
									cfg +
								o->off_mb));
	return xstrdup(*(char *const *)p);
}

/* spec_of: a validated spec from .spec JSON */
static struct relay_spec *
spec_of(const char *json)
{
	struct buf err = BUF_INIT(4096);
	struct relay_spec *s = NULL;
	cJSON *j = cJSON_Parse(json);

	assert_non_null(j);
	if (spec_from_json(j, SPEC_STRICT, &s, &err, NULL) < 0)
		print_error("%s\n", buf_cstr(&err));
	assert_non_null(s);
	cJSON_Delete(j);
	buf_deinit(&err);
	return s;
}

/* layout_value: what an option set from the Pod's layout must be, or
 * NULL for an option that keeps the services' default */
static char *
layout_value(const char *key, const struct render_target *t)
{
	const char *slash = strrchr(t->vmail_dir, '/');

	if (strcmp(key, "tls_external_cert_and_key") == 0)
		return xasprintf("%s %s", t->tls_cert, t->tls_key);
	if (strcmp(key, "turn_socket_path") == 0)
		return xstrdup(t->sock[RENDER_SOCK_TURN]);
	if (strcmp(key, "mailboxes_dir") == 0)
		return xasprintf("%s/%s", t->vmail_dir, DOMAIN);
	if (strcmp(key, "passdb_path") == 0)
		return xasprintf("%.*s/passdb.sqlite",
				 (int)(slash - t->vmail_dir), t->vmail_dir);
	if (strcmp(key, "filtermail_smtp_host") == 0 ||
	    strcmp(key, "postfix_reinject_host") == 0)
		return xstrdup(t->local_addr);
	if (strcmp(key, "nocreate_file") == 0)
		return xstrdup(t->nocreate_file);
	if (strcmp(key, "dkim_key_file") == 0)
		return xstrdup(t->dkim_key);
	if (strcmp(key, "dns_server") == 0)
		return xstrdup(t->dns_server);
	/* the relay asks for the bounce milter (no default: off) */
	if (strcmp(key, "filtermail_milter_port") == 0)
		return xasprintf("%u", t->port[RENDER_PORT_MILTER]);
	return NULL;
}

/* test_default_roundtrip: the default spec, rendered and read back,
 * is the services' defaults option by option (the layout aside) */
static void
test_default_roundtrip(void **state)
{
	struct render_target *t = render_target_new_pod();
	struct chatmail_config want = { 0 }, got = { 0 };
	struct buf err = BUF_INIT(4096);
	struct relay_spec *s = spec_of("{\"domain\": \"" DOMAIN "\"}");
	size_t i, same = 0, layout = 0;
	char *w, *g, *l;

	(void)state;
	assert_int(config_load_string(&want,
				      "[params]\nmail_domain = " DOMAIN "\n", 0,
				      &err),
		   0);
	assert_int(spec_to_config(s, t, &got, &err), 0);
	for (i = 0; i < config_nopts; i++) {
		const struct config_opt *o = &config_opts[i];

		w = opt_text(&want, o);
		g = opt_text(&got, o);
		l = layout_value(o->name, t);
		if (l != NULL) {
			layout++;
			free(w);
			w = l;
		} else {
			same++;
		}
		if (strcmp(w, g) != 0)
			print_error("%s: services' %s \"%s\", from the spec "
				    "\"%s\"\n",
				    o->name, l != NULL ? "layout" : "default",
				    w, g);
		assert_str(g, w);
		free(w);
		free(g);
	}
	/* the derived values follow from the same options */
	assert_int(got.tls_cert_mode, TLS_CERT_EXTERNAL);
	assert_int(got.enable_iroh_relay, want.enable_iroh_relay);
	assert_str(got.iroh_relay, want.iroh_relay);
	assert_str(got.postfix_myhostname, want.postfix_myhostname);
	assert_str(got.unknown, "");
	assert_str(got.warnings, "");
	print_message("# %zu options equal the services' defaults, %zu the "
		      "Pod's layout\n",
		      same, layout);
	assert_int(same + layout, config_nopts);
	assert_true(same >= 30);
	config_deinit(&want);
	config_deinit(&got);
	spec_free(&s);
	render_target_free(&t);
	buf_deinit(&err);
}

/* test_every_option: each option has exactly one way into chatmail.ini,
 * and the file lists them in the table's order */
static void
test_every_option(void **state)
{
	struct render_target *t = render_target_new_pod();
	struct buf ini = BUF_INIT(65536);
	struct relay_spec *s = spec_of("{\"domain\": \"" DOMAIN "\"}");
	const char *at, *prev = NULL;
	char key[80];
	size_t i;
	int src;

	(void)state;
	assert_int(spec_to_ini(s, t, &ini), 0);
	for (i = 0; i < config_nopts; i++) {
		src = spec_ini_source(config_opts[i].name);
		if (src == SPEC_INI_NONE)
			print_error("%s: no spec field and no case in "
				    "spec_ini.c (or both)\n",
				    config_opts[i].name);
		assert_int(src != SPEC_INI_NONE, 1);
		(void)snprintf(key, sizeof(key), "\n%s =", config_opts[i].name);
		at = strstr(buf_cstr(&ini), key);
		if (src == SPEC_INI_DEFAULT) {
			assert_null(at);
			continue;
		}
		if (at == NULL) /* unset by default: iroh_relay, mtail */
			continue;
		assert_true(prev == NULL || at > prev);
		prev = at;
	}
	for (i = 0; i < spec_nfields; i++) {
		const struct spec_field *f = &spec_fields[i];

		if (f->ini == NULL)
			continue;
		assert_int(spec_ini_source(f->ini),
			   (f->flags & SPEC_F_OWN_DEFAULT) ? SPEC_INI_SPECIAL
							   : SPEC_INI_FIELD);
	}
	assert_non_null(strstr(buf_cstr(&ini), "\n\n# chatmail-operator's own "
					       "options"));
	spec_free(&s);
	render_target_free(&t);
	buf_deinit(&ini);
}

/* every option-backed field away from its default */
static const char all_set[] =
	"{\"domain\": \"chat.example.net\","
	" \"limits\": {\"maxUserSendPerMinute\": 30, \"maxUserSendBurstSize\":"
	" 5, \"maxMailboxSize\": \"1G\", \"maxMessageSize\": 10485760,"
	" \"usernameMinLength\": 6, \"usernameMaxLength\": 12,"
	" \"passwordMinLength\": 12, \"maxImapConnections\": 2000,"
	" \"maxSmtpConnections\": 500},"
	" \"retention\": {\"deleteMailsAfterDays\": 10,"
	" \"deleteLargeAfterDays\": 3, \"deleteInactiveUsersAfterDays\": 60},"
	" \"systemLimits\": {\"maxLoad1m\": 2.5, \"minAvailableMemory\":"
	" 512, \"minFreeDiskSpace\": \"10G\"},"
	" \"tls\": {\"acmeEmail\": \"admin@example.net\"},"
	" \"dkim\": {\"selector\": \"dkim2026\"},"
	" \"network\": {\"disableIPv6\": true},"
	" \"metrics\": {\"mtailAddress\": \"10.0.0.5\"},"
	" \"imap\": {\"rawlog\": true, \"compress\": true},"
	" \"privacy\": {\"mail\": \"privacy@example.net\", \"postal\":"
	" \"Example Org, Street 1\", \"pdo\": \"DPO, Street 2\","
	" \"supervisor\": \"Authority, Street 3\"},"
	" \"push\": {\"notificationUrl\": \"https://push.example.net/n\"},"
	" \"ports\": {\"filtermailSmtp\": 11080, \"filtermailSmtpIncoming\":"
	" 11081, \"filtermailHttpIncoming\": 11082,"
	" \"filtermailLmtpTransport\": 11083, \"postfixReinject\": 11025,"
	" \"postfixReinjectIncoming\": 11026}}";

/* test_fields_arrive: each field that sets an option reaches it as
 * written (sizes with the parser's megabytes) */
static void
test_fields_arrive(void **state)
{
	struct render_target *t = render_target_new_pod();
	struct chatmail_config defaults = { 0 }, got = { 0 };
	struct buf err = BUF_INIT(4096);
	struct relay_spec *s = spec_of(all_set);
	const struct config_opt *o;
	size_t i, n = 0;
	char *w, *g, *d;

	(void)state;
	config_init(&defaults);
	assert_int(spec_to_config(s, t, &got, &err), 0);
	for (i = 0; i < spec_nfields; i++) {
		const struct spec_field *f = &spec_fields[i];

		if (f->ini == NULL || (f->flags & SPEC_F_OWN_DEFAULT))
			continue;
		o = spec_field_opt(f);
		w = field_text(s, f, &got, o);
		g = opt_text(&got, o);
		d = opt_text(&defaults, o);
		if (strcmp(w, g) != 0)
			print_error("%s -> %s: spec \"%s\", services \"%s\"\n",
				    f->path, o->name, w, g);
		assert_str(g, w);
		/* the case above tests nothing if it is the default */
		if (strcmp(g, d) == 0)
			print_error("%s: all_set leaves it at the default\n",
				    f->path);
		assert_true(strcmp(g, d) != 0);
		n++;
		free(w);
		free(g);
		free(d);
	}
	assert_int(got.max_mailbox_size_mb, 1024);
	assert_int(got.min_available_memory_mb, 512);
	print_message("# %zu option-backed fields arrive unchanged\n", n);
	config_deinit(&defaults);
	config_deinit(&got);
	spec_free(&s);
	render_target_free(&t);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_roundtrip),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_fields_arrive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
