/* fuzz_transport: what filtermail transport parses, on arbitrary input.
 * The first byte picks the target:
 *   0: an LMTP session: the bytes go to a real fm_lmtpd over a
 *      socketpair, in a network namespace of its own where every
 *      connection and DNS query fails at once; it must neither crash
 *      nor keep sessions or deliveries
 *   1: the HTTPS answer to POST /mxdeliv (status from two bytes, a flag
 *      byte, the body): fm_https_classify's outcome agrees with its
 *      text (a success only for an SMTP 2xx body), the text one line
 *   2: SMTP replies: whole and one byte at a time give the same replies
 *   3: a recipient's destination: accepted ones are short and clean
 */
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../../services/filtermail/fm_lmtpd.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct evloop *loop;
static struct dns *dns;
static struct fm_tp *tp;
static struct fm_lmtpd *srv;

static void
setup(void)
{
	struct buf err = BUF_INIT(256);
	struct fm_tp_opts o;
	struct fm_lmtpd_opts lo;
	int lfd;

	log_init("fuzz", -1);
	log_set_fd(-1);
	loop = evloop_new();
	lfd = net_listen_tcp("127.0.0.1", 0, 8, &err);
	/* then a network of our own, without even loopback up: an address
	 * literal in a recipient must not make the fuzzer connect to the
	 * world; every connection and query fails at once (as root;
	 * otherwise the 1 ms timeouts below end them) */
	(void)unshare(CLONE_NEWNET);
	dns = dns_new(loop, "127.0.0.1:1", NULL, &err);
	fm_tp_opts_default(&o);
	o.ipv6 = 0;
	o.queue_size = 2;
	o.max_dests = 8;
	o.timeout_ms = 1;
	tp = fm_tp_new(loop, dns, &o, &err);
	fm_lmtpd_opts_default(&lo);
	lo.max_size = 4096;
	srv = fm_lmtpd_new(loop, tp, &lo, lfd);
	if (dns == NULL || tp == NULL || srv == NULL)
		abort();
	buf_deinit(&err);
}

static void
fuzz_session(const char *p, size_t n)
{
	char sink[4096];
	int sv[2], i;

	if (srv == NULL)
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return;
	(void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fm_lmtpd_adopt(srv, sv[0]);
	(void)send(sv[1], p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (i = 0; i < 32; i++) {
		(void)evloop_run_once(loop, 0);
		while (recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	close(sv[1]);
	for (i = 0;
	     i < 3000 && (fm_lmtpd_sessions(srv) > 0 || fm_tp_running(tp) > 0);
	     i++)
		(void)evloop_run_once(loop, i < 50 ? 0 : 1);
	if (fm_lmtpd_sessions(srv) != 0 || fm_tp_running(tp) != 0)
		abort();
}

static void
fuzz_answer(const char *p, size_t n)
{
	struct fm_https_answer a;
	char text[FM_TP_TEXT_MAX], body[4097];
	enum fm_tp_outcome o;
	int code;

	if (n < 3)
		return;
	memset(&a, 0, sizeof(a));
	a.status = (unsigned char)p[0] << 8 | (unsigned char)p[1];
	a.status %= 1000;
	a.curl_rc = p[2] & 1 ? 0 : (p[2] >> 1) % 100;
	a.truncated = (p[2] >> 3) & 1;
	a.sent_all = (p[2] >> 4) & 1;
	a.curl_err = "error";
	a.host = "mx.example";
	n -= 3;
	if (n > 4096)
		n = 4096;
	memcpy(body, p + 3, n);
	body[n] = '\0';
	a.body = body;
	a.len = n;
	o = fm_https_classify(&a, &code, text, sizeof(text));
	if (strchr(text, '\n') != NULL || strchr(text, '\r') != NULL)
		abort();
	if (o == FM_TP_SENT && (code != 250 || a.status / 100 != 2 ||
				a.truncated || body[0] != '2'))
		abort();
	if ((o == FM_TP_REFUSED || o == FM_TP_DOUBT) &&
	    (code < 400 || code > 599 || fm_tp_reply_code(text, 3) != code))
		abort();
}

static void
fuzz_replies(const char *p, size_t n)
{
	struct buf a = BUF_INIT(16384), b = BUF_INIT(16384);
	struct buf ta = BUF_INIT(1 << 20), tb = BUF_INIT(1 << 20);
	char text[FM_TP_TEXT_MAX];
	size_t i;
	int code, ra = 0, rb = 0;

	if (buf_append(&a, p, n < 16384 ? n : 16384) == 0)
		while ((ra = fm_smtp_reply_step(&a, &code, text, sizeof(text),
						NULL)) == 1)
			(void)buf_printf(&ta, "%d %s|", code, text);
	for (i = 0; i < n && i < 16384 && rb >= 0; i++) {
		if (buf_append(&b, p + i, 1) < 0)
			break;
		while ((rb = fm_smtp_reply_step(&b, &code, text, sizeof(text),
						NULL)) == 1)
			(void)buf_printf(&tb, "%d %s|", code, text);
	}
	/* the same replies up to the first error */
	if (ra >= 0 && rb >= 0 &&
	    (ta.len != tb.len || memcmp(buf_cstr(&ta), buf_cstr(&tb), ta.len)))
		abort();
	buf_deinit(&a);
	buf_deinit(&b);
	buf_deinit(&ta);
	buf_deinit(&tb);
}

static void
fuzz_dest(const char *p, size_t n)
{
	char in[600], out[FM_TP_HOST_MAX];
	size_t i;

	if (n >= sizeof(in))
		n = sizeof(in) - 1;
	memcpy(in, p, n);
	in[n] = '\0';
	if (fm_tp_addr_dest(in, out, sizeof(out)) < 0)
		return;
	if (strlen(out) > 253 + 2 || out[0] == '\0')
		abort();
	for (i = 0; out[i] != '\0'; i++)
		if (out[i] <= ' ' || out[i] == '/' || out[i] == '@')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;

	if (size < 1 || size > 65536)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_session(p, size - 1);
		break;
	case 1:
		fuzz_answer(p, size - 1);
		break;
	case 2:
		fuzz_replies(p, size - 1);
		break;
	default:
		fuzz_dest(p, size - 1);
		break;
	}
	return 0;
}
