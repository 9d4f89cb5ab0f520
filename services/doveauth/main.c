/*
 * doveauth: Dovecot passdb/userdb dict server, create-on-first-login
 * (upstream's command line: doveauth <socket> <chatmail.ini>; flags in
 * services/lib/dict_service.c).
 */
#include <stddef.h>

#include "config.h"
#include "dict.h"
#include "doveauth.h"
#include "log.h"

static struct doveauth *auth;

/* start: a legacy SQLite passdb migrated (upstream does it before
 * serving), then the lookup state */
static int
start(void *state, const struct chatmail_config *cfg, struct evloop *loop,
      const struct dict_service_args *a, const struct dict_ops **ops_r,
      void **ctx_r)
{
	(void)state;
	(void)loop;
	(void)a;
	if (auth_migrate_sqlite(cfg->passdb_path, cfg->mailboxes_dir, 0) < 0)
		return -1;
	auth = doveauth_new(cfg);
	*ops_r = &doveauth_ops;
	*ctx_r = auth;
	return 0;
}

static void
stop(void *state)
{
	(void)state;
	doveauth_free(&auth);
}

static int
metrics(void *state, struct buf *out)
{
	(void)state;
	return doveauth_metrics(auth, out);
}

int
main(int argc, char **argv)
{
	static const struct dict_service svc = {
		.prog = "doveauth",
		.dict_name = "auth",
		.start = start,
		.stop = stop,
		.metrics = metrics,
	};

	return dict_service_main(&svc, argc, argv);
}
