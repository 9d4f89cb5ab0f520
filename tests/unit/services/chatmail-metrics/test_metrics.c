/*
 * test_metrics: chatmail-metrics' figures on a small tree with messages
 * and logins exactly on the bucket boundaries, upstream's number format
 * (HSize), the Prometheus escapers, the whole textfile and legacy output
 * compared with the expected text, and the atomic write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../test_tree.h"

#include "../../../../services/chatmail-metrics/metrics.h"
#include "log.h"

#define DAY 86400
#define KIB 1024
#define MIB (1024 * 1024)

static const time_t now = 1790000000; /* a fixed reference date */

/* put: base/rel (parents too), n bytes (sparse), mtime at t */
static void
put(const char *base, const char *rel, size_t n, time_t t)
{
	tree_put(base, rel, n, t);
}

/* hsize: upstream's HSize on the edges of each unit */
static void
hsize(void **state)
{
	static const struct {
		uint64_t v;
		const char *want;
	} cases[] = {
		{ 0, " 0.00K" },	   { 3, " 0.00K" },
		{ 9999, "10.00K" },	   { 10000, "   10K" },
		{ 102400, "  102K" },	   { 999999, " 1000K" },
		{ 1000000, "    1M" },	   { 1999999, "    1M" },
		{ 999999999, "  999M" },   { 1000000000, " 1.00G" },
		{ 12345678901, "12.35G" },
	};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		metrics_hsize(cases[i].v, out, sizeof(out));
		assert_str(out, cases[i].want);
	}
}

/* escaping: label values and HELP text */
static void
escaping(void **state)
{
	struct buf b = BUF_INIT(256);

	(void)state;
	assert_int(metrics_escape_label(&b, "a\\b\"c\nd"), 0);
	assert_str(buf_cstr(&b), "a\\\\b\\\"c\\nd");
	buf_reset(&b);
	assert_int(metrics_escape_help(&b, "x \"q\" \\ \n"), 0);
	assert_str(buf_cstr(&b), "x \"q\" \\\\ \\n");
	buf_deinit(&b);
}

/* tree: accounts on the login-age edges, messages on the size edges */
static void
build(const char *base)
{
	put(base, "a@x/password", 1, now);		   /* within 1 day */
	put(base, "b@x/password", 1, now - 1 * DAY);	   /* edge of 1 */
	put(base, "c@x/password", 1, now - 1 * DAY - 1);   /* 10 */
	put(base, "d@x/password", 1, now - 150 * DAY);	   /* edge of 150 */
	put(base, "e@x/password", 1, now - 150 * DAY - 1); /* none */
	put(base, "ci-1@x/password", 1, now - 100 * DAY);
	put(base, "f@x/cur/m", 1000, now); /* no password: no buckets */
	put(base, "g@x/password", 1, now + 10 * DAY); /* in the future */
	put(base, "g@x/cur/m", 5 * MIB, now);	      /* not in buckets */
	put(base, "a@x/cur/m0", 100 * KIB - 1, now);
	put(base, "a@x/cur/m1", 100 * KIB, now);
	put(base, "a@x/new/m2", 512 * KIB, now);
	put(base, "a@x/.Sent/cur/m3", 10 * MIB, now);
	put(base, "a@x/dovecot.index", 7, now);
	put(base, "notamailbox/cur/m", 999, now);
}

static const char want_prom[] =
	"# HELP chatmail_storage_bytes Mailbox storage in bytes.\n"
	"# TYPE chatmail_storage_bytes gauge\n"
	"chatmail_storage_bytes{kind=\"messages\"} 16458727\n"
	"chatmail_storage_bytes{kind=\"extra\"} 14\n"
	"chatmail_storage_bytes{kind=\"total\"} 16458741\n"
	"# HELP chatmail_messages_bytes Sum of msg bytes >= threshold.\n"
	"# TYPE chatmail_messages_bytes gauge\n"
	"chatmail_messages_bytes{min_size=\"0\"} 11214847\n"
	"chatmail_messages_bytes{min_size=\"102400\"} 11112448\n"
	"chatmail_messages_bytes{min_size=\"524288\"} 11010048\n"
	"chatmail_messages_bytes{min_size=\"1048576\"} 10485760\n"
	"chatmail_messages_bytes{min_size=\"2097152\"} 10485760\n"
	"chatmail_messages_bytes{min_size=\"5242880\"} 10485760\n"
	"chatmail_messages_bytes{min_size=\"10485760\"} 10485760\n"
	"# HELP chatmail_messages_count Number of msgs >= size threshold.\n"
	"# TYPE chatmail_messages_count gauge\n"
	"chatmail_messages_count{min_size=\"0\"} 4\n"
	"chatmail_messages_count{min_size=\"102400\"} 3\n"
	"chatmail_messages_count{min_size=\"524288\"} 2\n"
	"chatmail_messages_count{min_size=\"1048576\"} 1\n"
	"chatmail_messages_count{min_size=\"2097152\"} 1\n"
	"chatmail_messages_count{min_size=\"5242880\"} 1\n"
	"chatmail_messages_count{min_size=\"10485760\"} 1\n"
	"# HELP chatmail_accounts Number of accounts.\n"
	"# TYPE chatmail_accounts gauge\n"
	"chatmail_accounts{kind=\"all\"} 7\n"
	"chatmail_accounts{kind=\"ci\"} 1\n"
	"chatmail_accounts{kind=\"user\"} 6\n"
	"# HELP chatmail_accounts_active Non-CI accounts active within N "
	"days.\n"
	"# TYPE chatmail_accounts_active gauge\n"
	"chatmail_accounts_active{days=\"1\"} 3\n"
	"chatmail_accounts_active{days=\"10\"} 4\n"
	"chatmail_accounts_active{days=\"30\"} 4\n"
	"chatmail_accounts_active{days=\"40\"} 4\n"
	"chatmail_accounts_active{days=\"80\"} 4\n"
	"chatmail_accounts_active{days=\"100\"} 4\n"
	"chatmail_accounts_active{days=\"150\"} 5\n";

/* buckets: the whole textfile for the boundary tree */
static void
buckets(void **state)
{
	char *base = test_tmpdir();
	struct metrics_report r;
	struct buf b = BUF_INIT(64 * 1024);

	(void)state;
	build(base);
	metrics_report_init(&r, (double)now, 0, NULL);
	metrics_run(&r, base, 0);
	assert_int(r.errors, 0);
	assert_int(metrics_prom(&r, &b), 0);
	assert_str(buf_cstr(&b), want_prom);
	buf_reset(&b);
	assert_int(metrics_legacy(&r, &b), 0);
	assert_str(buf_cstr(&b), "# HELP total number of accounts\n"
				 "# TYPE accounts gauge\n"
				 "accounts 7\n"
				 "# HELP number of CI accounts\n"
				 "# TYPE ci_accounts gauge\n"
				 "ci_accounts 1\n"
				 "# HELP number of non-CI accounts\n"
				 "# TYPE nonci_accounts gauge\n"
				 "nonci_accounts 6\n");
	buf_deinit(&b);
	test_rmtree(base);
	free(base);
}

/* mdir_and_age: --mdir cur and --min-login-age filter the buckets */
static void
mdir_and_age(void **state)
{
	char *base = test_tmpdir();
	struct metrics_report r;
	struct buf b = BUF_INIT(64 * 1024);

	(void)state;
	build(base);
	metrics_report_init(&r, (double)now, 0, "cur");
	metrics_run(&r, base, 0);
	/* cur/m0, cur/m1, .Sent/cur/m3 of a@x */
	assert_int(r.message_count[0], 3);
	assert_int(r.message_bytes[0], 100 * KIB - 1 + 100 * KIB + 10 * MIB);
	assert_int(metrics_summary(&r, &b), 0);
	assert_non_null(strstr(buf_cstr(&b), "[cur] larger than  0.00K:"));
	metrics_report_init(&r, (double)now, 1, NULL);
	metrics_run(&r, base, 0);
	/* a@x logged in now: not a day old, so its messages do not count */
	assert_int(r.message_count[0], 0);
	buf_deinit(&b);
	test_rmtree(base);
	free(base);
}

/* summary_text: the storage part of upstream's summary */
static void
summary_text(void **state)
{
	struct metrics_report r;
	struct buf b = BUF_INIT(64 * 1024);

	(void)state;
	metrics_report_init(&r, (double)now, 0, NULL);
	r.size_messages = 1000;
	r.size_extra = 3000;
	r.message_bytes[0] = 1000;
	r.message_count[0] = 2;
	assert_int(metrics_summary(&r, &b), 0);
	assert_non_null(
		strstr(buf_cstr(&b),
		       "\n## Mailbox storage use analysis\n"
		       "Mailbox data total size:  4.00K\n"
		       "Messages total size    :  1.00K\n"
		       "Extra files :  3.00K (75.00%)\n\n"
		       "larger than  0.00K:  1.00K (100.00%), 2 msgs\n"));
	assert_non_null(strstr(buf_cstr(&b), "last 150 days:  0.00K 100%\n"));
	buf_deinit(&b);
}

/* atomic: the file appears whole, 0644, no temporary left behind */
static void
atomic(void **state)
{
	char *dir = test_tmpdir(), path[4096];
	struct stat st;
	int fd;
	char got[16] = "";

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/fsreport.prom", dir);
	assert_int(metrics_write_atomic(path, "x 1\n", 4), 0);
	assert_int(metrics_write_atomic(path, "y 2\n", 4), 0);
	assert_int(stat(path, &st), 0);
	assert_int(st.st_mode & 0777, 0644);
	fd = open(path, O_RDONLY);
	assert_int(read(fd, got, sizeof(got) - 1), 4);
	(void)close(fd);
	assert_str(got, "y 2\n");
	(void)snprintf(path, sizeof(path), "%s/nodir/x", dir);
	assert_true(metrics_write_atomic(path, "x", 1) < 0);
	test_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hsize),	cmocka_unit_test(escaping),
		cmocka_unit_test(buckets),	cmocka_unit_test(mdir_and_age),
		cmocka_unit_test(summary_text), cmocka_unit_test(atomic),
	};

	log_init("test_metrics", -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
