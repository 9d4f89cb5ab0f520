/*
 * servedcert: the certificate an ACME relay serves, read over TLS by
 * the operator (docs/DESIGN.md, Certificates in ACME mode).
 *
 * Once a relay in ACME mode is Ready (its cert container's probe says a
 * certificate from the ACME server is served), CertificateReady names
 * the certificate's DNS names and notAfter. The operator reads them the
 * way a client would: a TLS handshake with the relay's Service
 * ("<relay>.<namespace>.svc", port 443, SNI the mail domain), libcurl's
 * CURLOPT_CERTINFO giving the served leaf certificate as PEM, parsed
 * with OpenSSL. Nothing is verified here (this reports what is served;
 * the ACME client checked the chain before storing it). One handshake
 * per relay at most every max_age (and when asked while none is known);
 * the answer queues the relay again through the done callback.
 *
 * Untrusted input: the relay's TLS server (certificate size bounded by
 * curl's handshake; the PEM parsed by OpenSSL; names and dates kept
 * length-capped).
 */
#ifndef OP_SERVEDCERT_H
#define OP_SERVEDCERT_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"

struct served_certs;

/* what a relay serves on 443 */
struct served_cert {
	char names[512];    /* DNS names, comma-separated */
	char not_after[24]; /* YYYY-MM-DDTHH:MM:SSZ */
	char error[256];    /* "" read; else why not (names empty) */
	char checked[24];   /* when it was read (RFC 3339) */
};

/* served_certs_done_fn: a read of relay key ("namespace/name") ended */
typedef void served_certs_done_fn(void *arg, const char *key);

/* served_certs_new / served_certs_free: handshakes on loop's curlloop */
struct served_certs *served_certs_new(struct evloop *loop, uint64_t max_age_ms,
				      served_certs_done_fn *done, void *arg);
void served_certs_free(struct served_certs **scp);

/* served_certs_get: what relay key ("namespace/name") served when last
 * read into out: 1, or 0 when it was never read; starts a read when
 * none is in flight and the last is older than max_age (or missing) */
int served_certs_get(struct served_certs *sc, const char *key,
		     const char *domain, struct served_cert *out);
/* served_certs_forget: the relay is gone: drop what is known of it and
 * cancel its read */
void served_certs_forget(struct served_certs *sc, const char *key);

/* served_cert_parse_pem: names and notAfter of the first certificate in
 * pem into out; 0, or -EINVAL (out->error says why) */
int served_cert_parse_pem(const char *pem, size_t len, struct served_cert *out);

#endif
