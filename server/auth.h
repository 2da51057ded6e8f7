/*
 * API keys: making them, and checking the Authorization header of a request.
 *
 * A key is "sgd_" + 12 base62 characters (its visible prefix, unique) + "_" + 32 base62
 * characters of secret. The database stores the prefix and the SHA-256 of the whole key;
 * verification finds the row by prefix and compares the hashes in constant time. Verified
 * keys are cached for SEG_AUTH_CACHE_SECONDS, so a revoked key stops working within that
 * time. Thread-safe.
 */
#ifndef SEG_AUTH_H
#define SEG_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

#define SEG_KEY_TEXT	       64
#define SEG_KEY_PREFIX_LEN     16 /* "sgd_" + 12 */
#define SEG_AUTH_CACHE_SECONDS 5

struct seg_auth;

struct seg_auth *seg_auth_new(void);
void seg_auth_free(struct seg_auth *a);

/* Makes a new random key: its text, its visible prefix and its hash. */
enum seg_err seg_auth_make_key(char key[SEG_KEY_TEXT], char prefix[SEG_KEY_PREFIX_LEN + 1],
			       unsigned char hash[SEG_KEY_HASH_LEN]);
/* Parses "read,write,admin" into SEG_SCOPE_* bits; false on an unknown or empty scope. */
bool seg_auth_parse_scopes(const char *text, unsigned *scopes);

/*
 * The part of the check that never waits (HTTP threads): SEG_ERR_UNAUTHENTICATED when the
 * header is missing or malformed; SEG_OK with tenant and scopes when the key is in the cache;
 * SEG_OK with *miss set when only the database can tell (then call seg_auth_verify on a
 * request worker).
 */
enum seg_err seg_auth_cached(struct seg_auth *a, const char *header, int64_t *tenant,
			     unsigned *scopes, bool *miss);
/*
 * Checks an Authorization header value ("Bearer <key>"). SEG_ERR_UNAUTHENTICATED when it is
 * missing, malformed, unknown or revoked; the pool's error (503) when the database cannot
 * tell. The pool is used only on a cache miss, so this may wait: request workers only.
 */
enum seg_err seg_auth_verify(struct seg_auth *a, struct seg_pool *pool, const char *header,
			     int64_t *tenant, unsigned *scopes);

#endif
