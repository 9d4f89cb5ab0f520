/*
 * test_metadata_push: chatmail-metadata's notifier with a fake transport
 * (200/410/failure handling, retries, requeue at start, bounded
 * concurrency) and the dict wire format, including TURN lookups against
 * real Unix sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "metadata_fixture.h"

/* --- the notifier with a fake transport -------------------------------- */

struct fake {
	struct notifier *n;
	struct evloop *loop;
	char *dir, qdir[600], udir[600];
	long statuses[16]; /* answers in order; -1: keep pending */
	int nstatus, next;
	int64_t at[16];	     /* when each attempt happened (wall) */
	char tokens[64][32]; /* token of each attempt */
	int attempts;
	struct notify_item *pending[64];
	int npending;
	int gone;
};

static struct fake *F;

static void
fake_post(struct notifier *n, struct notify_item *it, const char *token)
{
	long st = F->next < F->nstatus ? F->statuses[F->next++] : 200;

	if (F->attempts < 16)
		F->at[F->attempts] = fake_now;
	(void)snprintf(F->tokens[F->attempts % 64], 32, "%s", token);
	F->attempts++;
	if (st < 0) {
		F->pending[F->npending++] = it;
		return;
	}
	notifier_done(n, it, st, st == 0 ? "connection refused" : NULL);
}

static void
fake_gone(void *ctx, const char *addr, const char *token)
{
	(void)ctx;
	(void)addr;
	F->gone++;
	assert_int(tokens_remove(F->udir, token, fake_now), 0);
}

static int
fsetup(void **state)
{
	struct fake *f = xcalloc(1, sizeof(*f));

	log_init("test_metadata", getenv("V") ? 1 : -2);
	fake_now = NOW;
	fake_ms = 1000000;
	f->dir = test_tmpdir();
	(void)snprintf(f->qdir, sizeof(f->qdir), "%s/q", f->dir);
	(void)snprintf(f->udir, sizeof(f->udir), "%s/a@example.org", f->dir);
	assert_int(mkdir(f->qdir, 0700), 0);
	f->loop = evloop_new();
	evloop_set_clock(f->loop, clock_ms);
	f->n = notifier_new(f->loop, f->qdir, "https://127.0.0.1:1/notify",
			    NULL, fake_gone, NULL);
	notifier_set_post(f->n, fake_post);
	notifier_set_clock(f->n, clock_now);
	F = f;
	*state = f;
	return 0;
}

static int
fteardown(void **state)
{
	struct fake *f = *state;

	notifier_free(&f->n);
	evloop_free(&f->loop);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* advance: move both clocks by secs, one second at a time */
static void
advance(struct fake *f, int secs)
{
	for (int i = 0; i < secs; i++) {
		(void)evloop_run_once(f->loop, 0);
		fake_now++;
		fake_ms += 1000;
	}
	(void)evloop_run_once(f->loop, 0);
}

/* queue_files: entries in the queue directory */
static int
queue_files(const struct fake *f)
{
	DIR *d = opendir(f->qdir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	(void)closedir(d);
	return n;
}

/* check_metrics: the notifier's metrics text has the line want */
static void
check_metrics(struct fake *f, const char *want)
{
	struct buf out = BUF_INIT(1 << 14);

	assert_int(notifier_metrics(f->n, &out), 0);
	if (strstr(buf_cstr(&out), want) == NULL) {
		print_error("want %s in:\n%s", want, buf_cstr(&out));
		fail();
	}
	buf_deinit(&out);
}

static void
test_retries_then_drop(void **state)
{
	struct fake *f = *state;
	static const int64_t want[] = { 0, 8, 72, 584, 4680 };
	char t0[] = "01234", *tok[] = { t0 };
	struct notify_stats st;

	f->nstatus = 5;
	f->statuses[0] = 500;
	f->statuses[1] = 404;
	f->statuses[2] = 0; /* a failed connection */
	f->statuses[3] = 500;
	f->statuses[4] = 503;
	assert_int(notifier_push(f->n, "a@example.org", tok, 1), 1);
	assert_int(queue_files(f), 1);
	advance(f, 5000);
	assert_int(f->attempts, 5);
	for (int i = 0; i < 5; i++)
		assert_int(f->at[i] - NOW, want[i]);
	notifier_stats(f->n, &st);
	assert_int(st.dropped, 1);
	assert_int(st.failed, 5);
	assert_int(st.retried, 4);
	assert_int(st.pending, 0);
	assert_int(queue_files(f), 0);
	check_metrics(f, "chatmail_metadata_push_retried_total 4\n");
	check_metrics(f, "chatmail_metadata_push_dropped_total 1\n");
	check_metrics(f, "chatmail_metadata_push_sent_total 0\n");
}

static void
test_gone_removes_token(void **state)
{
	struct fake *f = *state;
	struct buf b = BUF_INIT(256);
	char **list;
	int n;

	assert_int(tokens_add(f->udir, "01234", NOW), 0);
	assert_int(tokens_add(f->udir, "45678", NOW), 0);
	n = tokens_list(f->udir, NOW, &list);
	assert_int(n, 2);
	f->nstatus = 2;
	f->statuses[0] = 410;
	f->statuses[1] = 200;
	assert_int(notifier_push(f->n, "a@example.org", list, n), 2);
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	advance(f, 1);
	assert_int(f->attempts, 2);
	assert_str(f->tokens[0], "01234");
	assert_str(f->tokens[1], "45678");
	assert_int(f->gone, 1);
	assert_int(tokens_get(f->udir, NOW, &b), 0);
	assert_str(buf_cstr(&b), "45678");
	assert_int(queue_files(f), 0);
	buf_deinit(&b);
}

static void
test_requeue(void **state)
{
	struct fake *f = *state;
	char path[700];

	(void)snprintf(path, sizeof(path),
		       "%s/0123456789abcdef0123456789abcdef", f->qdir);
	spit(path, "a@example.org\n1800000000\ntok-requeued");
	(void)snprintf(path, sizeof(path), "%s/1203981203.tmp", f->qdir);
	spit(path, "a@example.org\n1800000000\nhalf");
	(void)snprintf(path, sizeof(path), "%s/1203981203", f->qdir);
	spit(path, "");
	assert_int(notifier_requeue(f->n), 1);
	assert_int(queue_files(f), 1);
	advance(f, 1);
	assert_int(f->attempts, 1);
	assert_str(f->tokens[0], "tok-requeued");
	assert_int(queue_files(f), 0);
	/* an item older than the deadline is dropped at once */
	(void)snprintf(path, sizeof(path), "%s/aaaa", f->qdir);
	spit(path, "a@example.org\n1700000000\nstale");
	assert_int(notifier_requeue(f->n), 1);
	assert_int(queue_files(f), 0);
	assert_int(f->attempts, 1);
}

static void
test_bounded_concurrency(void **state)
{
	struct fake *f = *state;
	char *toks[30], buf[30][8];
	struct notify_stats st;

	for (int i = 0; i < 30; i++) {
		(void)snprintf(buf[i], sizeof(buf[i]), "t%d", i);
		toks[i] = buf[i];
		f->statuses[i % 16] = -1;
	}
	f->nstatus = 16;
	assert_int(notifier_push(f->n, "a@example.org", toks, 30), 30);
	advance(f, 1);
	notifier_stats(f->n, &st);
	assert_int(st.inflight, NOTIFY_INFLIGHT_MAX);
	assert_int(st.waiting, 30 - NOTIFY_INFLIGHT_MAX);
	assert_int(st.pending, 30);
	check_metrics(f, "chatmail_metadata_push_in_flight 12\n");
	assert_int(NOTIFY_INFLIGHT_MAX, 12);
	check_metrics(f, "chatmail_metadata_push_pending 30\n");
	/* finishing one starts the next (which answers 200 at once after
	 * the 16 scripted pending ones) */
	for (int i = 0; i < f->npending; i++)
		notifier_done(f->n, f->pending[i], 200, NULL);
	advance(f, 1);
	notifier_stats(f->n, &st);
	assert_int(st.sent, 30);
	assert_int(st.inflight, 0);
	assert_int(st.retried, 0);
	check_metrics(f, "chatmail_metadata_push_sent_total 30\n");
	check_metrics(f, "chatmail_metadata_push_pending 0\n");
	assert_int(f->attempts, 30);
}

/* --- the dict wire ------------------------------------------------------ */

struct wire {
	char *dir, mbox[512], ini_turn[600];
	struct chatmail_config cfg;
	struct evloop *loop;
	struct metadata *md;
	struct dict_server *srv;
	struct fake fake;
	int turn_lfd;
};

/* turn_accept: a TURN server that answers every connection at once */
static void
turn_accept(struct evloop *loop, int fd, unsigned events, void *arg)
{
	int c = net_accept(fd);

	(void)loop;
	(void)events;
	(void)arg;
	if (c >= 0) {
		assert_int(write(c, "testuser:testpass\n", 18), 18);
		(void)close(c);
	}
}

/* wire_setup: the service on a chatmail.ini with extra lines */
static int
wire_setup(void **state, const char *extra)
{
	struct wire *w = xcalloc(1, sizeof(*w));
	struct buf text = BUF_INIT(4096), err = BUF_INIT(4096);

	log_init("test_metadata", getenv("V") ? 1 : -2);
	fake_now = time(NULL);
	w->dir = test_tmpdir();
	(void)snprintf(w->mbox, sizeof(w->mbox), "%s/mail", w->dir);
	assert_int(mkdir(w->mbox, 0700), 0);
	(void)snprintf(w->ini_turn, sizeof(w->ini_turn), "%s/turn.socket",
		       w->dir);
	(void)buf_printf(&text,
			 "[params]\nmail_domain = example.org\n"
			 "mailboxes_dir = %s\nturn_socket_path = %s\n"
			 "privacy_mail = privacy@example.org\n"
			 "iroh_relay = https://example.org/\n%s",
			 w->mbox, w->ini_turn, extra);
	if (config_load_string(&w->cfg, buf_cstr(&text), 0, &err) < 0)
		fail_msg("config: %s", buf_cstr(&err));
	w->loop = evloop_new();
	w->md = metadata_new(&w->cfg, w->loop, NULL);
	w->md->now = clock_now;
	F = &w->fake;
	(void)snprintf(w->fake.udir, sizeof(w->fake.udir),
		       "%s/user@example.org", w->mbox);
	notifier_set_post(w->md->notifier, fake_post);
	notifier_set_clock(w->md->notifier, clock_now);
	w->srv = dict_server_new(w->loop, "metadata", &metadata_ops, w->md);
	w->turn_lfd = -1;
	buf_deinit(&text);
	buf_deinit(&err);
	*state = w;
	return 0;
}

static int
wsetup(void **state)
{
	return wire_setup(state, "");
}

/* wsetup_host: TURN on a node's address (spec.turn.hostNetwork) */
static int
wsetup_host(void **state)
{
	return wire_setup(state, "turn_hostname = 203.0.113.9\n");
}

static int
wteardown(void **state)
{
	struct wire *w = *state;

	dict_server_free(&w->srv);
	metadata_free(&w->md);
	if (w->turn_lfd >= 0) {
		evloop_io_del(w->loop, w->turn_lfd);
		(void)close(w->turn_lfd);
	}
	evloop_free(&w->loop);
	config_deinit(&w->cfg);
	test_rmtree(w->dir);
	free(w->dir);
	free(w);
	return 0;
}

/* converse: text in, everything the server says until it closes */
static char *
converse(struct wire *w, const char *text)
{
	return dict_converse(w->loop, w->srv, text);
}

#define H "H3\t2\t0\t\tmetadata\n"
#define DC "Lshared/0123/vendor/vendor.dovecot/pvt/server/vendor/deltachat/"

static void
test_wire_tokens_and_push(void **state)
{
	struct wire *w = *state;
	char *out;

	/* upstream's test_handle_dovecot_request_happy_path over the wire */
	out = converse(w, H "B1111\tuser@example.org\n"
			    "S1111\tpriv/guid00/devicetoken\t01234\nC1111\n"
			    "Lpriv/0123/devicetoken\tuser@example.org\n"
			    "Lpriv/123/chatmail\tuser@example.org\n"
			    "B2222\tuser@example.org\n"
			    "S2222\tpriv/guid00/messagenew\t\nC2222\n");
	assert_str(out, "O1111\nO01234\nN\nO2222\n");
	free(out);
	assert_int(w->fake.attempts, 1);
	assert_str(w->fake.tokens[0], "01234");
	/* unknown keys fail the commit; server-level tokens are not ours */
	out = converse(w, H "B1\tuser@example.org\nS1\tpriv/g/other\tx\nC1\n"
			    "B2\tuser@example.org\nS2\tpriv/g/vendor/vendor."
			    "dovecot/pvt/server/devicetoken\tx\nC2\n");
	assert_str(out, "F1\tset failed\nF2\tset failed\n");
	free(out);
	/* a user without tokens: an empty value, as upstream */
	out = converse(w, H "Lpriv/0123/devicetoken\tnobody@example.org\n");
	assert_str(out, "O\n");
	free(out);
}

static void
test_wire_shared(void **state)
{
	struct wire *w = *state;
	char *out;

	out = converse(w, H DC "irohrelay\tu\n" DC "maxsmtprecipients\tu\n" DC
			       "unknown\tu\n"
			       "Lshared/0123/vendor/vendor.dovecot/pvt/server/"
			       "wrong/prefix/key\tu\n"
			       "Lshared/0123/vendor/vendor.dovecot/pvt/server/"
			       "admin\tu\n");
	assert_str(out, "Ohttps://example.org/\nO1000\nN\nN\n"
			"Omailto:privacy@example.org\n");
	free(out);
	out = converse(w, H DC "appversions\tuser@example.org\n");
	assert_true(strncmp(out, "O{\"clients\":[", 13) == 0);
	assert_int(out[strlen(out) - 1], '\n');
	free(out);
}

static void
test_wire_turn(void **state)
{
	struct wire *w = *state;
	struct buf err = BUF_INIT(256);
	char *out;
	uint64_t t0;
	struct timespec ts;

	/* no TURN server: N, and the next reply still comes in order */
	out = converse(w, H DC "turn\tu\n" DC "maxsmtprecipients\tu\n");
	assert_str(out, "N\nO1000\n");
	free(out);
	/* a TURN server that answers */
	w->turn_lfd = net_listen_unix(w->ini_turn, 0600, (uid_t)-1, (gid_t)-1,
				      1, &err);
	assert_true(w->turn_lfd >= 0);
	assert_int(
		evloop_io_add(w->loop, w->turn_lfd, EV_READ, turn_accept, NULL),
		0);
	out = converse(w, H DC "turn\tu\n" DC "maxsmtprecipients\tu\n");
	assert_str(out, "Oexample.org:3478:testuser:testpass\nO1000\n");
	free(out);
	/* one that never answers: N after the 5 s deadline */
	evloop_io_del(w->loop, w->turn_lfd);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec;
	out = converse(w, H DC "turn\tu\n");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	assert_str(out, "N\n");
	assert_true((uint64_t)ts.tv_sec - t0 >= 4);
	free(out);
	buf_deinit(&err);
}

/* test_wire_turn_host: turn_hostname is the host clients are told */
static void
test_wire_turn_host(void **state)
{
	struct wire *w = *state;
	struct buf err = BUF_INIT(256);
	char *out;

	w->turn_lfd = net_listen_unix(w->ini_turn, 0600, (uid_t)-1, (gid_t)-1,
				      1, &err);
	assert_true(w->turn_lfd >= 0);
	assert_int(
		evloop_io_add(w->loop, w->turn_lfd, EV_READ, turn_accept, NULL),
		0);
	out = converse(w, H DC "turn\tu\n");
	assert_str(out, "O203.0.113.9:3478:testuser:testpass\n");
	free(out);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_retries_then_drop, fsetup,
						fteardown),
		cmocka_unit_test_setup_teardown(test_gone_removes_token, fsetup,
						fteardown),
		cmocka_unit_test_setup_teardown(test_requeue, fsetup,
						fteardown),
		cmocka_unit_test_setup_teardown(test_bounded_concurrency,
						fsetup, fteardown),
		cmocka_unit_test_setup_teardown(test_wire_tokens_and_push,
						wsetup, wteardown),
		cmocka_unit_test_setup_teardown(test_wire_shared, wsetup,
						wteardown),
		cmocka_unit_test_setup_teardown(test_wire_turn, wsetup,
						wteardown),
		cmocka_unit_test_setup_teardown(test_wire_turn_host,
						wsetup_host, wteardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
