/* API key creation and verification with a short-lived cache; see auth.h. */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "alloc.h"
#include "request.h"

#define SEG_AUTH_CACHE_SLOTS 256

struct seg_auth_entry {
	unsigned char hash[SEG_KEY_HASH_LEN];
	int64_t tenant;
	unsigned scopes;
	time_t expires;
};

struct seg_auth {
	pthread_mutex_t lock;
	struct seg_auth_entry cache[SEG_AUTH_CACHE_SLOTS];
};

static const char seg__base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

struct seg_auth *seg_auth_new(void)
{
	struct seg_auth *a = seg_calloc(1, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	return a;
}

void seg_auth_free(struct seg_auth *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static void seg__sha256(const char *data, size_t len, unsigned char out[SEG_KEY_HASH_LEN])
{
	unsigned int n = SEG_KEY_HASH_LEN;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* Fills out[0..n) with uniformly random base62 characters. */
static bool seg__random_base62(char *out, size_t n)
{
	size_t have = 0;
	while (have < n) {
		unsigned char bytes[64];
		if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
			return false;
		for (size_t i = 0; i < sizeof(bytes) && have < n; i++)
			if (bytes[i] < 248) /* 248 = 4 * 62: no modulo bias */
				out[have++] = seg__base62[bytes[i] % 62];
	}
	return true;
}

enum seg_err seg_auth_make_key(char key[SEG_KEY_TEXT], char prefix[SEG_KEY_PREFIX_LEN + 1],
			       unsigned char hash[SEG_KEY_HASH_LEN])
{
	memcpy(key, "sgd_", 4);
	if (!seg__random_base62(key + 4, 12))
		return SEG_ERR_INTERNAL;
	key[16] = '_';
	if (!seg__random_base62(key + 17, 32))
		return SEG_ERR_INTERNAL;
	key[49] = '\0';
	memcpy(prefix, key, SEG_KEY_PREFIX_LEN);
	prefix[SEG_KEY_PREFIX_LEN] = '\0';
	seg__sha256(key, 49, hash);
	return SEG_OK;
}

bool seg_auth_parse_scopes(const char *text, unsigned *scopes)
{
	*scopes = 0;
	while (*text) {
		size_t n = strcspn(text, ",");
		if (n == 4 && strncmp(text, "read", 4) == 0)
			*scopes |= SEG_SCOPE_READ;
		else if (n == 5 && strncmp(text, "write", 5) == 0)
			*scopes |= SEG_SCOPE_WRITE;
		else if (n == 5 && strncmp(text, "admin", 5) == 0)
			*scopes |= SEG_SCOPE_ADMIN;
		else
			return false;
		text += n;
		if (*text == ',')
			text++;
	}
	return *scopes != 0;
}

static bool seg__key_shape(const char *key)
{
	if (strlen(key) != 49 || strncmp(key, "sgd_", 4) != 0 || key[16] != '_')
		return false;
	for (int i = 4; i < 49; i++)
		if (i != 16 && !strchr(seg__base62, key[i]))
			return false;
	return true;
}

/*
 * Parses the header and hashes its key; the cache slot of the key. SEG_ERR_UNAUTHENTICATED
 * when the header is missing or malformed.
 */
static enum seg_err seg__parse(struct seg_auth *a, const char *header,
			       unsigned char hash[SEG_KEY_HASH_LEN],
			       char prefix[SEG_KEY_PREFIX_LEN + 1], struct seg_auth_entry **slot)
{
	const char *key;

	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return SEG_ERR_UNAUTHENTICATED;
	key = header + 7;
	while (*key == ' ')
		key++;
	if (!seg__key_shape(key))
		return SEG_ERR_UNAUTHENTICATED;
	seg__sha256(key, 49, hash);
	memcpy(prefix, key, SEG_KEY_PREFIX_LEN);
	prefix[SEG_KEY_PREFIX_LEN] = '\0';
	*slot = &a->cache[(hash[0] | (unsigned)hash[1] << 8) % SEG_AUTH_CACHE_SLOTS];
	return SEG_OK;
}

/* True (with tenant and scopes) when the slot holds this key, unexpired. */
static bool seg__cache_hit(struct seg_auth *a, struct seg_auth_entry *slot,
			   const unsigned char hash[SEG_KEY_HASH_LEN], int64_t *tenant,
			   unsigned *scopes)
{
	bool hit;
	pthread_mutex_lock(&a->lock);
	hit = slot->expires > time(NULL) && CRYPTO_memcmp(slot->hash, hash, SEG_KEY_HASH_LEN) == 0;
	if (hit) {
		*tenant = slot->tenant;
		*scopes = slot->scopes;
	}
	pthread_mutex_unlock(&a->lock);
	return hit;
}

enum seg_err seg_auth_cached(struct seg_auth *a, const char *header, int64_t *tenant,
			     unsigned *scopes, bool *miss)
{
	unsigned char hash[SEG_KEY_HASH_LEN];
	char prefix[SEG_KEY_PREFIX_LEN + 1];
	struct seg_auth_entry *slot;
	enum seg_err err = seg__parse(a, header, hash, prefix, &slot);

	*miss = false;
	if (err)
		return err;
	*miss = !seg__cache_hit(a, slot, hash, tenant, scopes);
	return SEG_OK;
}

enum seg_err seg_auth_verify(struct seg_auth *a, struct seg_pool *pool, const char *header,
			     int64_t *tenant, unsigned *scopes)
{
	unsigned char hash[SEG_KEY_HASH_LEN];
	char prefix[SEG_KEY_PREFIX_LEN + 1];
	struct seg_auth_entry *slot;
	struct seg_key_row row;
	struct seg_db *db = NULL;
	enum seg_err err = seg__parse(a, header, hash, prefix, &slot);

	if (err)
		return err;
	if (seg__cache_hit(a, slot, hash, tenant, scopes))
		return SEG_OK;
	err = seg_pool_acquire(pool, &db);
	if (!err)
		err = seg_db_key_lookup(db, prefix, &row);
	seg_pool_release(pool, db);
	if (err == SEG_ERR_NOT_FOUND)
		return SEG_ERR_UNAUTHENTICATED;
	if (err)
		return err;
	if (row.revoked || CRYPTO_memcmp(row.hash, hash, SEG_KEY_HASH_LEN) != 0 ||
	    !seg_auth_parse_scopes(row.scopes, scopes))
		return SEG_ERR_UNAUTHENTICATED;
	*tenant = row.tenant;

	pthread_mutex_lock(&a->lock);
	memcpy(slot->hash, hash, SEG_KEY_HASH_LEN);
	slot->tenant = *tenant;
	slot->scopes = *scopes;
	slot->expires = time(NULL) + SEG_AUTH_CACHE_SECONDS;
	pthread_mutex_unlock(&a->lock);
	return SEG_OK;
}
