/*
 * chatmail-metadata: IMAP METADATA dict server and push notifier
 * (upstream's command line: chatmail-metadata <socket> <chatmail.ini>;
 * common flags in dict_service.c). Own flag: -c CAFILE, the CA bundle
 * that verifies the notification server (default: the system's), for
 * notification_url servers with a private CA such as test servers.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "dict.h"
#include "fs.h"
#include "log.h"
#include "metadata.h"

static struct metadata *md;
static const char *cafile;

static int
opt(void *state, int c, const char *arg)
{
	(void)state;
	if (c != 'c')
		return -1;
	cafile = arg;
	return 0;
}

/* start: make sure the mail store exists, then pick up the
 * notifications a previous run left queued. Upstream refuses to start
 * without mailboxes_dir (its deploy step creates it); a Pod's fresh
 * volume has no such step, so we create it (mkdir -p, 0700) and say so,
 * and refuse only when it cannot be made or is not a directory. */
static int
start(void *state, const struct chatmail_config *cfg, struct evloop *loop,
      const struct dict_service_args *a, const struct dict_ops **ops_r,
      void **ctx_r)
{
	struct stat st;
	int n;

	(void)state;
	(void)a;
	if (stat(cfg->mailboxes_dir, &st) < 0 && errno == ENOENT &&
	    fs_mkdirs(cfg->mailboxes_dir, 0700) == 0)
		log_info("created vmail dir: '%s'", cfg->mailboxes_dir);
	if (stat(cfg->mailboxes_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("vmail dir does not exist: '%s'", cfg->mailboxes_dir);
		return -1;
	}
	md = metadata_new(cfg, loop, cafile);
	n = notifier_requeue(md->notifier);
	if (n > 0)
		log_info("requeued %d pending notifications", n);
	*ops_r = &metadata_ops;
	*ctx_r = md;
	return 0;
}

static void
stop(void *state)
{
	(void)state;
	metadata_free(&md);
}

static int
metrics(void *state, struct buf *out)
{
	(void)state;
	return notifier_metrics(md->notifier, out);
}

int
main(int argc, char **argv)
{
	static const struct dict_service svc = {
		.prog = "chatmail-metadata",
		.dict_name = "metadata",
		.extra_opts = "c:",
		.extra_usage = " [-c cafile]",
		.opt = opt,
		.start = start,
		.stop = stop,
		.metrics = metrics,
	};

	return dict_service_main(&svc, argc, argv);
}
