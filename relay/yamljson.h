/*
 * yamljson: YAML text to cJSON trees and back, for the operator.
 *
 * Kubernetes speaks JSON on the wire but people write YAML: kubeconfig
 * files, ChatmailRelay manifests given to `chatmail-operator render -f`,
 * and the manifests render prints. Plain scalars are typed the way
 * kubectl types them (YAML 1.1 booleans such as yes/no/on/off, null and
 * ~, decimal integers and floats); quoted scalars and !!str stay strings.
 * Input is untrusted: its size, nesting depth and node count (aliases
 * included) are capped.
 */
#ifndef OP_YAMLJSON_H
#define OP_YAMLJSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"

#define YAMLJSON_MAX_INPUT (16u << 20) /* bytes */
#define YAMLJSON_MAX_DEPTH 64
#define YAMLJSON_MAX_NODES 1000000

/* yamljson_parse: every non-empty document of text as the items of a
 * new cJSON array (caller frees) through docs_r; 0, or -EINVAL / -E2BIG
 * with the reason (line and column) in err */
int yamljson_parse(const char *text, size_t len, cJSON **docs_r,
		   struct buf *err);

/* yamljson_parse_one: like yamljson_parse for input holding exactly
 * one document */
int yamljson_parse_one(const char *text, size_t len, cJSON **doc_r,
		       struct buf *err);

/* yamljson_emit: append obj as one YAML document (no "---") to out,
 * keys in the object's order, multi-line strings as block literals;
 * 0 or -E2BIG when out is full */
int yamljson_emit(const cJSON *obj, struct buf *out);
/* yamljson_put_quoted: append s as a JSON string literal (also valid
 * YAML); 0 or -E2BIG */
int yamljson_put_quoted(struct buf *out, const char *s);

#endif
