/*
 * The in-process petreld shared by the socket fuzz targets (fuzz_http,
 * fuzz_ws, fuzz_gateway, fuzz_command).
 *
 * The server is the real one, set up as main.c does (store in a fresh
 * directory /tmp/petrel-fuzz-<pid>-XXXXXX, removed at exit, or by the next
 * run when this one crashed; apps, sessions, presence, group pushes, one worker
 * loop listening on 127.0.0.1 ports chosen by the kernel); nothing is
 * stubbed.  A fuzz input is played as a client would: connect, write the
 * bytes, half-close, read until the server closes.  The server answers
 * what it received and then closes (CF_EOF), so the end of the answer is
 * the end of the input's work on the loop; fz_quiesce() then waits until
 * the store writer has taken every write the input queued, so inputs do
 * not pile up work behind each other.
 *
 * The harness imports users fz1..fz4 (fz1 and fz2 friends, group fzg with
 * fz1 as owner and fz2, fz3 as members) through the REST API once, signs
 * tokens for them and for the admin with the fixed fuzz secret, and keeps
 * fz2 logged in on a WebSocket device for the whole run, so that what the
 * inputs send to fz2 goes through the push path to a live connection.
 * Environment: PETREL_FUZZ_SHOW=1 prints every answer on stderr (to check
 * what a seed reaches); PETREL_FUZZ_LOG=<level> sets the server's log level
 * (default error).
 */
#ifndef PETREL_FUZZ_HARNESS_H
#define PETREL_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "server/im/server.h"

#define FZ_APP 10000
#define FZ_SECRET "petrel-fuzz-secret-0123456789abcdef"

/* Start the server once (later calls return at once).  Aborts on failure:
 * a fuzz target without its server would only test the harness. */
server_t *fz_start(void);

enum fz_port { FZ_TCP, FZ_HTTP };
#define FZ_MAX_PIECES 32

/* One client connection: write data in pieces of at most chunk bytes
 * (0 = all at once; with chunk > 0 each piece is written only once the
 * server has read the previous one, so the server sees exactly these
 * reads; pieces are made larger when there would be more than
 * FZ_MAX_PIECES); with settle, wait until the store writer is idle and the
 * connection quiet for 5 ms (asynchronous answers: acks, pushes); then
 * half-close and read the answer until the server closes.  Up to
 * cap bytes of the answer are copied into out (may be NULL).  Returns the
 * answer's length.  Aborts when, after the half-close, the server sends
 * nothing and does not close for 30 s: a hang is a bug. */
size_t fz_session(enum fz_port port, const uint8_t *data, size_t len, size_t chunk,
                  int settle, uint8_t *out, size_t cap);

/* The buffer the socket targets copy answers into: FZ_OUT_MAX bytes,
 * allocated once. */
#define FZ_OUT_MAX (4u << 20)
uint8_t *fz_out(void);

/* Wait until the store writer has no queued operation (bounded). */
void fz_quiesce(void);

/* A valid token for user (FZ_APP, fixed secret, 1 day). */
const char *fz_sign(const char *user);

/* An uplink LOGIN frame for user (clientType 3, imei "fz-dev") into out;
 * returns its length. */
size_t fz_login_frame(const char *user, uint8_t *out, size_t cap);

/* A masked client WebSocket frame (RFC 6455 5.2; fixed mask key) into out;
 * returns its length (the size needed when it exceeds cap: nothing written). */
size_t fz_ws_frame(int fin, int opcode, const uint8_t *payload, size_t len, uint8_t *out,
                   size_t cap);

/* The oracle for what the gateway sends: the bytes (complete when
 * len <= cap) must be a sequence of downlink frames, each a JSON object;
 * aborts otherwise.  A trailing partial frame is allowed only when the
 * answer was cut at cap. */
void fz_check_downlink(const uint8_t *out, size_t len, size_t cap);

#endif
