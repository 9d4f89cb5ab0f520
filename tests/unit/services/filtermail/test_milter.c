/* test_milter: filtermail's DKIM-signing milter (fm_milter.c) over real
 * TCP on the event loop, with the real outgoing policy and key: option
 * negotiation (Postfix's version 6 offer, an old MTA's), a bounce signed
 * with the inserted DKIM-Signature verifying over the message as Postfix
 * stores it (with and without leading-space header values and no-reply
 * flags, packets whole and one byte at a time), mail not ours passing
 * unsigned, abort between messages, and every malformed input closing
 * the connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/filtermail.h"
#include "../../../../services/filtermail/fm_dkim.h"
#include "../../../../services/filtermail/fm_mime.h"
#include "log.h"

#define V6_ACTIONS 0x1ffu
#define V6_PROTO 0x1fffffu
#define LEADSPC 0x100000u
#define WANT 0x1c038fu /* what fm_milter asks for */

struct fixture {
	struct evloop *loop;
	struct chatmail_config cfg;
	struct fm_policy *pol;
	struct fm_ctx ctx;
	struct fm_milter *m;
	char *dir;
	char txt[2048]; /* the key record */
	unsigned port;
};

static struct fixture fx;

/* sign: fm_sign_fn over the real policy */
static int
sign(void *policy, const char *hdr, size_t hlen, const char *body, size_t blen,
     struct buf *out, struct buf *err)
{
	return fm_policy_sign(policy, hdr, hlen, body, blen, out, err);
}

static int
setup(void **state)
{
	char keypath[512], ini[1024];
	struct buf err = BUF_INIT(1024);
	unsigned char der[4096], *p = der;
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	BIO *bio;
	int len, lfd;

	(void)state;
	log_init("test", -1);
	fx.loop = evloop_new();
	fx.dir = test_tmpdir();
	(void)snprintf(keypath, sizeof(keypath), "%s/k.pem", fx.dir);
	bio = BIO_new_file(keypath, "w");
	PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0, NULL,
					     NULL);
	BIO_free(bio);
	len = i2d_PUBKEY(pk, &p);
	(void)snprintf(fx.txt, sizeof(fx.txt), "v=DKIM1; k=rsa; p=");
	EVP_EncodeBlock((unsigned char *)fx.txt + strlen(fx.txt), der, len);
	EVP_PKEY_free(pk);
	(void)snprintf(ini, sizeof(ini),
		       "[params]\nmail_domain = example.org\n"
		       "max_message_size = 100000\ndkim_key_file = %s\n",
		       keypath);
	config_init(&fx.cfg);
	if (config_load_string(&fx.cfg, ini, 0, &err) < 0)
		return -1;
	fx.pol = fm_policy_new(fx.loop, &fx.cfg, 1, &err);
	fm_ctx_init(&fx.ctx, fx.loop);
	fx.ctx.outgoing = 1;
	fx.ctx.max_size = fx.cfg.max_message_size;
	fx.ctx.policy = fx.pol;
	fx.ctx.sign = sign;
	lfd = net_listen_tcp("127.0.0.1", 0, 16, &err);
	fx.port = (unsigned)net_local_port(lfd);
	fx.m = fm_milter_new(&fx.ctx, lfd);
	buf_deinit(&err);
	return fx.pol != NULL && fx.m != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	fm_milter_free(&fx.m);
	fm_policy_free(&fx.pol);
	config_deinit(&fx.cfg);
	evloop_free(&fx.loop);
	test_rmtree(fx.dir);
	free(fx.dir);
	return 0;
}

/* ---- packets ---- */

/* pkt: append one packet */
static void
pkt(struct buf *b, char cmd, const void *data, size_t n)
{
	unsigned char h[5];

	h[0] = (unsigned char)((n + 1) >> 24);
	h[1] = (unsigned char)((n + 1) >> 16);
	h[2] = (unsigned char)((n + 1) >> 8);
	h[3] = (unsigned char)(n + 1);
	h[4] = (unsigned char)cmd;
	assert_int(buf_append(b, h, 5), 0);
	if (n > 0)
		assert_int(buf_append(b, data, n), 0);
}

/* optneg: an 'O' packet */
static void
optneg(struct buf *b, uint32_t version, uint32_t actions, uint32_t proto)
{
	uint32_t d[3] = { htonl(version), htonl(actions), htonl(proto) };

	pkt(b, 'O', d, sizeof(d));
}

/* header: an 'L' packet */
static void
header(struct buf *b, const char *name, const char *value)
{
	char d[1024];
	size_t n = strlen(name) + 1, m = strlen(value) + 1;

	memcpy(d, name, n);
	memcpy(d + n, value, m);
	pkt(b, 'L', d, n + m);
}

/* a reply packet */
struct reply {
	char cmd;
	char data[4096];
	size_t n;
};

/* exchange: send req (chunk bytes at a time, the loop running between
 * them), then collect replies until want arrived or the server closed;
 * the count through nreplies_r, whether it closed through closed_r */
static void
exchange(const struct buf *req, size_t chunk, size_t want, struct reply *r,
	 size_t *nreplies_r, int *closed_r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct buf in = BUF_INIT(1 << 20);
	size_t off = 0, k, nr = 0, len;
	ssize_t n;
	char tmp[4096];
	int fd = socket(AF_INET, SOCK_STREAM, 0), i;

	sa.sin_port = htons((uint16_t)fx.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	*closed_r = 0;
	for (i = 0; i < 20000 && (off < req->len || nr < want); i++) {
		if (off < req->len) {
			k = req->len - off < chunk ? req->len - off : chunk;
			n = send(fd, req->data + off, k, MSG_NOSIGNAL);
			off += n > 0 ? (size_t)n : 0;
		}
		(void)evloop_run_once(fx.loop, off < req->len ? 0 : 5);
		while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
			assert_int(buf_append(&in, tmp, (size_t)n), 0);
		while (in.len >= 5 && nr < 16) {
			uint32_t be;

			memcpy(&be, in.data, 4);
			len = (size_t)ntohl(be);
			if (in.len < 4 + len)
				break;
			r[nr].cmd = in.data[4];
			r[nr].n = len - 1;
			memcpy(r[nr].data, in.data + 5, len - 1);
			nr++;
			buf_consume(&in, 4 + len);
		}
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			*closed_r = 1;
			break;
		}
	}
	close(fd);
	for (i = 0; i < 10; i++) /* let the server see the close */
		(void)evloop_run_once(fx.loop, 1);
	buf_deinit(&in);
	*nreplies_r = nr;
}

/* ---- a bounce ---- */

static const char *const hnames[] = {
	"From",		"To",		"Subject", "Auto-Submitted",
	"MIME-Version", "Content-Type", "Date",	   "Message-Id",
};
static const char *const hvalues[] = {
	"MAILER-DAEMON@example.org (Mail Delivery System)",
	"alice@example.org",
	"Undelivered Mail Returned to Sender",
	"auto-replied",
	"1.0",
	"multipart/report; report-type=delivery-status;\n\tboundary=\"B1\"",
	"Sat, 28 Nov 2026 12:00:00 +0000 (UTC)",
	"<20261128120000.ABC@example.org>",
};
static const char body1[] = "This is a MIME-encapsulated message.\r\n\r\n"
			    "--B1\r\nContent-Description: Notification\r\n"
			    "Content-Type: text/plain; charset=us-ascii\r\n"
			    "\r\n.leading dot\r\n";
static const char body2[] = "I'm sorry to have to inform you...\r\n"
			    "--B1--\r\n";

/* bounce: the request for one bounce from domain: (no 'O') macros,
 * headers (with a leading space when leadspc), end of headers, two body
 * chunks, end of message */
static void
bounce(struct buf *b, const char *from, int leadspc)
{
	char v[512];
	size_t i;

	pkt(b, 'D', "Nj\0ABC123\0", 10);
	for (i = 0; i < sizeof(hnames) / sizeof(hnames[0]); i++) {
		(void)snprintf(v, sizeof(v), "%s%s", leadspc ? " " : "",
			       i == 0 && from != NULL ? from : hvalues[i]);
		header(b, hnames[i], v);
	}
	pkt(b, 'N', NULL, 0);
	pkt(b, 'B', body1, strlen(body1));
	pkt(b, 'D', "E{i}\0x\0", 7);
	pkt(b, 'B', body2, strlen(body2));
	pkt(b, 'E', NULL, 0);
}

/* as_stored: name ":" value with LF made CRLF, appended to m */
static void
as_stored(struct buf *m, const char *name, const char *value, size_t n,
	  int leadspc)
{
	size_t i;

	(void)buf_printf(m, "%s:%s", name, leadspc ? "" : " ");
	for (i = 0; i < n && value[i] != '\0'; i++) {
		if (value[i] == '\n')
			(void)buf_putc(m, '\r');
		(void)buf_putc(m, value[i]);
	}
	(void)buf_puts(m, "\r\n");
}

/* verify_inserted: the 'i' reply r inserted at the top of the bounce as
 * Postfix stores it verifies with our key */
static void
verify_inserted(const struct reply *r, int leadspc)
{
	struct buf m = BUF_INIT(1 << 20), err = BUF_INIT(256);
	struct fm_dkim_sig sig;
	struct fm_entity e;
	const char *val, *name = r->data + 4;
	size_t vlen, i;
	char v[512];

	assert_int(r->cmd, 'i');
	assert_memory_equal(r->data, "\0\0\0\0", 4);
	assert_str(name, "DKIM-Signature");
	val = name + strlen(name) + 1;
	assert_int(val[r->n - (size_t)(val - r->data) - 1], '\0');
	assert_null(strchr(val, '\r')); /* folds are bare LF */
	as_stored(&m, name, val, strlen(val), leadspc);
	for (i = 0; i < sizeof(hnames) / sizeof(hnames[0]); i++) {
		(void)snprintf(v, sizeof(v), "%s%s", leadspc ? " " : "",
			       hvalues[i]);
		as_stored(&m, hnames[i], v, strlen(v), leadspc);
	}
	(void)buf_printf(&m, "\r\n%s%s", body1, body2);
	fm_mime_split(m.data, m.len, &e);
	assert_int(fm_mime_header_find(&e, "DKIM-Signature", 0, &val, &vlen),
		   1);
	assert_int(fm_dkim_parse_sig(m.data, (size_t)(val + vlen - m.data),
				     &sig, &err),
		   0);
	assert_str(sig.d, "example.org");
	assert_int(fm_dkim_verify_sig(&sig, e.hdr, e.hlen, e.body, e.blen,
				      fx.txt, strlen(fx.txt), time(NULL), &err),
		   FM_DKIM_PASS);
	/* a changed Subject fails: the check can fail */
	memcpy(strstr(m.data, "Undelivered"), "Xndelivered", 11);
	assert_int(fm_dkim_verify_sig(&sig, e.hdr, e.hlen, e.body, e.blen,
				      fx.txt, strlen(fx.txt), time(NULL), &err),
		   FM_DKIM_FAIL);
	buf_deinit(&m);
	buf_deinit(&err);
}

/* ---- tests ---- */

/* test_negotiate: Postfix's version 6 offer, and an old MTA's */
static void
test_negotiate(void **state)
{
	struct buf req = BUF_INIT(1 << 16);
	struct reply r[16];
	size_t nr;
	int closed;
	uint32_t w[3];

	(void)state;
	optneg(&req, 6, V6_ACTIONS, V6_PROTO);
	exchange(&req, 1 << 16, 1, r, &nr, &closed);
	assert_int(nr, 1);
	assert_int(r[0].cmd, 'O');
	assert_int(r[0].n, 12);
	memcpy(w, r[0].data, 12);
	assert_int(ntohl(w[0]), 6);
	assert_int(ntohl(w[1]), 1); /* add headers, nothing else */
	assert_int(ntohl(w[2]), WANT);
	/* version 2, only the "no <event>" flags, no actions offered */
	buf_reset(&req);
	optneg(&req, 2, 0, 0x7f);
	exchange(&req, 1 << 16, 1, r, &nr, &closed);
	assert_int(nr, 1);
	memcpy(w, r[0].data, 12);
	assert_int(ntohl(w[0]), 2);
	assert_int(ntohl(w[1]), 0);
	assert_int(ntohl(w[2]), 0x0f);
	assert_int(fm_milter_sessions(fx.m), 0);
	buf_deinit(&req);
}

/* test_sign: a bounce as Postfix 3.7 sends it (version 6, leading
 * spaces, no replies to headers and body), whole and byte by byte */
static void
test_sign(void **state)
{
	struct buf req = BUF_INIT(1 << 16);
	struct reply r[16];
	size_t nr, chunk;
	int closed;

	(void)state;
	for (chunk = 1 << 16; chunk > 0; chunk = chunk == 1 ? 0 : 1) {
		buf_reset(&req);
		optneg(&req, 6, V6_ACTIONS, V6_PROTO);
		bounce(&req, NULL, 1);
		pkt(&req, 'Q', NULL, 0);
		exchange(&req, chunk, 3, r, &nr, &closed);
		assert_int(nr, 3);
		assert_int(r[0].cmd, 'O');
		verify_inserted(&r[1], 1);
		assert_int(r[2].cmd, 'c');
		assert_int(r[2].n, 0);
		assert_int(closed, 1); /* after 'Q' */
	}
	assert_int(fm_milter_sessions(fx.m), 0);
	buf_deinit(&req);
}

/* test_sign_old: an MTA without leading spaces or no-reply flags: every
 * header, the end of headers and each body chunk get 'c' */
static void
test_sign_old(void **state)
{
	struct buf req = BUF_INIT(1 << 16);
	struct reply r[16];
	size_t nr, i;
	int closed;

	(void)state;
	optneg(&req, 6, 1, 0x37f); /* no NR_HDR (0x80), no LEADSPC */
	bounce(&req, NULL, 0);
	/* events we asked not to get still get an answer */
	pkt(&req, 'M', "<a@b>\0", 6);
	exchange(&req, 1 << 16, 15, r, &nr, &closed);
	assert_int(nr, 15);
	for (i = 1; i <= 11; i++)
		assert_int(r[i].cmd, 'c'); /* 8 headers, EOH, 2 chunks */
	verify_inserted(&r[12], 0);
	assert_int(r[13].cmd, 'c');
	assert_int(r[14].cmd, 'c');
	buf_deinit(&req);
}

/* test_not_ours: another domain, no From, no permission to add headers:
 * the message passes unsigned */
static void
test_not_ours(void **state)
{
	static const char *const froms[] = {
		"MAILER-DAEMON@other.org (Mail Delivery System)",
		"no address here",
	};
	struct buf req = BUF_INIT(1 << 16);
	struct reply r[16];
	size_t nr, i;
	int closed;

	(void)state;
	for (i = 0; i < 2; i++) {
		buf_reset(&req);
		optneg(&req, 6, V6_ACTIONS, V6_PROTO);
		bounce(&req, froms[i], 1);
		exchange(&req, 1 << 16, 2, r, &nr, &closed);
		assert_int(nr, 2);
		assert_int(r[1].cmd, 'c');
	}
	buf_reset(&req);
	optneg(&req, 6, 0, V6_PROTO);
	bounce(&req, NULL, 1);
	exchange(&req, 1 << 16, 2, r, &nr, &closed);
	assert_int(nr, 2);
	assert_int(r[1].cmd, 'c');
	buf_deinit(&req);
}

/* test_abort: what came before 'A' or 'K' is forgotten */
static void
test_abort(void **state)
{
	struct buf req = BUF_INIT(1 << 16);
	struct reply r[16];
	size_t nr;
	int closed;
	char cmd[2] = "AK";
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		buf_reset(&req);
		optneg(&req, 6, V6_ACTIONS, V6_PROTO);
		header(&req, "X-Junk", " first message");
		pkt(&req, 'B', "junk body\r\n", 11);
		pkt(&req, cmd[i], NULL, 0);
		bounce(&req, NULL, 1);
		exchange(&req, 1 << 16, 3, r, &nr, &closed);
		assert_int(nr, 3);
		verify_inserted(&r[1], 1);
	}
	buf_deinit(&req);
}

/* test_too_big: a body past max_message_size passes unsigned */
static void
test_too_big(void **state)
{
	struct buf req = BUF_INIT(1 << 20);
	struct reply r[16];
	char *chunk = malloc(60000);
	size_t nr;
	int closed;

	(void)state;
	memset(chunk, 'x', 60000);
	optneg(&req, 6, V6_ACTIONS, V6_PROTO);
	header(&req, "From", " MAILER-DAEMON@example.org");
	pkt(&req, 'B', chunk, 60000);
	pkt(&req, 'B', chunk, 60000);
	pkt(&req, 'E', NULL, 0);
	exchange(&req, 1 << 16, 2, r, &nr, &closed);
	assert_int(nr, 2);
	assert_int(r[1].cmd, 'c');
	free(chunk);
	buf_deinit(&req);
}

/* test_malformed: each closes the connection without an answer */
static void
test_malformed(void **state)
{
	struct buf req = BUF_INIT(1 << 16);
	struct reply r[16];
	size_t nr, i;
	int closed;
	static const char *const why[] = {
		"zero length",		 "over the maximum",
		"before negotiation",	 "header without NULs",
		"header without a name", "unknown command",
		"short negotiation",	 "version 1",
	};

	(void)state;
	for (i = 0; i < sizeof(why) / sizeof(why[0]); i++) {
		print_message("%s\n", why[i]);
		buf_reset(&req);
		if (i != 2 && i != 6 && i != 7)
			optneg(&req, 6, V6_ACTIONS, V6_PROTO);
		if (i == 0)
			(void)buf_append(&req, "\0\0\0\0L", 5);
		if (i == 1)
			(void)buf_append(&req, "\0\x10\0\x01L", 5);
		if (i == 2)
			header(&req, "From", " a@example.org");
		if (i == 3)
			pkt(&req, 'L', "From: a@example.org", 19);
		if (i == 4)
			pkt(&req, 'L', "\0value\0", 7);
		if (i == 5)
			pkt(&req, 'Z', NULL, 0);
		if (i == 6)
			pkt(&req, 'O', "\0\0\0\6", 4);
		if (i == 7)
			optneg(&req, 1, V6_ACTIONS, V6_PROTO);
		exchange(&req, 1 << 16, 99, r, &nr, &closed);
		assert_int(closed, 1);
		/* at most the 'O' reply: the rest is dropped unanswered */
		assert_true(nr <= 1);
		assert_true(nr == 0 || r[0].cmd == 'O');
	}
	assert_int(fm_milter_sessions(fx.m), 0);
	buf_deinit(&req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_sign_old),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
