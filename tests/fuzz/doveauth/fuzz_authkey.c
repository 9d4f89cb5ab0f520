/*
 * fuzz_authkey: doveauth's lookup key parser (the key carries the
 * cleartext password of a login attempt). Checks: no crash, and a parsed
 * key's fields lie inside the (unescaped, in-place) copy.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "doveauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *key = malloc(size + 1);
	struct auth_key k;

	if (key == NULL)
		return 0;
	memcpy(key, data, size);
	key[size] = '\0';
	if (auth_parse_key(key, &k) == 0) {
		if (k.user < key || k.user > key + size)
			abort();
		if (k.type == AUTH_KEY_PASSDB &&
		    (k.password < key || k.password > key + size ||
		     strlen(k.password) > size))
			abort();
	}
	free(key);
	return 0;
}
