/*
 * fm_clean: the header cleanup Postfix's "authclean" cleanup service
 * applies to every outgoing message (upstream's
 * submission_header_cleanup: IGNORE Received, X-Originating-IP, X-Mailer,
 * User-Agent; REPLACE Subject with "Subject: [...]"), done by filtermail
 * outgoing before it signs, so the DKIM signature covers exactly what
 * leaves the relay. Authclean stays in Postfix and finds nothing left to
 * change. Missing Date and Message-ID are added here too (Postfix's
 * cleanup would add them after signing otherwise; the reinject service
 * is rendered with local_header_rewrite_clients empty, so it does not).
 *
 * Untrusted input: the header section of the message.
 */
#ifndef FM_CLEAN_H
#define FM_CLEAN_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define FM_CLEAN_SUBJECT "Subject: [...]"

/* fm_clean_header: the cleaned copy of the header section hdr (hlen
 * bytes, the empty line after it excluded) appended to out, every line
 * ending in CRLF:
 *  - header fields are recognised as Postfix does (a name of printable
 *    ASCII, optional blanks, ':'; lines starting with a blank continue
 *    the field before); the first line that is neither ends Postfix's
 *    header section, and it and everything after it is copied as is;
 *  - Received, X-Originating-IP, X-Mailer, User-Agent fields (any case,
 *    blanks before the colon included) are dropped with their
 *    continuation lines, and so is a continuation line with no field
 *    before it (Postfix would join it to its own Received field);
 *  - every Subject field becomes FM_CLEAN_SUBJECT;
 *  - "Date: <now, RFC 5322, UTC>" and "Message-ID: <time.random@domain>"
 *    are added after the last field when the section has none.
 * Returns 0, or -E2BIG when out is full. */
int fm_clean_header(const char *hdr, size_t hlen, time_t now,
		    const char *domain, struct buf *out);

/* fm_clean_is_field: the length of the field name that starts line (n
 * bytes), blanks before the colon excluded, or 0 when line is no header
 * field start (Postfix's is_header()) */
size_t fm_clean_is_field(const char *line, size_t n);

#endif
