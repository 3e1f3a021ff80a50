/* TEMPORARY scaffold while issue 16 is built: every function here is
 * replaced by its real file (store_pg_users.c, _msg.c, _friends*.c,
 * _group*.c) and this file is deleted before the work lands. */
#include "server/store/pg/store_pg_int.h"
#include "server/core/log.h"

/* pgx_msg_p2p */
int pgx_msg_p2p(store_backend_t *be, store_msg_t *m, int64_t now_ms)
{
    (void)be;
    (void)m;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_msg_p2p");
    return STORE_EIO;
}

/* pgx_next_seq */
int pgx_next_seq(store_backend_t *be, int32_t app_id, const char *user_a, const char *user_b,
                 int64_t *seq)
{
    (void)be;
    (void)app_id;
    (void)user_a;
    (void)user_b;
    (void)seq;
    LOGE("store pg: not built yet", "fn=pgx_next_seq");
    return STORE_EIO;
}

/* pgx_msg_read */
int pgx_msg_read(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                 int64_t seq, int64_t *read_seq, int *changed, int64_t now_ms)
{
    (void)be;
    (void)app_id;
    (void)owner;
    (void)peer;
    (void)seq;
    (void)read_seq;
    (void)changed;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_msg_read");
    return STORE_EIO;
}

/* pgx_msg_recall */
int pgx_msg_recall(store_backend_t *be, int32_t app_id, int64_t message_key,
                   const char *requester, int is_admin, int64_t now_ms, int64_t window_ms,
                   store_recall_t *out)
{
    (void)be;
    (void)app_id;
    (void)message_key;
    (void)requester;
    (void)is_admin;
    (void)now_ms;
    (void)window_ms;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_msg_recall");
    return STORE_EIO;
}

/* pgx_conv_update */
int pgx_conv_update(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                    int type, int is_top, int is_mute, int deleted, int64_t *change_seq,
                    int64_t now_ms)
{
    (void)be;
    (void)app_id;
    (void)owner;
    (void)peer;
    (void)type;
    (void)is_top;
    (void)is_mute;
    (void)deleted;
    (void)change_seq;
    (void)now_ms;
    LOGE("store pg: not built yet", "fn=pgx_conv_update");
    return STORE_EIO;
}

/* pgx_msg_bytes */
int pgx_msg_bytes(store_backend_t *be, int32_t app_id, int64_t *out)
{
    (void)be;
    (void)app_id;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_msg_bytes");
    return STORE_EIO;
}

/* pgx_msg_history */
int pgx_msg_history(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                    int64_t from_seq, int64_t to_seq, int limit, int descending,
                    store_msg_row_t **out, size_t *n)
{
    (void)be;
    (void)app_id;
    (void)owner;
    (void)peer;
    (void)from_seq;
    (void)to_seq;
    (void)limit;
    (void)descending;
    (void)out;
    (void)n;
    LOGE("store pg: not built yet", "fn=pgx_msg_history");
    return STORE_EIO;
}

/* pgx_msg_sync */
int pgx_msg_sync(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_key,
                 int limit, store_msg_row_t **out, size_t *n, int64_t *max_key)
{
    (void)be;
    (void)app_id;
    (void)owner;
    (void)after_key;
    (void)limit;
    (void)out;
    (void)n;
    (void)max_key;
    LOGE("store pg: not built yet", "fn=pgx_msg_sync");
    return STORE_EIO;
}

/* pgx_conv_list */
int pgx_conv_list(store_backend_t *be, int32_t app_id, const char *owner,
                  int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                  int64_t *max_change_seq)
{
    (void)be;
    (void)app_id;
    (void)owner;
    (void)after_change_seq;
    (void)limit;
    (void)out;
    (void)n;
    (void)max_change_seq;
    LOGE("store pg: not built yet", "fn=pgx_conv_list");
    return STORE_EIO;
}

/* pgx_conv_get */
int pgx_conv_get(store_backend_t *be, int32_t app_id, const char *owner, int type,
                 const char *peer, store_conv_t *out)
{
    (void)be;
    (void)app_id;
    (void)owner;
    (void)type;
    (void)peer;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_conv_get");
    return STORE_EIO;
}

/* pgx_msg_head */
int pgx_msg_head(store_backend_t *be, int32_t app_id, int64_t message_key,
                 store_msg_row_t *out)
{
    (void)be;
    (void)app_id;
    (void)message_key;
    (void)out;
    LOGE("store pg: not built yet", "fn=pgx_msg_head");
    return STORE_EIO;
}

