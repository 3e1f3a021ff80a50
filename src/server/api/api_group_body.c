/*
 * The group endpoints' request bodies (api_group_body.h): hostile JSON
 * checked field by field (type, range, length, no NUL inside) into the
 * store's group and member records, answering 400 with the field's name
 * on the first bad one.
 */
#include "server/api/api_group_body.h"

#include "server/core/util.h"
#include "server/model/group_rules.h"

#include <stdlib.h>
#include <string.h>

/* A string field (absent: *present 0) of at most max bytes, no NUL inside,
 * copied into dst; an object is accepted for "extra" (stored as JSON). */
int gbody_str(api_ctx_t *ctx, json_t *obj, const char *key, size_t max, char *dst,
              int *present)
{
    json_t *v = json_object_get(obj, key);
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    char *dumped = NULL;
    const char *s = json_string_value(v);
    size_t len = s ? json_string_length(v) : 0;
    if (!s && json_is_object(v) && !strcmp(key, "extra")) {
        s = dumped = json_dumps(v, JSON_COMPACT);
        len = s ? strlen(s) : 0;
    }
    if (!s || len > max || strlen(s) != len) {
        free(dumped);
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be a string of at most %zu bytes", key, max);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    memcpy(dst, s, len + 1);
    free(dumped);
    *present = 1;
    return 0;
}

int gbody_int(api_ctx_t *ctx, json_t *obj, const char *key, long long min, long long max,
              long long *out, int *present)
{
    json_t *v = json_object_get(obj, key);
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        *out = min - 1;
    }
    if (*out < min || *out > max) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be an integer in %lld..%lld", key, min, max);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    *present = 1;
    return 0;
}

/* groupId: 1..64 bytes, no control characters; NULL after replying. */
const char *gbody_group_id(api_ctx_t *ctx)
{
    const char *g;
    if (api_str(ctx, "groupId", STORE_GROUP_ID_MAX, 1, &g) < 0)
        return NULL;
    if (!id_valid(g, STORE_GROUP_ID_MAX)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "groupId must be a group id (1..64 bytes)");
        return NULL;
    }
    return g;
}

/* members[] of the body: 1..STORE_GROUP_BATCH_MAX objects {memberId, alias?,
 * role?, joinType?, speakDate?, joinTime?} (or bare id strings); min 0
 * allows an absent array.  -1 after replying. */
int gbody_members(api_ctx_t *ctx, gbody_members_t *out, const char *key, size_t min)
{
    json_t *a = json_object_get(ctx->body, key);
    if (min == 0 && (!a || json_is_null(a)))
        return 0;
    char msg[160];
    if (!json_is_array(a) || json_array_size(a) < min ||
        json_array_size(a) > STORE_GROUP_BATCH_MAX) {
        snprintf(msg, sizeof msg, "%s must be an array of %zu..%d members", key, min,
                 STORE_GROUP_BATCH_MAX);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    size_t n = json_array_size(a);
    if (n == 0)
        return 0;
    out->v = calloc(n, sizeof *out->v);
    if (!out->v) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        store_group_member_t *m = &out->v[i];
        int p;
        long long x;
        if (json_is_string(v)) {
            v = json_pack("{s:O}", "memberId", v);
        } else if (json_is_object(v)) {
            json_incref(v);
        } else {
            api_fail(ctx, 400, PETREL_ERR_PARAM, "members must be objects or user ids");
            return -1;
        }
        int bad = gbody_str(ctx, v, "memberId", STORE_ID_MAX, m->member_id, &p) < 0;
        if (!bad && (!p || !api_valid_user_id(m->member_id))) {
            api_fail(ctx, 400, PETREL_ERR_PARAM, "every member needs a memberId (a user id)");
            bad = 1;
        }
        bad = bad || gbody_str(ctx, v, "alias", STORE_GROUP_ALIAS_MAX, m->alias, &p) < 0 ||
              gbody_str(ctx, v, "joinType", STORE_GROUP_JOIN_TYPE_MAX, m->join_type, &p) < 0 ||
              gbody_str(ctx, v, "extra", STORE_GROUP_EXTRA_MAX, m->extra, &p) < 0;
        if (!bad) {
            m->role = 0;
            if (gbody_int(ctx, v, "role", 0, 2, &x, &p) < 0)
                bad = 1;
            else if (p)
                m->role = (int)x;
        }
        if (!bad) {
            if (gbody_int(ctx, v, "speakDate", 0, INT64_MAX / 2, &x, &p) < 0)
                bad = 1;
            else if (p)
                m->speak_date = x;
        }
        if (!bad) {
            if (gbody_int(ctx, v, "joinTime", 0, INT64_MAX / 2, &x, &p) < 0)
                bad = 1;
            else if (p)
                m->join_time = x;
        }
        json_decref(v);
        if (bad)
            return -1;
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(out->v[k].member_id, m->member_id)) {
                api_fail(ctx, 400, PETREL_ERR_PARAM, "a member is listed twice");
                return -1;
            }
        }
    }
    out->n = n;
    return 0;
}

/* Group fields of the body into g; mask of those present.  -1 after
 * replying. */
int gbody_group(api_ctx_t *ctx, store_group_t *g, unsigned *mask)
{
    int p;
    long long x;
    *mask = 0;
    if (gbody_str(ctx, ctx->body, "groupName", STORE_GROUP_NAME_MAX, g->group_name, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_NAME : 0;
    if (gbody_str(ctx, ctx->body, "introduction", STORE_GROUP_INTRO_MAX, g->introduction, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_INTRODUCTION : 0;
    if (gbody_str(ctx, ctx->body, "notification", STORE_GROUP_NOTIFY_MAX, g->notification, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_NOTIFICATION : 0;
    if (gbody_str(ctx, ctx->body, "photo", STORE_GROUP_PHOTO_MAX, g->photo, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_PHOTO : 0;
    if (gbody_str(ctx, ctx->body, "extra", STORE_GROUP_EXTRA_MAX, g->extra, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_EXTRA : 0;
    if (gbody_int(ctx, ctx->body, "mute", 0, 1, &x, &p) < 0)
        return -1;
    if (p) {
        g->mute = (int)x;
        *mask |= STORE_GROUP_F_MUTE;
    }
    if (gbody_int(ctx, ctx->body, "applyJoinType", 0, 2, &x, &p) < 0)
        return -1;
    if (p) {
        g->apply_join_type = (int)x;
        *mask |= STORE_GROUP_F_APPLY_JOIN_TYPE;
    } else {
        g->apply_join_type = JOIN_APPROVAL;
    }
    if (gbody_int(ctx, ctx->body, "maxMemberCount", 0, GROUP_MAX_MEMBERS_LIMIT, &x, &p) < 0)
        return -1;
    if (p) {
        g->max_member_count = (int)x;
        *mask |= STORE_GROUP_F_MAX_MEMBER_COUNT;
    }
    return 0;
}

