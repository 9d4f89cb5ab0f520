/*
 * chatmail-expire: upstream's daily expiry of messages and inactive
 * addresses (chatmaild expire.py, reference §2.5), run by the relay's
 * expire CronJob as `chatmail-expire <chatmail.ini> -v --remove`.
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

/* flag_value: "--name V" or "--name=V"; NULL when absent */
static const char *
flag_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (argv[*i] == NULL || strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0' || *i + 1 >= argc)
		return NULL;
	++*i;
	return argv[*i];
}

/* parse_args: upstream's argparse options; 0 or -1 (usage) */
static int
parse_args(int argc, char **argv, struct args *a)
{
	const char *v;
	uint64_t u;
	int i;

	memset(a, 0, sizeof(*a));
	a->ini = DEFAULT_INI;
	for (i = 1; i < argc && argv[i] != NULL; i++) {
		const char *s = argv[i];

		if (strcmp(argv[i], "-v") == 0)
			a->verbose = 1;
		else if (strcmp(argv[i], "--remove") == 0)
			a->remove = 1;
		else if (strcmp(argv[i], "-n") == 0)
			a->dump = 1;
		else if ((v = flag_value(argc, argv, &i, "--days")) != NULL) {
			if (num_parse_int(v, -36500, 36500, &a->days) < 0)
				return -1;
		} else if ((v = flag_value(argc, argv, &i, "--maxnum")) !=
			   NULL) {
			if (num_parse_u64(v, 0, UINT32_MAX, &u) < 0)
				return -1;
			a->maxnum = (unsigned long)u;
			a->has_maxnum = 1;
		} else if (s[0] == '-' || a->has_ini) {
			return -1;
		} else {
			a->ini = s;
			a->has_ini = 1;
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
