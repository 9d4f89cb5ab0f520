/*
 * pause.c: the sandbox process of every Pod on the test node (containerd's
 * pinned sandbox image, images/pause/Containerfile). It holds the Pod's
 * namespaces open and, as PID 1 of a Pod that shares its process
 * namespace, reaps the orphans the containers leave behind. SIGTERM and
 * SIGINT end it with status 0, as the runtime expects when it stops the
 * sandbox. No input, no output beyond one line on a failed start.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* on_stop ends the sandbox: the runtime stops it with TERM (or INT). */
static void
on_stop(int sig)
{
	(void)sig;
	_exit(0);
}

/* on_child reaps every exited child, keeping errno for the interrupted
 * pause(). */
static void
on_child(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

/* handle installs fn for sig with SA_RESTART; 0 or -errno. */
static int
handle(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
	if (sigemptyset(&sa.sa_mask) != 0 || sigaction(sig, &sa, NULL) != 0)
		return -errno;
	return 0;
}

int
main(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		(void)fputs("usage: pause (no arguments)\n", stderr);
		return 64;
	}
	if (getpid() != 1)
		(void)fputs("pause: warning: not PID 1, orphans are not "
			    "reaped here\n",
			    stderr);
	if (handle(SIGTERM, on_stop) != 0 || handle(SIGINT, on_stop) != 0 ||
	    handle(SIGCHLD, on_child) != 0) {
		(void)fputs("pause: sigaction failed\n", stderr);
		return 1;
	}
	for (;;)
		(void)pause();
}
