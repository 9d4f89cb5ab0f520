/*
 * test_render: golden-file tests of the relay renderer. Each directory
 * tests/data/render/<case>/ holds relay.yaml (the spec), target (the
 * target as "key value" lines) and out/ (every file the renderer must
 * produce, byte for byte). RENDER_UPDATE=1 rewrites out/ from the
 * renderer instead of comparing (then review the diff). Also: the
 * renderer is deterministic, rejects unsafe targets, reports a full
 * buffer, and each file's notable settings are present; every case
 * rendered with its ports moved (relay-render --port-offset) differs
 * from the golden rendering in exactly the layout's ports, each moved,
 * in every file (autoconfig included).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "fs.h"
#include "num.h"
#include "render/render.h"
#include "spec.h"

#define DATA "tests/data/render"

/* top: the repository root (tests run there; TOP overrides) */
static const char *
top(void)
{
	const char *t = getenv("TOP");

	return t != NULL && *t ? t : ".";
}

/* target_from_file: the case's target description */
static struct render_target *
target_from_file(const char *path)
{
	struct buf text = BUF_INIT(4096);
	struct render_target *t = NULL;
	char *line, *next, *val, *copy;
	unsigned port;

	assert_int(fs_read_file(path, &text), 0);
	copy = strdup(buf_cstr(&text));
	assert_non_null(copy);
	for (line = copy; line != NULL && *line; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		val = strchr(line, ' ');
		val = val != NULL ? (*val = '\0', val + 1)
				  : line + strlen(line);
		if (strcmp(line, "kind") == 0 && strcmp(val, "pod") == 0)
			t = render_target_new_pod();
		else if (strcmp(line, "kind") == 0)
			t = NULL; /* local: created by root */
		else if (strcmp(line, "root") == 0)
			t = render_target_new_local(val, "");
		else if (t != NULL && strcmp(line, "addr") == 0)
			render_target_set(&t->public_addr, val);
		else if (t != NULL && strcmp(line, "local_addr") == 0)
			render_target_set(&t->local_addr, val);
		else if (t != NULL && strcmp(line, "dns") == 0)
			render_target_set(&t->dns_server, val);
		else if (t != NULL && strcmp(line, "bin") == 0) {
			char *p = malloc(strlen(val) + 32);

			assert_non_null(p);
			(void)snprintf(p, strlen(val) + 32,
				       "%s/chatmail-quota-expire", val);
			render_target_set(&t->quota_expire_bin, p);
			free(p);
		} else if (t != NULL && strcmp(line, "newemail_port") == 0) {
			assert_int(num_parse_uint(val, 0, 65535, &port), 0);
			t->port_newemail = port;
		} else {
			print_error("%s: bad line \"%s\"\n", path, line);
			fail();
		}
	}
	free(copy);
	buf_deinit(&text);
	assert_non_null(t);
	return t;
}

/* render_case_moved: the render set of one case directory, its
 * target's ports moved by off */
static void
render_case_moved(const char *dir, unsigned off, struct render_set *set)
{
	struct buf err = BUF_INIT(8192);
	struct relay_spec *s = NULL;
	struct render_target *t;
	char path[4096];

	(void)snprintf(path, sizeof(path), "%s/relay.yaml", dir);
	if (spec_load_file(path, SPEC_STRICT, &s, &err, NULL) < 0) {
		print_error("%s: %s", path, buf_cstr(&err));
		fail();
	}
	(void)snprintf(path, sizeof(path), "%s/target", dir);
	t = target_from_file(path);
	assert_int(render_target_offset_ports(t, off), 0);
	if (render_all(s, t, set, &err) < 0) {
		print_error("%s: %s", dir, buf_cstr(&err));
		fail();
	}
	render_target_free(&t);
	spec_free(&s);
	buf_deinit(&err);
}

/* render_case: the render set of one case directory */
static void
render_case(const char *dir, struct render_set *set)
{
	render_case_moved(dir, 0, set);
}

/* count_files: regular files below dir (recursively) */
static size_t
count_files(const char *dir)
{
	char sub[4096];
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			n += count_files(sub);
		else
			n++;
	}
	closedir(d);
	return n;
}

/* check_www: the list of website paths equals out/www.list */
static size_t
check_www(const char *dir, const struct render_set *set, int update)
{
	struct buf got = BUF_INIT(65536), want = BUF_INIT(65536);
	char path[8192];
	size_t i, n = 0;

	for (i = 0; i < set->n; i++)
		if (strncmp(set->files[i].path, "www/", 4) == 0) {
			assert_int(buf_printf(&got, "%s\n", set->files[i].path),
				   0);
			n++;
		}
	(void)snprintf(path, sizeof(path), "%s/out/www.list", dir);
	if (update) {
		assert_int(fs_write_atomic(path, got.data, got.len, 0644, 0),
			   0);
	} else {
		assert_int(fs_read_file(path, &want), 0);
		assert_str(buf_cstr(&got), buf_cstr(&want));
	}
	buf_deinit(&got);
	buf_deinit(&want);
	return n;
}

/* check_case: compare (or with RENDER_UPDATE write) one case */
static void
check_case(const char *dir)
{
	const char *env = getenv("RENDER_UPDATE");
	int update = env != NULL && *env == '1';
	struct render_set set;
	struct buf want = BUF_INIT(4 << 20);
	char path[8192], parent[8192], *slash;
	size_t i, nwww;

	render_case(dir, &set);
	nwww = check_www(dir, &set, update);
	for (i = 0; i < set.n; i++) {
		const struct render_file *f = &set.files[i];

		if (strncmp(f->path, "www/", 4) == 0)
			continue;
		(void)snprintf(path, sizeof(path), "%s/out/%s", dir, f->path);
		if (update) {
			(void)snprintf(parent, sizeof(parent), "%s", path);
			slash = strrchr(parent, '/');
			*slash = '\0';
			assert_int(fs_mkdirs(parent, 0755), 0);
			assert_int(
				fs_write_atomic(path, f->data, f->len, 0644, 0),
				0);
			continue;
		}
		buf_reset(&want);
		if (fs_read_file(path, &want) < 0) {
			print_error("%s: missing golden file\n", path);
			fail();
		}
		if (want.len != f->len ||
		    memcmp(buf_cstr(&want), f->data, f->len) != 0) {
			print_error("%s differs from the renderer's output; "
				    "RENDER_UPDATE=1 rewrites it\n",
				    path);
			fail();
		}
	}
	/* every golden file is rendered: out/ holds the non-www files and
	 * www.list */
	(void)snprintf(path, sizeof(path), "%s/out", dir);
	if (count_files(path) != set.n - nwww + 1)
		print_error("%s: %zu golden files, %zu rendered\n", path,
			    count_files(path), set.n - nwww + 1);
	assert_int(count_files(path), set.n - nwww + 1);
	render_set_free(&set);
	buf_deinit(&want);
}

/* test_golden: every case directory */
static void
test_golden(void **state)
{
	char dir[4096], sub[4096 + 256];
	struct dirent *de;
	int n = 0;
	DIR *d;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "%s/%s", top(), DATA);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		check_case(sub);
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
}

/* case_file: one rendered file of a case (the set stays owned) */
static const char *
case_file(const struct render_set *set, const char *path)
{
	const struct render_file *f = render_set_find(set, path);

	if (f == NULL)
		print_error("no rendered %s\n", path);
	assert_non_null(f);
	return f->data;
}

/* check_transport: delivery mode Transport (the default): remote mail
 * goes to filtermail transport, as upstream */
static void
check_transport(const struct render_set *set)
{
	assert_non_null(
		strstr(case_file(set, "postfix/master.cf"),
		       "\nlmtp-filtermail unix  -       -       n       "
		       "-       500     lmtp\n"
		       "  -o syslog_name=postfix/lmtp-filtermail\n"
		       "  -o lmtp_header_checks=\n"
		       "  -o lmtp_tls_security_level=none\n"));
	assert_non_null(strstr(case_file(set, "postfix/main.cf"),
			       "\ndefault_transport = "
			       "lmtp-filtermail:inet:[127.0.0.1]:10083\n"));
	assert_non_null(strstr(case_file(set, "nginx/nginx.conf"),
			       "location /mxdeliv {\n"
			       "\t\t\tclient_max_body_size 31457280;\n"));
}

/* test_settings: the settings the relay's behaviour depends on */
static void
test_settings(void **state)
{
	static const struct {
		const char *file, *line;
	} want[] = {
		{ "postfix/main.cf", "smtpd_relay_restrictions = reject\n" },
		{ "postfix/main.cf", "smtp_tls_security_level = verify\n" },
		{ "postfix/main.cf", "smtp_tls_servername = hostname\n" },
		{ "postfix/main.cf", "mydestination = _relay1.chat.test\n" },
		{ "postfix/main.cf", "maximal_queue_lifetime = 2d\n" },
		{ "postfix/main.cf", "disable_mime_input_processing = yes\n" },
		{ "postfix/main.cf",
		  "\nsmtpd_forbid_bare_newline = reject\n"
		  "smtpd_forbid_bare_newline_exclusions =\n" },
		{ "postfix/master.cf",
		  "  -o smtpd_proxy_filter=127.0.0.1:10081\n" },
		{ "postfix/master.cf",
		  "  -o smtpd_tls_mandatory_protocols=>=TLSv1.3\n" },
		{ "postfix/master.cf",
		  "  -o cleanup_service_name=authclean\n" },
		{ "postfix/submission_header_cleanup",
		  "/^Subject:/             REPLACE Subject: [...]\n" },
		{ "dovecot/dovecot.conf",
		  "imap_capability = +XDELTAPUSH XCHATMAIL\n" },
		{ "dovecot/dovecot.conf", "ssl_min_protocol = TLSv1.3\n" },
		{ "dovecot/dovecot.conf", "imap_hibernate_timeout = 30s\n" },
		{ "dovecot/dovecot.conf",
		  "  quota_warning = storage=75%% quota-warning 350 "
		  "/srv/local-relay/relay1/vmail/mail/_relay1.chat.test/%u\n" },
		{ "dovecot/auth.conf", "password_key = passdb/%Ew\"%Eu\n" },
		{ "nginx/nginx.conf", "\t\t~\\bsmtp\\b 127.0.0.1:465;\n" },
		{ "nginx/nginx.conf", "\t\t~\\bimap\\b 127.0.0.1:993;\n" },
		{ "nginx/nginx.conf", "\t\tlimit_req zone=newaccount burst=5 "
				      "nodelay;\n" },
	};
	struct render_set set;
	char dir[4096];
	size_t i;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "%s/%s/local-netns", top(), DATA);
	render_case(dir, &set);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(case_file(&set, want[i].file), want[i].line) ==
		    NULL) {
			print_error("%s lacks: %s", want[i].file, want[i].line);
			fail();
		}
	/* differences from upstream (docs/UPSTREAM.md, DKIM): no OpenDKIM;
	 * bounces go to filtermail's milter instead */
	assert_non_null(strstr(case_file(&set, "postfix/main.cf"),
			       "\nnon_smtpd_milters = inet:127.0.0.1:10084\n"
			       "internal_mail_filter_classes = bounce\n"));
	assert_null(strstr(case_file(&set, "postfix/master.cf"), "milters"));
	check_transport(&set);
	assert_null(render_set_find(&set, "chatmail-nocreate"));
	render_set_free(&set);
}

/* test_closed_and_options: a closed relay gets the nocreate file, the
 * options case renders its switches */
static void
test_closed_and_options(void **state)
{
	struct render_set set;
	char dir[4096];
	const char *dc, *ngx;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "%s/%s/pod-options", top(), DATA);
	render_case(dir, &set);
	assert_non_null(render_set_find(&set, "chatmail-nocreate"));
	dc = case_file(&set, "dovecot/dovecot.conf");
	assert_non_null(strstr(dc, "imap_zlib"));
	assert_null(strstr(dc, "imap_hibernate_timeout"));
	assert_non_null(strstr(dc, "rawlog_dir = %h"));
	/* upstream's mtail_address, and loopback for chatmail-exporter */
	assert_non_null(strstr(dc, "address = 127.0.0.1 10.0.0.5\n"));
	assert_non_null(strstr(dc, "mail_server_admin = "
				   "mailto:privacy@example.net"));
	assert_non_null(strstr(dc, "listen = 0.0.0.0\n"));
	ngx = case_file(&set, "nginx/nginx.conf");
	assert_null(strstr(ngx, "[::]"));
	assert_non_null(strstr(ngx, "return 301 dcaccount:https://"
				    "chat.example.net/new;"));
	assert_non_null(strstr(case_file(&set, "postfix/main.cf"),
			       "inet_protocols = ipv4\n"));
	assert_non_null(strstr(case_file(&set, "postfix/master.cf"),
			       "127.0.0.1:11025 inet"));
	/* delivery mode PostfixSMTP: Postfix's smtp client delivers */
	assert_null(strstr(case_file(&set, "postfix/master.cf"),
			   "lmtp-filtermail"));
	assert_null(strstr(case_file(&set, "postfix/main.cf"),
			   "default_transport"));
	render_set_free(&set);
}

/* test_deterministic: the same input gives the same bytes */
static void
test_deterministic(void **state)
{
	struct render_set a, b;
	char dir[4096];
	size_t i;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "%s/%s/pod-options", top(), DATA);
	render_case(dir, &a);
	render_case(dir, &b);
	assert_int(a.n, b.n);
	for (i = 0; i < a.n; i++) {
		assert_str(a.files[i].path, b.files[i].path);
		assert_int(a.files[i].len, b.files[i].len);
		assert_memory_equal(a.files[i].data, b.files[i].data,
				    a.files[i].len);
	}
	render_set_free(&a);
	render_set_free(&b);
}

/* test_bad_targets: unsafe or inconsistent targets are refused */
static void
test_bad_targets(void **state)
{
	struct buf err = BUF_INIT(8192);
	struct relay_spec *s = spec_new();
	struct render_target *t;
	struct render_set set;

	(void)state;
	render_target_set(&s->domain, "a.example");
	t = render_target_new_local("/srv/x", "10.0.0.2");
	assert_int(render_all(s, t, &set, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "public_addr must be empty"));
	assert_int(set.n, 0);
	render_target_free(&t);

	buf_reset(&err);
	t = render_target_new_local("/srv/x", "");
	render_target_set(&t->run_dir, "/srv/x/run;evil");
	assert_int(render_all(s, t, &set, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "target.run_dir"));
	render_target_free(&t);

	buf_reset(&err);
	t = render_target_new_local("/srv/x", "");
	render_target_set(&t->postfix_config_dir, "/etc/postfix");
	assert_int(render_all(s, t, &set, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "is not below root"));
	render_target_free(&t);

	assert_int(render_safe_value("/a/b-c_d.e:1"), 1);
	assert_int(render_safe_value("a\nb"), 0);
	assert_int(render_safe_value("a}b"), 0);
	assert_int(render_safe_value("a;b"), 0);
	assert_int(render_safe_value("a\"b"), 0);
	spec_free(&s);
	buf_deinit(&err);
}

/* test_full_buffer: every renderer reports a buffer that is too small */
static void
test_full_buffer(void **state)
{
	typedef int fn_t(const struct render_ctx *, struct buf *);
	fn_t *fns[] = { render_postfix_main_cf,	 render_postfix_master_cf,
			render_dovecot_conf,	 render_dovecot_auth_conf,
			render_dovecot_push_lua, render_nginx_conf };
	struct buf err = BUF_INIT(8192), small = BUF_INIT(64);
	struct relay_spec *s = spec_new();
	struct render_target *t = render_target_new_pod();
	struct render_ctx c;
	size_t i;

	(void)state;
	render_target_set(&s->domain, "a.example");
	assert_int(render_ctx_init(&c, s, t, &err), 0);
	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		buf_reset(&small);
		assert_int(fns[i](&c, &small), -E2BIG);
	}
	assert_int(render_postfix_maps(&c, "nope", &small), -EINVAL);
	render_ctx_deinit(&c);
	render_target_free(&t);
	spec_free(&s);
	buf_deinit(&small);
	buf_deinit(&err);
}

/* layout_port: 1 if v is one of the layout's (unmoved) ports */
static int
layout_port(unsigned long v)
{
	size_t i;

	for (i = 0; i < RENDER_NPORTS; i++)
		if (render_ports[i].port == v)
			return 1;
	return 0;
}

/* number_at: the digit run at p (at most 9 digits count as a number);
 * its length in *len, its value or ULONG_MAX */
static unsigned long
number_at(const char *p, const char *end, size_t *len)
{
	unsigned long v = 0;
	size_t n = 0;

	while (p + n < end && p[n] >= '0' && p[n] <= '9') {
		if (n < 9)
			v = v * 10 + (unsigned long)(p[n] - '0');
		n++;
	}
	*len = n;
	return n <= 9 ? v : ULONG_MAX;
}

/* moved_ports: compare file a (rendered on the case's own target) with
 * b (the same target, ports moved by off): the same text but for
 * numbers and the width of runs of spaces; every number that differs is a layout port moved by off,
 * every layout port number is moved (a percentage such as "80%" is
 * not a port). Returns how many ports were moved. */
static size_t
moved_ports(const char *path, const struct render_file *a,
	    const struct render_file *b, unsigned off)
{
	const char *p = a->data, *q = b->data, *pe = p + a->len,
		   *qe = q + b->len;
	unsigned long va, vb;
	size_t na, nb, moved = 0, line = 1;

	while (p < pe && q < qe) {
		va = number_at(p, pe, &na);
		vb = number_at(q, qe, &nb);
		if (*p == ' ' && *q == ' ') {
			/* column padding (master.cf) follows the width */
			while (p < pe && *p == ' ')
				p++;
			while (q < qe && *q == ' ')
				q++;
			continue;
		}
		if (na == 0 || nb == 0) {
			if (*p != *q)
				fail_msg("%s:%zu: text differs", path, line);
			line += *p == '\n';
			p++;
			q++;
			continue;
		}
		if (va != vb && !(layout_port(va) && vb == va + off))
			fail_msg("%s:%zu: %lu became %lu, not a moved layout "
				 "port",
				 path, line, va, vb);
		if (va == vb && layout_port(va) &&
		    !(p + na < pe && p[na] == '%'))
			fail_msg("%s:%zu: layout port %lu not moved", path,
				 line, va);
		moved += va != vb;
		p += na;
		q += nb;
	}
	if (p != pe || q != qe)
		fail_msg("%s: lengths differ", path);
	return moved;
}

/* test_port_offset: every case rendered with its ports moved agrees
 * with the moved layout in every file */
static void
test_port_offset(void **state)
{
	static const char *const cases[] = { "local-ipv4", "local-netns",
					     "pod-acme", "pod-minimal",
					     "pod-options" };
	const unsigned off = 20000;
	struct render_set a, b;
	char dir[4096];
	size_t i, j, moved, autoconfig;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(dir, sizeof(dir), "%s/%s/%s", top(), DATA,
			       cases[i]);
		render_case(dir, &a);
		render_case_moved(dir, off, &b);
		assert_int(a.n, b.n);
		autoconfig = 0;
		for (j = 0, moved = 0; j < a.n; j++) {
			assert_str(a.files[j].path, b.files[j].path);
			if (a.files[j].binary) {
				assert_int(a.files[j].len, b.files[j].len);
				assert_memory_equal(a.files[j].data,
						    b.files[j].data,
						    a.files[j].len);
				continue;
			}
			moved = moved_ports(a.files[j].path, &a.files[j],
					    &b.files[j], off);
			if (strstr(a.files[j].path, "config-v1.1.xml"))
				autoconfig = moved;
		}
		/* 993, 143, 443, 465, 587, 443 */
		assert_int(autoconfig, 6);
		render_set_free(&a);
		render_set_free(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_closed_and_options),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_bad_targets),
		cmocka_unit_test(test_full_buffer),
		cmocka_unit_test(test_port_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
