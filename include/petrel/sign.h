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
 * (60003 invalid, 60004 expired, 60005 identifier mismatch).
 */
#ifndef PETREL_SIGN_H
#define PETREL_SIGN_H

#include <stddef.h>
#include <stdint.h>

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

/* Verify a token for (app_id, identifier) at time now.  identifier may be
 * NULL to accept any identifier (the one found is returned in *info).
 * info may be NULL. */
int petrel_sign_verify(const char *secret, int32_t app_id, const char *identifier,
                       const char *token, int64_t now, petrel_sign_info_t *info);

#endif
