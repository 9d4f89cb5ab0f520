/*
 * test_reloader: target flag parsing, the certificate/key pair check and
 * fingerprint (tests/data/cert-reloader), master process discovery in a
 * fake /proc (workers and other programs skipped, odd comm names), pid
 * files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/cert-reloader/reloader.h"

#define DATA "tests/data/cert-reloader"

static void
test_parse_target(void **state)
{
	struct reloader_target t;

	(void)state;
	assert_int(reloader_parse_target("nginx", &t), 0);
	assert_str(t.name, "nginx");
	assert_str(t.pidfile, "");
	assert_int(reloader_parse_target("dovecot=/run/dovecot/master.pid", &t),
		   0);
	assert_str(t.name, "dovecot");
	assert_str(t.pidfile, "/run/dovecot/master.pid");
	assert_int(reloader_parse_target("", &t), -EINVAL);
	assert_int(reloader_parse_target("=/x", &t), -EINVAL);
	assert_int(reloader_parse_target("nginx=relative.pid", &t), -EINVAL);
	assert_int(reloader_parse_target(
			   "a-name-that-is-far-too-long-to-be-a-comm", &t),
		   -EINVAL);
}

/* opts_for: options reading cert and key from the test data */
static void
opts_for(struct reloader_opts *o, const char *cert, const char *key)
{
	reloader_opts_default(o);
	(void)snprintf(o->dir, sizeof(o->dir), "%s", DATA);
	(void)snprintf(o->cert, sizeof(o->cert), "%s", cert);
	(void)snprintf(o->key, sizeof(o->key), "%s", key);
}

static void
test_fingerprint(void **state)
{
	struct reloader_opts o;
	struct buf err = BUF_INIT(512);
	char a[65], b[65], a2[65], na[64];

	(void)state;
	opts_for(&o, "cert-a.pem", "key-a.pem");
	assert_int(reloader_fingerprint(&o, a, na, sizeof(na), &err), 0);
	assert_int(strlen(a), 64);
	assert_non_null(strstr(na, "GMT"));
	assert_int(reloader_fingerprint(&o, a2, na, sizeof(na), &err), 0);
	assert_str(a2, a);
	opts_for(&o, "cert-b.pem", "key-b.pem");
	assert_int(reloader_fingerprint(&o, b, na, sizeof(na), &err), 0);
	assert_true(strcmp(a, b) != 0);
	/* a key that is not the certificate's is refused */
	opts_for(&o, "cert-a.pem", "key-b.pem");
	assert_int(reloader_fingerprint(&o, b, na, sizeof(na), &err), -EINVAL);
	assert_str(buf_cstr(&err), "key does not match the certificate");
	buf_reset(&err);
	opts_for(&o, "README", "key-a.pem");
	assert_int(reloader_fingerprint(&o, b, na, sizeof(na), &err), -EINVAL);
	assert_str(buf_cstr(&err), "certificate is not PEM");
	buf_reset(&err);
	opts_for(&o, "missing.pem", "key-a.pem");
	assert_int(reloader_fingerprint(&o, b, na, sizeof(na), &err), -ENOENT);
	buf_deinit(&err);
}

/* fake_proc: one process entry */
static void
fake_proc(const char *root, int pid, const char *comm, int ppid)
{
	char path[512];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%d", root, pid);
	assert_int(mkdir(path, 0755), 0);
	(void)snprintf(path, sizeof(path), "%s/%d/comm", root, pid);
	f = fopen(path, "w");
	assert_non_null(f);
	(void)fprintf(f, "%s\n", comm);
	(void)fclose(f);
	(void)snprintf(path, sizeof(path), "%s/%d/stat", root, pid);
	f = fopen(path, "w");
	assert_non_null(f);
	(void)fprintf(f, "%d (%s) S %d 1 1 0 -1 4194560 ...\n", pid, comm,
		      ppid);
	(void)fclose(f);
}

static int
cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

static void
test_find(void **state)
{
	char *root = test_tmpdir(), path[512];
	pid_t pids[8];
	size_t n;
	FILE *f;
	struct reloader_opts o;
	struct reloader_target t;

	(void)state;
	fake_proc(root, 1, "pause", 0);
	fake_proc(root, 10, "nginx", 1);   /* master */
	fake_proc(root, 11, "nginx", 10);  /* worker */
	fake_proc(root, 12, "nginx", 10);  /* worker */
	fake_proc(root, 20, "dovecot", 1); /* master */
	fake_proc(root, 21, "imap-login", 20);
	fake_proc(root, 30, "master", 1); /* postfix */
	fake_proc(root, 31, "pickup", 30);
	fake_proc(root, 40, "a) S 99 (x", 1); /* a hostile name */
	(void)snprintf(path, sizeof(path), "%s/self", root);
	assert_int(mkdir(path, 0755), 0);
	n = reloader_find(root, "nginx", pids, 8);
	assert_int(n, 1);
	assert_int(pids[0], 10);
	n = reloader_find(root, "dovecot", pids, 8);
	assert_int(n, 1);
	assert_int(pids[0], 20);
	n = reloader_find(root, "master", pids, 8);
	assert_int(n, 1);
	assert_int(pids[0], 30);
	assert_int(reloader_find(root, "postfix", pids, 8), 0);
	/* two independent masters are both found */
	fake_proc(root, 50, "nginx", 1);
	n = reloader_find(root, "nginx", pids, 8);
	qsort(pids, n, sizeof(pids[0]), cmp_pid);
	assert_int(n, 2);
	assert_int(pids[1], 50);
	assert_int(reloader_find(root, "nginx", pids, 1), 1);
	/* a pid file instead of /proc */
	(void)snprintf(path, sizeof(path), "%s/nginx.pid", root);
	f = fopen(path, "w");
	assert_non_null(f);
	(void)fprintf(f, "4242\n");
	(void)fclose(f);
	reloader_opts_default(&o);
	(void)snprintf(o.proc, sizeof(o.proc), "%s", root);
	(void)snprintf(t.name, sizeof(t.name), "nginx");
	(void)snprintf(t.pidfile, sizeof(t.pidfile), "%s", path);
	assert_int(reloader_target_pids(&o, &t, pids, 8), 1);
	assert_int(pids[0], 4242);
	(void)snprintf(t.pidfile, sizeof(t.pidfile), "%s/none.pid", root);
	assert_int(reloader_target_pids(&o, &t, pids, 8), 0);
	t.pidfile[0] = '\0';
	assert_int(reloader_target_pids(&o, &t, pids, 8), 2);
	test_rmtree(root);
	free(root);
}

/* test_probe: targets are probed once each, when they have a process */
static void
test_probe(void **state)
{
	struct reloader_opts o;
	char *root = test_tmpdir(), path[512];
	unsigned done = 0;
	FILE *f;

	(void)state;
	reloader_opts_default(&o);
	(void)snprintf(path, sizeof(path), "%s/self.pid", root);
	o.ntargets = 2;
	(void)snprintf(o.targets[0].name, sizeof(o.targets[0].name), "self");
	(void)snprintf(o.targets[0].pidfile, sizeof(o.targets[0].pidfile), "%s",
		       path);
	(void)snprintf(o.targets[1].name, sizeof(o.targets[1].name), "late");
	(void)snprintf(o.targets[1].pidfile, sizeof(o.targets[1].pidfile),
		       "%s/late.pid", root);
	/* neither runs yet */
	assert_int(reloader_probe(&o, &done), 2);
	assert_int(done, 0);
	f = fopen(path, "w");
	assert_non_null(f);
	(void)fprintf(f, "%d\n", (int)getpid());
	(void)fclose(f);
	assert_int(reloader_probe(&o, &done), 1);
	assert_int(done, 1);
	/* probed targets are not probed again */
	assert_int(reloader_probe(&o, &done), 1);
	assert_int(done, 1);
	(void)snprintf(path, sizeof(path), "%s/late.pid", root);
	f = fopen(path, "w");
	assert_non_null(f);
	(void)fprintf(f, "%d\n", (int)getpid());
	(void)fclose(f);
	assert_int(reloader_probe(&o, &done), 0);
	assert_int(done, 3);
	test_rmtree(root);
	free(root);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_target),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
