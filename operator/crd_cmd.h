/*
 * crd_cmd: `chatmail-operator crd`, the ChatmailRelay
 * CustomResourceDefinition generated from the spec field and option
 * tables (relay/spec_crd.c), for `make crd` and for installing the CRD
 * the binary was built with.
 */
#ifndef OP_CRD_CMD_H
#define OP_CRD_CMD_H

#include <stdio.h>

/* crd_cmd_main: argv after "crd"; returns a sysexits code */
int crd_cmd_main(int argc, char **argv, FILE *out);

#endif
