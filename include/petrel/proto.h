/*
 * petrel wire protocol: command numbers, error codes and the frame codec.
 *
 * Uplink (client -> server), identical inside TCP streams and WebSocket
 * binary messages: seven big-endian int32 (command, version, clientType,
 * messageType, appId, imeiLength, bodyLength) = 28 bytes, then imei bytes,
 * then body bytes (UTF-8 JSON when messageType = 0).
 * Downlink (server -> client): int32 command, int32 length, JSON of that
 * length.  The JSON is the packet's data object (the same for TCP and WS).
 *
 * The codec is pure: no I/O, no allocation.  Return convention: 0 or a
 * positive "need more" count, negative PETREL_DEC_* on malformed input.
 */
#ifndef PETREL_PROTO_H
#define PETREL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "petrel/errors.h"

#define PETREL_UP_HDR_LEN   28
#define PETREL_DOWN_HDR_LEN 8

/* Default limits; the server makes them configurable. */
#define PETREL_DEFAULT_MAX_IMEI 128
#define PETREL_DEFAULT_MAX_BODY 65536

enum petrel_command {
    /* system 9xxx */
    PETREL_CMD_LOGIN        = 9000,
    PETREL_CMD_LOGINACK     = 9001,
    PETREL_CMD_MUTUALLOGIN  = 9002,
    PETREL_CMD_LOGOUT       = 9003,
    PETREL_CMD_ERROR        = 9998, /* petrel: error packet {code,msg,command} */
    PETREL_CMD_PING         = 9999, /* uplink ping; the downlink pong uses it too */

    /* 1:1 messages 1xxx */
    PETREL_CMD_MSG_ACK           = 1046,
    PETREL_CMD_MSG_RECALL        = 1050,
    PETREL_CMD_MSG_RECALL_ACK    = 1051,
    PETREL_CMD_MSG_RECALL_NOTIFY = 1052,
    PETREL_CMD_MSG_READED_NOTIFY = 1053,
    PETREL_CMD_MSG_READED_RECEIPT= 1054,
    PETREL_CMD_MSG_RECALL_SYNC   = 1055,
    PETREL_CMD_MSG_P2P           = 1103,
    PETREL_CMD_MSG_READED        = 1106,
    PETREL_CMD_MSG_RECEIVE_ACK   = 1107,
    PETREL_CMD_MSG_P2P_SYNC      = 1108,

    /* groups 2xxx */
    PETREL_CMD_JOIN_GROUP        = 2000,
    PETREL_CMD_ADDED_MEMBER      = 2001,
    PETREL_CMD_CREATED_GROUP     = 2002,
    PETREL_CMD_UPDATED_GROUP     = 2003,
    PETREL_CMD_EXIT_GROUP        = 2004,
    PETREL_CMD_UPDATED_MEMBER    = 2005,
    PETREL_CMD_DELETED_MEMBER    = 2006,
    PETREL_CMD_DESTROY_GROUP     = 2007,
    PETREL_CMD_TRANSFER_GROUP    = 2008,
    PETREL_CMD_MUTE_GROUP        = 2009,
    PETREL_CMD_SPEAK_GROUP_MEMBER= 2010,
    PETREL_CMD_UNMUTE_GROUP      = 2011,
    PETREL_CMD_MSG_GROUP_READED_NOTIFY  = 2053,
    PETREL_CMD_MSG_GROUP_READED_RECEIPT = 2054,
    PETREL_CMD_GROUP_MSG_ACK     = 2047,
    PETREL_CMD_MSG_GROUP         = 2104,
    PETREL_CMD_MSG_GROUP_SYNC    = 2105,
    PETREL_CMD_MSG_GROUP_READED  = 2106,

    /* friendship 3xxx, all server -> client */
    PETREL_CMD_FRIEND_ADD              = 3000,
    PETREL_CMD_FRIEND_UPDATE           = 3001,
    PETREL_CMD_FRIEND_DELETE           = 3002,
    PETREL_CMD_FRIEND_REQUEST          = 3003,
    PETREL_CMD_FRIEND_REQUEST_READ     = 3004,
    PETREL_CMD_FRIEND_REQUEST_APPROVER = 3005,
    PETREL_CMD_FRIEND_BLACK_ADD        = 3010,
    PETREL_CMD_FRIEND_BLACK_DELETE     = 3011,
    PETREL_CMD_FRIEND_GROUP_ADD        = 3012,
    PETREL_CMD_FRIEND_GROUP_DELETE     = 3013,
    PETREL_CMD_FRIEND_GROUP_MEMBER_ADD = 3014,
    PETREL_CMD_FRIEND_GROUP_MEMBER_DELETE = 3015,
    PETREL_CMD_FRIEND_ALL_DELETE       = 3016,

    /* users 4xxx */
    PETREL_CMD_USER_MODIFY       = 4000,
    /* Online status.  4001 and 4002 are the seeds' internal numbers
     * (gateway -> user service, SDK enum); petrel never sends them and
     * answers them with 61008 like every 4xxx uplink. */
    PETREL_CMD_USER_ONLINE_STATUS_CHANGE             = 4001,
    PETREL_CMD_USER_ONLINE_STATUS_SUBSCRIBE          = 4002,
    PETREL_CMD_USER_CUSTOM_STATUS_CHANGE_NOTIFY      = 4003, /* S->C */
    PETREL_CMD_USER_ONLINE_STATUS_CHANGE_NOTIFY      = 4004, /* S->C, to friends, subscribers */
    PETREL_CMD_USER_ONLINE_STATUS_CHANGE_NOTIFY_SYNC = 4005, /* S->C, to the user's other devices */

    /* conversations 5xxx */
    PETREL_CMD_CONVERSATION_DELETE = 5000,
    PETREL_CMD_CONVERSATION_UPDATE = 5001,
};

enum petrel_client_type {
    PETREL_CT_WEBAPI  = 0,
    PETREL_CT_WEB     = 1,
    PETREL_CT_IOS     = 2,
    PETREL_CT_ANDROID = 3,
    PETREL_CT_WINDOWS = 4,
    PETREL_CT_MAC     = 5,
    PETREL_CT_MAX     = 5,
};

/* Error codes (enum petrel_error: PETREL_OK, PETREL_ERR_*), their texts and
 * HTTP statuses: the one table in petrel/errors.h. */

typedef struct petrel_up_hdr {
    int32_t command;
    int32_t version;
    int32_t client_type;
    int32_t message_type;
    int32_t app_id;
    int32_t imei_len;
    int32_t body_len;
} petrel_up_hdr_t;

typedef struct petrel_limits {
    uint32_t max_imei;
    uint32_t max_body;
} petrel_limits_t;

/* A decoded uplink packet; pointers alias the input buffer. */
typedef struct petrel_packet {
    petrel_up_hdr_t hdr;
    const char *imei;
    size_t imei_len;
    const char *body;
    size_t body_len;   /* after trimming trailing NUL padding */
    size_t frame_len;  /* bytes consumed from the input */
} petrel_packet_t;

enum petrel_dec_result {
    PETREL_DEC_OK          = 0,
    PETREL_DEC_NEED_MORE   = 1,
    PETREL_DEC_BAD_HEADER  = -1,
    PETREL_DEC_IMEI_LONG   = -2,
    PETREL_DEC_BODY_LARGE  = -3,
    PETREL_DEC_MSG_TYPE    = -4,
    PETREL_DEC_BAD_UTF8    = -5, /* imei or body is not valid UTF-8 */
};

/* Decode one uplink frame from buf[0..len).  Returns PETREL_DEC_OK and fills
 * *out (out->frame_len bytes consumed), PETREL_DEC_NEED_MORE when the frame
 * is incomplete (nothing consumed; the header is still validated as soon as
 * 28 bytes are there, so a hostile length is refused before buffering), or a
 * negative PETREL_DEC_* error. */
int petrel_decode_up(const uint8_t *buf, size_t len, const petrel_limits_t *lim,
                     petrel_packet_t *out);

/* Map a negative decode result to its PETREL_ERR_* code. */
int petrel_dec_error_code(int dec_result);

/* Encode an uplink frame.  Returns the frame length; writes only if it fits
 * in cap (call with cap 0 to size). */
size_t petrel_encode_up(uint8_t *out, size_t cap, const petrel_up_hdr_t *hdr,
                        const char *imei, size_t imei_len,
                        const char *body, size_t body_len);

/* Write the 8-byte downlink header. */
void petrel_encode_down_hdr(uint8_t out[PETREL_DOWN_HDR_LEN], int32_t command,
                            uint32_t json_len);

/* Decode a downlink frame: 0 and fills command/json/json_len/frame_len,
 * PETREL_DEC_NEED_MORE, or PETREL_DEC_BAD_HEADER / PETREL_DEC_BODY_LARGE
 * when the length is negative or above max_body. */
int petrel_decode_down(const uint8_t *buf, size_t len, uint32_t max_body,
                       int32_t *command, const char **json, size_t *json_len,
                       size_t *frame_len);

/* Strict UTF-8 check (no overlongs, no surrogates, max U+10FFFF). */
int petrel_utf8_valid(const char *s, size_t len);

uint32_t petrel_be32(const uint8_t *p);
void petrel_put_be32(uint8_t *p, uint32_t v);

#endif
