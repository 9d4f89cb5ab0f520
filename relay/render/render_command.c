/*
 * render_command: the command line of each of the relay's processes on
 * a target, the one place they are written down. The operator puts
 * them into the Pod's containers and CronJobs (operator/desired_pod.c);
 * hack/local-relay.sh runs the chatmail services with them (through
 * `relay-render --env`). Our services keep upstream's command lines
 * (socket or config first, as upstream's systemd units run them).
 *
 * Untrusted input: none (the target's paths, checked by
 * render_target_check before anything is rendered).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "render.h"
#include "xmalloc.h"

#define ARGV_MAX 16

/* the services that serve counters on --metrics (ours), each on a
 * socket <run_dir>/<process>.metrics the exporter reads (filtermail
 * transport only where it runs, t->transport) */
static const enum render_proc_id metric_procs[] = {
	RENDER_PROC_FILTERMAIL_OUTGOING,
	RENDER_PROC_FILTERMAIL_INCOMING,
	RENDER_PROC_FILTERMAIL_TRANSPORT,
	RENDER_PROC_DOVEAUTH,
	RENDER_PROC_METADATA,
	RENDER_PROC_LASTLOGIN,
	RENDER_PROC_NEWEMAIL,
};
#define NMETRIC_PROCS (sizeof(metric_procs) / sizeof(metric_procs[0]))

/* argv_of: a NULL-terminated copy of the arguments (NULL ends them) */
static char **
argv_of(const char *first, ...)
{
	char **v = xcalloc(ARGV_MAX + 1, sizeof(*v));
	const char *a = first;
	size_t n = 0;
	va_list ap;

	va_start(ap, first);
	while (a != NULL) {
		if (n == ARGV_MAX)
			abort(); /* a table bug here, not an input problem */
		v[n++] = xstrdup(a);
		a = va_arg(ap, const char *);
	}
	va_end(ap);
	return v;
}

/* daemon_command: Postfix, Dovecot and nginx in the foreground */
static char **
daemon_command(const struct render_target *t, enum render_proc_id p)
{
	char *conf;
	char **v;

	switch (p) {
	case RENDER_PROC_POSTFIX:
		/* the image's entrypoint copies the config off the
		 * ConfigMap and fixes owners before start-fg
		 * (images/postfix/postfix-run) */
		if (t->kind == RENDER_POD)
			return argv_of("/usr/local/bin/postfix-run", NULL);
		return argv_of("postfix", "-c", t->postfix_config_dir,
			       "start-fg", NULL);
	case RENDER_PROC_DOVECOT:
		conf = xasprintf("%s/dovecot.conf", t->dovecot_config_dir);
		/* the image's entrypoint checks that imap loads our
		 * plugins, then execs dovecot -F -c conf
		 * (images/dovecot/dovecot-run) */
		if (t->kind == RENDER_POD)
			v = argv_of("/usr/local/bin/dovecot-run", "-F", "-c",
				    conf, NULL);
		else
			v = argv_of("dovecot", "-F", "-c", conf, NULL);
		break;
	default:
		conf = xasprintf("%s/nginx.conf", t->nginx_config_dir);
		v = argv_of("nginx", "-c", conf, "-g", "daemon off;", NULL);
		break;
	}
	free(conf);
	return v;
}

char *
render_metrics_addr(const struct render_target *t, enum render_proc_id p)
{
	return xasprintf("unix:%s/%s.metrics", t->run_dir, render_procs[p]);
}

/* newemail_command: on its socket, or on local_addr:port_newemail */
static char **
newemail_command(const struct render_target *t)
{
	char *listen, *m = render_metrics_addr(t, RENDER_PROC_NEWEMAIL);
	char **v;

	if (t->port_newemail != 0)
		listen = xasprintf("%s:%u", t->local_addr, t->port_newemail);
	else
		listen = xasprintf("unix:%s", t->sock[RENDER_SOCK_NEWEMAIL]);
	v = argv_of("newemail", t->ini_path, "--listen", listen, "--metrics", m,
		    NULL);
	free(listen);
	free(m);
	return v;
}

/* service_command: a service with upstream's arguments a1 a2, then
 * our --metrics ADDR (getopt_long takes options after them) */
static char **
service_command(const struct render_target *t, enum render_proc_id p,
		const char *bin, const char *a1, const char *a2)
{
	char *m = render_metrics_addr(t, p);
	char **v = argv_of(bin, a1, a2, "--metrics", m, NULL);

	free(m);
	return v;
}

/* exporter_command: chatmail-exporter on the metrics port with every
 * service's socket, Dovecot's OpenMetrics (render_dovecot.c) and the
 * chatmail-metrics textfile as sources (docs/DESIGN.md, Metrics) */
static char **
exporter_command(const struct render_target *t)
{
	char **v = xcalloc(NMETRIC_PROCS + 5, sizeof(*v));
	size_t i, n = 0;

	v[n++] = xstrdup("chatmail-exporter");
	if (t->kind == RENDER_POD)
		v[n++] = xasprintf("--listen=*:%u",
				   t->port[RENDER_PORT_METRICS]);
	else
		v[n++] = xasprintf("--listen=%s:%u", t->local_addr,
				   t->port[RENDER_PORT_METRICS]);
	for (i = 0; i < NMETRIC_PROCS; i++) {
		char *m;

		if (metric_procs[i] == RENDER_PROC_FILTERMAIL_TRANSPORT &&
		    !t->transport)
			continue;
		m = render_metrics_addr(t, metric_procs[i]);
		v[n++] = xasprintf("--source=%s=%s",
				   render_procs[metric_procs[i]], m);
		free(m);
	}
	v[n++] = xasprintf("--source=dovecot=http://%s:%u/metrics",
			   t->local_addr, t->port[RENDER_PORT_DOVECOT_STATS]);
	v[n++] = xasprintf("--source=fsreport=file:%s", t->metrics_file);
	return v;
}

/* turn_command: upstream's --realm and --socket, and ours: the secret
 * file, the relay ports, the relayed address (docs/UPSTREAM.md,
 * iroh-relay and TURN) */
static char **
turn_command(const struct render_target *t)
{
	const char *sock = t->sock[RENDER_SOCK_TURN];

	if (t->turn_relay_ports[0] == '\0')
		return argv_of("chatmail-turn", "--realm", t->turn_realm,
			       "--socket", sock, "--secret-file",
			       t->turn_secret, "--credentials-only", NULL);
	if (t->turn_address[0] == '\0')
		return argv_of("chatmail-turn", "--realm", t->turn_realm,
			       "--socket", sock, "--secret-file",
			       t->turn_secret, "--relay-ports",
			       t->turn_relay_ports, NULL);
	return argv_of("chatmail-turn", "--realm", t->turn_realm, "--socket",
		       sock, "--secret-file", t->turn_secret, "--relay-ports",
		       t->turn_relay_ports, "--external-ip", t->turn_address,
		       NULL);
}

/* render_command: the command line of process p on target t */
char **
render_command(const struct render_target *t, enum render_proc_id p)
{
	const char *ini = t->ini_path;

	switch (p) {
	case RENDER_PROC_POSTFIX:
	case RENDER_PROC_DOVECOT:
	case RENDER_PROC_NGINX:
		return daemon_command(t, p);
	case RENDER_PROC_FILTERMAIL_OUTGOING:
		return service_command(t, p, "filtermail", ini, "outgoing");
	case RENDER_PROC_FILTERMAIL_INCOMING:
		return service_command(t, p, "filtermail", ini, "incoming");
	case RENDER_PROC_FILTERMAIL_TRANSPORT:
		return service_command(t, p, "filtermail", ini, "transport");
	case RENDER_PROC_DOVEAUTH:
		return service_command(t, p, "doveauth",
				       t->sock[RENDER_SOCK_DOVEAUTH], ini);
	case RENDER_PROC_METADATA:
		return service_command(t, p, "chatmail-metadata",
				       t->sock[RENDER_SOCK_METADATA], ini);
	case RENDER_PROC_LASTLOGIN:
		return service_command(t, p, "lastlogin",
				       t->sock[RENDER_SOCK_LASTLOGIN], ini);
	case RENDER_PROC_NEWEMAIL:
		return newemail_command(t);
	case RENDER_PROC_IROH:
		return argv_of("iroh-relay", "--config-path", t->iroh_config,
			       NULL);
	case RENDER_PROC_TURN:
		return turn_command(t);
	case RENDER_PROC_CERT:
		return argv_of("cert-reloader", "--dir", t->tls_dir, NULL);
	case RENDER_PROC_EXPORTER:
		return exporter_command(t);
	case RENDER_PROC_EXPIRE:
		return argv_of("chatmail-expire", ini, "-v", "--remove", NULL);
	case RENDER_PROC_METRICS:
		return argv_of("chatmail-metrics", ini, "--textfile",
			       t->metrics_file, NULL);
	case RENDER_NPROCS:
		break;
	}
	abort(); /* not a process */
}

/* render_argv_free: free a render_command result; NULLs *argvp */
void
render_argv_free(char ***argvp)
{
	size_t i;

	if (*argvp == NULL)
		return;
	for (i = 0; (*argvp)[i] != NULL; i++)
		free((*argvp)[i]);
	free(*argvp);
	*argvp = NULL;
}
