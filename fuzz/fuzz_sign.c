/*
 * Fuzz target: the userSign verifier (src/common/sign.c).  The input is a
 * token as a client sends it (LOGIN userSign, REST userSign query value).
 *
 * petrel_sign_verify runs with the fuzz secret at a fixed clock
 * (FZ_SIGN_NOW), so seeds made by gen_corpus with petrel_sign_make stay
 * valid forever.  Oracles: a token that verifies names an identifier of
 * 1..128 bytes of UTF-8, verifies again for that identifier, is refused
 * for another app, and petrel_sign_make with what it carries makes a
 * token that verifies to the same claims.
 */
#include "petrel/proto.h"
#include "petrel/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_SIGN_SECRET "petrel-fuzz-secret-0123456789abcdef"
#define FZ_SIGN_APP 10000
#define FZ_SIGN_NOW 1767225600LL /* 2026-01-01T00:00:00Z */

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_sign: %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                    \
        }                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 * PETREL_SIGN_MAX_TOKEN)
        return 0;
    char *tok = malloc(size + 1);
    if (!tok)
        return 0;
    memcpy(tok, data, size);
    tok[size] = '\0';
    petrel_sign_info_t info;
    memset(&info, 0xa5, sizeof info);
    int rc = petrel_sign_verify(FZ_SIGN_SECRET, FZ_SIGN_APP, NULL, tok, FZ_SIGN_NOW, &info);
    if (rc != 0) {
        CHECK(rc >= 60000 && rc < 70000); /* a seed/petrel error code, never a crash */
    } else {
        size_t il = strnlen(info.identifier, sizeof info.identifier);
        CHECK(il >= 1 && il <= PETREL_SIGN_MAX_IDENT);
        CHECK(petrel_utf8_valid(info.identifier, il));
        CHECK(info.app_id == FZ_SIGN_APP);
        CHECK(petrel_sign_verify(FZ_SIGN_SECRET, FZ_SIGN_APP, info.identifier, tok, FZ_SIGN_NOW,
                                 NULL) == 0);
        CHECK(petrel_sign_verify(FZ_SIGN_SECRET, FZ_SIGN_APP + 1, info.identifier, tok,
                                 FZ_SIGN_NOW, NULL) != 0);
        CHECK(petrel_sign_verify("another secret", FZ_SIGN_APP, NULL, tok, FZ_SIGN_NOW,
                                 NULL) != 0);
        char again[PETREL_SIGN_MAX_TOKEN + 1];
        int n = petrel_sign_make(FZ_SIGN_SECRET, info.app_id, info.identifier, info.ttl,
                                 info.issued_at, again, sizeof again);
        if (n >= 0) { /* a ttl the maker refuses (<= 0) cannot verify anyway */
            petrel_sign_info_t i2;
            CHECK(petrel_sign_verify(FZ_SIGN_SECRET, FZ_SIGN_APP, NULL, again, FZ_SIGN_NOW,
                                     &i2) == 0);
            CHECK(i2.app_id == info.app_id && i2.issued_at == info.issued_at &&
                  i2.ttl == info.ttl && !strcmp(i2.identifier, info.identifier));
        }
    }
    /* the same bytes as the identifier asked for: never a crash */
    if (size <= PETREL_SIGN_MAX_IDENT + 8)
        (void)petrel_sign_verify(FZ_SIGN_SECRET, FZ_SIGN_APP, tok, tok, FZ_SIGN_NOW, NULL);
    free(tok);
    return 0;
}
