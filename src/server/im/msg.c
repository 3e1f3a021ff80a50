/*
 * One-to-one message rules shared by every transport (see msg.h): parsing
 * and validation of a send, the app's check flags, the send rate limits,
 * the pushed content of a stored message and the words of a refusal.  The
 * use cases are in msg_send.c, the socket commands in gateway/cmd_msg.c,
 * the pushes in notify/msg.c.
 */
#include "server/im/msg.h"

#include "server/im/apps.h"
#include "server/im/ratelimit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *json_text(json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

int msg_parse_fields(json_t *body, msg_fields_t *f, const char **why)
{
    const char *mid = json_string_value(json_object_get(body, "messageId"));
    json_t *mb = json_object_get(body, "messageBody");
    json_t *extra = json_object_get(body, "extra");
    json_t *mt = json_object_get(body, "messageTime");
    json_t *mr = json_object_get(body, "messageRandom");
    memset(f, 0, sizeof *f);
    if (!mid || !id_valid(mid, STORE_ID_MAX)) {
        *why = "messageId must be a string of 1..128 bytes";
        return PETREL_ERR_PARAM;
    }
    if (!mb || !(json_is_string(mb) || json_is_object(mb))) {
        *why = "messageBody must be a JSON object or its text";
        return PETREL_ERR_PARAM;
    }
    if ((mt && !json_is_integer(mt)) || (mr && !json_is_integer(mr)) ||
        (extra && !json_is_null(extra) && !json_is_string(extra) && !json_is_object(extra))) {
        *why = "messageTime/messageRandom must be integers, extra a string or object";
        return PETREL_ERR_PARAM;
    }
    if (mt && json_integer_value(mt) < 0) { /* epoch ms; 0 = the server's time */
        *why = "messageTime must be epoch milliseconds (0 or more)";
        return PETREL_ERR_PARAM;
    }
    f->body = json_text(mb);
    f->extra = extra && !json_is_null(extra) ? json_text(extra) : NULL;
    if (!f->body || strlen(f->body) > MSG_MAX_BODY || (f->extra && strlen(f->extra) > MSG_MAX_BODY)) {
        free(f->body);
        free(f->extra);
        f->body = f->extra = NULL;
        *why = "messageBody too large (32 KiB at most)";
        return PETREL_ERR_PARAM;
    }
    f->message_id = mid;
    f->message_time = mt ? json_integer_value(mt) : 0;
    f->message_random = mr ? json_integer_value(mr) : 0;
    return 0;
}

int msg_parse_send(json_t *body, store_msg_t *m, const char **why)
{
    const char *to = json_string_value(json_object_get(body, "toId"));
    if (!to || !id_valid(to, STORE_ID_MAX)) {
        *why = "toId must be a user id";
        return PETREL_ERR_PARAM;
    }
    msg_fields_t f;
    int rc = msg_parse_fields(body, &f, why);
    if (rc != 0)
        return rc;
    if (!strcmp(to, m->from_id)) {
        free(f.body);
        free(f.extra);
        *why = "cannot send a message to yourself";
        return PETREL_ERR_PARAM;
    }
    m->body = f.body;
    m->extra = f.extra;
    memcpy(m->to_id, to, strlen(to) + 1);
    memcpy(m->message_id, f.message_id, strlen(f.message_id) + 1);
    m->message_time = f.message_time;
    m->message_random = f.message_random;
    return 0;
}

unsigned msg_check_flags(server_t *s, int32_t app_id)
{
    unsigned f = apps_flags(s->apps, app_id);
    return (f & APP_F_CHECK_FRIEND ? STORE_MSG_CHECK_FRIEND : 0) |
           (f & APP_F_CHECK_BLACK ? STORE_MSG_CHECK_BLACK : 0);
}

int msg_rate_check(server_t *s, int32_t app_id, const char *user_id, size_t bytes)
{
    rl_conf_t rc = {(uint32_t)s->cfg.send_rate_user, (uint32_t)s->cfg.send_kbytes_user,
                    (uint32_t)s->cfg.send_rate_app};
    if (!rc.user_msgs && !rc.user_kbytes && !rc.app_msgs)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return ratelimit_send(ratelimit_thread(), &rc, app_id, user_id, bytes, now_us)
               ? PETREL_ERR_RATE_LIMITED
               : 0;
}

json_t *msg_server_receipt_json(const store_msg_t *m)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:b}", "messageKey", (json_int_t)m->message_key,
                     "messageId", m->message_id, "fromId", m->to_id, "toId", m->from_id,
                     "messageSequence", (json_int_t)m->sequence, "serverSend", 1);
}

json_t *msg_content_json(const store_msg_t *m, int client_type, const char *imei)
{
    /* The pack goes to other users: no device id in it, only its type
     * (issue 14 item 5, docs/SECURITY.md); "imei" stays, empty, for the
     * seeds' clients. */
    (void)imei;
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:i, s:s}",
                          "appId", m->app_id, "fromId", m->from_id, "toId", m->to_id,
                          "messageId", m->message_id, "messageKey", (json_int_t)m->message_key,
                          "messageSequence", (json_int_t)m->sequence, "messageBody",
                          m->body ? m->body : "", "messageTime", (json_int_t)m->message_time,
                          "messageRandom", (json_int_t)m->message_random, "serverTime",
                          (json_int_t)m->created_at, "clientType", client_type, "imei",
                          "");
    if (o && m->extra)
        json_object_set_new(o, "extra", json_string(m->extra));
    return o;
}

