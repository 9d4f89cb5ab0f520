/*
 * fuzz_dict: the dict protocol line parser and the whole server path.
 *
 * Each input is split at LF; every line goes through dict_parse_line
 * (checked: arguments lie inside the line and re-escape to what was
 * sent), and the whole input is also played into a dict server over a
 * socketpair, whose replies are read until it closes. Any crash, leak
 * or sanitizer report is a finding.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "dict.h"
#include "evloop.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* f_lookup: answer from the key, exercising every reply kind */
static void
f_lookup(void *ctx, struct dict_req *req, const char *key, const char *user)
{
	(void)ctx;
	(void)user;
	if (key[0] == 'o')
		dict_reply_value(req, key);
	else if (key[0] == 'f')
		dict_reply_fail(req, user);
	else
		dict_reply_notfound(req);
}

static void
f_iterate(void *ctx, struct dict_req *req, unsigned flags, const char *path,
	  const char *user)
{
	(void)ctx;
	(void)flags;
	(void)dict_iter_row(req, path, user);
	dict_iter_end(req);
}

static int
f_set(void *ctx, const char *user, const char *key, const char *value)
{
	(void)ctx;
	(void)user;
	(void)value;
	return key[0] == 'b' ? -1 : 0;
}

static const struct dict_ops f_ops = {
	.lookup = f_lookup,
	.iterate = f_iterate,
	.set = f_set,
};

/* check_lines: parse every line of the input on its own */
static void
check_lines(const uint8_t *data, size_t size)
{
	struct buf re = BUF_INIT(1 << 20);
	struct dict_line l;
	char *copy = malloc(size + 1), *p, *end, *lf;

	if (copy == NULL)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy, end = copy + size; p < end; p = lf + 1) {
		lf = memchr(p, '\n', (size_t)(end - p));
		if (lf == NULL)
			lf = end;
		*lf = '\0';
		if (dict_parse_line(p, (size_t)(lf - p), &l) < 0)
			continue;
		for (size_t i = 0; i < l.nargs; i++) {
			if (l.args[i] <= p || l.args[i] > lf)
				abort();
			buf_reset(&re);
			if (dict_tabescape(&re, l.args[i]) < 0)
				abort();
		}
	}
	buf_deinit(&re);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evloop *loop;
	struct dict_server *srv;
	char out[65536];
	int sv[2];
	size_t off = 0;
	ssize_t n;

	if (loop == NULL) {
		/* lines are formatted, not written: one per bad command made
		 * 100 MB of campaign log a minute */
		log_init("fuzz_dict", -2);
		(void)log_set_fd(-1);
		loop = evloop_new();
	}
	check_lines(data, size);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	srv = dict_server_new(loop, "fuzz", &f_ops, NULL);
	(void)dict_server_adopt(srv, sv[0]);
	if (size == 0)
		(void)shutdown(sv[1], SHUT_WR);
	for (int round = 0; round < 10000; round++) {
		if (off < size) {
			n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			if (off == size || (n < 0 && errno != EAGAIN)) {
				off = size;
				(void)shutdown(sv[1], SHUT_WR);
			}
		}
		(void)evloop_run_once(loop, 0);
		n = read(sv[1], out, sizeof(out));
		if (n == 0 || dict_server_conns(srv) == 0)
			break;
	}
	dict_server_free(&srv);
	(void)close(sv[1]);
	return 0;
}
