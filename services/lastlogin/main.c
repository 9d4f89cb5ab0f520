/*
 * lastlogin: Dovecot last_login dict server (upstream's command line:
 * lastlogin <socket> <chatmail.ini>; flags in dict_service.c).
 */
#include <stddef.h>

#include "config.h"
#include "dict.h"
#include "lastlogin.h"

static struct lastlogin *ll;

static int
start(void *state, const struct chatmail_config *cfg, struct evloop *loop,
      const struct dict_service_args *a, const struct dict_ops **ops_r,
      void **ctx_r)
{
	(void)state;
	(void)loop;
	(void)a;
	ll = lastlogin_new(cfg);
	*ops_r = &lastlogin_ops;
	*ctx_r = ll;
	return 0;
}

static void
stop(void *state)
{
	(void)state;
	lastlogin_free(&ll);
}

int
main(int argc, char **argv)
{
	static const struct dict_service svc = {
		.prog = "lastlogin",
		.dict_name = "lastlogin",
		.start = start,
		.stop = stop,
	};

	return dict_service_main(&svc, argc, argv);
}
