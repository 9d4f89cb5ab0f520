/*
 * fm_lines.h: the line-protocol server under filtermail's SMTP server
 * (fm_smtpd.c) and the transport's LMTP server (fm_lmtpd.c): accepted
 * connections, CRLF command framing, the DATA phase (fm_unstuff), reply
 * buffering, the idle timer and the session list. The protocol above it
 * sees one command line at a time and the end of each message.
 *
 * A protocol's session struct begins with a struct fm_ls_session (the
 * server allocates ops->size bytes and hands the protocol that pointer).
 *
 * Untrusted input: everything the client sends. Command lines are
 * capped (FM_CMD_LINE_MAX, "500 Line too long"), every line must end in
 * CRLF (a bare LF closes the connection, as upstream's filtermail), NUL
 * bytes in a command give "500 Command not recognized", pending replies
 * are capped (a client that never reads is closed), an idle timeout, a
 * session cap ("421 4.3.2 Too many connections").
 */
#ifndef FM_LINES_H
#define FM_LINES_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "evloop.h"
#include "filtermail.h"
#include "llist.h"

enum fm_ls_state {
	FM_LS_CMD,  /* reading commands */
	FM_LS_DATA, /* reading the message */
	FM_LS_WAIT, /* the protocol works on the message: not reading */
	FM_LS_QUIT, /* sending the last reply, then closing */
};

struct fm_lines;

struct fm_ls_session {
	LLIST_LINK(fm_ls_session) link; /* in the server's list */
	struct fm_lines *srv;
	int fd;
	enum fm_ls_state state;
	int discarding; /* skipping the rest of an over-long line */
	struct buf in, out, msg;
	struct fm_unstuffer un;
	struct evloop_timer timer;
};

/* a command: its verb (matched without case) and what runs it with the
 * argument after the verb's spaces */
struct fm_ls_cmd {
	const char *verb;
	void (*fn)(struct fm_ls_session *ls, const char *arg);
};

struct fm_ls_ops {
	size_t size;	      /* the protocol's session struct */
	const char *greeting; /* "220 ..." */
	size_t out_max;	      /* pending reply bytes */
	/* opened: a new session, before its greeting (may be NULL) */
	void (*opened)(struct fm_ls_session *ls);
	/* the commands; any other verb gets "500 Command not recognized" */
	const struct fm_ls_cmd *cmds;
	size_t ncmds;
	/* end_of_data: the message is in ls->msg (ls->un.total counts all
	 * its bytes); set ls->state (FM_LS_WAIT while working on it) */
	void (*end_of_data)(struct fm_ls_session *ls);
	/* closing: free the protocol's state; the server then closes */
	void (*closing)(struct fm_ls_session *ls);
};

struct fm_lines_opts {
	const struct fm_ls_ops *ops;
	void *arg;	     /* the protocol's server, fm_lines_arg() */
	uint64_t idle_ms;    /* between commands and DATA bytes */
	size_t max_sessions; /* more get 421 */
};

/* fm_lines_new: serve the listening fd lfd (owned afterwards); NULL if
 * it cannot be watched (lfd is closed then) */
struct fm_lines *fm_lines_new(struct evloop *loop,
			      const struct fm_lines_opts *o, int lfd);
/* fm_lines_free: close every session and the listener */
void fm_lines_free(struct fm_lines **sp);
/* fm_lines_adopt: serve a connected, non-blocking fd (owned) as if it
 * was accepted (tests, fuzzing) */
void fm_lines_adopt(struct fm_lines *srv, int fd);
/* fm_lines_close_listener: accept no more connections (shutdown) */
void fm_lines_close_listener(struct fm_lines *srv);
/* fm_lines_sessions: open sessions; fm_lines_busy: those in WAIT */
size_t fm_lines_sessions(const struct fm_lines *srv);
size_t fm_lines_busy(const struct fm_lines *srv);
/* fm_lines_arg: the protocol's server of srv */
void *fm_lines_arg(const struct fm_lines *srv);

/* fm_ls_reply: queue one reply line (cut at the first CR or LF); a
 * client whose replies no longer fit is closed after what fits */
void fm_ls_reply(struct fm_ls_session *ls, const char *text);
/* fm_ls_data: start reading a message of at most max bytes into ls->msg */
void fm_ls_data(struct fm_ls_session *ls, size_t max);
/* fm_ls_cmd_noop: "250 OK"; fm_ls_cmd_quit: "221 OK", then close */
void fm_ls_cmd_noop(struct fm_ls_session *ls, const char *arg);
void fm_ls_cmd_quit(struct fm_ls_session *ls, const char *arg);
/* fm_ls_resume: go on after FM_LS_WAIT (replies queued, state set):
 * send, then process what the client pipelined; may free ls */
void fm_ls_resume(struct fm_ls_session *ls);

#endif
