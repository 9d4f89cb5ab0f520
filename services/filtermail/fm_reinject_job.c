/*
 * fm_reinject_job: the path of one received message, shared by the SMTP
 * server and /mxdeliv: the policy's verdict, then (on 250) reinjection
 * into Postfix, then one final answer for the client.
 *
 * Role: this is where "mail is never lost" is kept. The client gets
 * "250 OK" only after Postfix answered 2xx to the reinjected message;
 * a rejection by the policy is answered as the policy says; any
 * failure on the way is a 4xx (or Postfix's own refusal), so the
 * sending side keeps the message and retries.
 *
 * Untrusted input: none directly (envelope and message were bounded by
 * the receiving side; the policy and Postfix answer through callbacks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filtermail.h"
#include "log.h"
#include "xmalloc.h"

struct fm_job {
	const struct fm_ctx *ctx;
	struct fm_envelope env; /* borrowed from the caller */
	const char *msg;
	size_t len;
	fm_job_done_fn *done;
	void *arg;
	struct fm_check *check;
	struct fm_reinject *rj;
	struct evloop_timer timer; /* reports a verdict from the loop */
	int code;
	char text[FM_VERDICT_TEXT_MAX];
	char *prepend; /* copy of the verdict's prepend */
	size_t prepend_len;
	int in_check; /* inside fm_check_fn: done may run synchronously */
	double t_start, t_reinject; /* fm_stats_now() at each step */
	double check_s, reinject_s; /* how long each took; -1: not run */
};

/* fm_ctx_init: see filtermail.h */
void
fm_ctx_init(struct fm_ctx *ctx, struct evloop *loop)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->loop = loop;
	ctx->max_size = 31457280;
	(void)snprintf(ctx->helo, sizeof(ctx->helo), "filtermail");
	ctx->t.cmd_ms = 300000;	   /* Postfix's smtpd_timeout */
	ctx->t.connect_ms = 30000; /* Postfix's smtp_connect_timeout */
	/* upstream's client uses 60 s; Postfix waits 100 s for our
	 * answer (smtpd_proxy_timeout), so stay below that per step */
	ctx->t.reply_ms = 60000;
	ctx->t.total_ms = 90000;
	ctx->max_sessions = 10000;
}

/* report: hand the final answer to the caller; the job is freed */
static void
report(struct fm_job *job, int code, const char *text)
{
	fm_job_done_fn *done = job->done;
	void *arg = job->arg;
	char copy[FM_VERDICT_TEXT_MAX];

	fm_stats_job(job->ctx->stats, code, job->check_s, job->reinject_s);
	(void)snprintf(copy, sizeof(copy), "%s", text);
	job->done = NULL;
	fm_job_cancel(&job);
	done(arg, code, copy);
}

/* on_timer: a verdict that came synchronously, reported from the loop */
static void
on_timer(struct evloop *loop, void *arg)
{
	struct fm_job *job = arg;

	(void)loop;
	report(job, job->code, job->text);
}

/* on_reinjected: Postfix's answer to the reinjected message */
static void
on_reinjected(void *arg, int code, const char *text)
{
	struct fm_job *job = arg;

	job->rj = NULL;
	job->reinject_s = fm_stats_now() - job->t_reinject;
	report(job, code, text);
}

/* start_reinject: the policy passed the message: hand it to Postfix */
static void
start_reinject(struct fm_job *job, const struct fm_verdict *v)
{
	struct fm_reinject_msg m;

	if (v->prepend != NULL && v->prepend_len > 0) {
		job->prepend = xmemdup(v->prepend, v->prepend_len);
		job->prepend_len = v->prepend_len;
	}
	memset(&m, 0, sizeof(m));
	m.mail_from = v->empty_return_path ? "" : job->env.mail_from;
	m.rcpts = job->env.rcpts;
	m.nrcpts = job->env.nrcpts;
	m.origin_ip = job->env.origin_ip;
	m.prepend = job->prepend;
	m.prepend_len = job->prepend_len;
	/* the prepend replaces the first skip bytes (outgoing: the header
	 * section, cleaned) */
	m.msg = job->msg + (v->skip <= job->len ? v->skip : job->len);
	m.len = job->len - (v->skip <= job->len ? v->skip : job->len);
	job->rj = fm_reinject_start(job->ctx, &m, on_reinjected, job);
}

/* on_verdict: the policy decided */
static void
on_verdict(void *arg, const struct fm_verdict *v)
{
	struct fm_job *job = arg;

	job->check = NULL;
	job->t_reinject = fm_stats_now();
	job->check_s = job->t_reinject - job->t_start;
	if (v->code == 250) {
		start_reinject(job, v);
		return;
	}
	job->code = v->code >= 200 && v->code <= 599 ? v->code : 451;
	if (v->text[0] != '\0')
		(void)snprintf(job->text, sizeof(job->text), "%s", v->text);
	else
		(void)snprintf(job->text, sizeof(job->text),
			       "451 4.3.0 Local error");
	if (job->in_check)
		evloop_timer_start(job->ctx->loop, &job->timer, 0);
	else
		report(job, job->code, job->text);
}

/* fm_job_start: see filtermail.h */
struct fm_job *
fm_job_start(const struct fm_ctx *ctx, const struct fm_envelope *env,
	     const char *msg, size_t len, fm_job_done_fn *done, void *arg)
{
	struct fm_job *job = xcalloc(1, sizeof(*job));
	struct fm_check *chk;

	job->ctx = ctx;
	job->env = *env;
	job->msg = msg;
	job->len = len;
	job->done = done;
	job->arg = arg;
	job->t_start = fm_stats_now();
	job->check_s = job->reinject_s = -1;
	evloop_timer_init(&job->timer, on_timer, job);
	job->in_check = 1;
	chk = ctx->check(ctx->policy, env, msg, len, on_verdict, job);
	job->in_check = 0;
	/* a synchronous verdict already ran on_verdict */
	if (chk != NULL)
		job->check = chk;
	return job;
}

/* fm_job_cancel: see filtermail.h */
void
fm_job_cancel(struct fm_job **jp)
{
	struct fm_job *job = *jp;

	if (job == NULL)
		return;
	if (job->check != NULL)
		job->ctx->cancel(&job->check);
	fm_reinject_cancel(&job->rj);
	evloop_timer_stop(job->ctx->loop, &job->timer);
	free(job->prepend);
	free(job);
	*jp = NULL;
}
