/* fuzz_milter: the DKIM-signing milter's packet parser and state machine
 * (fm_milter.c) on arbitrary bytes from a peer, through a socketpair on
 * a real event loop; signing is a stand-in that always returns a
 * signature, so the insert-header path runs too */
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

static int quiet; /* logging set up */

/* fake_sign: a fixed signature field for any message */
static int
fake_sign(void *policy, const char *hdr, size_t hlen, const char *body,
	  size_t blen, struct buf *out, struct buf *err)
{
	(void)policy, (void)hdr, (void)hlen, (void)body, (void)blen, (void)err;
	return buf_puts(out,
			"DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=x\r\n") < 0
		       ? -EIO
		       : 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evloop *loop = evloop_new();
	struct fm_milter *m;
	struct fm_ctx ctx;
	char sink[65536];
	int sv[2], lfd, i;
	size_t off = 0;
	ssize_t n;

	/* log lines are formatted, not written: a line per bad packet made
	 * gigabytes of campaign log and a tenth of the speed */
	if (!quiet) {
		log_init("fuzz", -1);
		(void)log_set_fd(-1);
		quiet = 1;
	}
	fm_ctx_init(&ctx, loop);
	ctx.max_size = 65536;
	ctx.sign = fake_sign;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	m = fm_milter_new(&ctx, lfd);
	if (m == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	fm_milter_adopt(m, sv[0]);
	for (i = 0; i < 1000 && off < size; i++) {
		n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		(void)evloop_run_once(loop, 0);
		while (recv(sv[1], sink, sizeof(sink), 0) > 0)
			;
	}
	(void)shutdown(sv[1], SHUT_WR);
	for (i = 0; i < 4; i++) {
		(void)evloop_run_once(loop, 0);
		while (recv(sv[1], sink, sizeof(sink), 0) > 0)
			;
	}
	close(sv[1]);
	fm_milter_free(&m);
	evloop_free(&loop);
	return 0;
}
