/*
 * keys: the key material the operator generates with OpenSSL:
 *
 *  - the DKIM signing key: RSA 2048, PKCS#8 PEM (what `openssl genrsa`
 *    and opendkim-genkey write), created once per relay and never
 *    replaced by the operator;
 *  - the DKIM DNS record value "v=DKIM1;k=rsa;p=<SubjectPublicKeyInfo
 *    base64>;s=email;t=s" (upstream's format), derived from the key;
 *  - the self-signed certificate of a SelfSigned relay: EC P-256, SAN
 *    the domain, www.<domain> and mta-sts.<domain> (an IP address for
 *    an IP relay), CA:FALSE, 36500 days, like upstream's.
 *
 * Private keys are returned in buffers the caller must wipe
 * (buf_wipe_deinit).
 */
#ifndef OP_KEYS_H
#define OP_KEYS_H

#include <stddef.h>

#include "buf.h"

/* keys_dkim_generate: a new RSA key as PEM appended to pem; 0 or -EIO */
int keys_dkim_generate(unsigned bits, struct buf *pem);
/* keys_dkim_txt: the DNS TXT value for the private key in pem
 * (len bytes) appended to out; 0 or -EINVAL */
int keys_dkim_txt(const char *pem, size_t len, struct buf *out);
/* keys_self_signed: certificate and key PEM for domain; 0 or -EIO */
/* keys_turn_secret: chatmail-turn's shared secret, 32 random bytes in
 * base64 (44 characters) into out; 0 or -EIO */
int keys_turn_secret(struct buf *out);
int keys_self_signed(const char *domain, unsigned days, struct buf *cert,
		     struct buf *key);

#endif
