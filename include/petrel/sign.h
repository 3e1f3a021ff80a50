/*
 * userSign tokens in the seeds' format (seed inventory §5.1).
 *
 * token = urlsafe'(base64(zlib_deflate(JSON{"TLS.identifier","TLS.appId",
 *         "TLS.expire" (ttl s), "TLS.expireTime" (issued-at epoch s),
 *         "TLS.sig"})))  where urlsafe' maps '+'->'*', '/'->'-', '='->'_'.
 * sig = base64(HMAC-SHA256(secret, "TLS.identifier:<id>\nTLS.appId:<app>\n"
 *       "TLS.expireTime:<issued>\nTLS.expire:<ttl>\n")).
 *
 * Return convention: 0 on success, else a seed error code
 * (60003 invalid, 60004 expired, 60005 identifier mismatch) or one of
 * petrel's (62100 issued in the future, 62101 lifetime over the cap).
 *
 * Lifetime policy: a correctly signed token is still refused when its
 * issue time is more than max_skew seconds ahead of the verifier's clock
 * (62100: a token "issued" 30 years ahead would otherwise live 30 years
 * plus its ttl) or when its ttl exceeds max_ttl (62101).  Both checks come
 * after the HMAC, so a forged token always answers 60003.
 */
#ifndef PETREL_SIGN_H
#define PETREL_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "petrel/errors.h"

#define PETREL_SIGN_MAX_TOKEN 1024  /* longest token we accept or produce */
#define PETREL_SIGN_MAX_IDENT 128   /* longest identifier */

typedef struct petrel_sign_info {
    int32_t app_id;
    int64_t issued_at;   /* TLS.expireTime */
    int64_t ttl;         /* TLS.expire */
    char identifier[PETREL_SIGN_MAX_IDENT + 1];
} petrel_sign_info_t;

/* Make a token.  Returns its length (excluding NUL) or -1 if cap is too
 * small or the identifier is empty/too long (also for ttl <= 0, NULL
 * arguments, or an identifier that is not UTF-8, which JSON cannot carry). */
int petrel_sign_make(const char *secret, int32_t app_id, const char *identifier,
                     int64_t ttl, int64_t now, char *out, size_t cap);

#define PETREL_SIGN_E_FUTURE   PETREL_ERR_SIGN_FUTURE   /* 62100: issued more than max_skew s ahead of now */
#define PETREL_SIGN_E_LIFETIME PETREL_ERR_SIGN_LIFETIME /* 62101: ttl longer than max_ttl */

/* Defaults of the lifetime policy (the server's token_max_lifetime and
 * token_clock_skew): 30 days covers the seeds' app server (500000 s), the
 * demo app server (7 days) and the CLI (1 day). */
#define PETREL_SIGN_DEFAULT_MAX_TTL  INT64_C(2592000)
#define PETREL_SIGN_DEFAULT_MAX_SKEW INT64_C(300)

typedef struct petrel_sign_policy {
    int64_t max_ttl;   /* longest accepted TLS.expire, seconds (> 0) */
    int64_t max_skew;  /* how far TLS.expireTime may be ahead of now, seconds (>= 0) */
} petrel_sign_policy_t;

/* Verify a token for (app_id, identifier) at time now.  identifier may be
 * NULL to accept any identifier (the one found is returned in *info).
 * info may be NULL.  Applies the default lifetime policy. */
int petrel_sign_verify(const char *secret, int32_t app_id, const char *identifier,
                       const char *token, int64_t now, petrel_sign_info_t *info);

/* Same with an explicit lifetime policy (NULL = the defaults). */
int petrel_sign_verify_policy(const char *secret, int32_t app_id, const char *identifier,
                              const char *token, int64_t now,
                              const petrel_sign_policy_t *policy, petrel_sign_info_t *info);

#endif
