/*
 * Fuzz target: the binary TCP gateway byte stream -- frame reassembly
 * (sockframe_input in src/server/net/sockframe.c over the codec) and every
 * packet the gateway then handles.
 *
 * Each input is one connection to the TCP port of the in-process petreld
 * (harness.h).  The first byte holds flags: bit 0 prepends a valid LOGIN
 * of fz1 (so the packets after it reach the logged-in paths); bit 1 makes
 * the harness deliver the stream in pieces of (second byte + 1) bytes,
 * each read by the server on its own, which drives the reassembly of
 * frames split across reads.  The rest is the raw stream.  With the LOGIN
 * the harness also waits for the answers that come later than the read
 * (acks from the store) before half-closing (fz_session's settle).
 *
 * Oracle beyond sanitizers: the server's output is a sequence of
 * well-formed downlink frames, each a JSON object.
 */
#include "fuzz/harness.h"

#include <stdlib.h>
#include <string.h>


int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = fz_out();
    if (size < 2 || size > (1u << 20))
        return 0;
    uint8_t flags = data[0];
    size_t chunk = (flags & 2) ? (size_t)data[1] + 1 : 0;
    data += 2, size -= 2;
    uint8_t login[2048];
    size_t ll = (flags & 1) ? fz_login_frame("fz1", login, sizeof login) : 0;
    uint8_t *buf = malloc(ll + size + 1);
    if (!buf)
        return 0;
    memcpy(buf, login, ll);
    if (size)
        memcpy(buf + ll, data, size);
    size_t got = fz_session(FZ_TCP, buf, ll + size, chunk, flags & 1, out, FZ_OUT_MAX);
    free(buf);
    fz_quiesce();
    fz_check_downlink(out, got, FZ_OUT_MAX);
    return 0;
}
