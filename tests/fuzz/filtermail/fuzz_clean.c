/* fuzz_clean: the authclean header cleanup (fm_clean.c) on arbitrary
 * header sections: no crash or overrun, every output line ends in CRLF,
 * and cleaning the output again changes nothing (Postfix's authclean
 * after filtermail must find nothing to do) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../services/filtermail/fm_clean.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a = BUF_INIT(4 * size + 4096), b = BUF_INIT(4 * size + 4096);
	size_t i;

	if (fm_clean_header((const char *)data, size, 1795867200, "example.org",
			    &a) < 0)
		abort(); /* the buffer is large enough */
	for (i = 0; i < a.len; i++)
		if (a.data[i] == '\n' && (i == 0 || a.data[i - 1] != '\r'))
			abort();
	if (a.len > 0 && a.data[a.len - 1] != '\n')
		abort();
	if (fm_clean_header(a.data, a.len, 1795867201, "example.org", &b) < 0 ||
	    a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
