/*
 * dict_cmd: the dict protocol's commands (dict.h lists them) as a
 * dispatch table, after Dovecot's dict-commands.c, and the per-connection
 * transactions they work on.
 *
 * Role: turn one parsed line into handler calls and reply slots. Untrusted
 * input: every argument; ids and numbers go through num.h, transactions
 * per connection are capped at DICT_TXNS_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "log.h"
#include "num.h"
#include "xmalloc.h"

#include "dict_int.h"

/* --- transactions --------------------------------------------------- */

/* txn_find: the open transaction with id on c, or NULL */
static struct dict_txn *
txn_find(struct dict_conn *c, unsigned id)
{
	for (size_t i = 0; i < c->ntxns; i++) {
		if (c->txns[i].id == id)
			return &c->txns[i];
	}
	return NULL;
}

/* txn_remove: forget t (an element of c->txns) */
static void
txn_remove(struct dict_conn *c, struct dict_txn *t)
{
	free(t->user);
	free(t->error);
	*t = c->txns[--c->ntxns];
}

/* txn_fail: remember the first failure of t */
static void
txn_fail(struct dict_txn *t, const char *error)
{
	if (t->error == NULL)
		t->error = xstrdup(error);
}

/* txn_arg: the transaction named by args[0], logging when there is none */
static struct dict_txn *
txn_arg(struct dict_conn *c, const struct dict_line *l)
{
	unsigned id;
	struct dict_txn *t = NULL;

	if (num_parse_uint(l->args[0], 0, UINT32_MAX, &id) == 0)
		t = txn_find(c, id);
	if (t == NULL) {
		log_warn("dict %s#%lu: %c for unknown transaction",
			 c->srv->name, c->num, l->cmd);
		c->srv->stats.bad_input++;
	}
	return t;
}

/* --- commands ------------------------------------------------------- */

/* cmd_hello: check the protocol major; 3 is Dovecot 2.3, 4 is 2.4 */
static void
cmd_hello(struct dict_conn *c, struct dict_line *l)
{
	unsigned major, minor;

	if (c->hello)
		return; /* a repeated hello changes nothing */
	if (l->nargs < 2 || num_parse_uint(l->args[0], 0, 1000, &major) < 0 ||
	    num_parse_uint(l->args[1], 0, 1000, &minor) < 0 ||
	    (major != 3 && major != 4)) {
		log_warn("dict %s#%lu: unsupported handshake, closing",
			 c->srv->name, c->num);
		c->srv->stats.bad_input++;
		c->dead = 1;
		return;
	}
	if (l->nargs >= 5 && strcmp(l->args[4], c->srv->name) != 0)
		log_debug("dict %s#%lu: client asks for dict '%s'",
			  c->srv->name, c->num, l->args[4]);
	c->hello = 1;
}

/* cmd_lookup: L<key>[\t<user>] */
static void
cmd_lookup(struct dict_conn *c, struct dict_line *l)
{
	struct dict_server *srv = c->srv;
	struct dict_req *req = dict_req_new(c, l->cmd);

	srv->stats.lookups++;
	if (srv->ops->lookup == NULL) {
		log_warn("lookup ignored: %s", l->args[0]);
		dict_reply_notfound(req);
		return;
	}
	srv->ops->lookup(srv->ctx, req, l->args[0],
			 l->nargs > 1 ? l->args[1] : "");
}

/* cmd_iterate: I<flags>\t<max rows>\t<path>[\t<user>] */
static void
cmd_iterate(struct dict_conn *c, struct dict_line *l)
{
	struct dict_server *srv = c->srv;
	struct dict_req *req = dict_req_new(c, l->cmd);

	srv->stats.iterates++;
	if (num_parse_uint(l->args[0], 0, UINT32_MAX, &req->iter_flags) < 0 ||
	    num_parse_u64(l->args[1], 0, UINT64_MAX, &req->max_rows) < 0) {
		log_warn("dict %s#%lu: ITERATE: broken input", srv->name,
			 c->num);
		srv->stats.bad_input++;
		dict_reply_fail(req, "broken input");
		return;
	}
	if (srv->ops->iterate == NULL) {
		dict_iter_end(req);
		return;
	}
	srv->ops->iterate(srv->ctx, req, req->iter_flags, l->args[2],
			  l->nargs > 3 ? l->args[3] : "");
}

/* cmd_begin: B<id>[\t<user>[\t<expire secs>]] */
static void
cmd_begin(struct dict_conn *c, struct dict_line *l)
{
	unsigned id;
	struct dict_txn *t;

	if (num_parse_uint(l->args[0], 0, UINT32_MAX, &id) < 0 ||
	    txn_find(c, id) != NULL || c->ntxns == DICT_TXNS_MAX) {
		log_warn("dict %s#%lu: bad or duplicate transaction id, "
			 "closing",
			 c->srv->name, c->num);
		c->srv->stats.bad_input++;
		c->dead = 1;
		return;
	}
	c->txns = xreallocarray(c->txns, c->ntxns + 1, sizeof(*c->txns));
	t = &c->txns[c->ntxns++];
	t->id = id;
	t->user = xstrdup(l->nargs > 1 ? l->args[1] : "");
	t->error = NULL;
}

/* cmd_set: S<id>\t<key>\t<value>, applied at once */
static void
cmd_set(struct dict_conn *c, struct dict_line *l)
{
	struct dict_server *srv = c->srv;
	struct dict_txn *t = txn_arg(c, l);

	if (t == NULL)
		return;
	if (srv->ops->set == NULL ||
	    srv->ops->set(srv->ctx, t->user, l->args[1], l->args[2]) < 0) {
		log_error("dictproxy-set failed for %s: %s", t->user,
			  l->args[1]);
		txn_fail(t, "set failed");
	}
}

/* cmd_unset: U<id>\t<key> */
static void
cmd_unset(struct dict_conn *c, struct dict_line *l)
{
	struct dict_server *srv = c->srv;
	struct dict_txn *t = txn_arg(c, l);

	if (t == NULL)
		return;
	if (srv->ops->unset == NULL) {
		log_warn("unset ignored: %s", l->args[1]);
		return;
	}
	if (srv->ops->unset(srv->ctx, t->user, l->args[1]) < 0)
		txn_fail(t, "unset failed");
}

/* cmd_commit: C<id> (D<id>): O<id> or F<id>\t<error>, in order */
static void
cmd_commit(struct dict_conn *c, struct dict_line *l)
{
	struct dict_req *req = dict_req_new(c, l->cmd);
	struct dict_txn *t;

	c->srv->stats.commits++;
	(void)num_parse_uint(l->args[0], 0, UINT32_MAX, &req->txn_id);
	t = txn_arg(c, l);
	if (t == NULL) {
		dict_reply_fail(req, "transaction doesn't exist");
		return;
	}
	if (t->error != NULL) {
		dict_reply_fail(req, t->error);
	} else {
		if (l->cmd == DICT_CMD_COMMIT_ASYNC)
			(void)buf_putc(&req->reply, 'A');
		(void)buf_printf(&req->reply, "O%u\n", req->txn_id);
		dict_req_done(req);
	}
	txn_remove(c, t);
}

/* cmd_rollback: R<id> */
static void
cmd_rollback(struct dict_conn *c, struct dict_line *l)
{
	struct dict_txn *t = txn_arg(c, l);

	if (t != NULL)
		txn_remove(c, t);
}

/* cmd_other: A (atomic increment) is not something our dicts hold;
 * T and V only carry hints. Upstream ignores all three. */
static void
cmd_other(struct dict_conn *c, struct dict_line *l)
{
	if (l->cmd == DICT_CMD_ATOMIC_INC)
		log_warn("dict %s#%lu: atomic increment ignored: %s",
			 c->srv->name, c->num, l->args[1]);
}

/* the dispatch table, as in Dovecot's dict-commands.c */
static const struct dict_cmd_entry {
	char cmd;
	unsigned char min_args;
	unsigned char replies; /* the client waits for a reply */
	void (*fn)(struct dict_conn *c, struct dict_line *l);
} dict_cmds[] = {
	{ DICT_CMD_HELLO, 0, 0, cmd_hello },
	{ DICT_CMD_LOOKUP, 1, 1, cmd_lookup },
	{ DICT_CMD_ITERATE, 3, 1, cmd_iterate },
	{ DICT_CMD_BEGIN, 1, 0, cmd_begin },
	{ DICT_CMD_COMMIT, 1, 1, cmd_commit },
	{ DICT_CMD_COMMIT_ASYNC, 1, 1, cmd_commit },
	{ DICT_CMD_ROLLBACK, 1, 0, cmd_rollback },
	{ DICT_CMD_SET, 3, 0, cmd_set },
	{ DICT_CMD_UNSET, 2, 0, cmd_unset },
	{ DICT_CMD_ATOMIC_INC, 3, 0, cmd_other },
	{ DICT_CMD_TIMESTAMP, 1, 0, cmd_other },
	{ DICT_CMD_HIDE_LOG_VALUES, 1, 0, cmd_other },
};

/* cmd_find: the table entry of command character cmd, or NULL */
static const struct dict_cmd_entry *
cmd_find(char cmd)
{
	for (size_t i = 0; i < sizeof(dict_cmds) / sizeof(dict_cmds[0]); i++) {
		if (dict_cmds[i].cmd == cmd)
			return &dict_cmds[i];
	}
	return NULL;
}

/* dict_cmd_dispatch: parse one line and run its command; the line is
 * wiped afterwards (auth lookups carry cleartext passwords) */
void
dict_cmd_dispatch(struct dict_conn *c, char *line, size_t len)
{
	const struct dict_cmd_entry *e = len > 0 ? cmd_find(line[0]) : NULL;
	struct dict_line l;
	int r = dict_parse_line(line, len, &l);

	if (e == NULL || (!c->hello && e->cmd != DICT_CMD_HELLO)) {
		log_warn("dict %s#%lu: %s, closing", c->srv->name, c->num,
			 e == NULL ? "unknown command" : "no handshake");
		c->srv->stats.bad_input++;
		c->dead = 1;
	} else if (r == 0 && l.nargs >= e->min_args) {
		e->fn(c, &l);
	} else {
		log_warn("dict %s#%lu: %c: broken input", c->srv->name, c->num,
			 e->cmd);
		c->srv->stats.bad_input++;
		if (e->replies)
			dict_reply_fail(dict_req_new(c, e->cmd),
					"broken input");
	}
	explicit_bzero(line, len);
}
