/* fuzz_dns: the DNS answer parser (name compression, record bounds) */
#include <stddef.h>
#include <stdint.h>

#include "../../../services/filtermail/fm_dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fm_dns_txt txt;
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	int tc;

	(void)fm_dns_parse_txt(data, size, id, "s._domainkey.example.org", &txt,
			       &tc);
	return 0;
}
