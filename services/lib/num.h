/*
 * num: the one checked number parser. Every number read from a file, a
 * flag or the network goes through here: the whole string must be the
 * number (no sign unless signed, no spaces, no trailing junk) and within
 * [min, max]. Returns 0, -EINVAL (not a number) or -ERANGE.
 */
#ifndef CM_NUM_H
#define CM_NUM_H

#include <stdint.h>

int num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *r);
int num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *r);
int num_parse_uint(const char *s, unsigned min, unsigned max, unsigned *r);
int num_parse_int(const char *s, int min, int max, int *r);
/* num_parse_octal: octal digits only (a file mode such as "0660") */
int num_parse_octal(const char *s, unsigned max, unsigned *r);
/* num_parse_double: a finite decimal number (e.g. "5", "1.5") */
int num_parse_double(const char *s, double min, double max, double *r);
/* num_parse_bool: true/false, yes/no, on/off, 1/0, case-insensitive */
int num_parse_bool(const char *s, int *r);

#endif
