/* fuzz_mime: the MIME/armor/OpenPGP classifier on arbitrary messages,
 * both directions, plus the packet walker on the raw bytes */
#include <stddef.h>
#include <stdint.h>

#include "../../../services/filtermail/fm_pgp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf scratch = BUF_INIT(1 << 20);
	struct fm_class c;
	char addr[256];

	fm_pgp_classify((const char *)data, size, 1, &scratch, &c);
	fm_pgp_classify((const char *)data, size, 0, &scratch, &c);
	(void)fm_pgp_packets_ok(data, size);
	(void)fm_pgp_armor_ok((const char *)data, size, 0);
	if (size > 0 && data[size - 1] == '\0')
		(void)fm_mime_first_address((const char *)data, addr,
					    sizeof(addr));
	buf_deinit(&scratch);
	return 0;
}
