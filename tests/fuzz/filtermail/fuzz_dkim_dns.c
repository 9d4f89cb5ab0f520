/* fuzz_dns: the DNS answer parser (name compression, record bounds) for
 * every record type filtermail asks for: TXT (DKIM keys), MX, A and
 * AAAA (transport); the first input byte picks the type */
#include <stddef.h>
#include <stdint.h>

#include "../../../services/lib/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned types[] = { DNS_TXT, DNS_MX, DNS_A,
					  DNS_AAAA };
	static struct dns_rrs rrs;
	unsigned qtype;
	uint16_t id;
	int tc;

	if (size < 1)
		return 0;
	qtype = types[data[0] & 3];
	data++;
	size--;
	id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	(void)dns_parse(data, size, id,
			   qtype == DNS_TXT ? "s._domainkey.example.org"
					       : "example.org",
			   qtype, &rrs, &tc);
	return 0;
}
