/*
 * test_web: the web content renderer. Text files are compared with
 * golden files in tests/data/web/<case>/ (UPDATE_GOLDEN=1 rewrites them;
 * review the diff), for an ordinary relay whose privacy fields hold HTML
 * and XML metacharacters, and for a self-signed one. The QR PNG is
 * decoded by hand (chunk CRCs, stored deflate, Adler-32) and every
 * module compared with libqrencode's symbol. Checksums against known
 * vectors, escaping, upstream's int_to_english.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <qrencode.h>
#include <stdlib.h>
#include <sys/stat.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "render/render.h"
#include "web/web.h"

#define GOLDEN "tests/data/web"

static char v_size[] = "500M", v_mail[] = "privacy@example.org",
	    v_postal[] = "Example & Sons <Ltd>\nMain \"St\" 1",
	    v_pdo[] = "Jane 'DPO' Doe", d_acme[] = "chat.example.org",
	    d_self[] = "_chat.example.org", d_bad[] = "a/../b",
	    d_ip[] = "[1.2.3.4]";

/* cfg_of: a configuration as config_load would leave it */
static void
cfg_of(struct chatmail_config *c, char *domain, int self)
{
	memset(c, 0, sizeof(*c));
	c->mail_domain = domain;
	c->max_user_send_per_minute = 60;
	c->max_mailbox_size = v_size;
	c->max_message_size = 31457280;
	c->delete_mails_after = 20;
	c->delete_large_after = 7;
	c->delete_inactive_users_after = 90;
	c->username_min_length = 9;
	c->username_max_length = 9;
	c->password_min_length = 9;
	c->tls_cert_mode = self ? TLS_CERT_SELF : TLS_CERT_ACME;
	c->privacy_mail = v_mail;
	c->privacy_postal = v_postal;
	c->privacy_pdo = v_pdo;
	c->privacy_supervisor = NULL; /* unset: renders empty */
}

/* render_pod: web_render for the Pod layout (upstream's ports) */
static int
render_pod(const struct chatmail_config *c, struct web_site **s,
	   struct buf *err)
{
	struct render_target *t = render_target_new_pod();
	int r = web_render(c, t, s, err);

	render_target_free(&t);
	return r;
}

/* slurp: a whole file, or NULL */
static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL)
		return NULL;
	(void)fseek(f, 0, SEEK_END);
	n = ftell(f);
	(void)fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	*len_r = fread(p, 1, (size_t)n, f);
	p[*len_r] = '\0';
	(void)fclose(f);
	return p;
}

/* golden: compare (or with UPDATE_GOLDEN write) one file */
static void
golden(const char *tcase, const struct web_file *f)
{
	char path[1024], *want, *p;
	size_t len = 0;
	FILE *o;

	(void)snprintf(path, sizeof(path), "%s/%s/%s", GOLDEN, tcase, f->path);
	if (getenv("UPDATE_GOLDEN") != NULL) {
		for (p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
			*p = '\0';
			(void)mkdir(path, 0755);
			*p = '/';
		}
		o = fopen(path, "wb");
		assert_non_null(o);
		assert_int(fwrite(f->data, 1, f->len, o), f->len);
		assert_int(fclose(o), 0);
		return;
	}
	want = slurp(path, &len);
	if (want == NULL)
		print_error("missing golden file %s\n", path);
	assert_non_null(want);
	if (len != f->len || memcmp(want, f->data, len) != 0)
		print_error("%s differs from the rendering\n", path);
	assert_str((const char *)f->data, want);
	free(want);
}

/* render_case: render, check the file list, compare the text files */
static struct web_site *
render_case(const char *tcase, char *domain, int self, size_t nfiles)
{
	struct chatmail_config c;
	struct web_site *s = NULL;
	struct buf err = BUF_INIT(1024);
	size_t i;

	cfg_of(&c, domain, self);
	assert_int(render_pod(&c, &s, &err), 0);
	assert_int(s->n, nfiles);
	for (i = 0; i < s->n; i++)
		if (!s->files[i].binary)
			golden(tcase, &s->files[i]);
	buf_deinit(&err);
	return s;
}

/* acme: the usual relay, privacy fields escaped */
static void
acme(void **state)
{
	struct web_site *s = render_case("acme", d_acme, 0, 8);
	const struct web_file *f;

	(void)state;
	f = web_site_find(s, "privacy.html");
	assert_non_null(f);
	assert_non_null(strstr((const char *)f->data,
			       "Example &amp; Sons &lt;Ltd&gt;\nMain "
			       "&quot;St&quot; 1"));
	assert_null(strstr((const char *)f->data, "<Ltd>"));
	assert_non_null(
		web_site_find(s, "qr-chatmail-invite-chat.example.org.png"));
	assert_null(web_site_find(s, "dclogin.js"));
	f = web_site_find(s, "index.html");
	assert_non_null(
		strstr((const char *)f->data,
		       "href=\"DCACCOUNT:https://chat.example.org/new\""));
	f = web_site_find(s, ".well-known/mta-sts.txt");
	assert_str(f->key, ".well-known_mta-sts.txt");
	assert_str((const char *)f->data, "version: STSv1\nmode: enforce\n"
					  "mx: chat.example.org\n"
					  "max_age: 2419200\n");
	web_site_free(&s);
	assert_null(s);
}

/* self: self-signed relays get the dclogin page and script */
static void
self(void **state)
{
	struct web_site *s = render_case("self", d_self, 1, 9);
	const struct web_file *f;

	(void)state;
	f = web_site_find(s, "index.html");
	assert_non_null(strstr((const char *)f->data, "id=\"dclogin-link\""));
	assert_non_null(web_site_find(s, "dclogin.js"));
	web_site_free(&s);
}

/* ipv4_keys: an IPv4 relay's QR file name becomes a valid key */
static void
ipv4_keys(void **state)
{
	struct chatmail_config c;
	struct web_site *s = NULL;
	struct buf err = BUF_INIT(1024);
	const struct web_file *f;
	size_t i;

	(void)state;
	cfg_of(&c, d_ip, 1);
	assert_int(render_pod(&c, &s, &err), 0);
	f = web_site_find(s, "qr-chatmail-invite-[1.2.3.4].png");
	assert_non_null(f);
	assert_str(f->key, "qr-chatmail-invite-_1.2.3.4_.png");
	for (i = 0; i < s->n; i++)
		assert_int(strspn(s->files[i].key, "abcdefghijklmnopqrstuvwxyz"
						   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						   "0123456789-._"),
			   strlen(s->files[i].key));
	web_site_free(&s);
	buf_deinit(&err);
}

/* autoconfig_ports: autoconfig advertises the target's ports, in
 * upstream's order (993, 143, 443 in; 465, 587, 443 out), so a local
 * relay with moved ports advertises where it listens */
static void
autoconfig_ports(void **state)
{
	static const char *const want[] = {
		"<port>20993</port>", "<port>20143</port>",
		"<port>20443</port>", "<port>20465</port>",
		"<port>20587</port>", "<port>20443</port>"
	};
	struct render_target *t = render_target_new_local("/srv/r1", "");
	struct chatmail_config c;
	struct web_site *s = NULL;
	struct buf err = BUF_INIT(1024);
	const struct web_file *f;
	const char *p;
	size_t i;

	(void)state;
	cfg_of(&c, d_acme, 0);
	assert_int(render_target_offset_ports(t, 20000), 0);
	assert_int(web_render(&c, t, &s, &err), 0);
	f = web_site_find(s, ".well-known/autoconfig/mail/config-v1.1.xml");
	assert_non_null(f);
	p = (const char *)f->data;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		p = strstr(p, want[i]);
		if (p == NULL)
			print_error("no %s in order in\n%s\n", want[i],
				    (const char *)f->data);
		assert_non_null(p);
		p += strlen(want[i]);
	}
	assert_null(strstr(p, "<port>"));
	/* no later page sees the port variable's stack copy */
	assert_null(strstr((const char *)f->data, "<port></port>"));
	web_site_free(&s);
	render_target_free(&t);
	buf_deinit(&err);
}

/* bad_domain: a domain that cannot be a file name is refused */
static void
bad_domain(void **state)
{
	struct chatmail_config c;
	struct web_site *s = NULL;
	struct buf err = BUF_INIT(1024);

	(void)state;
	cfg_of(&c, d_bad, 0);
	assert_int(render_pod(&c, &s, &err), -EINVAL);
	assert_null(s);
	cfg_of(&c, NULL, 0);
	assert_int(render_pod(&c, &s, &err), -EINVAL);
	buf_deinit(&err);
}

/* escape_and_words: entity table and upstream's number words */
static void
escape_and_words(void **state)
{
	struct buf b = BUF_INIT(256);
	char w[16];

	(void)state;
	assert_int(web_html_escape(&b, "<a href=\"x\">&'</a>"), 0);
	assert_str(buf_cstr(&b),
		   "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
	buf_deinit(&b);
	web_int_to_english(0, w, sizeof(w));
	assert_str(w, "zero");
	web_int_to_english(9, w, sizeof(w));
	assert_str(w, "nine");
	web_int_to_english(12, w, sizeof(w));
	assert_str(w, "twelve");
	web_int_to_english(13, w, sizeof(w));
	assert_str(w, "13");
	web_int_to_english(50, w, sizeof(w));
	assert_str(w, "50");
	web_int_to_english(51, w, sizeof(w));
	assert_str(w, "more");
}

/* checksums: the standard check values */
static void
checksums(void **state)
{
	(void)state;
	assert_int(web_crc32(0, (const unsigned char *)"123456789", 9),
		   0xcbf43926UL);
	assert_int(web_adler32(1, (const unsigned char *)"Wikipedia", 9),
		   0x11e60398UL);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* inflate_stored: the zlib stream of stored blocks into raw */
static size_t
inflate_stored(const unsigned char *z, size_t n, unsigned char *raw, size_t max)
{
	size_t off = 2, len = 0, blk;
	int final = 0;

	assert_int(z[0], 0x78);
	assert_int((z[0] * 256 + z[1]) % 31, 0);
	while (!final) {
		assert_true(off + 5 <= n);
		final = z[off] & 1;
		assert_int(z[off] & 6, 0); /* BTYPE 00 */
		blk = z[off + 1] | (size_t)z[off + 2] << 8;
		assert_int(blk ^ (z[off + 3] | (size_t)z[off + 4] << 8),
			   0xffff);
		off += 5;
		assert_true(off + blk <= n && len + blk <= max);
		memcpy(raw + len, z + off, blk);
		len += blk;
		off += blk;
	}
	assert_int(get32(z + off), web_adler32(1, raw, len));
	return len;
}

/* qr_png: a valid PNG whose every module matches libqrencode's */
static void
qr_png(void **state)
{
	static const char text[] = "DCACCOUNT:https://chat.example.org/new";
	static unsigned char raw[64 * 1024];
	unsigned char *png = NULL, *p;
	size_t len = 0, rawlen = 0, off = 8, n;
	QRcode *qr;
	int x, y, side;

	(void)state;
	assert_int(web_qr_png(text, &png, &len), 0);
	assert_int(memcmp(png, "\x89PNG\r\n\x1a\n", 8), 0);
	while (off < len) {
		n = get32(png + off);
		p = png + off + 8;
		assert_int(get32(p + n), web_crc32(0, png + off + 4, n + 4));
		if (memcmp(png + off + 4, "IHDR", 4) == 0) {
			assert_int(get32(p), 384);
			assert_int(get32(p + 4), 384);
			assert_int(p[8], 1);
			assert_int(p[9], 0);
		} else if (memcmp(png + off + 4, "IDAT", 4) == 0) {
			rawlen = inflate_stored(p, n, raw, sizeof(raw));
		}
		off += n + 12;
	}
	assert_int(off, len);
	assert_int(rawlen, 49 * 384);
	qr = QRcode_encodeString(text, 0, QR_ECLEVEL_H, QR_MODE_8, 1);
	assert_non_null(qr);
	side = qr->width + 2;
	for (y = 0; y < qr->width; y++) {
		for (x = 0; x < qr->width; x++) {
			/* the centre of module (x, y) in image pixels */
			int px = 6 + (2 * (x + 1) + 1) * 372 / (2 * side);
			int py = 6 + (2 * (y + 1) + 1) * 372 / (2 * side);
			int white =
				raw[py * 49 + 1 + px / 8] >> (7 - px % 8) & 1;

			assert_int(white, !(qr->data[y * qr->width + x] & 1));
		}
	}
	assert_int(raw[0], 0);	  /* filter byte */
	assert_int(raw[1], 0xff); /* white margin */
	QRcode_free(qr);
	free(png);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(acme),
		cmocka_unit_test(ipv4_keys),
		cmocka_unit_test(self),
		cmocka_unit_test(bad_domain),
		cmocka_unit_test(autoconfig_ports),
		cmocka_unit_test(escape_and_words),
		cmocka_unit_test(checksums),
		cmocka_unit_test(qr_png),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
