/* fuzz_dkim: the DKIM-Signature tag parser, the key record parser, and
 * header canonicalization/hashing of the parsed signature's h= list */
#include <stddef.h>
#include <stdint.h>

#include "../../../services/filtermail/fm_dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT(256);
	struct fm_dkim_sig sig;
	struct fm_dkim_key key;
	unsigned char h[32];
	uint64_t total;

	if (fm_dkim_parse_sig((const char *)data, size, &sig, &err) == 0)
		(void)fm_dkim_header_hash((const char *)data, size, sig.hnames,
					  sig.nhnames, (const char *)data, size,
					  sig.hcanon, h);
	if (fm_dkim_parse_key((const char *)data, size, &key, &err) == 0)
		fm_dkim_key_clear(&key);
	(void)fm_dkim_body_hash((const char *)data, size, FM_CANON_RELAXED,
				UINT64_MAX, h, &total);
	buf_deinit(&err);
	return 0;
}
