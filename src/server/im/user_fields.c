/*
 * A user row's fields, described once (users.h): the JSON name, type,
 * place in store_user_t and store mask of each, read by parsing (REST
 * import and modify), rendering (REST reads, the 4000 push) and the rules
 * on who may set or see a field.  No I/O.
 */
#include "server/im/users.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum ftype { F_STR, F_INT };

typedef struct field {
    const char *json;
    enum ftype type;
    size_t off, size;   /* size: char array size for strings */
    long long min, max; /* ints */
    unsigned mask;
} field_t;

#define FS(j, m, mask) {j, F_STR, offsetof(store_user_t, m), sizeof(((store_user_t *)0)->m), 0, 0, mask}
#define FI(j, m, lo, hi, mask) {j, F_INT, offsetof(store_user_t, m), 0, lo, hi, mask}

static const field_t fields[] = {
    FS("nickName", nick_name, STORE_USER_F_NICK_NAME),
    FS("photo", photo, STORE_USER_F_PHOTO),
    FI("userSex", user_sex, 0, 2, STORE_USER_F_USER_SEX),
    FS("birthDay", birth_day, STORE_USER_F_BIRTH_DAY),
    FS("location", location, STORE_USER_F_LOCATION),
    FS("selfSignature", self_signature, STORE_USER_F_SELF_SIGNATURE),
    FI("friendAllowType", friend_allow_type, 1, 2, STORE_USER_F_FRIEND_ALLOW_TYPE),
    FI("forbiddenFlag", forbidden_flag, 0, 1, STORE_USER_F_FORBIDDEN_FLAG),
    FI("disableAddFriend", disable_add_friend, 0, 1, STORE_USER_F_DISABLE_ADD_FRIEND),
    FI("silentFlag", silent_flag, 0, 1, STORE_USER_F_SILENT_FLAG),
    FI("userType", user_type, 1, 100, STORE_USER_F_USER_TYPE),
    FS("extra", extra, STORE_USER_F_EXTRA),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

int users_sees_whole_row(const char *op, int is_admin, const char *user_id)
{
    return im_may_act(op, is_admin, user_id);
}

void users_defaults(store_user_t *u, int32_t app_id)
{
    memset(u, 0, sizeof *u);
    u->app_id = app_id;
    u->friend_allow_type = 1;
    u->user_type = 1;
}

long users_parse_fields(json_t *obj, store_user_t *u, int admin, char *err, size_t errlen)
{
    unsigned mask = 0;
    for (size_t i = 0; i < NFIELDS; i++) {
        const field_t *f = &fields[i];
        json_t *v = json_object_get(obj, f->json);
        if (!v || json_is_null(v))
            continue;
        if ((f->mask & USERS_F_ADMIN_ONLY) && !admin) {
            snprintf(err, errlen, "only the app admin may set %s", f->json);
            return -2;
        }
        char *p = (char *)u + f->off;
        if (f->type == F_STR) {
            if (!json_is_string(v) || json_string_length(v) >= f->size) {
                snprintf(err, errlen, "%s must be a string of at most %zu bytes", f->json, f->size - 1);
                return -1;
            }
            memcpy(p, json_string_value(v), json_string_length(v) + 1);
        } else {
            if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max) {
                snprintf(err, errlen, "%s must be an integer in %lld..%lld", f->json, f->min, f->max);
                return -1;
            }
            *(int *)p = (int)json_integer_value(v);
        }
        mask |= f->mask;
    }
    return (long)mask;
}

void users_put_fields(json_t *o, const store_user_t *u, unsigned mask)
{
    for (size_t i = 0; o && i < NFIELDS; i++) {
        if (!(mask & fields[i].mask))
            continue;
        const char *p = (const char *)u + fields[i].off;
        if (fields[i].type == F_STR)
            json_object_set_new(o, fields[i].json, json_string(p));
        else
            json_object_set_new(o, fields[i].json, json_integer(*(const int *)p));
    }
}

json_t *users_modified_json(const store_user_t *u, unsigned mask)
{
    json_t *o = json_pack("{s:s}", "userId", u->user_id);
    users_put_fields(o, u, mask);
    return o;
}
