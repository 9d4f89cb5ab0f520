/*
 * test_limits: doveauth's registration limits seen from its cgroup
 * (services/doveauth/doveauth_limits.c) on fake trees: cgroup v2 in a
 * container (own cgroup namespace) and on a systemd host (a limit on an
 * ancestor), cgroup v1 as Docker and the kubelet mount it (the
 * container's own cgroup at the hierarchy's mount point) and as a host
 * sees it, no limit at all (the node's figures), unreadable files and
 * odd paths; then the limits' verdict through auth_has_resources. Last,
 * this machine's real cgroup: where doveauth finds it, and (as root on
 * cgroup v1) a child process in a cgroup the test makes with a memory
 * limit, which must see that limit.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "buf.h"
#include "config.h"
#include "doveauth.h"
#include "log.h"
#include "xmalloc.h"

#define MIB (1024ull * 1024)

/* put: write text to root/rel, making the directories */
static void
put(const char *root, const char *rel, const char *text)
{
	char path[2048], *s;
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s%s", root, rel);
	for (s = path + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		(void)mkdir(path, 0755);
		*s = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int(fclose(f), 0);
}

/* putf: put with a format */
static void
putf(const char *root, const char *rel, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	put(root, rel, text);
}

/* node: the node's figures every tree has: 8000 MB available, load 7.5 */
static void
node(const char *root)
{
	put(root, "/proc/meminfo",
	    "MemTotal:       16384000 kB\nMemFree:         1000 kB\n"
	    "MemAvailable:    8192000 kB\nBuffers:  1 kB\n");
	put(root, "/proc/loadavg", "7.50 3.00 1.00 2/345 6789\n");
}

static const char mi_v2[] =
	"22 1 0:21 / / rw,relatime - overlay overlay rw\n"
	"30 22 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 "
	"rw,nsdelegate,memory_recursiveprot\n";

/* v2 in a container (cgroupns): the cgroup is the mount's root */
static void
v2_container(const char *root)
{
	node(root);
	put(root, "/proc/self/cgroup", "0::/\n");
	put(root, "/proc/self/mountinfo", mi_v2);
	putf(root, "/sys/fs/cgroup/memory.max", "%llu\n", 300 * MIB);
	putf(root, "/sys/fs/cgroup/memory.current", "%llu\n", 100 * MIB);
	putf(root, "/sys/fs/cgroup/memory.stat",
	     "anon 1234\nfile 99999\nactive_file 1\ninactive_file %llu\n"
	     "slab 7\n",
	     50 * MIB);
	put(root, "/sys/fs/cgroup/cpu.max", "50000 100000\n");
	put(root, "/sys/fs/cgroup/cpu.pressure",
	    "some avg10=1.00 avg60=40.00 avg300=2.00 total=1234\n"
	    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
}

struct fx {
	char *root;
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	log_init("test_limits", getenv("V") ? 1 : -2);
	f->root = test_tmpdir();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	test_rmtree(f->root);
	free(f->root);
	free(f);
	return 0;
}

/* figures: what the probe reads below root */
static void
figures(const char *root, double *load, uint64_t *mem)
{
	struct auth_probe p;

	auth_probe_init(&p, root);
	assert_int(p.load1(&p, load), 0);
	assert_int(p.mem_avail_mb(&p, mem), 0);
}

/* v2 container: 300 MiB limit, 100 MiB used of which 50 reclaimable:
 * 250 MB left (not the node's 8000); half a CPU at 40 % pressure: a load
 * of (0.5 + 1) * 0.4 (not the node's 7.5) */
static void
test_v2_container(void **state)
{
	struct fx *f = *state;
	struct auth_cgroup cg;
	double load;
	uint64_t mem;

	v2_container(f->root);
	assert_int(auth_cgroup_find(f->root, &cg), 0);
	assert_int(cg.mem_version, 2);
	assert_str(cg.mem_dir, "/sys/fs/cgroup");
	assert_int(cg.cpu_version, 2);
	figures(f->root, &load, &mem);
	assert_int(mem, 250);
	assert_float_equal(load, 0.6, 1e-9);
	/* no limits: the node's figures */
	put(f->root, "/sys/fs/cgroup/memory.max", "max\n");
	put(f->root, "/sys/fs/cgroup/cpu.max", "max 100000\n");
	figures(f->root, &load, &mem);
	assert_int(mem, 8000);
	assert_float_equal(load, 7.5, 1e-9);
	/* a limit above what the node has left: the node's */
	putf(f->root, "/sys/fs/cgroup/memory.max", "%llu\n", 64000 * MIB);
	figures(f->root, &load, &mem);
	assert_int(mem, 8000);
	/* working set over the limit (reclaim pending): nothing left */
	putf(f->root, "/sys/fs/cgroup/memory.max", "%llu\n", 40 * MIB);
	figures(f->root, &load, &mem);
	assert_int(mem, 0);
}

/* a CPU limit without pressure figures (PSI off): the node's load */
static void
test_v2_no_pressure(void **state)
{
	struct fx *f = *state;
	char path[1024];
	double load;
	uint64_t mem;

	v2_container(f->root);
	(void)snprintf(path, sizeof(path), "%s/sys/fs/cgroup/cpu.pressure",
		       f->root);
	assert_int(unlink(path), 0);
	figures(f->root, &load, &mem);
	assert_float_equal(load, 7.5, 1e-9);
	put(f->root, "/sys/fs/cgroup/cpu.pressure", "garbage\n");
	figures(f->root, &load, &mem);
	assert_float_equal(load, 7.5, 1e-9);
}

/* v2 on a systemd host: no limit on the service, one on its slice
 * (1 GiB, 900 MiB used, 0 reclaimable): 124 MB; the root cgroup has no
 * memory.max and does not count */
static void
test_v2_host_ancestor(void **state)
{
	struct fx *f = *state;
	const char *svc = "/sys/fs/cgroup/system.slice/doveauth.service";
	char rel[512];
	struct auth_cgroup cg;
	double load, cores;
	uint64_t mem;

	node(f->root);
	put(f->root, "/proc/self/cgroup",
	    "0::/system.slice/doveauth.service\n");
	put(f->root, "/proc/self/mountinfo", mi_v2);
	put(f->root, "/sys/fs/cgroup/memory.stat", "inactive_file 0\n");
	put(f->root, "/sys/fs/cgroup/cpu.pressure",
	    "some avg10=0.00 avg60=99.00 avg300=0.00 total=1\n");
	putf(f->root, "/sys/fs/cgroup/system.slice/memory.max", "%llu\n",
	     1024 * MIB);
	putf(f->root, "/sys/fs/cgroup/system.slice/memory.current", "%llu\n",
	     900 * MIB);
	put(f->root, "/sys/fs/cgroup/system.slice/cpu.max", "200000 100000\n");
	(void)snprintf(rel, sizeof(rel), "%s/memory.max", svc);
	put(f->root, rel, "max\n");
	(void)snprintf(rel, sizeof(rel), "%s/memory.current", svc);
	putf(f->root, rel, "%llu\n", 10 * MIB);
	(void)snprintf(rel, sizeof(rel), "%s/cpu.max", svc);
	put(f->root, rel, "max 100000\n");
	(void)snprintf(rel, sizeof(rel), "%s/cpu.pressure", svc);
	put(f->root, rel, "some avg10=5.00 avg60=10.00 avg300=0.00 total=9\n");
	assert_int(auth_cgroup_find(f->root, &cg), 0);
	assert_str(cg.mem_dir, svc);
	assert_str(cg.mem_top, "/sys/fs/cgroup");
	assert_int(auth_cgroup_cpu_limit(f->root, &cg, &cores), 1);
	assert_float_equal(cores, 2.0, 1e-9);
	figures(f->root, &load, &mem);
	assert_int(mem, 124);
	/* the service's own pressure, the slice's limit: (2 + 1) * 0.1 */
	assert_float_equal(load, 0.3, 1e-9);
}

/* v1 as Docker and the kubelet mount it: the container's cgroup at the
 * mount point (mountinfo's root is its path); 256 MiB limit, 200 used,
 * 20 inactive: 76 MB; v1 has no pressure: the node's load */
static void
test_v1_container(void **state)
{
	struct fx *f = *state;
	const char *id = "/kubepods/burstable/pod1/abc";
	struct auth_cgroup cg;
	double load, cores;
	uint64_t mem;

	node(f->root);
	putf(f->root, "/proc/self/cgroup",
	     "12:pids:%s\n4:memory:%s\n3:cpu,cpuacct:%s\n1:name=systemd:%s\n"
	     "0::/\n",
	     id, id, id, id);
	putf(f->root, "/proc/self/mountinfo",
	     "600 500 0:40 / / rw - overlay overlay rw\n"
	     "610 600 0:41 %s /sys/fs/cgroup/memory ro,nosuid master:20 - "
	     "cgroup cgroup rw,memory\n"
	     "611 600 0:42 %s /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup "
	     "rw,cpu,cpuacct\n",
	     id, id);
	putf(f->root, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "%llu\n",
	     256 * MIB);
	putf(f->root, "/sys/fs/cgroup/memory/memory.usage_in_bytes", "%llu\n",
	     200 * MIB);
	putf(f->root, "/sys/fs/cgroup/memory/memory.stat",
	     "cache 1\ninactive_file 1\ntotal_cache 2\n"
	     "total_inactive_file %llu\n",
	     20 * MIB);
	put(f->root, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "150000\n");
	put(f->root, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us",
	    "100000\n");
	assert_int(auth_cgroup_find(f->root, &cg), 0);
	assert_int(cg.mem_version, 1);
	assert_str(cg.mem_dir, "/sys/fs/cgroup/memory");
	assert_int(cg.cpu_version, 1);
	assert_str(cg.cpu_dir, "/sys/fs/cgroup/cpu,cpuacct");
	assert_int(auth_cgroup_cpu_limit(f->root, &cg, &cores), 1);
	assert_float_equal(cores, 1.5, 1e-9);
	figures(f->root, &load, &mem);
	assert_int(mem, 76);
	assert_float_equal(load, 7.5, 1e-9);
	/* no quota (-1): still the node's load */
	put(f->root, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
	assert_int(auth_cgroup_cpu_limit(f->root, &cg, &cores), 0);
}

/* v1 on a host (this machine's shape): the whole hierarchy mounted, our
 * cgroup below it; v1's "unlimited" is a huge number: the node's; an
 * escaped space in a mount point */
static void
test_v1_host(void **state)
{
	struct fx *f = *state;
	const char *top = "/sys/fs/cgroup/mem ory";
	struct auth_cgroup cg;
	char rel[512];
	double load;
	uint64_t mem;

	node(f->root);
	put(f->root, "/proc/self/cgroup",
	    "4:memory:/process_api/7665\n1:cpu:/\n0::/\n");
	put(f->root, "/proc/self/mountinfo",
	    "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
	    "35 31 0:32 / /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup "
	    "rw,memory\n"
	    "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
	(void)snprintf(rel, sizeof(rel), "%s/process_api/7665/x", top);
	put(f->root, rel, "");
	(void)snprintf(rel, sizeof(rel),
		       "%s/process_api/7665/memory.limit_in_bytes", top);
	put(f->root, rel, "9223372036854771712\n");
	(void)snprintf(rel, sizeof(rel),
		       "%s/process_api/7665/memory.usage_in_bytes", top);
	put(f->root, rel, "81555456\n");
	assert_int(auth_cgroup_find(f->root, &cg), 0);
	/* the unified mount has no memory controller: v1's */
	assert_int(cg.mem_version, 1);
	assert_str(cg.mem_dir, "/sys/fs/cgroup/mem ory/process_api/7665");
	assert_str(cg.mem_top, top);
	figures(f->root, &load, &mem);
	assert_int(mem, 8000);
	/* a limit on the parent (ancestor walk in v1 too) */
	(void)snprintf(rel, sizeof(rel), "%s/process_api/memory.limit_in_bytes",
		       top);
	putf(f->root, rel, "%llu\n", 1000 * MIB);
	(void)snprintf(rel, sizeof(rel), "%s/process_api/memory.usage_in_bytes",
		       top);
	putf(f->root, rel, "%llu\n", 600 * MIB);
	figures(f->root, &load, &mem);
	assert_int(mem, 400);
}

/* no cgroup files at all, or a path outside the mount (cgroupns shows
 * "/../x"): the node's figures, or the mount's own */
static void
test_odd(void **state)
{
	struct fx *f = *state;
	struct auth_cgroup cg;
	double load;
	uint64_t mem;

	node(f->root);
	figures(f->root, &load, &mem);
	assert_int(mem, 8000);
	assert_float_equal(load, 7.5, 1e-9);
	assert_true(auth_cgroup_find(f->root, &cg) < 0);
	v2_container(f->root);
	put(f->root, "/proc/self/cgroup", "0::/../../other\n");
	assert_int(auth_cgroup_find(f->root, &cg), 0);
	assert_str(cg.mem_dir, "/sys/fs/cgroup");
	/* our own level unreadable: not a figure (the node's counts) */
	put(f->root, "/sys/fs/cgroup/memory.current", "lots\n");
	figures(f->root, &load, &mem);
	assert_int(mem, 8000);
	/* a broken meminfo and a cgroup: the cgroup's */
	putf(f->root, "/sys/fs/cgroup/memory.current", "%llu\n", 100 * MIB);
	put(f->root, "/proc/meminfo", "MemTotal: 1 kB\n");
	figures(f->root, &load, &mem);
	assert_int(mem, 250);
}

/* the verdict: upstream's rules on the container's figures */
static void
test_verdict(void **state)
{
	struct fx *f = *state;
	struct chatmail_config cfg = { 0 };
	struct buf err = BUF_INIT(1024);
	struct doveauth *auth;
	char text[1024];

	v2_container(f->root);
	(void)snprintf(text, sizeof(text),
		       "[params]\nmail_domain = a.example\nmailboxes_dir = "
		       "%s\nmax_load_1m = 0.5\nmin_available_memory = 200M\n"
		       "min_free_disk_space = 0\n",
		       f->root);
	assert_int(config_load_string(&cfg, text, 0, &err), 0);
	auth = doveauth_new(&cfg);
	auth_probe_init(&auth->probe, f->root);
	/* load 0.6 > 0.5 */
	assert_int(auth_has_resources(auth), 0);
	put(f->root, "/sys/fs/cgroup/cpu.pressure",
	    "some avg10=0.00 avg60=10.00 avg300=0.00 total=1\n");
	assert_int(auth_has_resources(auth), 1);
	/* 250 MB left, 260 wanted */
	config_deinit(&cfg);
	(void)snprintf(text, sizeof(text),
		       "[params]\nmail_domain = a.example\nmailboxes_dir = "
		       "%s\nmin_available_memory = 260M\n"
		       "min_free_disk_space = 0\n",
		       f->root);
	assert_int(config_load_string(&cfg, text, 0, &err), 0);
	assert_int(auth_has_resources(auth), 0);
	doveauth_free(&auth);
	config_deinit(&cfg);
	buf_deinit(&err);
}

/* own_v1_memory_path: this process's memory path from /proc/self/cgroup,
 * read here independently of doveauth_limits.c; 0 or -1 */
static int
own_v1_memory_path(char *out, size_t n)
{
	char line[1024];
	FILE *fp = fopen("/proc/self/cgroup", "r");
	int r = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *c = strstr(line, ":memory:");

		if (c != NULL) {
			line[strcspn(line, "\n")] = '\0';
			(void)snprintf(out, n, "%s", c + 8);
			r = 0;
		}
	}
	(void)fclose(fp);
	return r;
}

/* this machine: where doveauth finds its cgroup matches the kernel's
 * word for it; as root on cgroup v1, a child in a cgroup made here with
 * a 300 MiB limit sees at most that much, and the whole probe says so */
static void
test_this_machine(void **state)
{
	struct auth_cgroup cg;
	char path[1024], dir[1200], file[1300];
	uint64_t room, mem;
	int st;
	pid_t pid;

	(void)state;
	assert_int(auth_cgroup_find("", &cg), 0);
	if (own_v1_memory_path(path, sizeof(path)) < 0 || cg.mem_version != 1 ||
	    strcmp(cg.mem_top, "/sys/fs/cgroup/memory") != 0) {
		print_message("# no cgroup v1 memory hierarchy here (v%d)\n",
			      cg.mem_version);
		assert_true(cg.mem_version == 2 || cg.mem_version == 0 ||
			    cg.mem_version == 1);
		return;
	}
	(void)snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory%s",
		       strcmp(path, "/") == 0 ? "" : path);
	assert_str(cg.mem_dir, dir);
	(void)snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory/cm-limits-%d",
		       (int)getpid());
	if (geteuid() != 0 || mkdir(dir, 0755) < 0) {
		print_message("# cannot make a cgroup (%s): found %s only\n",
			      strerror(errno), cg.mem_dir);
		return;
	}
	(void)snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", dir);
	put("", file, "314572800\n");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct auth_probe p;

		(void)snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
		putf("", file, "%d\n", (int)getpid());
		auth_probe_init(&p, "");
		_exit(auth_cgroup_mem_room("", &p.cg, &room) != 1 ? 2
		      : room > 300 * MIB || room < 200 * MIB	  ? 3
		      : p.mem_avail_mb(&p, &mem) != 0		  ? 4
		      : mem > 300 || mem < 200			  ? 5
		      : strcmp(p.cg.mem_dir, dir) != 0		  ? 6
								  : 0);
	}
	assert_int(waitpid(pid, &st, 0), pid);
	(void)rmdir(dir);
	assert_true(WIFEXITED(st));
	assert_int(WEXITSTATUS(st), 0);
	print_message("# a child in %s saw its 300 MiB limit\n", dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v2_container, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_v2_no_pressure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_v2_host_ancestor, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_v1_container, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_v1_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdict, setup, teardown),
		cmocka_unit_test(test_this_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
