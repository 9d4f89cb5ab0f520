/*
 * util: small helpers the operator's modules share: base64, SHA-256, canonical JSON (sorted keys) and hashing of it,
 * cJSON path look-ups, and the projection of a live object onto the
 * fields a field manager owns (managedFields fieldsV1).
 */
#ifndef OP_UTIL_H
#define OP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"

#define UTIL_SHA256_HEX 65 /* 64 hex digits and NUL */

/* util_b64_encode: base64 (with padding) of n bytes appended to out */
int util_b64_encode(const void *p, size_t n, struct buf *out);
/* util_b64_decode: decode s (padding optional, no whitespace) appending
 * to out; 0, -EINVAL or -E2BIG */
int util_b64_decode(const char *s, size_t n, struct buf *out);

/* util_sha256_hex: hex SHA-256 of n bytes into hex (UTIL_SHA256_HEX) */
void util_sha256_hex(const void *p, size_t n, char *hex);

/* util_canonical: append v as compact JSON with object keys sorted,
 * integers without a fraction; 0 or -E2BIG */
int util_canonical(const cJSON *v, struct buf *out);
/* util_hash_json: hex SHA-256 of util_canonical(v) */
void util_hash_json(const cJSON *v, char *hex);

/* util_get: the node at a dotted path ("metadata.name"), or NULL;
 * path elements are object keys only */
const cJSON *util_get(const cJSON *v, const char *path);
/* util_get_str: the string at path, or NULL */
const char *util_get_str(const cJSON *v, const char *path);
/* util_get_num: the number at path, or dflt */
double util_get_num(const cJSON *v, const char *path, double dflt);
/* util_get_int: the number at path as an integer in [min, max] (clamped;
 * a fraction is cut), or dflt when absent: the object is not ours, and
 * a cast of an out-of-range double is undefined */
int64_t util_get_int(const cJSON *v, const char *path, int64_t dflt,
		     int64_t min, int64_t max);
/* util_obj: the object child key of parent, added when missing */
cJSON *util_obj(cJSON *parent, const char *key);
/* util_label: object[key] of metadata.labels (or annotations) */
const char *util_meta_str(const cJSON *obj, const char *map, const char *key);

/* util_project_managed: a new object holding only the fields of live
 * that manager owns through an Apply entry of metadata.managedFields
 * (NULL when the manager owns nothing); keyed list items keep their
 * live order */
cJSON *util_project_managed(const cJSON *live, const char *manager);

/* util_now_rfc3339: the wall clock as "2026-01-02T03:04:05Z" (or with
 * microseconds when micro is set: "...05.123456Z") into out */
void util_now_rfc3339(char *out, size_t outsize, int micro);

#endif
