/*
 * fm_pgp_class: the message-level rules: PGP/MIME structure (upstream's
 * check_encrypted), SecureJoin requests (is_securejoin) and the facts the
 * Autocrypt Setup Message and mailer-daemon rules need.
 *
 * Role: fm_policy.c asks fm_pgp_classify() once per message. Untrusted
 * input: the message; bodies that carry a transfer encoding are decoded
 * into the caller's bounded scratch buffer, everything else is read in
 * place.
 */
#include <string.h>
#include <strings.h>

#include "fm_pgp.h"

/* body_is: the part's decoded body, trimmed, equals want (ci: ignoring
 * ASCII case) */
static int
body_is(const struct fm_entity *part, struct buf *scratch, const char *want,
	int ci)
{
	const char *b;
	size_t n;

	if (fm_mime_decoded_body(part, scratch, &b, &n) < 0)
		return 0;
	fm_mime_trim(&b, &n);
	if (n != strlen(want))
		return 0;
	return ci ? strncasecmp(b, want, n) == 0 : memcmp(b, want, n) == 0;
}

int
fm_pgp_is_encrypted(const struct fm_entity *top, int outgoing,
		    struct buf *scratch)
{
	struct fm_entity parts[2];
	struct fm_ctype ct;
	const char *b;
	size_t n;

	fm_mime_ctype(top, &ct);
	if (!ct.multipart || strcmp(ct.mimetype, "multipart/encrypted") != 0)
		return 0;
	if (fm_mime_parts(top->body, top->blen, ct.boundary, parts, 2) != 2)
		return 0;
	fm_mime_ctype(&parts[0], &ct);
	if (ct.multipart ||
	    strcmp(ct.mimetype, "application/pgp-encrypted") != 0 ||
	    !body_is(&parts[0], scratch, "Version: 1", 0))
		return 0;
	fm_mime_ctype(&parts[1], &ct);
	if (ct.multipart ||
	    strcmp(ct.mimetype, "application/octet-stream") != 0)
		return 0;
	if (fm_mime_decoded_body(&parts[1], scratch, &b, &n) < 0)
		return 0;
	return fm_pgp_armor_ok(b, n, outgoing);
}

int
fm_pgp_is_securejoin(const struct fm_entity *top, struct buf *scratch)
{
	struct fm_entity part;
	struct fm_ctype ct;
	char sj[32];

	if (!fm_mime_header_get(top, "Secure-Join", sj, sizeof(sj)) ||
	    (strcmp(sj, "vc-request") != 0 && strcmp(sj, "vg-request") != 0))
		return 0;
	fm_mime_ctype(top, &ct);
	if (!ct.multipart ||
	    fm_mime_parts(top->body, top->blen, ct.boundary, &part, 1) != 1)
		return 0;
	fm_mime_ctype(&part, &ct);
	if (ct.multipart || strcmp(ct.mimetype, "text/plain") != 0)
		return 0;
	return body_is(&part, scratch, "secure-join: vc-request", 1) ||
	       body_is(&part, scratch, "secure-join: vg-request", 1);
}

void
fm_pgp_classify(const char *msg, size_t len, int outgoing, struct buf *scratch,
		struct fm_class *c)
{
	struct fm_entity top;
	struct fm_ctype ct;
	char as[64];

	memset(c, 0, sizeof(*c));
	fm_mime_split(msg, len, &top);
	fm_mime_ctype(&top, &ct);
	memcpy(c->mimetype, ct.mimetype, sizeof(c->mimetype));
	c->encrypted = fm_pgp_is_encrypted(&top, outgoing, scratch);
	c->securejoin = !c->encrypted && fm_pgp_is_securejoin(&top, scratch);
	c->multipart_mixed = strcmp(ct.mimetype, "multipart/mixed") == 0;
	c->mailer_daemon_report =
		fm_mime_header_get(&top, "Auto-Submitted", as, sizeof(as)) &&
		as[0] != '\0' && strcmp(ct.mimetype, "multipart/report") == 0;
}
