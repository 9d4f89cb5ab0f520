/*
 * chatmail-expire: upstream's daily expiry of messages and inactive
 * addresses (chatmaild expire.py, docs/UPSTREAM.md, Expiry), run by the
 * relay's expire CronJob as
 * `chatmail-expire <chatmail.ini> -v --remove`.
 *
 *   chatmail-expire [<chatmail.ini>] [-v] [--remove] [--days N]
 *                   [--maxnum N] [-n]
 *
 * Without --remove it is a dry run: it logs and counts what it would
 * remove and deletes nothing. --days N moves the reference date N days
 * into the past (so less expires), --maxnum N looks at the first N
 * directory entries of mailboxes_dir only, -n prints the effective
 * configuration. The summary line goes to stdout as upstream's does.
 *
 * Exit: 0 done, 64 usage, 75 something could not be read or removed
 * (everything else was done; the next run retries), 78 bad config.
 * Untrusted input: the mail store (see maildir.h); flags are the
 * operator's and are checked with num.h.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "args.h"
#include "config.h"
#include "expire.h"
#include "log.h"
#include "num.h"

#define DEFAULT_INI "/usr/local/lib/chatmaild/chatmail.ini"

struct args {
	const char *ini;
	int verbose, remove, dump, has_ini;
	int days;
	int has_maxnum;
	unsigned long maxnum;
};

/* usage: the synopsis on stderr */
static void
usage(void)
{
	(void)fprintf(stderr,
		      "usage: chatmail-expire [chatmail.ini] [-v] [--remove] "
		      "[--days N] [--maxnum N] [-n]\n");
}

enum { OPT_V = 1, OPT_REMOVE, OPT_N, OPT_DAYS, OPT_MAXNUM };

static const struct args_opt opts[] = {
	{ "-v", ARGS_FLAG, OPT_V },
	{ "--remove", ARGS_FLAG, OPT_REMOVE },
	{ "-n", ARGS_FLAG, OPT_N },
	{ "--days", ARGS_VALUE, OPT_DAYS },
	{ "--maxnum", ARGS_VALUE, OPT_MAXNUM },
	{ NULL, ARGS_FLAG, 0 },
};

/* parse_args: upstream's argparse options; 0 or -1 (usage) */
static int
parse_args(int argc, char **argv, struct args *a)
{
	struct args_iter it;
	const char *v;
	uint64_t u;
	int k;

	memset(a, 0, sizeof(*a));
	a->ini = DEFAULT_INI;
	args_init(&it, argc, argv);
	while ((k = args_next(&it, opts, &v)) != ARGS_END) {
		if (k == OPT_V) {
			a->verbose = 1;
		} else if (k == OPT_REMOVE) {
			a->remove = 1;
		} else if (k == OPT_N) {
			a->dump = 1;
		} else if (k == OPT_DAYS) {
			if (num_parse_int(v, -36500, 36500, &a->days) < 0)
				return -1;
		} else if (k == OPT_MAXNUM) {
			if (num_parse_u64(v, 0, UINT32_MAX, &u) < 0)
				return -1;
			a->maxnum = (unsigned long)u;
			a->has_maxnum = 1;
		} else if (k == ARGS_POSITIONAL && !a->has_ini) {
			a->ini = v;
			a->has_ini = 1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* now_f: the wall clock in seconds, like Python's time.time() */
static double
now_f(clockid_t id)
{
	struct timespec ts;

	(void)clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct chatmail_config cfg;
	struct expire_params p;
	struct expire_stats st;
	struct buf err = BUF_INIT(64 * 1024);
	struct args a;
	double start = now_f(CLOCK_MONOTONIC);
	char line[256];
	int rc = 0;

	log_init("chatmail-expire", 0);
	if (parse_args(argc, argv, &a) < 0) {
		usage();
		return EX_USAGE;
	}
	config_init(&cfg);
	if (config_load(&cfg, a.ini, &err) < 0) {
		log_error("bad config %s: %s", a.ini, buf_cstr(&err));
		rc = EX_CONFIG;
		goto out;
	}
	if (a.dump) {
		config_dump(&cfg, stdout);
		goto out;
	}
	memset(&p, 0, sizeof(p));
	memset(&st, 0, sizeof(st));
	p.mailboxes_dir = cfg.mailboxes_dir;
	p.real_now = now_f(CLOCK_REALTIME);
	p.now = p.real_now - 86400.0 * a.days;
	p.delete_mails_after = cfg.delete_mails_after;
	p.delete_large_after = cfg.delete_large_after;
	p.delete_inactive_users_after = cfg.delete_inactive_users_after;
	p.max_mailbox_size_mb = cfg.max_mailbox_size_mb;
	p.maxnum = a.maxnum;
	p.dry = !a.remove;
	p.verbose = a.verbose;
	/* upstream slices listdir()[:0]: --maxnum 0 looks at nothing */
	if (!a.has_maxnum || a.maxnum != 0)
		expire_run(&p, &st);
	expire_summary(&st, now_f(CLOCK_MONOTONIC) - start, line, sizeof(line));
	(void)printf("%s\n", line);
	if (fflush(stdout) != 0 || st.errors != 0) {
		if (st.errors != 0)
			log_error("%u problem(s), see above; exit 75",
				  st.errors);
		rc = EX_TEMPFAIL;
	}
out:
	buf_deinit(&err);
	config_deinit(&cfg);
	return rc;
}
