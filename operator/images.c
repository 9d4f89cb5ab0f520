/*
 * images: default container images from images/images.env.
 *
 * The file is embedded with the assembler's .incbin when this file is
 * compiled (make runs from the repository root), so the image list
 * lives in exactly one place and no generated header is needed; the
 * object does not notice a change of images.env by itself (touch this
 * file, or make clean, after editing it).
 *
 * Untrusted input: none (the embedded file is ours; flag values are
 * the operator administrator's).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images.h"
#include "xmalloc.h"

__asm__(".section .rodata\n"
	".global op_images_env\n"
	".type op_images_env, @object\n"
	"op_images_env:\n"
	".incbin \"images/images.env\"\n"
	".byte 0\n"
	".previous\n");
extern const char op_images_env[];

static const char *const env_keys[IMG_COUNT] = {
	"OPERATOR", "POSTFIX", "DOVECOT", "NGINX", "SERVICES", "IROH_RELAY",
};
static const char *const flag_names[IMG_COUNT] = {
	"operator", "postfix", "dovecot", "nginx", "services", "iroh-relay",
};

const char *
images_env_text(void)
{
	return op_images_env;
}

const char *
images_flag_name(enum image_key k)
{
	return (unsigned)k < IMG_COUNT ? flag_names[k] : "?";
}

/* lookup: the value of KEY in the embedded file, freshly allocated */
static char *
lookup(const char *key)
{
	const char *line = op_images_env, *eol, *eq;
	size_t klen = strlen(key);

	for (; *line != '\0'; line = *eol ? eol + 1 : eol) {
		eol = strchr(line, '\n');
		if (eol == NULL)
			eol = line + strlen(line);
		eq = memchr(line, '=', (size_t)(eol - line));
		if (line[0] == '#' || eq == NULL ||
		    (size_t)(eq - line) != klen ||
		    strncmp(line, key, klen) != 0)
			continue;
		return xstrndup(eq + 1, (size_t)(eol - eq - 1));
	}
	return NULL;
}

int
images_init(struct images *im)
{
	size_t i;
	int r = 0;

	memset(im, 0, sizeof(*im));
	for (i = 0; i < IMG_COUNT; i++) {
		im->v[i] = lookup(env_keys[i]);
		if (im->v[i] == NULL || im->v[i][0] == '\0') {
			free(im->v[i]);
			im->v[i] = xstrdup("");
			r = -EINVAL;
		}
	}
	return r;
}

void
images_deinit(struct images *im)
{
	size_t i;

	for (i = 0; i < IMG_COUNT; i++)
		free(im->v[i]);
	memset(im, 0, sizeof(*im));
}

int
images_set(struct images *im, const char *flag_name, const char *value)
{
	size_t i;

	for (i = 0; i < IMG_COUNT; i++) {
		if (strcmp(flag_names[i], flag_name) == 0) {
			free(im->v[i]);
			im->v[i] = xstrdup(value);
			return 0;
		}
	}
	return -ENOENT;
}

const char *
images_for(const struct images *im, const struct relay_spec *s,
	   enum spec_container c)
{
	if (s != NULL && (unsigned)c < SPEC_C_COUNT && s->images[c] != NULL &&
	    s->images[c][0] != '\0')
		return s->images[c];
	switch (c) {
	case SPEC_C_POSTFIX:
		return im->v[IMG_POSTFIX];
	case SPEC_C_DOVECOT:
		return im->v[IMG_DOVECOT];
	case SPEC_C_NGINX:
		return im->v[IMG_NGINX];
	case SPEC_C_IROH:
		return im->v[IMG_IROH_RELAY];
	default:
		return im->v[IMG_SERVICES];
	}
}
