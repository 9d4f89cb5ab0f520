/* fuzz_smtp_cmd: filtermail's SMTP server side on arbitrary input. The
 * first byte picks the target:
 *   0: fm_smtp_parse_path (MAIL FROM / RCPT TO paths)
 *   1: the DATA unstuffer, fed in pieces whose sizes come from the
 *      input, checked against a one-byte-at-a-time run and against the
 *      stuffer (unstuff(stuff(x)) == x)
 *   2: a whole session: the bytes go to a real fm_smtpd over loopback
 *      (policy: pass; reinjection: refused at once), which must neither
 *      crash nor leak sessions
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../../services/filtermail/filtermail.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_path(const char *p, size_t n)
{
	char in[512], out[FM_ADDR_MAX + 1];

	if (n >= sizeof(in))
		n = sizeof(in) - 1;
	memcpy(in, p, n);
	in[n] = '\0';
	if (fm_smtp_parse_path(in, out, sizeof(out)) &&
	    strlen(out) > FM_ADDR_MAX)
		abort();
}

/* unstuff: run the unstuffer over p in pieces of step bytes */
static int
unstuff(const char *p, size_t n, size_t step, struct buf *msg, size_t *end_r)
{
	struct fm_unstuffer u;
	size_t off = 0, used, k;
	int r = 0;

	fm_unstuff_init(&u);
	while (off < n && r == 0) {
		k = n - off < step ? n - off : step;
		r = fm_unstuff(&u, p + off, k, msg, &used);
		if (used > k)
			abort();
		off += used;
	}
	*end_r = off;
	if (!u.overflow && u.total != msg->len)
		abort();
	return r;
}

static void
fuzz_data(const char *p, size_t n)
{
	struct buf a = BUF_INIT(1 << 20), b = BUF_INIT(1 << 20);
	struct buf wire = BUF_INIT(1 << 21), back = BUF_INIT(1 << 20);
	size_t ea, eb, wrote, used, off = 0, end;
	char chunk[257];
	int ra, rb, bol = 1;

	ra = unstuff(p, n, n > 0 ? (unsigned char)p[0] % 17 + 1 : 1, &a, &ea);
	rb = unstuff(p, n, 1, &b, &eb);
	if (ra != rb || ea != eb || a.len != b.len ||
	    (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
		abort();
	if (ra == 1) {
		/* what came out goes back in through the stuffer */
		while (off < a.len) {
			used = fm_dot_stuff(a.data + off, a.len - off, &bol,
					    chunk, sizeof(chunk), &wrote);
			(void)buf_append(&wire, chunk, wrote);
			off += used;
		}
		(void)buf_puts(&wire, bol ? ".\r\n" : "\r\n.\r\n");
		if (unstuff(wire.data, wire.len, 7, &back, &end) != 1 ||
		    end != wire.len)
			abort();
		/* a message always ends its last line before the dot */
		if (!(bol ? back.len == a.len : back.len == a.len + 2) ||
		    (a.len > 0 && memcmp(back.data, a.data, a.len) != 0))
			abort();
	}
	buf_deinit(&a);
	buf_deinit(&b);
	buf_deinit(&wire);
	buf_deinit(&back);
}

/* ---- a whole session ---- */

static struct evloop *loop;
static struct fm_ctx ctx;
static struct fm_smtpd *srv;
static struct net_addr srv_addr;

static struct fm_check *
pass_check(void *policy, const struct fm_envelope *env, const char *msg,
	   size_t len, fm_policy_done_fn *done, void *arg)
{
	struct fm_verdict v;

	(void)policy;
	(void)env;
	(void)msg;
	(void)len;
	memset(&v, 0, sizeof(v));
	v.code = 250;
	done(arg, &v);
	return NULL;
}

static void
no_cancel(struct fm_check **cp)
{
	*cp = NULL;
}

static void
setup(void)
{
	struct buf err = BUF_INIT(256);
	int lfd;

	log_init("fuzz", -1);
	log_set_fd(-1);
	loop = evloop_new();
	fm_ctx_init(&ctx, loop);
	ctx.outgoing = 1;
	ctx.max_size = 4096;
	ctx.check = pass_check;
	ctx.cancel = no_cancel;
	ctx.rl = fm_ratelimit_new(60, 10, 64);
	/* port 1 on loopback: nothing listens, refused at once */
	(void)net_resolve("127.0.0.1", 1, &ctx.reinject, &err);
	lfd = net_listen_tcp("127.0.0.1", 0, 64, &err);
	if (lfd < 0)
		abort();
	(void)net_resolve("127.0.0.1", (unsigned)net_local_port(lfd), &srv_addr,
			  &err);
	srv = fm_smtpd_new(&ctx, lfd);
	buf_deinit(&err);
}

static void
fuzz_session(const char *p, size_t n)
{
	char sink[4096];
	int fd, i;

	if (srv == NULL)
		setup();
	if (net_connect(&srv_addr, &fd) < 0)
		return;
	for (i = 0; i < 4; i++)
		(void)evloop_run_once(loop, 0);
	(void)send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (i = 0; i < 16; i++) {
		(void)evloop_run_once(loop, 0);
		while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	close(fd);
	for (i = 0; i < 70 && fm_smtpd_sessions(srv) > 0; i++)
		(void)evloop_run_once(loop, i < 20 ? 0 : 1);
	if (fm_smtpd_sessions(srv) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;

	if (size < 1 || size > 65536)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_path(p, size - 1);
		break;
	case 1:
		fuzz_data(p, size - 1);
		break;
	default:
		fuzz_session(p, size - 1);
		break;
	}
	return 0;
}
