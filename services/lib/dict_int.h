/*
 * dict_int: what the dict core's two files share (dict.c: server,
 * connections, requests; dict_cmd.c: transactions and the command
 * table). Not for programs: they use dict.h.
 */
#ifndef CM_DICT_INT_H
#define CM_DICT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dict.h"
#include "evloop.h"
#include "lineio.h"
#include "llist.h"
#include "net_server.h"

#define OUT_HIGH (1024 * 1024) /* stop reading while more is queued */

struct dict_txn {
	unsigned id;
	char *user;
	char *error; /* first failure, NULL while all went well */
};

struct dict_conn {
	struct dict_server *srv;
	LLIST_LINK(dict_conn) link; /* in the server's conns */
	int fd;
	unsigned long num; /* for logs */
	struct lineio io;
	LLIST_HEAD(, dict_req) reqs; /* requests awaiting their reply */
	struct dict_txn *txns;
	size_t ntxns;
	int hello;
	int eof;	 /* peer sent EOF: close once all is answered */
	int in_dispatch; /* inside our own read callback */
	int dead;	 /* close at the end of the current dispatch */
	int stalled;	 /* reading stopped by conn_paused() */
	unsigned watched;
	struct evloop_timer resume; /* re-read buffered input later */
};

struct dict_req {
	struct dict_conn *conn;	   /* NULL: orphaned */
	LLIST_LINK(dict_req) link; /* in conn->reqs */
	struct buf reply;
	char cmd;
	int done;
	unsigned iter_flags;
	uint64_t max_rows, rows;
	unsigned txn_id;
};

struct dict_server {
	struct evloop *loop;
	char *name;
	const struct dict_ops *ops;
	void *ctx;
	struct net_server ns;
	char log_name[64];   /* "dict <name>", for the admission logs */
	char accept_msg[80]; /* "dict <name>: accept" */
	LLIST_HEAD(, dict_conn) conns;
	unsigned long next_num;
	struct dict_stats stats;
};

/* dict_req_new: a reply slot at the tail of c's queue */
struct dict_req *dict_req_new(struct dict_conn *c, char cmd);
/* dict_req_done: req->reply holds the whole reply */
void dict_req_done(struct dict_req *req);
/* dict_cmd_dispatch: run one command line of c (dict_cmd.c) */
void dict_cmd_dispatch(struct dict_conn *c, char *line, size_t len);

#endif
