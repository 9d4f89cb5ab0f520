/*
 * acme_cert: the ACME client's certificates on disk (see acme.h): the
 * check of a chain and key against the wanted names, the atomic store
 * in kubelet's Secret-volume layout, the renewal time, the RFC 9773
 * certificate identifier, and status.json.
 *
 * Untrusted input: certificates from the ACME server and files in the
 * TLS and state directories (size-capped reads, parsed by OpenSSL and
 * cJSON).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme.h"
#include "fs.h"
#include "log.h"

#define FILE_MAX (1u << 20)

/* asn1_time: an ASN1_TIME as time_t */
static time_t
asn1_time(const ASN1_TIME *a)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* ari_id: base64url(AKI keyIdentifier) "." base64url(serial's DER
 * content octets), RFC 9773 section 4.1; "" without an AKI */
static void
ari_id(X509 *x, char *out, size_t outsize)
{
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
	struct buf b = BUF_INIT(outsize - 1);
	uint8_t *der = NULL;
	int n;

	out[0] = '\0';
	n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
	if (aki == NULL || n <= 2 || n > 130 ||
	    acme_b64url(ASN1_STRING_get0_data(aki),
			(size_t)ASN1_STRING_length(aki), &b) < 0 ||
	    buf_putc(&b, '.') < 0 ||
	    acme_b64url(der + 2, (size_t)n - 2, &b) < 0)
		goto out;
	(void)snprintf(out, outsize, "%s", b.data);
out:
	OPENSSL_free(der);
	buf_deinit(&b);
}

int
acme_cert_inspect(const char *cert, size_t clen, const char *key, size_t klen,
		  char names[][ACME_NAME_MAX + 1], size_t n,
		  struct acme_cert_info *ci, struct buf *err)
{
	BIO *cb = BIO_new_mem_buf(cert, (int)clen);
	BIO *kb = BIO_new_mem_buf(key, (int)klen);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *pk =
		kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	size_t i;
	int r = -EINVAL;

	memset(ci, 0, sizeof(*ci));
	if (x == NULL || pk == NULL) {
		(void)buf_puts(err, x ? "key is not a PEM private key"
				      : "certificate is not PEM");
		goto out;
	}
	ci->key_ok = X509_check_private_key(x, pk) == 1;
	ci->names_ok = 1;
	for (i = 0; i < n; i++)
		if (X509_check_host(x, names[i], 0,
				    X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1)
			ci->names_ok = 0;
	ci->self_signed = X509_check_issued(x, x) == X509_V_OK;
	ci->not_before = asn1_time(X509_get0_notBefore(x));
	ci->not_after = asn1_time(X509_get0_notAfter(x));
	ari_id(x, ci->ari_id, sizeof(ci->ari_id));
	if (!ci->key_ok)
		(void)buf_puts(err, "key does not match the certificate");
	else if (!ci->names_ok)
		(void)buf_puts(err, "certificate does not name every domain");
	else if (ci->not_after <= ci->not_before)
		(void)buf_puts(err, "certificate has no valid lifetime");
	else
		r = 0;
out:
	EVP_PKEY_free(pk);
	X509_free(x);
	BIO_free(cb);
	BIO_free(kb);
	return r;
}

int
acme_cert_read(const char *dir, char names[][ACME_NAME_MAX + 1], size_t n,
	       struct acme_cert_info *ci, struct buf *err)
{
	struct buf c = BUF_INIT(FILE_MAX), k = BUF_INIT(FILE_MAX);
	char path[1024];
	int r;

	(void)snprintf(path, sizeof(path), "%s/tls.crt", dir);
	r = fs_read_file(path, &c);
	if (r == 0) {
		(void)snprintf(path, sizeof(path), "%s/tls.key", dir);
		r = fs_read_file(path, &k);
	}
	if (r == -ENOENT)
		goto out;
	if (r < 0) {
		(void)buf_printf(err, "%s: %s", path, strerror(-r));
		r = -EINVAL;
		goto out;
	}
	r = acme_cert_inspect(c.data, c.len, k.data, k.len, names, n, ci, err);
out:
	buf_deinit(&c);
	buf_wipe_deinit(&k);
	return r;
}

/* write_in: one file in the directory dfd, group of the TLS directory */
static int
write_in(int dfd, const char *name, const char *data, size_t len, mode_t mode,
	 gid_t gid)
{
	int fd, r = 0;
	size_t off = 0;
	ssize_t w;

	fd = openat(dfd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* the daemons read the key through the Pod's fsGroup; a group we
	 * belong to needs no privilege (best effort elsewhere) */
	(void)!fchown(fd, (uid_t)-1, gid);
	(void)fchmod(fd, mode);
	while (off < len && r == 0) {
		w = write(fd, data + off, len - off);
		if (w < 0 && errno != EINTR)
			r = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/* relink: name -> target, replaced atomically (symlink, then rename) */
static int
relink(int dfd, const char *target, const char *name)
{
	char tmp[128];

	(void)snprintf(tmp, sizeof(tmp), "%s_tmp", name);
	(void)unlinkat(dfd, tmp, 0);
	if (symlinkat(target, dfd, tmp) < 0 ||
	    renameat(dfd, tmp, dfd, name) < 0)
		return -errno;
	return 0;
}

/* prune: remove every "..<version>" directory but keep */
static void
prune(const char *dir, int dfd, const char *keep)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int sub;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "..2", 3) != 0 ||
		    strcmp(e->d_name, keep) == 0)
			continue;
		sub = openat(dfd, e->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (sub >= 0) {
			(void)unlinkat(sub, "tls.crt", 0);
			(void)unlinkat(sub, "tls.key", 0);
			(void)close(sub);
		}
		(void)unlinkat(dfd, e->d_name, AT_REMOVEDIR);
	}
	if (d != NULL)
		(void)closedir(d);
}

int
acme_cert_store(const char *dir, const char *cert, size_t clen, const char *key,
		size_t klen, long gid, struct buf *err)
{
	char ver[64];
	struct timespec ts;
	struct tm tm;
	struct stat st;
	int dfd = -1, vfd = -1, r;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)snprintf(ver, sizeof(ver),
		       "..%04d_%02d_%02d_%02d_%02d_%02d.%09ld",
		       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		       tm.tm_min, tm.tm_sec, (long)ts.tv_nsec);
	if ((r = fs_mkdirs(dir, 0755)) < 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(dfd, &st) < 0) {
		r = r < 0 ? r : -errno;
		goto out;
	}
	if (mkdirat(dfd, ver, 0755) < 0 ||
	    (vfd = openat(dfd, ver, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) < 0) {
		r = -errno;
		goto out;
	}
	if (gid < 0)
		gid = (long)st.st_gid;
	if ((r = write_in(vfd, "tls.key", key, klen, 0640, (gid_t)gid)) < 0 ||
	    (r = write_in(vfd, "tls.crt", cert, clen, 0644, (gid_t)gid)) < 0 ||
	    (r = relink(dfd, ver, "..data")) < 0 ||
	    (r = relink(dfd, "..data/tls.crt", "tls.crt")) < 0 ||
	    (r = relink(dfd, "..data/tls.key", "tls.key")) < 0)
		goto out;
	(void)fsync(dfd);
	prune(dir, dfd, ver);
out:
	if (r < 0)
		(void)buf_printf(err, "%s: cannot store the certificate: %s",
				 dir, strerror(-r));
	if (vfd >= 0)
		(void)close(vfd);
	if (dfd >= 0)
		(void)close(dfd);
	return r;
}

/* placeholder_pem: a self-signed certificate for names with key */
static int
placeholder_pem(EVP_PKEY *key, char names[][ACME_NAME_MAX + 1], size_t n,
		struct buf *out)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext = NULL;
	struct buf san = BUF_INIT(ACME_MAX_NAMES * (ACME_NAME_MAX + 8));
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;
	size_t i;
	int r = -EINVAL;

	for (i = 0; i < n; i++)
		(void)buf_printf(&san, "%sDNS:%s", i ? "," : "", names[i]);
	if (x == NULL || b == NULL || san.len == 0 ||
	    X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365) == NULL ||
	    X509_NAME_add_entry_by_txt(
		    X509_get_subject_name(x), "CN", MBSTRING_ASC,
		    (const uint8_t *)"ACME placeholder", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    X509_set_pubkey(x, key) != 1)
		goto out;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san.data);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1 ||
	    X509_sign(x, key, EVP_sha256()) <= 0 ||
	    PEM_write_bio_X509(b, x) != 1)
		goto out;
	len = BIO_get_mem_data(b, &p);
	r = buf_append(out, p, (size_t)len);
out:
	X509_EXTENSION_free(ext);
	X509_free(x);
	BIO_free(b);
	buf_deinit(&san);
	return r;
}

int
acme_cert_placeholder(const char *dir, char names[][ACME_NAME_MAX + 1],
		      size_t n, long gid, struct buf *err)
{
	struct buf crt = BUF_INIT(16384), key = BUF_INIT(16384);
	char path[1024];
	EVP_PKEY *k = NULL;
	int r = 0;

	(void)snprintf(path, sizeof(path), "%s/tls.crt", dir);
	if (access(path, F_OK) == 0)
		goto out; /* a certificate is there: leave it */
	k = acme_key_new();
	if (k == NULL || acme_key_pem(k, &key) < 0 ||
	    placeholder_pem(k, names, n, &crt) < 0) {
		(void)buf_puts(err, "cannot make the placeholder certificate");
		r = -EINVAL;
		goto out;
	}
	r = acme_cert_store(dir, crt.data, crt.len, key.data, key.len, gid,
			    err);
	if (r == 0)
		log_info("placeholder certificate in %s until the ACME server "
			 "issues one",
			 dir);
out:
	EVP_PKEY_free(k);
	buf_deinit(&crt);
	buf_wipe_deinit(&key);
	return r;
}

time_t
acme_renew_at(time_t nb, time_t na, double jitter)
{
	time_t life = na - nb;

	if (life <= 0)
		return nb;
	if (jitter < 0 || jitter >= 1)
		jitter = 0;
	return nb + life * 2 / 3 - (time_t)(jitter * ((double)life / 30.0));
}

/* time_item: an RFC 3339 member, or null for 0 */
static void
time_item(cJSON *o, const char *name, time_t t)
{
	char s[32];

	if (t == 0) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	acme_format_time(t, s);
	cJSON_AddStringToObject(o, name, s);
}

int
acme_status_write(const char *dir, const struct acme_status_rec *st)
{
	cJSON *o = cJSON_CreateObject();
	char path[1024], *text;
	int r = -ENOMEM;

	cJSON_AddBoolToObject(o, "ready", st->ready);
	cJSON_AddStringToObject(o, "names", st->names);
	time_item(o, "notAfter", st->not_after);
	time_item(o, "renewAt", st->renew_at);
	time_item(o, "nextAttempt", st->next_attempt);
	time_item(o, "issued", st->issued);
	time_item(o, "updated", st->updated);
	cJSON_AddStringToObject(o, "lastError", st->last_error);
	cJSON_AddNumberToObject(o, "failures", st->failures);
	cJSON_AddNumberToObject(o, "requestsLastOrder", st->requests_last);
	cJSON_AddStringToObject(o, "account", st->account);
	text = cJSON_Print(o);
	cJSON_Delete(o);
	if (text != NULL) {
		(void)snprintf(path, sizeof(path), "%s/status.json", dir);
		r = fs_write_atomic(path, text, strlen(text), 0644, 0);
		cJSON_free(text);
	}
	return r;
}

/* time_of: an RFC 3339 member back, 0 when null */
static time_t
time_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	time_t t = 0;

	if (cJSON_IsString(v))
		(void)acme_parse_time(v->valuestring, &t);
	return t;
}

/* str_of: a string member into out */
static void
str_of(const cJSON *o, const char *name, char *out, size_t outsize)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	(void)snprintf(out, outsize, "%s",
		       cJSON_IsString(v) ? v->valuestring : "");
}

int
acme_status_read(const char *path, struct acme_status_rec *st, struct buf *err)
{
	struct buf b = BUF_INIT(64 * 1024);
	cJSON *o = NULL;
	const cJSON *v;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = fs_read_file(path, &b)) < 0) {
		(void)buf_printf(err, "%s: %s", path, strerror(-r));
		goto out;
	}
	o = cJSON_ParseWithLength(b.data, b.len);
	if (!cJSON_IsObject(o)) {
		(void)buf_printf(err, "%s: not a JSON object", path);
		r = -EINVAL;
		goto out;
	}
	st->ready = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ready"));
	str_of(o, "names", st->names, sizeof(st->names));
	str_of(o, "lastError", st->last_error, sizeof(st->last_error));
	str_of(o, "account", st->account, sizeof(st->account));
	st->not_after = time_of(o, "notAfter");
	st->renew_at = time_of(o, "renewAt");
	st->next_attempt = time_of(o, "nextAttempt");
	st->issued = time_of(o, "issued");
	st->updated = time_of(o, "updated");
	v = cJSON_GetObjectItemCaseSensitive(o, "failures");
	st->failures =
		cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9
			? (unsigned)v->valuedouble
			: 0;
	v = cJSON_GetObjectItemCaseSensitive(o, "requestsLastOrder");
	st->requests_last =
		cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9
			? (unsigned)v->valuedouble
			: 0;
out:
	cJSON_Delete(o);
	buf_deinit(&b);
	return r;
}
