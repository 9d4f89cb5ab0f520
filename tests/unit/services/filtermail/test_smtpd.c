/* test_smtpd: filtermail's SMTP server driven by golden transcripts
 * (the .txt files in tests/data/smtp), each played twice: all at once and one byte
 * at a time. A transcript says what the client sends, what filtermail
 * must answer, what the fake Postfix behind it must receive (commands
 * and the message), and whether the connection ends closed.
 *
 * Transcript lines:
 *   # comment
 *   @mode outgoing|incoming   @max_size N   @ratelimit PER_MINUTE BURST
 *   @sink nopipelining|down|silent   @sink rcpt=REPLY   @sink dot=REPLY
 *   @cmd_timeout MS           filtermail's idle timeout (default 300 s)
 *   @messages N               messages the fake Postfix must accept
 *   @stats A R D E L          filtermail's counters afterwards: messages
 *                             accepted, rejected, deferred, reinjection
 *                             errors, rate-limited MAIL FROMs
 *   @closed                   filtermail closes the connection
 *   C: text                   client line (CRLF added)
 *   C| text                   client bytes, no CRLF added
 *   C* N c                    client line of N times the character c
 *   S: text                   filtermail's reply line (CRLF added)
 *   P: text                   a command line the fake Postfix received
 *   M: text                   a line of the message it received
 * Escapes in text: \r \n \t \\ .
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/filtermail.h"
#include "log.h"
#include "test_smtpd_sink.h"

/* ---- a test-only policy: the message says what to decide ---- */

struct tcheck {
	struct evloop_timer timer;
	struct fm_verdict v;
	fm_policy_done_fn *done;
	void *arg;
};

static struct evloop *test_loop;

/* find: memmem(3) without _GNU_SOURCE */
static const char *
find(const char *p, size_t n, const char *s)
{
	size_t sn = strlen(s), i;

	for (i = 0; i + sn <= n; i++)
		if (memcmp(p + i, s, sn) == 0)
			return p + i;
	return NULL;
}

static void
tcheck_fire(struct evloop *loop, void *arg)
{
	struct tcheck *c = arg;

	(void)loop;
	c->done(c->arg, &c->v);
	free(c);
}

/* verdict from "X-Verdict: CODE text", else pass with a prepend (which
 * replaces the header section when there is "X-Replace-Header") */
static struct fm_check *
test_check(void *policy, const struct fm_envelope *env, const char *msg,
	   size_t len, fm_policy_done_fn *done, void *arg)
{
	struct tcheck *c = calloc(1, sizeof(*c));
	const char *v = find(msg, len, "X-Verdict: ");
	size_t n;

	(void)policy;
	(void)env;
	assert_non_null(c);
	if (v != NULL) {
		v += 11;
		n = strcspn(v, "\r\n");
		(void)snprintf(c->v.text, sizeof(c->v.text), "%.*s", (int)n, v);
		c->v.code =
			(v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
	} else {
		c->v.code = 250;
		(void)snprintf(c->v.text, sizeof(c->v.text), "250 OK");
		c->v.prepend = "X-Test-Prepend: 1\r\n";
		if (find(msg, len, "X-Replace-Header") != NULL &&
		    (v = find(msg, len, "\r\n\r\n")) != NULL) {
			/* as outgoing does: a new header section */
			c->v.prepend = "X-Test-Prepend: 1\r\nSubject: [...]"
				       "\r\n\r\n";
			c->v.skip = (size_t)(v + 4 - msg);
		}
		c->v.prepend_len = strlen(c->v.prepend);
		c->v.empty_return_path =
			find(msg, len, "X-Empty-Return-Path") != NULL;
	}
	if (find(msg, len, "X-Async") == NULL) {
		done(arg, &c->v);
		free(c);
		return NULL;
	}
	c->done = done;
	c->arg = arg;
	evloop_timer_init(&c->timer, tcheck_fire, c);
	evloop_timer_start(test_loop, &c->timer, 1);
	return (struct fm_check *)c;
}

static void
test_cancel(struct fm_check **cp)
{
	struct tcheck *c = (struct tcheck *)*cp;

	if (c == NULL)
		return;
	evloop_timer_stop(test_loop, &c->timer);
	free(c);
	*cp = NULL;
}

/* ---- transcripts ---- */

struct script {
	int outgoing;
	uint64_t max_size;
	unsigned rl_rate, rl_burst;
	int sink_nopipe, sink_down, sink_silent;
	char rcpt_reply[128], dot_reply[128];
	uint64_t cmd_ms; /* 0: the default */
	int messages;	 /* -1: not checked */
	int closed;
	int stats;	    /* @stats given */
	uint64_t counts[5]; /* @stats: accepted ... rate_limited */
	struct buf client, server, cmds, msg;
};

/* unescape: \r \n \t \\ into out */
static void
unescape(const char *s, struct buf *out)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			(void)buf_putc(out, *s == 'r'	? '\r'
					    : *s == 'n' ? '\n'
					    : *s == 't' ? '\t'
							: *s);
		} else {
			(void)buf_putc(out, *s);
		}
	}
}

/* ratelimit: "PER_MINUTE BURST" */
static void
ratelimit(struct script *sc, const char *s)
{
	char *end;

	sc->rl_rate = (unsigned)strtoul(s, &end, 10);
	sc->rl_burst = (unsigned)strtoul(end, NULL, 10);
}

/* stats: "A R D E L" */
static void
stats(struct script *sc, const char *s)
{
	char *end;
	size_t i;

	sc->stats = 1;
	for (i = 0; i < 5; i++, s = end)
		sc->counts[i] = strtoull(s, &end, 10);
}

/* directive: one "@..." line */
static void
directive(struct script *sc, const char *l)
{
	if (strcmp(l, "@mode outgoing") == 0)
		sc->outgoing = 1;
	else if (strcmp(l, "@mode incoming") == 0)
		sc->outgoing = 0;
	else if (strncmp(l, "@max_size ", 10) == 0)
		sc->max_size = strtoull(l + 10, NULL, 10);
	else if (strncmp(l, "@ratelimit ", 11) == 0)
		ratelimit(sc, l + 11);
	else if (strcmp(l, "@sink nopipelining") == 0)
		sc->sink_nopipe = 1;
	else if (strcmp(l, "@sink down") == 0)
		sc->sink_down = 1;
	else if (strcmp(l, "@sink silent") == 0)
		sc->sink_silent = 1;
	else if (strncmp(l, "@sink rcpt=", 11) == 0)
		(void)snprintf(sc->rcpt_reply, sizeof(sc->rcpt_reply), "%.127s",
			       l + 11);
	else if (strncmp(l, "@sink dot=", 10) == 0)
		(void)snprintf(sc->dot_reply, sizeof(sc->dot_reply), "%.127s",
			       l + 10);
	else if (strncmp(l, "@messages ", 10) == 0)
		sc->messages = (int)strtol(l + 10, NULL, 10);
	else if (strncmp(l, "@cmd_timeout ", 13) == 0)
		sc->cmd_ms = strtoull(l + 13, NULL, 10);
	else if (strcmp(l, "@closed") == 0)
		sc->closed = 1;
	else if (strncmp(l, "@stats ", 7) == 0)
		stats(sc, l + 7);
	else
		fail_msg("unknown directive %s", l);
}

/* script_line: one transcript line */
static void
script_line(struct script *sc, char *l)
{
	size_t n;
	char *end;

	if (l[0] == '#' || l[0] == '\0')
		return;
	if (l[0] == '@') {
		directive(sc, l);
		return;
	}
	if (strlen(l) < 2 || (l[2] != ' ' && l[2] != '\0'))
		fail_msg("bad transcript line %s", l);
	l[2] = '\0';
	if (strcmp(l, "C:") == 0) {
		unescape(l + 3, &sc->client);
		(void)buf_puts(&sc->client, "\r\n");
	} else if (strcmp(l, "C|") == 0) {
		unescape(l + 3, &sc->client);
	} else if (strcmp(l, "C*") == 0) {
		n = strtoul(l + 3, &end, 10);
		while (n-- > 0)
			(void)buf_putc(&sc->client, end[1]);
		(void)buf_puts(&sc->client, "\r\n");
	} else if (strcmp(l, "S:") == 0) {
		unescape(l + 3, &sc->server);
		(void)buf_puts(&sc->server, "\r\n");
	} else if (strcmp(l, "P:") == 0) {
		unescape(l + 3, &sc->cmds);
		(void)buf_puts(&sc->cmds, "\n");
	} else if (strcmp(l, "M:") == 0) {
		unescape(l + 3, &sc->msg);
		(void)buf_puts(&sc->msg, "\r\n");
	} else {
		fail_msg("bad transcript line %s", l);
	}
}

static void
script_load(struct script *sc, const char *path)
{
	char line[8192];
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	memset(sc, 0, sizeof(*sc));
	sc->outgoing = 1;
	sc->max_size = 1 << 20;
	sc->messages = -1;
	buf_init(&sc->client, 1 << 20);
	buf_init(&sc->server, 1 << 20);
	buf_init(&sc->cmds, 1 << 20);
	buf_init(&sc->msg, 1 << 20);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		script_line(sc, line);
	}
	fclose(f);
}

static void
script_free(struct script *sc)
{
	buf_deinit(&sc->client);
	buf_deinit(&sc->server);
	buf_deinit(&sc->cmds);
	buf_deinit(&sc->msg);
}

/* drain: read what filtermail sent; 1 if it closed */
static int
drain(int fd, struct buf *got)
{
	char b[4096];
	ssize_t n;

	for (;;) {
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n > 0) {
			(void)buf_append(got, b, (size_t)n);
			continue;
		}
		return n == 0 || (n < 0 && errno == ECONNRESET);
	}
}

/* play_setup: filtermail's context and the reinject sink as the
 * script asks */
static void
play_setup(const struct script *sc, struct evloop *loop, struct fm_ctx *ctx,
	   struct sink *k)
{
	struct buf err = BUF_INIT(256);

	fm_ctx_init(ctx, loop);
	ctx->outgoing = sc->outgoing;
	ctx->max_size = sc->max_size;
	ctx->check = test_check;
	ctx->cancel = test_cancel;
	ctx->t.reply_ms = 2000;
	if (sc->cmd_ms > 0)
		ctx->t.cmd_ms = sc->cmd_ms;
	if (sc->rl_rate > 0)
		ctx->rl = fm_ratelimit_new(sc->rl_rate, sc->rl_burst, 100);
	sink_start(k, loop);
	k->pipelining = !sc->sink_nopipe;
	k->silent = sc->sink_silent;
	(void)snprintf(k->rcpt_reply, sizeof(k->rcpt_reply), "%s",
		       sc->rcpt_reply);
	(void)snprintf(k->dot_reply, sizeof(k->dot_reply), "%s", sc->dot_reply);
	assert_int(net_resolve("127.0.0.1", (unsigned)k->port, &ctx->reinject,
			       &err),
		   0);
	if (sc->sink_down) {
		evloop_io_del(loop, k->lfd);
		close(k->lfd);
		k->lfd = -1;
	}
	buf_deinit(&err);
}

/* converse: send the client's side on fd, bytewise or at once, and
 * collect filtermail's answers in got; 1 if filtermail closed */
static int
converse(const struct script *sc, struct evloop *loop, int fd, int bytewise,
	 struct buf *got)
{
	int closed = 0, i;
	size_t off;

	for (off = 0; off < sc->client.len;) {
		size_t n = bytewise ? 1 : sc->client.len - off;
		ssize_t w = send(fd, sc->client.data + off, n, MSG_NOSIGNAL);

		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			break; /* filtermail closed on us */
		(void)evloop_run_once(loop, bytewise ? 0 : 1);
		closed |= drain(fd, got);
	}
	for (i = 0; i < 3000 && !closed; i++) {
		(void)evloop_run_once(loop, 1);
		closed |= drain(fd, got);
		if (got->len >= sc->server.len && !sc->closed && i > 50)
			break;
	}
	for (i = 0; i < 20; i++) /* let the sink read the rest */
		(void)evloop_run_once(loop, 1);
	return closed;
}

/* check_stats: the counters after a transcript: one session, every
 * finished message counted once with its check's latency, and the
 * numbers @stats asks for */
static void
check_stats(const struct script *sc, const struct fm_stats *st)
{
	uint64_t jobs = st->accepted + st->rejected + st->deferred;

	assert_int(st->smtp_sessions, 1);
	assert_int(st->check.count, jobs);
	assert_true(st->reinject.count <= jobs);
	if (!sc->stats)
		return;
	assert_int(st->accepted, sc->counts[0]);
	assert_int(st->rejected, sc->counts[1]);
	assert_int(st->deferred, sc->counts[2]);
	assert_int(st->reinject_errors, sc->counts[3]);
	assert_int(st->rate_limited, sc->counts[4]);
}

/* play: run one transcript, bytewise or all at once */
static void
play(const struct script *sc, int bytewise)
{
	struct evloop *loop = evloop_new();
	struct buf got = BUF_INIT(1 << 20), err = BUF_INIT(256);
	struct fm_ctx ctx;
	struct fm_stats st;
	struct fm_smtpd *srv;
	struct sink k;
	struct net_addr a;
	int lfd, fd, closed, r;

	test_loop = loop;
	play_setup(sc, loop, &ctx, &k);
	memset(&st, 0, sizeof(st));
	ctx.stats = &st;
	lfd = net_listen_tcp("127.0.0.1", 0, 16, &err);
	assert_true(lfd >= 0);
	assert_int(net_resolve("127.0.0.1", (unsigned)net_local_port(lfd), &a,
			       &err),
		   0);
	srv = fm_smtpd_new(&ctx, lfd);
	assert_non_null(srv);
	r = net_connect(&a, &fd);
	assert_true(r == 0 || r == 1);
	closed = converse(sc, loop, fd, bytewise, &got);
	if (strcmp(buf_cstr(&got), buf_cstr(&sc->server)) != 0)
		print_error("(%s)\n", bytewise ? "bytewise" : "at once");
	assert_str(buf_cstr(&got), buf_cstr(&sc->server));
	assert_int(closed, sc->closed);
	assert_str(buf_cstr(&k.cmds), buf_cstr(&sc->cmds));
	if (sc->messages >= 0) {
		assert_int(k.messages, sc->messages);
		assert_str(buf_cstr(&k.msg), buf_cstr(&sc->msg));
	}
	check_stats(sc, &st);
	close(fd);
	fm_smtpd_free(&srv);
	sink_stop(&k);
	fm_ratelimit_free(&ctx.rl);
	evloop_free(&loop);
	buf_deinit(&got);
	buf_deinit(&err);
}

/* test_transcript: one transcript (its path is the test's state) */
static void
test_transcript(void **state)
{
	struct script sc;

	script_load(&sc, *state);
	play(&sc, 0);
	play(&sc, 1);
	script_free(&sc);
}

/* test_max_sessions: past max_sessions a connection gets 421 */
static void
test_max_sessions(void **state)
{
	struct evloop *loop = evloop_new();
	struct buf got = BUF_INIT(4096), err = BUF_INIT(256);
	struct fm_ctx ctx;
	struct fm_smtpd *srv;
	struct net_addr a;
	int lfd, fd1, fd2, i, closed = 0;

	(void)state;
	fm_ctx_init(&ctx, loop);
	ctx.max_sessions = 1;
	ctx.check = test_check;
	ctx.cancel = test_cancel;
	lfd = net_listen_tcp("127.0.0.1", 0, 16, &err);
	assert_true(lfd >= 0);
	assert_int(net_resolve("127.0.0.1", (unsigned)net_local_port(lfd), &a,
			       &err),
		   0);
	srv = fm_smtpd_new(&ctx, lfd);
	assert_true(net_connect(&a, &fd1) >= 0);
	for (i = 0; i < 20; i++)
		(void)evloop_run_once(loop, 1);
	assert_int(fm_smtpd_sessions(srv), 1);
	assert_true(net_connect(&a, &fd2) >= 0);
	for (i = 0; i < 200 && !closed; i++) {
		(void)evloop_run_once(loop, 1);
		closed = drain(fd2, &got);
	}
	assert_str(buf_cstr(&got), "421 4.3.2 Too many connections\r\n");
	assert_int(closed, 1);
	assert_int(fm_smtpd_sessions(srv), 1);
	close(fd1);
	close(fd2);
	for (i = 0; i < 20 && fm_smtpd_sessions(srv) > 0; i++)
		(void)evloop_run_once(loop, 1);
	assert_int(fm_smtpd_sessions(srv), 0);
	fm_smtpd_free(&srv);
	evloop_free(&loop);
	buf_deinit(&got);
	buf_deinit(&err);
}

#define MAX_TRANSCRIPTS 64

int
main(void)
{
	static char names[MAX_TRANSCRIPTS][256], paths[MAX_TRANSCRIPTS][512];
	struct CMUnitTest tests[MAX_TRANSCRIPTS + 1];
	const char *dir = "tests/data/smtp";
	struct dirent *de;
	size_t n = 0, len;
	DIR *d;

	log_init("filtermail", -1);
	d = opendir(dir);
	if (d == NULL) {
		perror(dir);
		return 1;
	}
	/* one test per transcript file, each played twice */
	while ((de = readdir(d)) != NULL && n < MAX_TRANSCRIPTS) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".txt") != 0)
			continue;
		(void)snprintf(names[n], sizeof(names[n]), "transcript %s",
			       de->d_name);
		(void)snprintf(paths[n], sizeof(paths[n]), "%s/%s", dir,
			       de->d_name);
		memset(&tests[n], 0, sizeof(tests[n]));
		tests[n].name = names[n];
		tests[n].test_func = test_transcript;
		tests[n].initial_state = paths[n];
		n++;
	}
	closedir(d);
	if (n < 10) {
		(void)fprintf(stderr, "only %zu transcripts in %s\n", n, dir);
		return 1;
	}
	memset(&tests[n], 0, sizeof(tests[n]));
	tests[n].name = "max_sessions";
	tests[n].test_func = test_max_sessions;
	return _cmocka_run_group_tests("test_smtpd", tests, n + 1, NULL, NULL);
}
