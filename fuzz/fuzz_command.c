/*
 * Fuzz target: the JSON bodies of the socket commands, as a logged-in
 * user sends them: gw_on_packet's checks (JSON object, fromId, appId),
 * then msg.c (1103 P2P, 1106 read, 1107 receive-ack, 1050 recall), gmsg.c
 * (2104 group message, 2106 group read), LOGOUT, PING and the refusal of
 * everything else, down to the store and the pushes to other users.
 *
 * The input is text, one packet per line: "<command> <JSON body>".  The
 * harness encodes each line with the project's encoder
 * (petrel_encode_up: appId 10000, clientType 3, imei "fz-dev") after a
 * valid LOGIN of fz1, and plays the whole as one connection to the TCP
 * port of the in-process petreld (harness.h), where fz1 has the friend
 * fz2 and owns the group fzg with fz2 and fz3.  Mutating text keeps the
 * fuzzer inside the JSON instead of breaking frame lengths.
 *
 * Oracle beyond sanitizers: the server's output is a sequence of
 * well-formed downlink frames, each a JSON object.
 */
#include "fuzz/harness.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LINES 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = fz_out();
    if (size > (1u << 18))
        return 0;
    /* every line grows by at most the header */
    size_t cap = 2048 + size + (size_t)MAX_LINES * (PETREL_UP_HDR_LEN + 8);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return 0;
    size_t len = fz_login_frame("fz1", buf, cap);
    const char *p = (const char *)data, *end = p + size;
    for (int lines = 0; p < end && lines < MAX_LINES; lines++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        char num[12];
        size_t k = 0;
        while (p + k < le && k < sizeof num - 1 && p[k] >= '0' && p[k] <= '9') {
            num[k] = p[k];
            k++;
        }
        num[k] = '\0';
        const char *body = p + k;
        if (body < le && *body == ' ')
            body++;
        petrel_up_hdr_t h = {.command = (int32_t)atol(num), .version = 1,
                             .client_type = PETREL_CT_ANDROID, .app_id = FZ_APP};
        len += petrel_encode_up(buf + len, cap - len, &h, "fz-dev", 6, body,
                                (size_t)(le - body));
        p = nl ? nl + 1 : end;
    }
    size_t got = fz_session(FZ_TCP, buf, len, 0, 1, out, FZ_OUT_MAX);
    free(buf);
    fz_quiesce();
    fz_check_downlink(out, got, FZ_OUT_MAX);
    return 0;
}
