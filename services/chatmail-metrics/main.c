/*
 * chatmail-metrics: upstream's chatmail-fsreport (chatmaild fsreport.py,
 * docs/UPSTREAM.md, Metrics), run by the relay's metrics CronJob.
 *
 *   chatmail-metrics [<chatmail.ini>] [--textfile PATH]
 *                    [--legacy-metrics [FILENAME]] [--days N]
 *                    [--min-login-age DAYS] [--mdir cur|new|tmp]
 *                    [--maxnum N] [-n]
 *
 * --textfile writes the Prometheus text (PATH/fsreport.prom when PATH is
 * a directory), --legacy-metrics the old accounts gauges (default
 * /var/www/html/metrics), both atomically (temporary file + rename);
 * with neither, the summary goes to stdout. -n prints the effective
 * configuration.
 *
 * Exit: 0, 64 usage, 75 a file could not be written or part of the
 * store could not be read (what could be read is still reported), 78
 * bad config. Untrusted input: the mail store (see maildir.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include "args.h"
#include "config.h"
#include "fs.h"
#include "log.h"
#include "metrics.h"
#include "num.h"

#define DEFAULT_INI "/usr/local/lib/chatmaild/chatmail.ini"
#define DEFAULT_LEGACY "/var/www/html/metrics"
#define OUT_MAX (64 * 1024)

struct args {
	const char *ini, *textfile, *legacy, *mdir;
	int days, dump, has_ini, has_maxnum;
	unsigned min_login_age;
	unsigned long maxnum;
};

/* usage: the synopsis on stderr */
static void
usage(void)
{
	(void)fprintf(
		stderr,
		"usage: chatmail-metrics [chatmail.ini] [--textfile PATH] "
		"[--legacy-metrics [FILENAME]] [--days N]\n"
		"       [--min-login-age DAYS] [--mdir cur|new|tmp] "
		"[--maxnum N] [-n]\n");
}

enum {
	OPT_N = 1,
	OPT_DAYS,
	OPT_MIN_LOGIN_AGE,
	OPT_MAXNUM,
	OPT_LEGACY,
	OPT_TEXTFILE,
	OPT_MDIR,
};

static const struct args_opt opts[] = {
	{ "-n", ARGS_FLAG, OPT_N },
	{ "--days", ARGS_VALUE, OPT_DAYS },
	{ "--min-login-age", ARGS_VALUE, OPT_MIN_LOGIN_AGE },
	{ "--maxnum", ARGS_VALUE, OPT_MAXNUM },
	/* argparse's nargs="?" */
	{ "--legacy-metrics", ARGS_OPTIONAL, OPT_LEGACY },
	{ "--textfile", ARGS_VALUE, OPT_TEXTFILE },
	{ "--mdir", ARGS_VALUE, OPT_MDIR },
	{ NULL, ARGS_FLAG, 0 },
};

/* take_num: a numeric option's value; 0 or -1 (bad) */
static int
take_num(int k, const char *v, struct args *a)
{
	uint64_t u;

	if (k == OPT_DAYS)
		return num_parse_int(v, -36500, 36500, &a->days) < 0 ? -1 : 0;
	if (k == OPT_MIN_LOGIN_AGE)
		return num_parse_uint(v, 0, 36500, &a->min_login_age) < 0 ? -1
									  : 0;
	if (num_parse_u64(v, 0, UINT32_MAX, &u) < 0)
		return -1;
	a->maxnum = (unsigned long)u;
	a->has_maxnum = 1;
	return 0;
}

/* parse_args: upstream's argparse options; 0 or -1 (usage) */
static int
parse_args(int argc, char **argv, struct args *a)
{
	struct args_iter it;
	const char *v;
	int k;

	memset(a, 0, sizeof(*a));
	a->ini = DEFAULT_INI;
	args_init(&it, argc, argv);
	while ((k = args_next(&it, opts, &v)) != ARGS_END) {
		if (k == OPT_N) {
			a->dump = 1;
		} else if (k == OPT_DAYS || k == OPT_MIN_LOGIN_AGE ||
			   k == OPT_MAXNUM) {
			if (take_num(k, v, a) < 0)
				return -1;
		} else if (k == OPT_LEGACY) {
			a->legacy = v != NULL ? v : DEFAULT_LEGACY;
		} else if (k == OPT_TEXTFILE) {
			a->textfile = v;
		} else if (k == OPT_MDIR) {
			if (strcmp(v, "cur") != 0 && strcmp(v, "new") != 0 &&
			    strcmp(v, "tmp") != 0)
				return -1;
			a->mdir = v;
		} else if (k == ARGS_POSITIONAL && !a->has_ini) {
			a->ini = v;
			a->has_ini = 1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* write_out: one output file, logged on failure; 0 or -1 */
static int
write_out(const char *path, const struct buf *b)
{
	char dir[4096];
	char *slash;
	int r;

	/* the textfile's directory may not exist yet on a fresh volume */
	(void)snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if ((r = fs_mkdirs(dir, 0755)) < 0) {
			log_error("cannot create %s: %s", dir, strerror(-r));
			return -1;
		}
	}
	r = metrics_write_atomic(path, buf_cstr(b), b->len);
	if (r < 0) {
		log_error("cannot write %s: %s", path, strerror(-r));
		return -1;
	}
	return 0;
}

/* outputs: textfile, legacy file or the summary; 0 or -1 */
static int
outputs(const struct args *a, const struct metrics_report *r)
{
	struct buf b = BUF_INIT(OUT_MAX);
	char path[4096];
	struct stat st;
	int rc = 0;

	if (a->textfile != NULL) {
		(void)snprintf(path, sizeof(path), "%s", a->textfile);
		if (stat(a->textfile, &st) == 0 && S_ISDIR(st.st_mode))
			(void)snprintf(path, sizeof(path), "%s/fsreport.prom",
				       a->textfile);
		if (metrics_prom(r, &b) < 0 || write_out(path, &b) < 0)
			rc = -1;
		buf_reset(&b);
	}
	if (a->legacy != NULL) {
		if (metrics_legacy(r, &b) < 0 || write_out(a->legacy, &b) < 0)
			rc = -1;
		buf_reset(&b);
	}
	if (a->textfile == NULL && a->legacy == NULL) {
		if (metrics_summary(r, &b) < 0 ||
		    fwrite(b.data, 1, b.len, stdout) != b.len ||
		    fflush(stdout) != 0)
			rc = -1;
	}
	buf_deinit(&b);
	return rc;
}

int
main(int argc, char **argv)
{
	struct chatmail_config cfg;
	struct metrics_report r;
	struct buf err = BUF_INIT(64 * 1024);
	struct timespec now;
	struct args a;
	int rc = 0;

	log_init("chatmail-metrics", 0);
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
	(void)clock_gettime(CLOCK_REALTIME, &now);
	metrics_report_init(&r,
			    (double)now.tv_sec + (double)now.tv_nsec / 1e9 -
				    86400.0 * a.days,
			    a.min_login_age, a.mdir);
	/* upstream slices listdir()[:0]: --maxnum 0 looks at nothing */
	if (!a.has_maxnum || a.maxnum != 0)
		metrics_run(&r, cfg.mailboxes_dir, a.maxnum);
	if (outputs(&a, &r) < 0 || r.errors != 0)
		rc = EX_TEMPFAIL;
out:
	buf_deinit(&err);
	config_deinit(&cfg);
	return rc;
}
