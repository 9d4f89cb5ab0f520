/*
 * ini: the INI dialect of chatmail.ini, parsed the way upstream's parser
 * (Python iniconfig, IniConfig(path)) reads it, so a file means the same
 * to upstream's services and to ours:
 *
 *   - lines end at LF, CRLF, CR, VT, FF, FS, GS, RS, and the UTF-8 forms
 *     of U+0085, U+2028, U+2029 (Python's str.splitlines);
 *   - a line whose first non-blank character is '#' or ';' is a comment,
 *     a blank line is ignored; neither ends a continued value;
 *   - "[name]" opens a section; anything from the first '#' or ';' on
 *     the header line is a comment; "[]" is an error; a '[' line without
 *     a closing ']' is a continuation line (iniconfig does the same);
 *   - "key = value" or "key: value" (split at the first '=', unless the
 *     part before it holds a ':', then at the first ':'); key and value
 *     are stripped of blanks; values keep '#' and ';' (no inline
 *     comments); a key with neither separator is an error;
 *   - a line starting with a blank continues the previous value: it is
 *     appended after a '\n', or replaces the value while that is empty;
 *   - a key before any section, a duplicate section and a duplicate key
 *     in a section are errors.
 *
 * Deliberate differences: a leading UTF-8 byte order mark is skipped
 * (iniconfig fails on it); "blank" means ASCII whitespace only (space,
 * TAB, VT, FF, FS..US; Python also strips Unicode spaces); lines are at
 * most INI_LINE_MAX bytes, files hold at most INI_ENTRIES_MAX entries.
 *
 * Input is untrusted text (files, fuzzers): every limit is checked, and
 * errors name the line ("line 3: duplicate name 'a'").
 */
#ifndef CM_INI_H
#define CM_INI_H

#include <stddef.h>

#include "buf.h"

#define INI_LINE_MAX 65536   /* bytes in one physical line */
#define INI_VALUE_MAX 262144 /* bytes in one value, continuations included */
#define INI_ENTRIES_MAX 4096 /* sections + keys in one file */

/* what one physical line is */
enum ini_kind {
	INI_BLANK,   /* empty, blank or a comment */
	INI_SECTION, /* name = the section name */
	INI_PAIR,    /* name = key, value = value (both stripped) */
	INI_CONT,    /* value = the stripped continuation text */
	INI_BAD,     /* value = the line (stripped), why = the reason */
};

/* one classified line: slices into the parsed text, not NUL-terminated */
struct ini_token {
	enum ini_kind kind;
	const char *name, *value;
	size_t name_len, value_len;
	const char *why; /* static text for INI_BAD */
};

/* one section header (key NULL, value = the section name) or one key,
 * in the order of the file; all strings are owned by the struct ini */
struct ini_entry {
	const char *section; /* the header entry's value */
	char *key;	     /* NULL for the section header entry */
	char *value;
	unsigned line; /* 1-based line of the key (or header) */
};

struct ini {
	struct ini_entry *entries;
	size_t n, cap;
};

/* ini_line: classify the physical line at *p (text up to end) into tok
 * and advance *p past it and its line break. Returns 1, or 0 at end. */
int ini_line(const char **p, const char *end, struct ini_token *tok);

/* ini_parse: parse len bytes of text (NUL bytes are not allowed) into a
 * new struct ini (caller frees with ini_free). Returns 0, or -EINVAL with
 * "line N: reason" appended to err (may be NULL) and *ini_r NULL. */
int ini_parse(const char *text, size_t len, struct ini **ini_r,
	      struct buf *err);
/* ini_free: free an ini and NULL the pointer; accepts NULL */
void ini_free(struct ini **ini);

/* ini_has_section: 1 if the section exists, 0 if not */
int ini_has_section(const struct ini *ini, const char *section);
/* ini_get: 1 and the value (owned by ini) through value_r when section
 * holds key, 0 if not */
int ini_get(const struct ini *ini, const char *section, const char *key,
	    const char **value_r);

#endif
