/* TEMPORARY scaffold while issue 16 is built: every function here is
 * replaced by its real file (store_pg_users.c, _msg.c, _friends*.c,
 * _group*.c) and this file is deleted before the work lands. */
#include "server/store/pg/store_pg_int.h"
#include "server/core/log.h"

/* pgx_app_put */
int pgx_app_put(store_backend_t *be, const store_app_t *a)
{
    (void)be;
    (void)a;
    LOGE("store pg: not built yet", "fn=pgx_app_put");
    return STORE_EIO;
}

/* pgx_user_import */
int pgx_user_import(store_backend_t *be, const store_user_t *users, int *row_rc, size_t n,
                    int64_t now_ms)
{
    (void)be;
    (void)users;
    (void)row_rc;
    (void)n;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_user_import");
    return STORE_EIO;
}

/* pgx_user_update */
int pgx_user_update(store_backend_t *be, const store_user_t *u, unsigned mask, int64_t now_ms)
{
    (void)be;
    (void)u;
    (void)mask;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_user_update");
    return STORE_EIO;
}

/* pgx_user_delete */
int pgx_user_delete(store_backend_t *be, int32_t app_id, const char (*ids)[STORE_ID_MAX + 1],
                    int *row_rc, size_t n, int64_t now_ms)
{
    (void)be;
    (void)app_id;
    (void)ids;
    (void)row_rc;
    (void)n;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_user_delete");
    return STORE_EIO;
}

/* pgx_account_create */
int pgx_account_create(store_backend_t *be, int32_t app_id, const char *user_name,
                       const char *user_id, const char *password_hash, int64_t now_ms)
{
    (void)be;
    (void)app_id;
    (void)user_name;
    (void)user_id;
    (void)password_hash;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_account_create");
    return STORE_EIO;
}

/* pgx_account_register */
int pgx_account_register(store_backend_t *be, const store_user_t *u, const char *user_name,
                         const char *password_hash, int64_t now_ms)
{
    (void)be;
    (void)u;
    (void)user_name;
    (void)password_hash;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_account_register");
    return STORE_EIO;
}

/* pgx_user_status_set */
int pgx_user_status_set(store_backend_t *be, int32_t app_id, const char *user_id,
                        const char *text, int status, int64_t now_ms)
{
    (void)be;
    (void)app_id;
    (void)user_id;
    (void)text;
    (void)status;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_user_status_set");
    return STORE_EIO;
}

/* pgx_app_get */
int pgx_app_get(store_backend_t *be, int32_t app_id, store_app_t *out)
{
    (void)be;
    (void)app_id;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_app_get");
    return STORE_EIO;
}

/* pgx_app_list */
int pgx_app_list(store_backend_t *be, store_app_t **out, size_t *n)
{
    (void)be;
    (void)out;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_app_list");
    return STORE_EIO;
}

/* pgx_user_get */
int pgx_user_get(store_backend_t *be, int32_t app_id, const char *user_id, store_user_t *out)
{
    (void)be;
    (void)app_id;
    (void)user_id;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_user_get");
    return STORE_EIO;
}

/* pgx_user_page */
int pgx_user_page(store_backend_t *be, int32_t app_id, const char *nick_sub,
                  const char *exclude_user_id, int offset, int limit, store_user_t **out,
                  size_t *n, int64_t *total)
{
    (void)be;
    (void)app_id;
    (void)nick_sub;
    (void)exclude_user_id;
    (void)offset;
    (void)limit;
    (void)out;
    (void)n;
    (void)total;
    LOGE("store pg: not built yet", "fn=pgx_user_page");
    return STORE_EIO;
}

/* pgx_user_count */
int pgx_user_count(store_backend_t *be, int32_t app_id, int64_t *n)
{
    (void)be;
    (void)app_id;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_user_count");
    return STORE_EIO;
}

/* pgx_account_get */
int pgx_account_get(store_backend_t *be, int32_t app_id, const char *user_name,
                    char *user_id_out, char *hash_out, size_t hash_cap)
{
    (void)be;
    (void)app_id;
    (void)user_name;
    (void)user_id_out;
    (void)hash_out;
    (void)hash_cap;
    LOGE("store pg: not built yet", "fn=pgx_account_get");
    return STORE_EIO;
}

/* pgx_user_status_get */
int pgx_user_status_get(store_backend_t *be, int32_t app_id, const char *const *ids, size_t n,
                        store_user_status_t *out)
{
    (void)be;
    (void)app_id;
    (void)ids;
    (void)n;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_user_status_get");
    return STORE_EIO;
}

/* pgx_user_check */
int pgx_user_check(store_backend_t *be, int32_t app_id, const char *user_id, int sender,
                   int *reject)
{
    (void)be;
    (void)app_id;
    (void)user_id;
    (void)sender;
    (void)reject;
    LOGE("store pg: not built yet", "fn=pgx_user_check");
    return STORE_EIO;
}

/* pgx_user_live */
int pgx_user_live(store_backend_t *be, int32_t app_id, const char *user_id, int *live,
                  int *allow, int *no_add)
{
    (void)be;
    (void)app_id;
    (void)user_id;
    (void)live;
    (void)allow;
    (void)no_add;
    LOGE("store pg: not built yet", "fn=pgx_user_live");
    return STORE_EIO;
}

/* pgx_friend_write */
int pgx_friend_write(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    (void)be;
    (void)op;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_friend_write");
    return STORE_EIO;
}

/* pgx_blacked */
int pgx_blacked(store_backend_t *be, int32_t app_id, const char *from_id, const char *to_id,
                int *blacked)
{
    (void)be;
    (void)app_id;
    (void)from_id;
    (void)to_id;
    (void)blacked;
    LOGE("store pg: not built yet", "fn=pgx_blacked");
    return STORE_EIO;
}

/* pgx_msg_friend_check */
int pgx_msg_friend_check(store_backend_t *be, const store_msg_t *m, int *reject)
{
    (void)be;
    (void)m;
    (void)reject;
    LOGE("store pg: not built yet", "fn=pgx_msg_friend_check");
    return STORE_EIO;
}

/* pgx_friend_get */
int pgx_friend_get(store_backend_t *be, int32_t app_id, const char *from_id, const char *to_id,
                   store_friend_t *out)
{
    (void)be;
    (void)app_id;
    (void)from_id;
    (void)to_id;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_friend_get");
    return STORE_EIO;
}

/* pgx_friend_list */
int pgx_friend_list(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_seq,
                    int limit, store_friend_t **out, size_t *n, int64_t *max_seq)
{
    (void)be;
    (void)app_id;
    (void)owner;
    (void)after_seq;
    (void)limit;
    (void)out;
    (void)n;
    (void)max_seq;
    LOGE("store pg: not built yet", "fn=pgx_friend_list");
    return STORE_EIO;
}

/* pgx_friend_all */
int pgx_friend_all(store_backend_t *be, int32_t app_id, const char *owner, store_friend_t **out,
                   size_t *n)
{
    (void)be;
    (void)app_id;
    (void)owner;
    (void)out;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_friend_all");
    return STORE_EIO;
}

/* pgx_friend_requests */
int pgx_friend_requests(store_backend_t *be, int32_t app_id, const char *to_id,
                        int64_t after_seq, int limit, store_friend_request_t **out, size_t *n,
                        int64_t *max_seq)
{
    (void)be;
    (void)app_id;
    (void)to_id;
    (void)after_seq;
    (void)limit;
    (void)out;
    (void)n;
    (void)max_seq;
    LOGE("store pg: not built yet", "fn=pgx_friend_requests");
    return STORE_EIO;
}

/* pgx_friend_groups */
int pgx_friend_groups(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_seq,
                      int limit, store_friend_group_t **out, size_t *n, int64_t *max_seq)
{
    (void)be;
    (void)app_id;
    (void)owner;
    (void)after_seq;
    (void)limit;
    (void)out;
    (void)n;
    (void)max_seq;
    LOGE("store pg: not built yet", "fn=pgx_friend_groups");
    return STORE_EIO;
}

/* pgx_friend_seqs */
int pgx_friend_seqs(store_backend_t *be, int32_t app_id, const char *user_id, int64_t *fs,
                    int64_t *rs, int64_t *gs)
{
    (void)be;
    (void)app_id;
    (void)user_id;
    (void)fs;
    (void)rs;
    (void)gs;
    LOGE("store pg: not built yet", "fn=pgx_friend_seqs");
    return STORE_EIO;
}

/* pgx_status_peers */
int pgx_status_peers(store_backend_t *be, int32_t app_id, const char *user_id,
                     store_user_status_t **out, size_t *n)
{
    (void)be;
    (void)app_id;
    (void)user_id;
    (void)out;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_status_peers");
    return STORE_EIO;
}

/* pgx_friend_blacked */
int pgx_friend_blacked(store_backend_t *be, int32_t app_id, const char *user_id,
                       char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    (void)be;
    (void)app_id;
    (void)user_id;
    (void)out;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_friend_blacked");
    return STORE_EIO;
}

/* pgx_group_write */
int pgx_group_write(store_backend_t *be, store_group_op_t *op, int64_t now_ms)
{
    (void)be;
    (void)op;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_group_write");
    return STORE_EIO;
}

/* pgx_group_get */
int pgx_group_get(store_backend_t *be, int32_t app_id, const char *group_id, store_group_t *out)
{
    (void)be;
    (void)app_id;
    (void)group_id;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_group_get");
    return STORE_EIO;
}

/* pgx_group_member_get */
int pgx_group_member_get(store_backend_t *be, int32_t app_id, const char *group_id,
                         const char *member_id, store_group_member_t *out)
{
    (void)be;
    (void)app_id;
    (void)group_id;
    (void)member_id;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_group_member_get");
    return STORE_EIO;
}

/* pgx_group_members */
int pgx_group_members(store_backend_t *be, int32_t app_id, const char *group_id,
                      store_group_member_t **out, size_t *n)
{
    (void)be;
    (void)app_id;
    (void)group_id;
    (void)out;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_group_members");
    return STORE_EIO;
}

/* pgx_group_readers */
int pgx_group_readers(store_backend_t *be, int32_t app_id, const char *group_id, int64_t seq,
                      char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    (void)be;
    (void)app_id;
    (void)group_id;
    (void)seq;
    (void)out;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_group_readers");
    return STORE_EIO;
}

/* pgx_group_joined */
int pgx_group_joined(store_backend_t *be, int32_t app_id, const char *member_id, int all,
                     unsigned types, int64_t after_seq, int offset, int limit,
                     store_joined_t **out, size_t *n, int64_t *total)
{
    (void)be;
    (void)app_id;
    (void)member_id;
    (void)all;
    (void)types;
    (void)after_seq;
    (void)offset;
    (void)limit;
    (void)out;
    (void)n;
    (void)total;
    LOGE("store pg: not built yet", "fn=pgx_group_joined");
    return STORE_EIO;
}

/* pgx_group_requests */
int pgx_group_requests(store_backend_t *be, int32_t app_id, const char *group_id, int status,
                       store_group_request_t **out, size_t *n)
{
    (void)be;
    (void)app_id;
    (void)group_id;
    (void)status;
    (void)out;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_group_requests");
    return STORE_EIO;
}

/* pgx_group_msgs */
int pgx_group_msgs(store_backend_t *be, int32_t app_id, const char *group_id, int64_t from_seq,
                   int64_t to_seq, int64_t lo, int64_t hi, int limit, int descending,
                   store_group_msg_row_t **out, size_t *n)
{
    (void)be;
    (void)app_id;
    (void)group_id;
    (void)from_seq;
    (void)to_seq;
    (void)lo;
    (void)hi;
    (void)limit;
    (void)descending;
    (void)out;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_group_msgs");
    return STORE_EIO;
}
