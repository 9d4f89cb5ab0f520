/*
 * images: the default container images, from images/images.env (the
 * list the chart and the image build share), embedded into the binary
 * at build time and overridable with the --images-<key> flags
 * (--images-postfix, --images-dovecot, --images-nginx,
 * --images-services, --images-iroh-relay). A ChatmailRelay's
 * spec.images.<container> overrides both for that relay.
 */
#ifndef OP_IMAGES_H
#define OP_IMAGES_H

#include "spec.h"

enum image_key {
	IMG_OPERATOR,
	IMG_POSTFIX,
	IMG_DOVECOT,
	IMG_NGINX,
	IMG_SERVICES,
	IMG_IROH_RELAY,
	IMG_COUNT
};

struct images {
	char *v[IMG_COUNT];
};

/* images_init: the embedded defaults; 0, or -EINVAL if images.env
 * lacks a key (a build problem) */
int images_init(struct images *im);
void images_deinit(struct images *im);
/* images_set: override one image by its flag name ("postfix",
 * "iroh-relay"); 0 or -ENOENT for an unknown name */
int images_set(struct images *im, const char *flag_name, const char *value);
/* images_flag_name: "postfix" ... for --images-<name> */
const char *images_flag_name(enum image_key k);
/* images_for: the image of container c of relay s (its spec override,
 * else the default) */
const char *images_for(const struct images *im, const struct relay_spec *s,
		       enum spec_container c);
/* images_env_text: the embedded images.env (for -n) */
const char *images_env_text(void);

#endif
