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

#define ARGV_MAX 12

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

/* newemail_command: on its socket, or on local_addr:port_newemail */
static char **
newemail_command(const struct render_target *t)
{
	char *listen;
	char **v;

	if (t->port_newemail != 0)
		listen = xasprintf("%s:%u", t->local_addr, t->port_newemail);
	else
		listen = xasprintf("unix:%s", t->sock[RENDER_SOCK_NEWEMAIL]);
	v = argv_of("newemail", t->ini_path, "--listen", listen, NULL);
	free(listen);
	return v;
}

/* turn_command: upstream's --realm and --socket, and ours: the secret
 * file, the relay ports, the relayed address (docs/UPSTREAM.md,
 * iroh-relay and TURN) */
static char **
turn_command(const struct render_target *t)
{
	const char *sock = t->sock[RENDER_SOCK_TURN];

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
		return argv_of("filtermail", ini, "outgoing", NULL);
	case RENDER_PROC_FILTERMAIL_INCOMING:
		return argv_of("filtermail", ini, "incoming", NULL);
	case RENDER_PROC_FILTERMAIL_TRANSPORT:
		return argv_of("filtermail", ini, "transport", NULL);
	case RENDER_PROC_DOVEAUTH:
		return argv_of("doveauth", t->sock[RENDER_SOCK_DOVEAUTH], ini,
			       NULL);
	case RENDER_PROC_METADATA:
		return argv_of("chatmail-metadata",
			       t->sock[RENDER_SOCK_METADATA], ini, NULL);
	case RENDER_PROC_LASTLOGIN:
		return argv_of("lastlogin", t->sock[RENDER_SOCK_LASTLOGIN], ini,
			       NULL);
	case RENDER_PROC_NEWEMAIL:
		return newemail_command(t);
	case RENDER_PROC_IROH:
		return argv_of("iroh-relay", "--config-path", t->iroh_config,
			       NULL);
	case RENDER_PROC_TURN:
		return turn_command(t);
	case RENDER_PROC_CERT:
		return argv_of("cert-reloader", "--dir", t->tls_dir, NULL);
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
