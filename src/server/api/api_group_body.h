/*
 * Parsing the group endpoints' request bodies (api_groups.c): each helper
 * reads one field or record of ctx->body (or of obj), and on a bad value
 * answers 400 / 90001 naming the field and returns -1 (or NULL); ctx is
 * then freed and the caller returns at once.
 */
#ifndef PETREL_API_GROUP_BODY_H
#define PETREL_API_GROUP_BODY_H

#include <stddef.h>

#include "server/api/api.h"

/* A string field (absent: *present 0) of at most max bytes, no NUL inside,
 * copied into dst (max + 1 bytes); an object is accepted for "extra"
 * (stored as JSON). */
int gbody_str(api_ctx_t *ctx, json_t *obj, const char *key, size_t max, char *dst,
              int *present);

/* An integer (or boolean) field in min..max (absent: *present 0). */
int gbody_int(api_ctx_t *ctx, json_t *obj, const char *key, long long min, long long max,
              long long *out, int *present);

/* groupId: 1..64 bytes, no control characters. */
const char *gbody_group_id(api_ctx_t *ctx);

/* A body's members: the array (free v) and its length. */
typedef struct gbody_members {
    store_group_member_t *v;
    size_t n;
} gbody_members_t;

/* members[] of the body under key: min..STORE_GROUP_BATCH_MAX objects
 * {memberId, alias?, role?, joinType?, speakDate?, joinTime?, extra?} or
 * bare user ids, none listed twice; min 0 allows an absent array. */
int gbody_members(api_ctx_t *ctx, gbody_members_t *out, const char *key, size_t min);

/* The group fields of the body into g; *mask the STORE_GROUP_F_* present
 * (applyJoinType defaults to approval). */
int gbody_group(api_ctx_t *ctx, store_group_t *g, unsigned *mask);

#endif
