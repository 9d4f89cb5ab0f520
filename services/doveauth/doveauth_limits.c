/*
 * doveauth_limits: what the system has left, for upstream's creation
 * limits (syslimits.py: max_load_1m, min_available_memory,
 * min_free_disk_space), seen from the container doveauth runs in
 * (docs/UPSTREAM.md, doveauth).
 *
 * Upstream reads the node (psutil: the load average, MemAvailable, the
 * free space of mailboxes_dir). In a container those figures are the
 * node's, not what the container may still use, so here:
 *
 *  - memory: the headroom of the cgroup doveauth runs in and of every
 *    ancestor visible to it, limit minus working set (usage minus the
 *    inactive page cache the kernel reclaims first, as the kubelet counts
 *    it): cgroup v2 memory.max, memory.current, memory.stat
 *    inactive_file; v1 memory.limit_in_bytes, memory.usage_in_bytes,
 *    memory.stat total_inactive_file. The smallest headroom counts, and
 *    the node's MemAvailable too (a container below its limit still
 *    starves when the node does); without any limit that is upstream's
 *    figure.
 *  - load: with a CPU limit (v2 cpu.max, v1 cpu.cfs_quota_us) on the
 *    cgroup or an ancestor, and cgroup v2's cpu.pressure readable, the
 *    node's load average says nothing about the container; its load is
 *    estimated from the pressure: the share of the last minute in which
 *    its tasks waited for a CPU (some avg60), times (the limit in CPUs +
 *    1), i.e. every allowed CPU busy and one task more waiting. Without a
 *    limit, or without pressure figures (cgroup v1), the node's 1-minute
 *    load average, as upstream.
 *  - disk: the free space of mailboxes_dir's file system, i.e. the mail
 *    volume in the Pod, as upstream.
 *
 * Where the cgroup is: /proc/self/cgroup names it, /proc/self/mountinfo
 * says where its hierarchy is mounted and which part of it (a container
 * with its own cgroup namespace, or a v1 bind mount of its own cgroup,
 * sees only that part). Everything is read below a root prefix ("" on a
 * real system) so the unit tests run it on fake trees.
 *
 * Untrusted input: none (kernel files), parsed with bounded buffers.
 */
#include "doveauth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "fs.h"
#include "log.h"
#include "num.h"

#define MB (1024.0 * 1024.0)
#define SMALL_MAX 4096		/* a cgroup or /proc file we read */
#define MOUNTINFO_MAX (1 << 20) /* /proc/self/mountinfo */

/* read_text: the file root+path into b (NUL-terminated); 0 or -errno */
static int
read_text(const char *root, const char *path, struct buf *b)
{
	char full[AUTH_CG_PATH_MAX * 2];

	buf_reset(b);
	if ((size_t)snprintf(full, sizeof(full), "%s%s", root, path) >=
	    sizeof(full))
		return -ENAMETOOLONG;
	return fs_read_file(full, b);
}

/* field_u64: the number after "key " at the start of a line of text,
 * or -ENOENT */
static int
field_u64(const char *text, const char *key, uint64_t *v_r)
{
	size_t n = strlen(key);
	const char *p = text;
	char num[32];

	for (; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		size_t len;

		if (strncmp(p, key, n) != 0 || (p[n] != ' ' && p[n] != ':'))
			continue;
		p += n + 1;
		p += strspn(p, " \t");
		len = strspn(p, "0123456789");
		if (len == 0 || len >= sizeof(num))
			return -EINVAL;
		memcpy(num, p, len);
		num[len] = '\0';
		return num_parse_u64(num, 0, UINT64_MAX, v_r);
	}
	return -ENOENT;
}

/* file_u64: a file holding one number (or "max": -ENOENT) */
static int
file_u64(const char *root, const char *dir, const char *name, struct buf *b,
	 uint64_t *v_r)
{
	char path[AUTH_CG_PATH_MAX + 64];
	char *t;
	int r;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((r = read_text(root, path, b)) < 0)
		return r;
	t = b->data;
	t[strcspn(t, " \n")] = '\0';
	if (strcmp(t, "max") == 0 || strcmp(t, "-1") == 0)
		return -ENOENT; /* no limit */
	return num_parse_u64(t, 0, UINT64_MAX, v_r);
}

/* unescape: mountinfo's \ooo escapes (a space is \040), in place */
static void
unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++, w++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				    (s[3] - '0'));
			s += 3;
		} else {
			*w = *s;
		}
	}
	*w = '\0';
}

/* has_word: list (separated by ',') holds word */
static int
has_word(const char *list, size_t len, const char *word)
{
	size_t n = strlen(word);
	const char *p = list, *end = list + len;

	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t l = (size_t)((c != NULL ? c : end) - p);

		if (l == n && strncmp(p, word, n) == 0)
			return 1;
		p += l + 1;
	}
	return 0;
}

/* mount_of: in mountinfo text, the mount of cgroup v2 (ctrl NULL) or of
 * the v1 hierarchy with controller ctrl: its root within the hierarchy
 * and its mount point. 0 or -ENOENT. */
static int
mount_of(const char *text, const char *ctrl, char *root_r, char *point_r)
{
	const char *line = text;

	for (; *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char l[AUTH_CG_PATH_MAX * 3], *f[6] = { 0 }, *dash, *fs, *opts;
		int i;

		if (len < sizeof(l)) {
			memcpy(l, line, len);
			l[len] = '\0';
			/* id parent dev root point options ... - fs src super */
			f[0] = l;
			for (i = 1; i < 6 && f[i - 1] != NULL; i++) {
				f[i] = strchr(f[i - 1], ' ');
				if (f[i] != NULL)
					*f[i]++ = '\0';
			}
			dash = f[5] ? strstr(f[5], " - ") : NULL;
			fs = dash ? dash + 3 : NULL;
			opts = fs ? strchr(fs, ' ') : NULL;
			opts = opts ? strchr(opts + 1, ' ') : NULL;
			if (opts != NULL && fs != NULL &&
			    ((ctrl == NULL &&
			      strncmp(fs, "cgroup2 ", 8) == 0) ||
			     (ctrl != NULL && strncmp(fs, "cgroup ", 7) == 0 &&
			      has_word(opts + 1, strlen(opts + 1), ctrl)))) {
				unescape(f[3]);
				unescape(f[4]);
				(void)snprintf(root_r, AUTH_CG_PATH_MAX, "%s",
					       f[3]);
				(void)snprintf(point_r, AUTH_CG_PATH_MAX, "%s",
					       f[4]);
				return 0;
			}
		}
		line += len + (eol != NULL);
	}
	return -ENOENT;
}

/* path_of: in /proc/self/cgroup text, the path of the v2 line (ctrl
 * NULL: "0::/path") or of the v1 line naming controller ctrl */
static int
path_of(const char *text, const char *ctrl, char *path_r)
{
	const char *line = text;

	for (; *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		const char *c1 = memchr(line, ':', len), *c2;

		c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line))
			: NULL;
		if (c2 != NULL &&
		    (ctrl == NULL
			     ? (c2 == c1 + 1 && c1 - line == 1 &&
				line[0] == '0')
			     : has_word(c1 + 1, (size_t)(c2 - c1 - 1), ctrl))) {
			(void)snprintf(path_r, AUTH_CG_PATH_MAX, "%.*s",
				       (int)(len - (size_t)(c2 + 1 - line)),
				       c2 + 1);
			return 0;
		}
		line += len + (eol != NULL);
	}
	return -ENOENT;
}

/* dir_exists: root+path is a directory */
static int
dir_exists(const char *root, const char *path)
{
	char full[AUTH_CG_PATH_MAX * 2];
	struct stat st;

	(void)snprintf(full, sizeof(full), "%s%s", root, path);
	return stat(full, &st) == 0 && S_ISDIR(st.st_mode);
}

/* locate: the directory of our cgroup in one hierarchy (ctrl NULL: v2)
 * into dir (and its mount point into top); 0 or -ENOENT */
static int
locate(const char *root, const char *mountinfo, const char *cgroup,
       const char *ctrl, char *dir, char *top)
{
	char mroot[AUTH_CG_PATH_MAX], path[AUTH_CG_PATH_MAX];
	size_t n;

	if (mount_of(mountinfo, ctrl, mroot, top) < 0 ||
	    path_of(cgroup, ctrl, path) < 0)
		return -ENOENT;
	/* the part of the path below what is mounted there */
	n = strcmp(mroot, "/") == 0 ? 0 : strlen(mroot);
	if (n > 0 && (strncmp(path, mroot, n) != 0 ||
		      (path[n] != '/' && path[n] != '\0')))
		n = strlen(path); /* not below it: the mount is ours */
	(void)snprintf(dir, AUTH_CG_PATH_MAX, "%s%s", top,
		       strcmp(path + n, "/") == 0 ? "" : path + n);
	if (strlen(dir) >= AUTH_CG_PATH_MAX - 1 || !dir_exists(root, dir))
		(void)snprintf(dir, AUTH_CG_PATH_MAX, "%s", top);
	return 0;
}

/* has_file: root+dir/name exists */
static int
has_file(const char *root, const char *dir, const char *name)
{
	char full[AUTH_CG_PATH_MAX * 2 + 64];
	struct stat st;

	(void)snprintf(full, sizeof(full), "%s%s/%s", root, dir, name);
	return stat(full, &st) == 0;
}

int
auth_cgroup_find(const char *root, struct auth_cgroup *cg)
{
	struct buf mi = BUF_INIT(MOUNTINFO_MAX), self = BUF_INIT(SMALL_MAX);
	char dir[AUTH_CG_PATH_MAX], top[AUTH_CG_PATH_MAX];
	int r;

	memset(cg, 0, sizeof(*cg));
	if ((r = read_text(root, "/proc/self/mountinfo", &mi)) < 0 ||
	    (r = read_text(root, "/proc/self/cgroup", &self)) < 0)
		goto out;
	if (locate(root, buf_cstr(&mi), buf_cstr(&self), NULL, dir, top) == 0) {
		if (has_file(root, dir, "memory.current")) {
			cg->mem_version = 2;
			(void)snprintf(cg->mem_dir, sizeof(cg->mem_dir), "%s",
				       dir);
			(void)snprintf(cg->mem_top, sizeof(cg->mem_top), "%s",
				       top);
		}
		if (has_file(root, dir, "cpu.max") ||
		    has_file(root, dir, "cpu.pressure")) {
			cg->cpu_version = 2;
			(void)snprintf(cg->cpu_dir, sizeof(cg->cpu_dir), "%s",
				       dir);
			(void)snprintf(cg->cpu_top, sizeof(cg->cpu_top), "%s",
				       top);
		}
	}
	if (cg->mem_version == 0 && locate(root, buf_cstr(&mi), buf_cstr(&self),
					   "memory", dir, top) == 0) {
		cg->mem_version = 1;
		(void)snprintf(cg->mem_dir, sizeof(cg->mem_dir), "%s", dir);
		(void)snprintf(cg->mem_top, sizeof(cg->mem_top), "%s", top);
	}
	if (cg->cpu_version == 0 && locate(root, buf_cstr(&mi), buf_cstr(&self),
					   "cpu", dir, top) == 0) {
		cg->cpu_version = 1;
		(void)snprintf(cg->cpu_dir, sizeof(cg->cpu_dir), "%s", dir);
		(void)snprintf(cg->cpu_top, sizeof(cg->cpu_top), "%s", top);
	}
	r = 0;
out:
	buf_deinit(&mi);
	buf_deinit(&self);
	return r;
}

/* parent: cut dir at its last '/', but never above top; 0 when dir was
 * top already */
static int
parent(char *dir, const char *top)
{
	char *slash;

	if (strcmp(dir, top) == 0 || strlen(dir) <= strlen(top))
		return 0;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return 0;
	*slash = '\0';
	if (strlen(dir) < strlen(top))
		(void)snprintf(dir, AUTH_CG_PATH_MAX, "%s", top);
	return 1;
}

/* mem_headroom: limit minus working set of one cgroup directory; 1 (it
 * has a limit), 0 (none) or -errno */
static int
mem_headroom(const char *root, int version, const char *dir, struct buf *b,
	     uint64_t *room_r)
{
	uint64_t limit, usage, inactive = 0;
	char stat[AUTH_CG_PATH_MAX + 16];
	int r;

	r = file_u64(root, dir,
		     version == 2 ? "memory.max" : "memory.limit_in_bytes", b,
		     &limit);
	if (r == -ENOENT && version == 2 && has_file(root, dir, "memory.max"))
		return 0; /* "max" */
	if (r < 0)
		return r == -ENOENT && version == 1 ? 0 : r;
	r = file_u64(root, dir,
		     version == 2 ? "memory.current" : "memory.usage_in_bytes",
		     b, &usage);
	if (r < 0)
		return r;
	(void)snprintf(stat, sizeof(stat), "%s/memory.stat", dir);
	if (read_text(root, stat, b) == 0)
		(void)field_u64(buf_cstr(b),
				version == 2 ? "inactive_file"
					     : "total_inactive_file",
				&inactive);
	if (inactive > usage)
		inactive = usage;
	usage -= inactive;
	*room_r = limit > usage ? limit - usage : 0;
	return 1;
}

int
auth_cgroup_mem_room(const char *root, const struct auth_cgroup *cg,
		     uint64_t *room_r)
{
	struct buf b = BUF_INIT(SMALL_MAX);
	char dir[AUTH_CG_PATH_MAX];
	uint64_t room, best = UINT64_MAX;
	int r, found = 0;

	if (cg->mem_version == 0)
		return 0;
	(void)snprintf(dir, sizeof(dir), "%s", cg->mem_dir);
	/* our own level must be readable; an ancestor's may not be */
	r = mem_headroom(root, cg->mem_version, dir, &b, &room);
	while (r >= 0) {
		if (r > 0 && room < best)
			best = room;
		found |= r > 0;
		if (!parent(dir, cg->mem_top))
			break;
		r = mem_headroom(root, cg->mem_version, dir, &b, &room);
		r = r < 0 ? 0 : r;
	}
	buf_deinit(&b);
	if (r < 0)
		return r;
	*room_r = best;
	return found;
}

/* cpu_cores: the CPU limit of one directory in CPUs; 1, 0 (none) or
 * -errno */
static int
cpu_cores(const char *root, int version, const char *dir, struct buf *b,
	  double *cores_r)
{
	char path[AUTH_CG_PATH_MAX + 32];
	uint64_t quota = 0, period = 0;
	char *t, *sp;
	int r;

	if (version == 1) {
		r = file_u64(root, dir, "cpu.cfs_quota_us", b, &quota);
		if (r == 0)
			r = file_u64(root, dir, "cpu.cfs_period_us", b,
				     &period);
	} else {
		/* "QUOTA PERIOD" or "max PERIOD" */
		(void)snprintf(path, sizeof(path), "%s/cpu.max", dir);
		if ((r = read_text(root, path, b)) < 0)
			return r == -ENOENT ? 0 : r;
		t = b->data;
		t[strcspn(t, "\n")] = '\0';
		sp = strchr(t, ' ');
		if (sp == NULL)
			return -EINVAL;
		*sp = '\0';
		if (strcmp(t, "max") == 0)
			return 0;
		r = num_parse_u64(t, 1, UINT64_MAX, &quota);
		if (r == 0)
			r = num_parse_u64(sp + 1, 1, UINT64_MAX, &period);
	}
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (period == 0)
		return -EINVAL;
	*cores_r = (double)quota / (double)period;
	return 1;
}

int
auth_cgroup_cpu_limit(const char *root, const struct auth_cgroup *cg,
		      double *cores_r)
{
	struct buf b = BUF_INIT(SMALL_MAX);
	char dir[AUTH_CG_PATH_MAX];
	double c, best = 0;
	int found = 0;

	if (cg->cpu_version == 0)
		return 0;
	(void)snprintf(dir, sizeof(dir), "%s", cg->cpu_dir);
	do {
		if (cpu_cores(root, cg->cpu_version, dir, &b, &c) > 0 &&
		    (!found || c < best)) {
			best = c;
			found = 1;
		}
	} while (parent(dir, cg->cpu_top));
	buf_deinit(&b);
	*cores_r = best;
	return found;
}

int
auth_cgroup_cpu_pressure(const char *root, const struct auth_cgroup *cg,
			 double *avg60_r)
{
	struct buf b = BUF_INIT(SMALL_MAX);
	char path[AUTH_CG_PATH_MAX + 32], num[32];
	const char *p;
	size_t len;
	int r;

	if (cg->cpu_version != 2)
		return -ENOENT;
	(void)snprintf(path, sizeof(path), "%s/cpu.pressure", cg->cpu_dir);
	/* "some avg10=0.00 avg60=1.23 avg300=0.00 total=123" */
	if ((r = read_text(root, path, &b)) == 0) {
		p = strncmp(buf_cstr(&b), "some ", 5) == 0
			    ? strstr(buf_cstr(&b), " avg60=")
			    : NULL;
		r = -EINVAL;
		if (p != NULL) {
			p += 7;
			len = strspn(p, "0123456789.");
			if (len > 0 && len < sizeof(num)) {
				memcpy(num, p, len);
				num[len] = '\0';
				r = num_parse_double(num, 0, 100, avg60_r);
			}
		}
	}
	buf_deinit(&b);
	return r;
}

/* node_load1: the first field of /proc/loadavg (getloadavg's source) */
static int
node_load1(const char *root, double *load_r)
{
	struct buf b = BUF_INIT(SMALL_MAX);
	int r = read_text(root, "/proc/loadavg", &b);

	if (r == 0) {
		b.data[strcspn(b.data, " \n")] = '\0';
		r = num_parse_double(b.data, 0, 1e9, load_r);
	}
	buf_deinit(&b);
	return r;
}

/* node_mem_mb: MemAvailable from /proc/meminfo in MiB (psutil's
 * virtual_memory().available) */
static int
node_mem_mb(const char *root, uint64_t *mb_r)
{
	struct buf b = BUF_INIT(SMALL_MAX * 4);
	uint64_t kb;
	int r = read_text(root, "/proc/meminfo", &b);

	if (r == 0 && (r = field_u64(buf_cstr(&b), "MemAvailable", &kb)) == 0)
		*mb_r = kb / 1024;
	buf_deinit(&b);
	return r;
}

/* sys_load1: the container's estimate, else the node's (above) */
static int
sys_load1(const struct auth_probe *p, double *load_r)
{
	double cores, some;

	if (auth_cgroup_cpu_limit(p->root, &p->cg, &cores) > 0 &&
	    auth_cgroup_cpu_pressure(p->root, &p->cg, &some) == 0) {
		*load_r = (cores + 1) * some / 100;
		return 0;
	}
	return node_load1(p->root, load_r);
}

/* sys_mem_avail_mb: the smallest of the cgroups' headroom and the
 * node's MemAvailable */
static int
sys_mem_avail_mb(const struct auth_probe *p, uint64_t *mb_r)
{
	uint64_t room = 0, node = 0;
	int rc = auth_cgroup_mem_room(p->root, &p->cg, &room);
	int rn = node_mem_mb(p->root, &node);

	if (rc <= 0 && rn < 0)
		return rn;
	if (rc > 0)
		room = (uint64_t)((double)room / MB);
	*mb_r = rc > 0 && (rn < 0 || room < node) ? room : node;
	return 0;
}

/* sys_disk_free_mb: space left for unprivileged users on dir's file
 * system, in MiB (psutil's disk_usage().free) */
static int
sys_disk_free_mb(const struct auth_probe *p, const char *dir, uint64_t *mb_r)
{
	char full[AUTH_CG_PATH_MAX * 2];
	struct statvfs st;

	(void)snprintf(full, sizeof(full), "%s%s", p->root, dir);
	if (statvfs(full, &st) < 0)
		return -errno;
	*mb_r = (uint64_t)((double)st.f_bavail * (double)st.f_frsize / MB);
	return 0;
}

void
auth_probe_init(struct auth_probe *probe, const char *root)
{
	static const char *const names[] = { "none", "v1", "v2" };
	int r;

	memset(probe, 0, sizeof(*probe));
	(void)snprintf(probe->root, sizeof(probe->root), "%s", root);
	probe->load1 = sys_load1;
	probe->mem_avail_mb = sys_mem_avail_mb;
	probe->disk_free_mb = sys_disk_free_mb;
	if ((r = auth_cgroup_find(root, &probe->cg)) < 0)
		log_warn("no cgroup found (%s): the node's figures count",
			 strerror(-r));
	else
		log_info("registration limits: memory of cgroup %s %s, CPU "
			 "of cgroup %s %s, and the node's",
			 names[probe->cg.mem_version], probe->cg.mem_dir,
			 names[probe->cg.cpu_version], probe->cg.cpu_dir);
}
