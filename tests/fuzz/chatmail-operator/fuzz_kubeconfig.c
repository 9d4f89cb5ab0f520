/*
 * fuzz_kubeconfig: kubeconfig documents through the operator's loader
 * (untrusted input: a kubeconfig file or pipe). No file access happens:
 * relative paths resolve under a directory that does not exist.
 */
#include <stddef.h>
#include <stdint.h>

#include "kube_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT(512);
	struct kube_config kc;

	kube_config_init(&kc);
	(void)kube_config_load_text(&kc, (const char *)data, size,
				    "/nonexistent-fuzz", NULL, &err);
	kube_config_deinit(&kc);
	buf_deinit(&err);
	return 0;
}
