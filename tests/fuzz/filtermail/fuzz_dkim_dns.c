/* fuzz_dns: the DNS answer parser (services/lib/dns_msg.c: name
 * compression, record bounds, the authority section's SOA) for every
 * record type asked for: TXT (DKIM keys), MX, A and AAAA (filtermail's
 * transport), NS, CNAME, SRV and CAA (the operator's DNS check); the
 * first input byte picks the type */
#include <stddef.h>
#include <stdint.h>

#include "../../../services/lib/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned types[] = {
		DNS_TXT, DNS_MX,    DNS_A,   DNS_AAAA,
		DNS_NS,	 DNS_CNAME, DNS_SRV, DNS_CAA
	};
	static struct dns_rrs rrs;
	unsigned qtype;
	uint16_t id;
	int tc;

	if (size < 1)
		return 0;
	qtype = types[data[0] & 7];
	data++;
	size--;
	id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	(void)dns_parse(data, size, id,
			qtype == DNS_TXT ? "s._domainkey.example.org"
					 : "example.org",
			qtype, &rrs, &tc);
	return 0;
}
