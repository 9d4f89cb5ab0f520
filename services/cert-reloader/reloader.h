/*
 * reloader: the pieces of cert-reloader, the relay Pod's `cert` helper.
 *
 * A Kubernetes Secret volume is updated atomically: the kubelet writes a
 * new timestamped directory and renames the "..data" symlink to it, so
 * tls.crt and tls.key (symlinks through ..data) change together. The
 * reloader watches the directory with inotify (a "..data" rename, or a
 * write/rename of the files themselves when they are plain files), and
 * also looks every check interval, since some mounts (subPath) get no
 * events. When the certificate's content changed and the new pair is
 * valid (the key matches the certificate), it sends SIGHUP to each
 * target: nginx and Dovecot reload their configuration and
 * certificates, Postfix's master restarts its daemons. Targets are
 * found by process name in /proc (the Pod shares one process namespace)
 * or read from pid files; each reload is logged.
 *
 * Untrusted input: the files in the watched directory (parsed by
 * OpenSSL; an invalid pair is reported and not loaded) and /proc.
 */
#ifndef CR_RELOADER_H
#define CR_RELOADER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct acme_opts;

#define RELOADER_MAX_TARGETS 8
#define RELOADER_FILE_MAX (1u << 20)

struct reloader_target {
	char name[32];	   /* process name (comm): nginx, dovecot, master */
	char pidfile[512]; /* "" = find it in /proc */
};

struct reloader_opts {
	char dir[512];	/* the mounted Secret */
	char cert[128]; /* file names in dir */
	char key[128];
	char proc[256]; /* /proc */
	struct reloader_target targets[RELOADER_MAX_TARGETS];
	size_t ntargets;
	unsigned debounce_ms; /* after an event, wait for quiet (1000) */
	unsigned check_ms;    /* look anyway this often (60000) */
	const struct acme_opts *acme; /* ACME mode (acme.h), or NULL */
};

/* reloader_opts_default: /etc/chatmail/tls, tls.crt, tls.key, /proc,
 * targets nginx, dovecot, master */
void reloader_opts_default(struct reloader_opts *o);
/* reloader_parse_target: "name" or "name=/path/to.pid" into t;
 * 0 or -EINVAL */
int reloader_parse_target(const char *s, struct reloader_target *t);

/* reloader_fingerprint: SHA-256 (hex) of certificate and key, after
 * checking the key belongs to the certificate; the certificate's
 * notAfter into not_after. 0, -ENOENT (unreadable), -EINVAL (not a
 * valid pair) with the reason in err. */
int reloader_fingerprint(const struct reloader_opts *o, char hex[65],
			 char *not_after, size_t nasize, struct buf *err);

/* reloader_find: pids of the master processes called name under proc
 * (a process whose parent has the same name is a worker, skipped);
 * returns how many (at most max) */
size_t reloader_find(const char *proc, const char *name, pid_t *pids,
		     size_t max);
/* reloader_target_pids: the pids of target t (pid file or /proc) */
size_t reloader_target_pids(const struct reloader_opts *o,
			    const struct reloader_target *t, pid_t *pids,
			    size_t max);

/* reloader_probe: kill(pid, 0) on every target whose bit in *done is
 * clear and which has a process now, logging whether the helper may
 * signal it (a cert container without uid 0 or CAP_KILL may not: said
 * at start, not at the first renewal); sets its bit. Returns how many
 * targets had no process yet. */
size_t reloader_probe(const struct reloader_opts *o, unsigned *done);

/* reloader_run: watch and reload until SIGTERM/SIGINT; a sysexits code */
int reloader_run(const struct reloader_opts *o);

#endif
