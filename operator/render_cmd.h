/*
 * render_cmd: `chatmail-operator render -f relay.yaml`, every manifest
 * the operator would apply for a ChatmailRelay, printed like `helm
 * template` for GitOps users without a controller and for review.
 */
#ifndef OP_RENDER_CMD_H
#define OP_RENDER_CMD_H

#include <stdio.h>

#include "images.h"

/* render_cmd_main: argv after "render"; returns a sysexits code */
int render_cmd_main(int argc, char **argv, const struct images *im, FILE *out);

#endif
