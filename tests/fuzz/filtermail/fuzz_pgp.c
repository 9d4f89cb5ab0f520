/* fuzz_pgp: the streaming OpenPGP packet walker against a plain
 * whole-buffer walker written here from upstream's rules (new-format
 * packets with one-, two-, five-octet and partial lengths; legacy packets
 * with one-, two-, four-octet lengths, indeterminate refused; PKESK/SKESK
 * then one SEIPD ending exactly at the end). The input is fed to the
 * stream in chunks whose sizes come from the input itself; any
 * disagreement aborts. The armor check runs on the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../../services/filtermail/fm_pgp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* be: a big-endian number of nb octets */
static uint64_t
be(const uint8_t *p, size_t nb)
{
	uint64_t v = 0;
	size_t k;

	for (k = 0; k < nb; k++)
		v = v << 8 | p[k];
	return v;
}

/* new_len: a new-format length at p[*i] (partial chunks skipped); 1 ok */
static int
new_len(const uint8_t *p, size_t n, size_t *i, uint64_t *len)
{
	while (*i < n && p[*i] >= 224 && p[*i] < 255)
		*i += 1 + ((size_t)1 << (p[*i] & 0x1f));
	if (*i >= n)
		return 0;
	if (p[*i] < 192) {
		*len = p[*i];
		*i += 1;
	} else if (p[*i] < 224) {
		if (*i + 1 >= n)
			return 0;
		*len = ((uint64_t)(p[*i] - 192) << 8) + p[*i + 1] + 192;
		*i += 2;
	} else {
		if (*i + 4 >= n)
			return 0;
		*len = be(p + *i + 1, 4);
		*i += 5;
	}
	return 1;
}

/* ref_walk: 1 if p is PKESK/SKESK* SEIPD, by the book */
static int
ref_walk(const uint8_t *p, size_t n)
{
	size_t i = 0, nb;
	uint64_t len = 0;
	unsigned tag;

	while (i < n) {
		if ((p[i] & 0x80) == 0)
			return 0;
		if (p[i] & 0x40) {
			tag = p[i++] & 0x3f;
			if (!new_len(p, n, &i, &len))
				return 0;
		} else {
			tag = (p[i] >> 2) & 0x0f;
			if ((p[i] & 3) == 3)
				return 0;
			nb = (size_t)1 << (p[i++] & 3);
			if (i + nb > n)
				return 0;
			len = be(p + i, nb);
			i += nb;
		}
		if (len > n - i)
			return 0;
		i += (size_t)len;
		if (i == n)
			return tag == 18;
		if (tag != 1 && tag != 3)
			return 0;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_pgp_walk w;
	size_t off = 0, step;
	uint32_t rnd = size > 0 ? data[0] * 2654435761u + 1 : 1;
	int want = ref_walk(data, size);

	fm_pgp_walk_init(&w);
	while (off < size) {
		rnd = rnd * 1103515245u + 12345u;
		step = 1 + (rnd >> 16) % 97;
		if (step > size - off)
			step = size - off;
		if (fm_pgp_walk_feed(&w, data + off, step) < 0)
			break;
		off += step;
	}
	if (fm_pgp_walk_finish(&w) != want ||
	    fm_pgp_packets_ok(data, size) != want)
		abort();
	(void)fm_pgp_armor_ok((const char *)data, size, 1);
	(void)fm_pgp_armor_ok((const char *)data, size, 0);
	return 0;
}
