/*
 * relay_render: build the render target from relay-render's flags,
 * render every file of the relay, and list, print or write them.
 * Writing is atomic per file (fs_write_atomic), so a running daemon
 * never reads half a config.
 *
 * Untrusted input: none beyond the spec (validated) and the flags
 * (our scripts'); relative paths of the render set come from the
 * renderer and never contain "..".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "fs.h"
#include "relay_render.h"
#include "render/render.h"
#include "xmalloc.h"

/* make_target: the target o describes, or NULL with err */
static struct render_target *
make_target(const struct relay_render_opts *o, struct buf *err)
{
	struct render_target *t;
	char *path;

	if (strcmp(o->target, "pod") == 0)
		t = render_target_new_pod();
	else
		t = render_target_new_local(o->root,
					    o->addr != NULL ? o->addr : "");
	if (o->local_addr != NULL)
		render_target_set(&t->local_addr, o->local_addr);
	if (o->bin != NULL) {
		path = xasprintf("%s/chatmail-quota-expire", o->bin);
		render_target_set(&t->quota_expire_bin, path);
		free(path);
	}
	if (o->dns != NULL)
		render_target_set(&t->dns_server, o->dns);
	t->port_newemail = o->newemail_port;
	/* the loopback fallback of hack/local-relay.sh: no namespace, so
	 * the standard ports may be taken by the host's own daemons */
	if (render_target_offset_ports(t, o->port_offset) < 0) {
		(void)buf_printf(err,
				 "--port-offset %u moves a port past "
				 "65535\n",
				 o->port_offset);
		render_target_free(&t);
	}
	return t;
}

/* print_env: the layout as shell assignments on stdout */
static int
print_env(const struct render_target *t, struct buf *err)
{
	struct buf b = BUF_INIT(256 * 1024);
	int rc = 0;

	if (render_target_check(t, err) < 0)
		rc = EX_USAGE;
	else if (render_target_env(t, &b) < 0)
		rc = EX_SOFTWARE;
	else if (fwrite(b.data, 1, b.len, stdout) != b.len)
		rc = EX_IOERR;
	buf_deinit(&b);
	return rc;
}

/* relay_render_write: every file of set below dir */
int
relay_render_write(const struct render_set *set, const char *dir,
		   struct buf *err)
{
	const struct render_file *f;
	char *path, *slash;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < set->n; i++) {
		f = &set->files[i];
		if (strstr(f->path, "..") != NULL || f->path[0] == '/') {
			(void)buf_printf(err, "refusing path %s\n", f->path);
			return -EINVAL;
		}
		path = xasprintf("%s/%s", dir, f->path);
		slash = strrchr(path, '/');
		*slash = '\0';
		r = fs_mkdirs(path, 0755);
		*slash = '/';
		if (r == 0)
			r = fs_write_atomic(path, f->data, f->len, f->mode, 0);
		if (r < 0)
			(void)buf_printf(err, "%s: %s\n", path, strerror(-r));
		free(path);
	}
	return r;
}

/* print_spec: the defaulted spec as JSON on stdout */
static int
print_spec(const struct relay_spec *spec)
{
	cJSON *j = spec_dump_json(spec);
	char *text = cJSON_Print(j);

	if (text == NULL)
		abort();
	(void)printf("%s\n", text);
	free(text);
	cJSON_Delete(j);
	return 0;
}

/* relay_render_run: render, then list, print or write */
int
relay_render_run(const struct relay_render_opts *o,
		 const struct relay_spec *spec, struct buf *err)
{
	struct render_target *t = make_target(o, err);
	struct render_set set = { NULL, 0 };
	const struct render_file *f;
	int rc = 0;
	size_t i;

	if (t == NULL)
		return EX_USAGE;
	if (o->env) {
		rc = print_env(t, err);
		goto out;
	}
	if (o->spec) {
		rc = print_spec(spec);
		goto out;
	}
	if (render_all(spec, t, &set, err) < 0) {
		rc = EX_CONFIG;
		goto out;
	}
	if (o->list) {
		for (i = 0; i < set.n; i++)
			(void)printf("%s\n", set.files[i].path);
	} else if (o->print != NULL) {
		f = render_set_find(&set, o->print);
		if (f == NULL) {
			(void)buf_printf(err, "no rendered file %s\n",
					 o->print);
			rc = EX_USAGE;
		} else if (fwrite(f->data, 1, f->len, stdout) != f->len) {
			rc = EX_IOERR;
		}
	} else if (relay_render_write(&set, o->out ? o->out : t->root, err) <
		   0) {
		rc = EX_CANTCREAT;
	}
out:
	render_set_free(&set);
	render_target_free(&t);
	return rc;
}
