/*
 * test_kube_config: kubeconfig parsing (contexts, embedded and file
 * credentials, relative paths, refused plugins), in-cluster config and
 * token re-reading after rotation, size limits of the files it names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "kube_config.h"
#include "util.h"

/* write_file: create dir/name with text */
static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int(fputs(text, f) >= 0, 1);
	assert_int(fclose(f), 0);
}

static const char kubeconfig[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"clusters:\n"
	"- name: a\n"
	"  cluster:\n"
	"    server: https://127.0.0.1:6443/\n"
	"    certificate-authority-data: Q0EtUEVN\n" /* "CA-PEM" */
	"- name: b\n"
	"  cluster: {server: 'https://b.example:443', certificate-authority: "
	"ca.pem, insecure-skip-tls-verify: true}\n"
	"users:\n"
	"- name: admin\n"
	"  user:\n"
	"    client-certificate-data: Q0VSVA==\n" /* "CERT" */
	"    client-key-data: S0VZ\n"		  /* "KEY" */
	"- name: tok\n"
	"  user: {tokenFile: tok.txt}\n"
	"- name: plugin\n"
	"  user: {exec: {command: aws}}\n"
	"contexts:\n"
	"- name: one\n"
	"  context: {cluster: a, user: admin, namespace: mail}\n"
	"- name: two\n"
	"  context: {cluster: b, user: tok}\n"
	"- name: three\n"
	"  context: {cluster: a, user: plugin}\n"
	"- name: four\n"
	"  context: {cluster: missing, user: admin}\n"
	"current-context: one\n";

static void
test_current_context(void **state)
{
	struct kube_config kc;
	struct buf err = BUF_INIT(512);

	(void)state;
	kube_config_init(&kc);
	assert_int(kube_config_load_text(&kc, kubeconfig, strlen(kubeconfig),
					 "/nonexistent", NULL, &err),
		   0);
	assert_str(kc.server, "https://127.0.0.1:6443");
	assert_str(kc.namespace, "mail");
	assert_str(buf_cstr(&kc.ca), "CA-PEM");
	assert_str(buf_cstr(&kc.client_cert), "CERT");
	assert_str(buf_cstr(&kc.client_key), "KEY");
	assert_str(kube_config_token(&kc, 0, 0), "");
	assert_int(kc.insecure, 0);
	kube_config_deinit(&kc);
	buf_deinit(&err);
}

static void
test_files_and_token_rotation(void **state)
{
	char *dir = test_tmpdir(), path[512];
	struct kube_config kc;
	struct buf err = BUF_INIT(512);

	(void)state;
	write_file(dir, "ca.pem", "FILE-CA\n");
	write_file(dir, "tok.txt", "first-token\n");
	(void)snprintf(path, sizeof(path), "%s/config", dir);
	write_file(dir, "config", kubeconfig);
	kube_config_init(&kc);
	assert_int(kube_config_load_file(&kc, path, "two", &err), 0);
	assert_str(kc.server, "https://b.example:443");
	assert_str(buf_cstr(&kc.ca), "FILE-CA\n");
	assert_int(kc.insecure, 1);
	assert_str(kc.namespace, "");
	assert_str(kube_config_token(&kc, 1000, 0), "first-token");
	write_file(dir, "tok.txt", "second-token\n");
	/* cached within the refresh interval, re-read after it or forced */
	assert_str(kube_config_token(&kc, 2000, 0), "first-token");
	assert_str(kube_config_token(&kc, 2000 + KUBE_TOKEN_REFRESH_MS, 0),
		   "second-token");
	write_file(dir, "tok.txt", "third\n");
	assert_str(kube_config_token(&kc, 0, 1), "third");
	/* an unreadable file keeps the last good token */
	(void)snprintf(path, sizeof(path), "%s/tok.txt", dir);
	assert_int(unlink(path), 0);
	assert_str(kube_config_token(&kc, 0, 1), "third");
	kube_config_deinit(&kc);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *context, *want;
	} cases[] = {
		{ "three", "plugins are not supported" },
		{ "four", "cluster missing not found" },
		{ "nope", "context nope not found" },
	};
	struct kube_config kc;
	struct buf err = BUF_INIT(512);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kube_config_init(&kc);
		buf_reset(&err);
		assert_true(kube_config_load_text(&kc, kubeconfig,
						  strlen(kubeconfig), "/x",
						  cases[i].context, &err) < 0);
		if (strstr(buf_cstr(&err), cases[i].want) == NULL)
			fail_msg("got %s want %s", buf_cstr(&err),
				 cases[i].want);
		kube_config_deinit(&kc);
	}
	kube_config_init(&kc);
	buf_reset(&err);
	assert_true(kube_config_load_text(&kc, "clusters: [", 11, "/x", NULL,
					  &err) < 0);
	kube_config_deinit(&kc);
	kube_config_init(&kc);
	assert_int(kube_config_load_file(&kc, "/nonexistent/kc", NULL, &err),
		   -ENOENT);
	kube_config_deinit(&kc);
	/* a directory is no kubeconfig */
	kube_config_init(&kc);
	assert_int(kube_config_load_file(&kc, "/", NULL, &err), -EINVAL);
	kube_config_deinit(&kc);
	buf_deinit(&err);
}

/* write_sized: dir/name holding n bytes of 'x' */
static void
write_sized(const char *dir, const char *name, size_t n)
{
	char path[512];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	while (n-- > 0)
		assert_int(fputc('x', f), 'x');
	assert_int(fclose(f), 0);
}

/* a file a kubeconfig names is read up to its buffer's maximum (1 MiB
 * for a CA) and refused one byte over it; a token file over
 * KUBE_TOKEN_MAX keeps the last good token */
static void
test_file_limits(void **state)
{
	char *dir = test_tmpdir(), path[512];
	struct kube_config kc;
	struct buf err = BUF_INIT(512);

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/config", dir);
	write_file(dir, "config", kubeconfig);
	write_file(dir, "tok.txt", "good\n");
	write_sized(dir, "ca.pem", 1u << 20);
	kube_config_init(&kc);
	assert_int(kube_config_load_file(&kc, path, "two", &err), 0);
	assert_int(kc.ca.len, 1u << 20);
	assert_str(kube_config_token(&kc, 0, 1), "good");
	write_sized(dir, "tok.txt", KUBE_TOKEN_MAX + 1);
	assert_str(kube_config_token(&kc, 0, 1), "good");
	kube_config_deinit(&kc);
	write_sized(dir, "ca.pem", (1u << 20) + 1);
	kube_config_init(&kc);
	assert_int(kube_config_load_file(&kc, path, "two", &err), -EFBIG);
	if (strstr(buf_cstr(&err), "ca.pem") == NULL)
		fail_msg("got %s want the file's name", buf_cstr(&err));
	kube_config_deinit(&kc);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
}

/* --kubeconfig <(...): a kubeconfig read from a pipe */
static void
test_pipe(void **state)
{
	struct kube_config kc;
	struct buf err = BUF_INIT(512);
	char path[64];
	int p[2];

	(void)state;
	assert_int(pipe(p), 0);
	assert_int(write(p[1], kubeconfig, strlen(kubeconfig)),
		   strlen(kubeconfig));
	assert_int(close(p[1]), 0);
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
	kube_config_init(&kc);
	assert_int(kube_config_load_file(&kc, path, NULL, &err), 0);
	assert_str(kc.server, "https://127.0.0.1:6443");
	assert_str(kc.namespace, "mail");
	kube_config_deinit(&kc);
	assert_int(close(p[0]), 0);
	buf_deinit(&err);
}

static void
test_in_cluster(void **state)
{
	char *dir = test_tmpdir();
	struct kube_config kc;
	struct buf err = BUF_INIT(512);

	(void)state;
	write_file(dir, "ca.crt", "SA-CA");
	write_file(dir, "token", "sa-token\n");
	write_file(dir, "namespace", "chatmail-system");
	assert_int(setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1), 0);
	assert_int(setenv("KUBERNETES_SERVICE_PORT", "443", 1), 0);
	kube_config_init(&kc);
	assert_int(kube_config_in_cluster(&kc, dir, &err), 0);
	assert_str(kc.server, "https://10.0.0.1:443");
	assert_str(kc.namespace, "chatmail-system");
	assert_str(buf_cstr(&kc.ca), "SA-CA");
	assert_str(kube_config_token(&kc, 5, 0), "sa-token");
	kube_config_deinit(&kc);
	assert_int(setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1), 0);
	kube_config_init(&kc);
	assert_int(kube_config_in_cluster(&kc, dir, &err), 0);
	assert_str(kc.server, "https://[fd00::1]:443");
	kube_config_deinit(&kc);
	assert_int(unsetenv("KUBERNETES_SERVICE_HOST"), 0);
	kube_config_init(&kc);
	assert_int(kube_config_in_cluster(&kc, dir, &err), -ENOENT);
	kube_config_deinit(&kc);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_context),
		cmocka_unit_test(test_files_and_token_rotation),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_file_limits),
		cmocka_unit_test(test_pipe),
		cmocka_unit_test(test_in_cluster),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
