/*
 * backup_restic: running restic (Debian's package, docs/DESIGN.md,
 * Backup and restore) as a child process. restic takes the repository,
 * its password and the S3 credentials from its own environment
 * (RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY), which the CronJob and the init container set
 * from the spec and its Secrets; we pass it on untouched. restic's
 * output goes to our stderr (the Job's log) unless a command reads it.
 *
 * A child process: restic is a program of its own, not a library.
 *
 * Untrusted input: none (restic's exit status only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"
#include "log.h"
#include "xmalloc.h"

#define RESTIC_MAX_ARGS 48

/* free_argv: the copies restic_run made */
static void
free_argv(char **v)
{
	for (; *v != NULL; v++)
		free(*v);
}

int
restic_run(const struct restic *r, const char *cwd, const char *const *args,
	   int out_fd)
{
	char *argv[RESTIC_MAX_ARGS + 1];
	size_t n = 0;
	pid_t pid;
	int st;

	/* execvp's argv is char *const[]; it writes none of them */
	argv[n++] = xstrdup(r->bin);
	while (*args != NULL && n < RESTIC_MAX_ARGS)
		argv[n++] = xstrdup(*args++);
	if (*args != NULL)
		abort(); /* a caller built too long a command */
	argv[n] = NULL;
	log_debug("restic %s", argv[1]);
	pid = fork();
	if (pid < 0) {
		st = -errno;
		free_argv(argv);
		return st;
	}
	if (pid == 0) {
		if (cwd != NULL && chdir(cwd) < 0)
			_exit(126);
		if (dup2(out_fd >= 0 ? out_fd : 2, 1) < 0)
			_exit(126);
		(void)execvp(argv[0], argv);
		_exit(127);
	}
	free_argv(argv);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st)) {
		if (WEXITSTATUS(st) == 127)
			log_error("could not run %s", r->bin);
		return WEXITSTATUS(st);
	}
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int
restic_ensure_repo(const struct restic *r)
{
	static const char *const cat[] = { "cat", "config", "--quiet", NULL };
	static const char *const init[] = { "init", NULL };
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC), rc;

	if (getenv("RESTIC_REPOSITORY") == NULL &&
	    getenv("RESTIC_REPOSITORY_FILE") == NULL) {
		log_error("RESTIC_REPOSITORY is not set");
		if (devnull >= 0)
			(void)close(devnull);
		return -EINVAL;
	}
	rc = restic_run(r, NULL, cat, devnull);
	if (devnull >= 0)
		(void)close(devnull);
	if (rc == 0)
		return 0;
	/* no config: a new repository (init refuses to overwrite one, so a
	 * repository that was only unreachable is never replaced) */
	log_info("initialising the restic repository");
	rc = restic_run(r, NULL, init, -1);
	if (rc != 0) {
		log_error("restic init failed (exit %d)", rc);
		return -EIO;
	}
	return 0;
}
