/*
 * servedcert: the certificate a relay serves on 443, read over TLS with
 * libcurl's CURLOPT_CERTINFO (servedcert.h).
 *
 * Untrusted input: the relay's TLS server. curl bounds the handshake;
 * the leaf's PEM from curl's certinfo is parsed by OpenSSL; names and
 * dates are kept length-capped (truncated at a name boundary).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "curlloop.h"
#include "hmap.h"
#include "log.h"
#include "servedcert.h"
#include "util.h"
#include "xmalloc.h"

/* a handshake gives up after this long */
#define SC_TIMEOUT_MS 10000L

/* what is known of one relay */
struct sc_entry {
	struct served_certs *sc;
	char *key;
	struct served_cert info;
	int have;    /* info was read at least once */
	uint64_t at; /* loop time of the last read */
	CURL *easy;  /* the read in flight, or NULL */
	struct curl_slist *connect_to;
};

struct served_certs {
	struct evloop *loop;
	struct curlloop *cl;
	struct hmap map; /* "namespace/name" -> struct sc_entry */
	uint64_t max_age;
	served_certs_done_fn *done;
	void *arg;
};

/* add_name: one DNS name to the comma-separated list, if it fits */
static void
add_name(struct served_cert *out, const unsigned char *s, int n)
{
	size_t len = strlen(out->names);

	if (n <= 0 || len + (size_t)n + 2 > sizeof(out->names) ||
	    memchr(s, ',', (size_t)n) != NULL)
		return;
	(void)snprintf(out->names + len, sizeof(out->names) - len, "%s%.*s",
		       len ? "," : "", n, (const char *)s);
}

int
served_cert_parse_pem(const char *pem, size_t len, struct served_cert *out)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	GENERAL_NAMES *gens = NULL;
	const GENERAL_NAME *g;
	struct tm tm;
	int i, r = -EINVAL;

	out->names[0] = out->not_after[0] = '\0';
	if (x == NULL) {
		(void)snprintf(out->error, sizeof(out->error),
			       "the served certificate does not parse");
		goto out;
	}
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			add_name(out, ASN1_STRING_get0_data(g->d.dNSName),
				 ASN1_STRING_length(g->d.dNSName));
	}
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1 ||
	    strftime(out->not_after, sizeof(out->not_after),
		     "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		(void)snprintf(out->error, sizeof(out->error),
			       "the served certificate has no valid notAfter");
		goto out;
	}
	out->error[0] = '\0';
	r = 0;
out:
	GENERAL_NAMES_free(gens);
	X509_free(x);
	BIO_free(bio);
	return r;
}

/* leaf_pem: the first certificate's PEM in curl's certinfo */
static const char *
leaf_pem(CURL *easy)
{
	struct curl_certinfo *ci = NULL;
	const struct curl_slist *s;
	const char *p;

	if (curl_easy_getinfo(easy, CURLINFO_CERTINFO, &ci) != CURLE_OK ||
	    ci == NULL || ci->num_of_certs < 1)
		return NULL;
	/* the item is "Cert:<PEM>" (OpenSSL backend) */
	for (s = ci->certinfo[0]; s != NULL; s = s->next)
		if ((p = strstr(s->data, "-----BEGIN CERTIFICATE-----")) !=
		    NULL)
			return p;
	return NULL;
}

/* entry_end: drop the read in flight of e (out of the multi handle) */
static void
entry_end(struct sc_entry *e)
{
	if (e->easy != NULL) {
		curlloop_remove(e->sc->cl, e->easy);
		curl_easy_cleanup(e->easy);
		e->easy = NULL;
	}
	curl_slist_free_all(e->connect_to);
	e->connect_to = NULL;
}

/* on_done: a handshake ended: keep what it showed */
static void
on_done(void *arg, CURL *easy, CURLcode cc)
{
	struct served_certs *sc = arg;
	struct sc_entry *e = NULL;
	struct served_cert info;
	const char *pem;
	char *key;

	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&e);
	if (e == NULL)
		return;
	memset(&info, 0, sizeof(info));
	pem = leaf_pem(easy);
	if (pem != NULL)
		(void)served_cert_parse_pem(pem, strlen(pem), &info);
	else
		(void)snprintf(info.error, sizeof(info.error),
			       "no certificate read from the Service: %s",
			       curl_easy_strerror(cc));
	util_now_rfc3339(info.checked, sizeof(info.checked), 0);
	if (info.error[0] != '\0')
		log_warn("reading the certificate %s serves: %s", e->key,
			 info.error);
	e->info = info;
	e->have = 1;
	e->at = evloop_now(sc->loop);
	entry_end(e);
	key = xstrdup(e->key);
	sc->done(sc->arg, key);
	free(key);
}

struct served_certs *
served_certs_new(struct evloop *loop, uint64_t max_age_ms,
		 served_certs_done_fn *done, void *arg)
{
	struct served_certs *sc = xcalloc(1, sizeof(*sc));

	sc->loop = loop;
	sc->max_age = max_age_ms;
	sc->done = done;
	sc->arg = arg;
	hmap_init(&sc->map);
	sc->cl = curlloop_new(loop, on_done, NULL, sc);
	if (sc->cl == NULL)
		abort(); /* main initialised curl before: out of memory */
	return sc;
}

/* entry_free: one entry, its read cancelled */
static void
entry_free(struct sc_entry *e)
{
	entry_end(e);
	free(e->key);
	free(e);
}

void
served_certs_free(struct served_certs **scp)
{
	struct served_certs *sc = *scp;
	struct hmap_entry *he;
	size_t i;

	if (sc == NULL)
		return;
	for (he = hmap_first(&sc->map, &i); he != NULL;
	     he = hmap_next(&sc->map, &i, he))
		entry_free(he->value);
	hmap_deinit(&sc->map);
	curlloop_free(&sc->cl);
	free(sc);
	*scp = NULL;
}

/* start: a handshake with the relay's Service, SNI the domain */
static void
start(struct served_certs *sc, struct sc_entry *e, const char *domain)
{
	const char *slash = strchr(e->key, '/');
	char url[600], ct[1200];
	CURL *easy;

	if (slash == NULL)
		return;
	(void)snprintf(url, sizeof(url), "https://%s/", domain);
	(void)snprintf(ct, sizeof(ct), "%s:443:%s.%.*s.svc:443", domain,
		       slash + 1, (int)(slash - e->key), e->key);
	easy = curl_easy_init();
	if (easy == NULL)
		return;
	e->connect_to = curl_slist_append(NULL, ct);
	(void)curl_easy_setopt(easy, CURLOPT_URL, url);
	(void)curl_easy_setopt(easy, CURLOPT_CONNECT_TO, e->connect_to);
	(void)curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https");
	(void)curl_easy_setopt(easy, CURLOPT_CERTINFO, 1L);
	/* what is served is reported, not judged (servedcert.h) */
	(void)curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
	(void)curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
	(void)curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	(void)curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, SC_TIMEOUT_MS);
	(void)curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, e);
	if (curlloop_add(sc->cl, easy) < 0) {
		curl_easy_cleanup(easy);
		return;
	}
	e->easy = easy;
	e->at = evloop_now(sc->loop);
}

int
served_certs_get(struct served_certs *sc, const char *key, const char *domain,
		 struct served_cert *out)
{
	struct sc_entry *e = hmap_get(&sc->map, key);
	uint64_t now = evloop_now(sc->loop);

	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->sc = sc;
		e->key = xstrdup(key);
		(void)hmap_put(&sc->map, key, e);
	}
	if (e->easy == NULL && (!e->have || now >= e->at + sc->max_age))
		start(sc, e, domain);
	if (!e->have)
		return 0;
	*out = e->info;
	return 1;
}

void
served_certs_forget(struct served_certs *sc, const char *key)
{
	struct sc_entry *e = sc ? hmap_del(&sc->map, key) : NULL;

	if (e != NULL)
		entry_free(e);
}
