/*
 * web: the relay's web content, rendered from its chatmail.ini values.
 *
 * Upstream builds the website with cmdeploy (www.py: Markdown pages in a
 * layout, Jinja2, a QR code PNG from genqr.py) and nginx's deployer
 * writes autoconfig and MTA-STS files (docs/UPSTREAM.md, nginx and Web
 * content). This is the same content as a pure function: struct
 * chatmail_config and the render target (its ports, for autoconfig) in,
 * a list of files out. The operator puts the list into a ConfigMap
 * (binaryData for the PNG); the local relay writes it into nginx's root.
 *
 * ConfigMap keys cannot hold '/' (nor the brackets of an IPv4 relay's
 * "[1.2.3.4]"), so each file also carries a key; mount the ConfigMap
 * with items {key, path} to recreate the tree.
 *
 * Files (paths relative to the web root, no leading '/'):
 *   index.html, info.html, privacy.html   our prose, upstream's facts
 *   main.css, robots.txt
 *   dclogin.js                            self-signed TLS mode only
 *   qr-chatmail-invite-<domain>.png       DCACCOUNT:https://<domain>/new
 *   .well-known/autoconfig/mail/config-v1.1.xml
 *   .well-known/mta-sts.txt
 *
 * Every value inserted into HTML or XML is escaped. The output depends
 * on the configuration only (no clock, no randomness), so golden files
 * can pin it.
 */
#ifndef WEB_H
#define WEB_H

#include <stddef.h>

#include "buf.h"
#include "config.h"

struct render_target;

struct web_file {
	char *path;	     /* relative, e.g. "index.html" */
	char *key;	     /* path as a ConfigMap key: every character
				outside [-._a-zA-Z0-9] becomes '_' */
	unsigned char *data; /* the content (NUL-terminated for text) */
	size_t len;	     /* bytes, without that NUL */
	int binary;	     /* not UTF-8 text (ConfigMap binaryData) */
};

struct web_site {
	struct web_file *files;
	size_t n;
};

/* web_render: every file for cfg (mail_domain must be set), served
 * from target t (autoconfig advertises t's ports). The caller owns the
 * result and frees it with web_site_free. 0, or -EINVAL with a reason
 * in err (a value that cannot be rendered, e.g. a domain too long for
 * a QR code). */
int web_render(const struct chatmail_config *cfg, const struct render_target *t,
	       struct web_site **site_r, struct buf *err);
/* web_site_free: free everything; NULLs *site */
void web_site_free(struct web_site **site);
/* web_site_find: the file with this path, or NULL */
const struct web_file *web_site_find(const struct web_site *site,
				     const char *path);

/* web_html_escape: s with & < > " ' as entities (HTML and XML) */
int web_html_escape(struct buf *out, const char *s);
/* web_int_to_english: upstream's int_to_english: "zero".."twelve",
 * then digits up to 50, then "more" */
void web_int_to_english(unsigned n, char *out, size_t outsize);

/* web_qr_png: a QR code of text (error correction H, like upstream's
 * genqr) as a 384x384 black-and-white PNG; caller frees *png_r.
 * 0, -EINVAL (text does not fit a QR code) or -ENOMEM. */
int web_qr_png(const char *text, unsigned char **png_r, size_t *len_r);

/* web_crc32: the CRC-32 of PNG chunks and gzip (IEEE 802.3), chained
 * from crc (0 to start) */
unsigned long web_crc32(unsigned long crc, const unsigned char *p, size_t n);
/* web_adler32: zlib's checksum, chained from adler (1 to start) */
unsigned long web_adler32(unsigned long adler, const unsigned char *p,
			  size_t n);

#endif
