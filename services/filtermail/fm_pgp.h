/*
 * fm_pgp: is this message end-to-end encrypted? Upstream filtermail's
 * check_encrypted() and is_securejoin() (docs/UPSTREAM.md, filtermail),
 * in C:
 *
 *  - PGP/MIME structure (RFC 3156): top-level multipart/encrypted with
 *    exactly two non-multipart parts, application/pgp-encrypted whose
 *    body trimmed is "Version: 1", then application/octet-stream whose
 *    body is an ASCII-armored PGP MESSAGE;
 *  - the armor: "-----BEGIN PGP MESSAGE-----\r\n" first, "-----END PGP
 *    MESSAGE-----" last (trailing CRLFs ignored), an armor header line
 *    "Version: ..." rejected outgoing and skipped incoming, leading CRLFs
 *    skipped, everything from the last '=' (the CRC24) dropped, then
 *    strict base64 (canonical padding, CR/LF ignored, nothing else);
 *  - the OpenPGP packet walk: PKESK (1) / SKESK (3) packets, then one
 *    SEIPD (18) ending exactly at the end; new-format headers with one-,
 *    two-, five-octet and partial body lengths, legacy headers with one-,
 *    two-, four-octet lengths (indeterminate refused); truncated = no.
 *
 * The armor is decoded and walked as a stream (a small stack buffer), so
 * a 30 MB message costs no allocation and one pass. Untrusted input: all.
 */
#ifndef FM_PGP_H
#define FM_PGP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "fm_mime.h"

/* a streaming OpenPGP packet walker */
struct fm_pgp_walk {
	uint64_t skip;	 /* body bytes still to skip */
	uint64_t pos;	 /* bytes consumed */
	unsigned state;	 /* what the next byte is (see fm_pgp.c) */
	unsigned tag;	 /* packet type of the current packet */
	unsigned need;	 /* length octets still expected */
	uint32_t lenacc; /* length being assembled */
	int legacy;	 /* current header is legacy format */
	int failed;	 /* definitely not an encrypted message */
};

/* fm_pgp_walk_init: start a walk */
void fm_pgp_walk_init(struct fm_pgp_walk *w);
/* fm_pgp_walk_feed: the next n payload bytes; 0, or -1 once failed */
int fm_pgp_walk_feed(struct fm_pgp_walk *w, const unsigned char *p, size_t n);
/* fm_pgp_walk_finish: 1 if the payload was PKESK/SKESK* SEIPD, else 0 */
int fm_pgp_walk_finish(const struct fm_pgp_walk *w);

/* fm_pgp_packets_ok: the walk over a whole binary payload; 1 or 0 */
int fm_pgp_packets_ok(const unsigned char *p, size_t n);

/* fm_pgp_armor_ok: upstream's check_armored_payload(); 1 or 0 */
int fm_pgp_armor_ok(const char *p, size_t n, int outgoing);

/* the classifier's findings on one message */
struct fm_class {
	int encrypted;		  /* check_encrypted() */
	int securejoin;		  /* is_securejoin() */
	int multipart_mixed;	  /* top-level multipart/mixed (ASM rule) */
	int mailer_daemon_report; /* Auto-Submitted + multipart/report */
	char mimetype[FM_MIMETYPE_MAX];
};

/* fm_pgp_classify: classify msg; scratch is for transfer-decoded bodies
 * (its maximum bounds them). Never fails: what cannot be parsed is
 * simply not encrypted. */
void fm_pgp_classify(const char *msg, size_t len, int outgoing,
		     struct buf *scratch, struct fm_class *c);

/* fm_pgp_is_encrypted: check_encrypted() on a split message */
int fm_pgp_is_encrypted(const struct fm_entity *top, int outgoing,
			struct buf *scratch);
/* fm_pgp_is_securejoin: is_securejoin() on a split message */
int fm_pgp_is_securejoin(const struct fm_entity *top, struct buf *scratch);

#endif
