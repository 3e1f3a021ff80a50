/*
 * Password hashing for the demo app server's accounts: scrypt through
 * OpenSSL (EVP_PBE_scrypt), stored as one self-describing string
 *
 *     scrypt$<log2 N>$<r>$<p>$<salt base64>$<key base64>
 *
 * e.g. "scrypt$15$8$1$<24 chars>$<44 chars>" for what pw_hash writes today
 * (N = 2^15, r = 8, p = 1, 16-byte random salt, 32-byte key, standard
 * base64 with padding).  Keeping the parameters in the string lets them be
 * raised later without invalidating stored hashes.
 *
 * pw_verify refuses (returns -1, before any scrypt work or allocation)
 * strings whose parameters are outside sane bounds — log2 N 10..20, r
 * 1..16, p 1..4, and a memory need (128 * r * (N + p + 2) bytes) of at
 * most PW_MAX_MEM — so a corrupted or hostile stored row cannot make the
 * server spend gigabytes or seconds of CPU.  The comparison is constant-time
 * (CRYPTO_memcmp).
 *
 * Both functions block for tens of milliseconds and ~32 MiB of memory:
 * call them only from the thread pool (api_defer), never on an event loop.
 * Thread-safe.
 */
#ifndef PETREL_PASSWORD_H
#define PETREL_PASSWORD_H

#include <stddef.h>

/* Room for any string pw_hash writes (about 85 bytes today). */
#define PW_HASH_MAX 160

/* Parameters pw_hash uses. */
#define PW_SCRYPT_LOG2N 15
#define PW_SCRYPT_R 8
#define PW_SCRYPT_P 1
#define PW_SALT_LEN 16
#define PW_KEY_LEN 32

/* Largest scrypt working memory pw_verify accepts for a stored string. */
#define PW_MAX_MEM ((size_t)256 << 20)

/* Hash password (NUL-terminated; may be empty) with a fresh random salt into
 * out.  Returns 0, or -1 (cap too small, RNG or scrypt failure). */
int pw_hash(const char *password, char *out, size_t cap);

/* 1 if password matches encoded, 0 if not, -1 if encoded is malformed or
 * its parameters are out of bounds (or scrypt failed). */
int pw_verify(const char *password, const char *encoded);

#endif
