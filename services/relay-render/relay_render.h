/*
 * relay_render: the work of relay-render once its flags are parsed:
 * build the target, render every file, then list, print or write them.
 */
#ifndef CM_RELAY_RENDER_H
#define CM_RELAY_RENDER_H

#include "buf.h"
#include "render/render.h"
#include "spec.h"

struct relay_render_opts {
	const char *file;	/* -f: the ChatmailRelay */
	const char *target;	/* "local" or "pod" */
	const char *root;	/* local: the relay's directory */
	const char *addr;	/* local: public address ("" = all) */
	const char *local_addr; /* internal listeners (127.0.0.1) */
	const char *bin;	/* directory of our binaries */
	const char *dns;	/* dns_server for the services */
	unsigned newemail_port; /* 0: newemail on a unix socket */
	unsigned port_offset;	/* added to every public and nginx port */
	const char *out;	/* where to write (default: root) */
	int list;		/* print the relative paths */
	const char *print;	/* print this one file */
	int spec;		/* print the defaulted spec as JSON */
	int env;		/* print the layout (render_target_env) */
};

/* relay_render_run: do what o asks for spec; a sysexits code (0 ok)
 * with the reason in err */
int relay_render_run(const struct relay_render_opts *o,
		     const struct relay_spec *spec, struct buf *err);

/* relay_render_write: write every file of set below dir (directories
 * created 0755, files atomically with their mode); 0 or -errno */
int relay_render_write(const struct render_set *set, const char *dir,
		       struct buf *err);

#endif
