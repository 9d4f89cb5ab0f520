/*
 * web_png: the DCACCOUNT QR code as a PNG, with libqrencode for the
 * symbol and our own minimal PNG writer (no libpng, no zlib: the image
 * is 1-bit grayscale, 384x384, about 19 KB raw, so stored deflate blocks
 * cost nothing worth a dependency; CRC-32 and Adler-32 are ours).
 *
 * Geometry as upstream's genqr.py: error correction H, a one-module
 * quiet zone, scaled with nearest-neighbour sampling to 372x372 and
 * placed 6 pixels from the edges of a white 384x384 image. Upstream
 * paints the Delta Chat logo into the middle (level H tolerates it); we
 * have no such asset and leave the code clean.
 *
 * Untrusted input: none (the text is built from the configured domain,
 * whose length libqrencode bounds).
 */
#include <errno.h>
#include <qrencode.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"
#include "xmalloc.h"

#define IMG 384		       /* image width and height in pixels */
#define PAD 6		       /* white margin around the scaled code */
#define ROWB (IMG / 8)	       /* bytes per 1-bit row */
#define RAW ((ROWB + 1) * IMG) /* filter byte + row, per row */

/* web_crc32: see web.h (bitwise; the image is small) */
unsigned long
web_crc32(unsigned long crc, const unsigned char *p, size_t n)
{
	uint32_t c = (uint32_t)crc ^ 0xffffffffU;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320U & (0U - (c & 1U)));
	}
	return c ^ 0xffffffffU;
}

/* web_adler32: see web.h */
unsigned long
web_adler32(unsigned long adler, const unsigned char *p, size_t n)
{
	uint32_t a = adler & 0xffff, b = (adler >> 16) & 0xffff;
	size_t i;

	for (i = 0; i < n; i++) {
		a = (a + p[i]) % 65521;
		b = (b + a) % 65521;
	}
	return ((unsigned long)b << 16) | a;
}

/* put32: big-endian */
static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* chunk: append one PNG chunk (length, type, data, CRC) at *o */
static size_t
chunk(unsigned char *o, const char *type, const unsigned char *data, size_t n)
{
	put32(o, (uint32_t)n);
	memcpy(o + 4, type, 4);
	if (n != 0)
		memcpy(o + 8, data, n);
	put32(o + 8 + n, (uint32_t)web_crc32(0, o + 4, n + 4));
	return n + 12;
}

/* raster: the scaled code as 1-bit rows, each after a filter byte 0 */
static void
raster(const QRcode *qr, unsigned char *raw)
{
	int src = qr->width + 2; /* with the one-module border */
	int dst = IMG - 2 * PAD, x, y;

	memset(raw, 0, RAW);
	for (y = 0; y < IMG; y++) {
		unsigned char *row = raw + (size_t)y * (ROWB + 1) + 1;

		for (x = 0; x < IMG; x++) {
			int white = 1;

			if (x >= PAD && x < PAD + dst && y >= PAD &&
			    y < PAD + dst) {
				/* PIL's NEAREST: floor((i + 0.5) * src/dst) */
				int mx =
					((2 * (x - PAD) + 1) * src) / (2 * dst);
				int my =
					((2 * (y - PAD) + 1) * src) / (2 * dst);

				if (mx >= 1 && mx <= qr->width && my >= 1 &&
				    my <= qr->width)
					white = !(
						qr->data[(my - 1) * qr->width +
							 (mx - 1)] &
						1);
			}
			if (white)
				row[x / 8] |= (unsigned char)(0x80 >> (x % 8));
		}
	}
}

/* zstored: raw as a zlib stream of stored deflate blocks into o */
static size_t
zstored(const unsigned char *raw, size_t n, unsigned char *o)
{
	size_t off = 0, len = 0, blk;

	o[len++] = 0x78; /* deflate, 32 KiB window */
	o[len++] = 0x01; /* no preset dictionary, fastest; (0x7801 % 31 == 0) */
	do {
		blk = n - off > 65535 ? 65535 : n - off;
		o[len++] = off + blk == n ? 1 : 0; /* BFINAL, BTYPE=00 */
		o[len++] = (unsigned char)(blk & 0xff);
		o[len++] = (unsigned char)(blk >> 8);
		o[len++] = (unsigned char)(~blk & 0xff);
		o[len++] = (unsigned char)((~blk >> 8) & 0xff);
		memcpy(o + len, raw + off, blk);
		len += blk;
		off += blk;
	} while (off < n);
	put32(o + len, (uint32_t)web_adler32(1, raw, n));
	return len + 4;
}

/* web_qr_png: see web.h */
int
web_qr_png(const char *text, unsigned char **png_r, size_t *len_r)
{
	static const unsigned char sig[8] = { 0x89, 'P',  'N',	'G',
					      '\r', '\n', 0x1a, '\n' };
	unsigned char ihdr[13], *raw, *z, *png;
	size_t zlen, len = 0;
	QRcode *qr;

	*png_r = NULL;
	*len_r = 0;
	qr = QRcode_encodeString(text, 0, QR_ECLEVEL_H, QR_MODE_8, 1);
	if (qr == NULL)
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	raw = xmalloc(RAW);
	raster(qr, raw);
	QRcode_free(qr);
	z = xmalloc(RAW + RAW / 65535 * 5 + 16);
	zlen = zstored(raw, RAW, z);
	free(raw);
	put32(ihdr, IMG);
	put32(ihdr + 4, IMG);
	ihdr[8] = 1;  /* bit depth */
	ihdr[9] = 0;  /* grayscale */
	ihdr[10] = 0; /* deflate */
	ihdr[11] = 0; /* adaptive filtering */
	ihdr[12] = 0; /* no interlace */
	png = xmalloc(sizeof(sig) + 3 * 12 + sizeof(ihdr) + zlen);
	memcpy(png, sig, sizeof(sig));
	len = sizeof(sig);
	len += chunk(png + len, "IHDR", ihdr, sizeof(ihdr));
	len += chunk(png + len, "IDAT", z, zlen);
	len += chunk(png + len, "IEND", NULL, 0);
	free(z);
	*png_r = png;
	*len_r = len;
	return 0;
}
