/*
 * fm_mime: just enough RFC 5322 / MIME to classify a message the way
 * upstream filtermail does (it uses the mailparse crate): header lookup
 * with unfolding, Content-Type (mimetype and boundary), multipart
 * splitting (RFC 2046 delimiters, preamble and epilogue ignored),
 * Content-Transfer-Encoding decoding, and the first address of a From
 * header.
 *
 * Everything works on pointers into the caller's message: nothing is
 * copied except decoded bodies and short header values, and every scan
 * is linear. Lines may end in CRLF or a bare LF. All input is untrusted.
 */
#ifndef FM_MIME_H
#define FM_MIME_H

#include <stddef.h>

#include "buf.h"

/* a header section and its body, as slices of one message or part */
struct fm_entity {
	const char *hdr; /* header fields, up to the empty line */
	size_t hlen;
	const char *body; /* after the empty line (empty if none) */
	size_t blen;
};

#define FM_MIMETYPE_MAX 128
#define FM_BOUNDARY_MAX 200
/* longest header field the policy passes on: Postfix's
 * header_size_limit, past which its cleanup would cut the field short
 * after our 250 */
#define FM_HEADER_FIELD_MAX 102400

/* a parsed Content-Type header (text/plain when absent) */
struct fm_ctype {
	char mimetype[FM_MIMETYPE_MAX]; /* "type/subtype", lowercased */
	char boundary[FM_BOUNDARY_MAX]; /* "" if none */
	int multipart; /* multipart/... with a non-empty boundary */
};

/* fm_mime_split: split msg into header section and body */
void fm_mime_split(const char *msg, size_t len, struct fm_entity *e);

/* fm_mime_longest_field: the length in bytes of e's longest header
 * field, its folded continuation lines and line ends included */
size_t fm_mime_longest_field(const struct fm_entity *e);

/* fm_mime_header_find: the raw value (after the colon, folding kept) of
 * the n-th (0 = first) field named name (case-insensitive); 1 found,
 * 0 not found */
int fm_mime_header_find(const struct fm_entity *e, const char *name, size_t n,
			const char **val_r, size_t *vlen_r);

/* fm_mime_header_get: the first field named name, unfolded and trimmed
 * into out (NUL-terminated, cut at outsize-1); 1 found, 0 not found */
int fm_mime_header_get(const struct fm_entity *e, const char *name, char *out,
		       size_t outsize);

/* fm_mime_ctype: parse e's Content-Type into ct */
void fm_mime_ctype(const struct fm_entity *e, struct fm_ctype *ct);

/* fm_mime_parts: split a multipart body at boundary; fills at most max
 * entities into parts and returns how many parts there are in all
 * (possibly more than max) */
size_t fm_mime_parts(const char *body, size_t blen, const char *boundary,
		     struct fm_entity *parts, size_t max);

/* fm_mime_decoded_body: e's body with its Content-Transfer-Encoding
 * undone (base64, quoted-printable; anything else as is). Points either
 * into e or into scratch (reset first, bounded by its maximum).
 * 0, or -E2BIG when the decoded body does not fit scratch. */
int fm_mime_decoded_body(const struct fm_entity *e, struct buf *scratch,
			 const char **body_r, size_t *blen_r);

/* fm_mime_decode_words: an unstructured header value (unfolded) with
 * its RFC 2047 encoded words (B and Q, any charset, as bytes) decoded,
 * appended to out; 0, or -E2BIG when out is full. Malformed words stay
 * as they are, as mail readers show them. */
int fm_mime_decode_words(const char *val, struct buf *out);

/* fm_mime_first_address: the first address of an address-list header
 * value ("Name <a@b>", "a@b", "group: a@b;", comments), lowercased
 * as upstream does; 1 found, 0 none */
int fm_mime_first_address(const char *val, char *out, size_t outsize);

/* fm_mime_trim: the slice [*p, *p+*n) without leading and trailing
 * whitespace (SP, HT, CR, LF) */
void fm_mime_trim(const char **p, size_t *n);
/* fm_mime_b64val: the value of a base64 alphabet character, or -1
 * (also used by the DKIM tag parser) */
int fm_mime_b64val(int c);

#endif
