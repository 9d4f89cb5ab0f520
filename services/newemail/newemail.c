/*
 * newemail: credentials for the /new endpoint, as upstream's
 * newemail.py: a username of username_max_length characters from
 * [a-z0-9] at mail_domain, a password of password_min_length + 3
 * characters from letters, digits and punctuation, both drawn with the
 * kernel's CSPRNG (getrandom) and without modulo bias; in self-signed
 * TLS mode also the dclogin: URL that tells the client to accept the
 * certificate. Nothing is created here: the account appears on the
 * first login (doveauth).
 *
 * Role: the body of every /new answer (newemail_http.c serves it).
 * Untrusted input: none (the request carries nothing we use). The
 * password is a secret: every buffer that held it is wiped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "newemail.h"

/* newemail_random: see newemail.h */
int
newemail_random(const char *alphabet, size_t n, char *out)
{
	size_t alen = strlen(alphabet), got = 0, i;
	unsigned char pool[64];
	unsigned limit;
	ssize_t r;

	if (alen == 0 || alen > 256 || n > NEWEMAIL_MAX_LEN)
		return -EINVAL;
	/* the largest multiple of alen that fits a byte: accepting only
	 * bytes below it makes every character equally likely */
	limit = 256 - 256 % (unsigned)alen;
	while (got < n) {
		r = getrandom(pool, sizeof(pool), 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int err = errno > 0 ? errno : EIO;

			explicit_bzero(pool, sizeof(pool));
			return -err;
		}
		for (i = 0; i < (size_t)r && got < n; i++)
			if (pool[i] < limit)
				out[got++] = alphabet[pool[i] % alen];
	}
	out[n] = '\0';
	explicit_bzero(pool, sizeof(pool));
	return 0;
}

/* newemail_quote: see newemail.h */
int
newemail_quote(struct buf *out, const char *s, const char *safe)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	int rc = 0;

	for (; *p != '\0' && rc == 0; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("_.-~", *p) != NULL ||
		    strchr(safe, *p) != NULL) {
			rc = buf_putc(out, (char)*p);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			rc = buf_append(out, e, 3);
		}
	}
	return rc;
}

/* newemail_json_string: see newemail.h */
int
newemail_json_string(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int rc = buf_putc(out, '"');

	for (; *p != '\0' && rc == 0; p++) {
		switch (*p) {
		case '"':
			rc = buf_puts(out, "\\\"");
			break;
		case '\\':
			rc = buf_puts(out, "\\\\");
			break;
		case '\n':
			rc = buf_puts(out, "\\n");
			break;
		case '\r':
			rc = buf_puts(out, "\\r");
			break;
		case '\t':
			rc = buf_puts(out, "\\t");
			break;
		case '\b':
			rc = buf_puts(out, "\\b");
			break;
		case '\f':
			rc = buf_puts(out, "\\f");
			break;
		default:
			if (*p < 0x20 || *p >= 0x7f)
				rc = buf_printf(out, "\\u%04x", *p);
			else
				rc = buf_putc(out, (char)*p);
		}
	}
	return rc == 0 ? buf_putc(out, '"') : rc;
}

/* newemail_dclogin_url: see newemail.h */
int
newemail_dclogin_url(const struct chatmail_config *cfg, const char *email,
		     const char *password, struct buf *out)
{
	int rc = buf_puts(out, "dclogin:");

	if (rc == 0)
		rc = newemail_quote(out, email, "@[]");
	if (rc == 0)
		rc = buf_puts(out, "?p=");
	if (rc == 0)
		rc = newemail_quote(out, password, "");
	if (rc == 0)
		rc = buf_puts(out, "&v=1");
	if (rc == 0 && cfg->ipv4_relay)
		rc = buf_printf(out, "&ih=%s&sh=%s", cfg->mail_domain_bare,
				cfg->mail_domain_bare);
	if (rc == 0)
		rc = buf_puts(out, "&ic=3");
	return rc;
}

/* newemail_json: see newemail.h */
int
newemail_json(const struct chatmail_config *cfg, const char *email,
	      const char *password, struct buf *out)
{
	struct buf url = BUF_INIT(4096);
	int rc;

	rc = buf_puts(out, "{\"email\": ");
	if (rc == 0)
		rc = newemail_json_string(out, email);
	if (rc == 0)
		rc = buf_puts(out, ", \"password\": ");
	if (rc == 0)
		rc = newemail_json_string(out, password);
	if (rc == 0 && cfg->tls_cert_mode == TLS_CERT_SELF) {
		rc = newemail_dclogin_url(cfg, email, password, &url);
		if (rc == 0)
			rc = buf_puts(out, ", \"dclogin_url\": ");
		if (rc == 0)
			rc = newemail_json_string(out, buf_cstr(&url));
	}
	if (rc == 0)
		rc = buf_putc(out, '}');
	buf_wipe_deinit(&url);
	return rc;
}

/* newemail_answer: see newemail.h */
int
newemail_answer(const struct chatmail_config *cfg, struct buf *out)
{
	char user[NEWEMAIL_MAX_LEN + 1] = "", pass[NEWEMAIL_MAX_LEN + 1] = "";
	char email[NEWEMAIL_MAX_LEN + 300];
	int rc;

	if (cfg->username_max_length > NEWEMAIL_MAX_LEN ||
	    cfg->password_min_length + 3 > NEWEMAIL_MAX_LEN ||
	    strlen(cfg->mail_domain) > 253)
		return -EINVAL;
	rc = newemail_random(NEWEMAIL_ALNUM, cfg->username_max_length, user);
	if (rc == 0)
		rc = newemail_random(NEWEMAIL_PASSCHARS,
				     cfg->password_min_length + 3, pass);
	if (rc == 0) {
		(void)snprintf(email, sizeof(email), "%s@%s", user,
			       cfg->mail_domain);
		rc = newemail_json(cfg, email, pass, out);
	}
	if (rc == 0)
		rc = buf_putc(out, '\n');
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(user, sizeof(user));
	explicit_bzero(email, sizeof(email));
	return rc;
}
