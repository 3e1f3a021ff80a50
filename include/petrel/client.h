/*
 * libpetrel: a small blocking, poll()-based petrel client (no event library).
 *
 * One petrel_client_t owns one connection to a petrel server over either a
 * TCP stream ("tcp://host:port") or a WebSocket ("ws://host:port/ws", binary
 * messages, one frame per message).  The caller drives it from one thread:
 *
 *     petrel_client_t *c = petrel_client_new(&opts);
 *     if (petrel_connect(c) == 0 && petrel_login(c) == 0)
 *         while (petrel_run(c, 1000) == 0) { ... petrel_send(c, ...) ... }
 *     petrel_client_free(c);
 *
 * Downlink packets arrive through opts.on_packet from inside petrel_run().
 * After petrel_login() the client sends a PING whenever heartbeat_ms pass
 * without any uplink packet, so the server's idle timer (3 heartbeats)
 * never fires while petrel_run() is being called.
 *
 * Return convention: 0 on success, a negative errno value on failure (use
 * strerror(-r); petrel_client_error() has a human-readable detail for the
 * last failure).  Not thread-safe; do not call petrel_run(), petrel_connect()
 * or petrel_client_free() from inside a callback (petrel_send(),
 * petrel_logout() and petrel_close() are fine there).
 */
#ifndef PETREL_CLIENT_H
#define PETREL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct petrel_client petrel_client_t;

/* A downlink packet.  json points at len bytes of the packet's data object
 * (as sent by the server, not validated) and is NUL-terminated for the
 * duration of the call; copy it to keep it. */
typedef void (*petrel_on_packet_fn)(petrel_client_t *c, int32_t command,
                                    const char *json, size_t len, void *userdata);

/* The connection ended for a reason other than petrel_close(): reason is 0
 * when the server closed it in an orderly way (EOF or WebSocket close
 * frame), else a negative errno (-ECONNRESET, -EPROTO for a malformed
 * downlink, -EMSGSIZE for an oversized one, ...).  Called once, from
 * petrel_run(). */
typedef void (*petrel_on_close_fn)(petrel_client_t *c, int reason, void *userdata);

typedef struct petrel_client_opts {
    const char *url;         /* "tcp://host:port" or "ws://host:port/path"; required */
    int32_t app_id;          /* header appId, used as given */
    int32_t client_type;     /* header clientType, used as given (1 = web) */
    const char *user_id;     /* for petrel_login() */
    const char *user_sign;   /* userSign token for petrel_login() */
    const char *imei;        /* device id; NULL = "libpetrel-<pid>" */
    int heartbeat_ms;        /* 0 = 10000; negative = never send PING */
    int connect_timeout_ms;  /* TCP connect + WS handshake; 0 = 5000 */
    uint32_t max_body;       /* largest downlink JSON accepted; 0 = 65536 */
    size_t max_pending;      /* cap on queued unsent uplink bytes; 0 = 4 MiB */
    petrel_on_packet_fn on_packet;
    petrel_on_close_fn on_close;
    void *userdata;          /* passed to the callbacks */
} petrel_client_opts_t;

/* Copies everything it needs from o (strings included).  Returns NULL with
 * errno set (EINVAL for a bad url or option, ENOMEM). */
petrel_client_t *petrel_client_new(const petrel_client_opts_t *o);

/* Connects (and for ws:// performs the HTTP upgrade) within the connect
 * timeout.  May be called again after the connection closed to reconnect.
 * -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH (name lookup), -EPROTO (bad
 * handshake), -EISCONN, ... */
int petrel_connect(petrel_client_t *c);

/* Queues LOGIN {"userId","userSign"} and starts heartbeats.  The LOGINACK
 * (or an ERROR) arrives through on_packet. */
int petrel_login(petrel_client_t *c);

/* Queues one uplink packet with a JSON body of len bytes (sent as given)
 * and writes as much as the socket takes without blocking; petrel_run() or
 * petrel_flush() write the rest.  -ENOTCONN, -ENOBUFS (max_pending
 * reached), -EMSGSIZE, or the write error that closed the connection. */
int petrel_send(petrel_client_t *c, int32_t command, const char *json, size_t len);

/* Queues arbitrary bytes: appended to the TCP stream as they are, or sent
 * as one WebSocket binary message.  For tests of the server's decoder. */
int petrel_send_raw(petrel_client_t *c, const void *bytes, size_t len);

/* Queues LOGOUT, stops heartbeats and waits (up to the connect timeout)
 * until it is written.  The server then closes; petrel_run() reports it. */
int petrel_logout(petrel_client_t *c);

/* Blocks until all queued uplink bytes are written: 0, -ETIMEDOUT, or the
 * error that closed the connection.  timeout_ms < 0 waits forever. */
int petrel_flush(petrel_client_t *c, int timeout_ms);

/* Polls for up to timeout_ms (< 0: until the connection closes; 0: one
 * non-blocking pass), reading and dispatching downlink packets, writing
 * queued uplink bytes and sending heartbeats.  Returns 0 on timeout or when
 * a signal interrupted the wait (so the caller can check its flags), 1 when
 * the connection is closed (on_close has been called unless petrel_close()
 * closed it), negative on error (-ENOTCONN before petrel_connect(), -EBUSY
 * from inside a callback, a poll() failure). */
int petrel_run(petrel_client_t *c, int timeout_ms);

/* Closes the connection now: best-effort flush of queued bytes (bounded),
 * a WebSocket close frame (1000) for ws://, then close().  on_close is not
 * called.  Safe on a closed client and from inside callbacks (then it takes
 * effect when the callback returns). */
void petrel_close(petrel_client_t *c);

/* Closes if needed and frees everything.  NULL is fine. */
void petrel_client_free(petrel_client_t *c);

/* 1 while the connection is open, else 0. */
int petrel_is_connected(const petrel_client_t *c);

/* Why the last connection ended (see petrel_on_close_fn); 0 if it is open
 * or was closed by petrel_close(). */
int petrel_close_reason(const petrel_client_t *c);

/* The socket (for an external poll loop), or -1 when not connected. */
int petrel_client_fd(const petrel_client_t *c);

/* A human-readable detail of the last failure ("" when none). */
const char *petrel_client_error(const petrel_client_t *c);

#ifdef __cplusplus
}
#endif

#endif
