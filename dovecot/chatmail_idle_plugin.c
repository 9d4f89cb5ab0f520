/*
 * chatmail_idle_plugin: a Dovecot 2.3 mail plugin that tells an IMAP
 * client in IDLE about new mail at once, instead of after the fixed
 * 500 ms Dovecot waits after every change of a watched maildir
 * (NOTIFY_DELAY_MSECS in Dovecot's src/lib-storage/mailbox-watch.c).
 * Loaded by imap only (mail_plugins in the rendered dovecot.conf);
 * built against Debian's dovecot-dev of exactly the installed
 * dovecot-core (dovecot/module.mk, docs in dovecot/README.md).
 *
 * How: mail_storage_hooks.mailbox_allocated wraps each maildir
 * mailbox's notify_changes vfunc. When IDLE (or NOTIFY) starts
 * watching a mailbox, Dovecot's maildir_notify_changes adds its own
 * watch of new/ and cur/ (an io_add_notify each, plus a periodic stat
 * check every mailbox_idle_check_interval); then we add ours on the
 * same two directories with the same io_add_notify. Both land on the
 * one inotify instance of the process's ioloop, so the kernel keeps a
 * single watch per directory (one watch descriptor), and the ioloop
 * dispatches an event to the newest io registered for that descriptor:
 * ours. Our callback arms a CHATMAIL_IDLE_COALESCE_MSECS timer (events
 * of a burst within it become one wake-up), then calls the mailbox's
 * notify callback directly, which is what Dovecot's own timer would do
 * half a second later. Dovecot's periodic check stays as the fallback,
 * and where our io cannot be added (directory missing, inotify limits)
 * Dovecot's own io is untouched and works as without the plugin.
 *
 * Removal: when IDLE ends (notify_changes with no callback), and when
 * the mailbox is closed (client gone), our ios and timer go first,
 * then Dovecot's. Because the watch descriptor is shared, the first
 * inotify_rm_watch removes the kernel watch and the second gets
 * EINVAL, which Dovecot's io_loop_notify_remove ignores by design; no
 * watch outlives the IDLE (tests/integration/dovecot/test_idle.sh
 * counts them in /proc/<pid>/fdinfo). When IDLE is restarted while
 * still watching, ours is removed before Dovecot re-adds its watch, so
 * ours is again the newest io of the fresh descriptor.
 *
 * Untrusted input: none. The plugin sees only file-system events on
 * the user's own maildir; message contents are never read here.
 */
#include "lib.h"
#include "ioloop.h"
#include "mail-storage-hooks.h"
#include "mail-storage-private.h"

#include "chatmail-dovecot-package.h"

/* events within this window after the first become one wake-up */
#define CHATMAIL_IDLE_COALESCE_MSECS 2

#define CHATMAIL_IDLE_CONTEXT(obj) \
	MODULE_CONTEXT(obj, chatmail_idle_storage_module)

/* the directories of a maildir that Dovecot itself watches */
static const char *const chatmail_idle_dirs[] = { "new", "cur" };
#define CHATMAIL_IDLE_NDIRS N_ELEMENTS(chatmail_idle_dirs)

struct chatmail_idle_mailbox {
	union mailbox_module_context module_ctx;

	struct io *io[CHATMAIL_IDLE_NDIRS]; /* our watches, NULL if none */
	struct timeout *to_fire;	    /* armed by the first event */
};

void chatmail_idle_plugin_init(struct module *module);
void chatmail_idle_plugin_deinit(void);

/* the ABI string Dovecot's module loader compares with its own */
const char *chatmail_idle_plugin_version = DOVECOT_ABI_VERSION;
/* the Debian package this was built against (dovecot/module.mk) */
const char *chatmail_idle_plugin_built_for =
	"chatmail_idle built against dovecot-dev " CHATMAIL_DOVECOT_PACKAGE;

static MODULE_CONTEXT_DEFINE_INIT(chatmail_idle_storage_module,
				  &mail_storage_module_register);

/* chatmail_idle_unwatch: remove our ios and a pending wake-up */
static void
chatmail_idle_unwatch(struct chatmail_idle_mailbox *ibox)
{
	unsigned int i;

	for (i = 0; i < CHATMAIL_IDLE_NDIRS; i++)
		io_remove(&ibox->io[i]);
	timeout_remove(&ibox->to_fire);
}

/* chatmail_idle_fire: the coalescing window is over: notify now */
static void
chatmail_idle_fire(struct mailbox *box)
{
	struct chatmail_idle_mailbox *ibox = CHATMAIL_IDLE_CONTEXT(box);

	timeout_remove(&ibox->to_fire);
	/* a delayed notification Dovecot's own io may have armed would
	 * only repeat this one half a second later */
	timeout_remove(&box->to_notify_delay);
	if (box->notify_callback == NULL)
		return;
	/* may stop the notifications or close and free the mailbox:
	 * nothing of box or ibox is touched after it */
	box->notify_callback(box, box->notify_context);
}

/* chatmail_idle_event: an inotify event on new/ or cur/ */
static void
chatmail_idle_event(struct mailbox *box)
{
	struct chatmail_idle_mailbox *ibox = CHATMAIL_IDLE_CONTEXT(box);

	if (ibox->to_fire == NULL)
		ibox->to_fire = timeout_add_short(CHATMAIL_IDLE_COALESCE_MSECS,
						  chatmail_idle_fire, box);
}

/* chatmail_idle_watch: our io on each directory Dovecot watches */
static void
chatmail_idle_watch(struct mailbox *box, struct chatmail_idle_mailbox *ibox)
{
	const char *dir = mailbox_get_path(box), *path;
	unsigned int i, added = 0;

	for (i = 0; i < CHATMAIL_IDLE_NDIRS; i++) {
		path = t_strconcat(dir, "/", chatmail_idle_dirs[i], NULL);
		switch (io_add_notify(path, chatmail_idle_event, box,
				      &ibox->io[i])) {
		case IO_NOTIFY_ADDED:
			added++;
			break;
		case IO_NOTIFY_NOTFOUND:
			/* Dovecot's own watch of it failed the same way */
			break;
		case IO_NOTIFY_NOSUPPORT:
			/* inotify is off in this process (Dovecot logged
			 * why); its periodic check is what is left */
			e_debug(box->event, "chatmail_idle: no inotify, "
					    "periodic checks only");
			return;
		}
	}
	e_debug(box->event, "chatmail_idle: watching %u directories", added);
}

/* chatmail_idle_notify_changes: the wrapped vfunc; Dovecot's own
 * watch first, ours after it so that ours is dispatched */
static void
chatmail_idle_notify_changes(struct mailbox *box)
{
	struct chatmail_idle_mailbox *ibox = CHATMAIL_IDLE_CONTEXT(box);

	chatmail_idle_unwatch(ibox);
	ibox->module_ctx.super.notify_changes(box);
	if (box->notify_callback != NULL)
		chatmail_idle_watch(box, ibox);
}

/* chatmail_idle_close: the client is gone or the mailbox is left */
static void
chatmail_idle_close(struct mailbox *box)
{
	struct chatmail_idle_mailbox *ibox = CHATMAIL_IDLE_CONTEXT(box);

	chatmail_idle_unwatch(ibox);
	ibox->module_ctx.super.close(box);
}

/* chatmail_idle_mailbox_allocated: wrap maildir mailboxes only */
static void
chatmail_idle_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct chatmail_idle_mailbox *ibox;

	if (strcmp(box->storage->name, "maildir") != 0)
		return;
	ibox = p_new(box->pool, struct chatmail_idle_mailbox, 1);
	ibox->module_ctx.super = *v;
	box->vlast = &ibox->module_ctx.super;
	v->notify_changes = chatmail_idle_notify_changes;
	v->close = chatmail_idle_close;
	MODULE_CONTEXT_SET(box, chatmail_idle_storage_module, ibox);
}

/* chatmail_idle_user_created: the line the image check looks for */
static void
chatmail_idle_user_created(struct mail_user *user)
{
	e_debug(user->event,
		"chatmail_idle: loaded (%s), IDLE wakes up within %u ms",
		CHATMAIL_DOVECOT_PACKAGE, CHATMAIL_IDLE_COALESCE_MSECS);
}

static struct mail_storage_hooks chatmail_idle_hooks = {
	.mail_user_created = chatmail_idle_user_created,
	.mailbox_allocated = chatmail_idle_mailbox_allocated,
};

/* chatmail_idle_plugin_init: called by Dovecot's module loader */
void
chatmail_idle_plugin_init(struct module *module)
{
	mail_storage_hooks_add(module, &chatmail_idle_hooks);
}

/* chatmail_idle_plugin_deinit: called when the process ends */
void
chatmail_idle_plugin_deinit(void)
{
	mail_storage_hooks_remove(&chatmail_idle_hooks);
}
