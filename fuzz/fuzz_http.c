/*
 * Fuzz target: the HTTP request path and the REST handlers' bodies.
 *
 * The input is the byte stream of one client connection to the HTTP port
 * of the in-process petreld (harness.h): http-parser and http.c's limits,
 * keep-alive and pipelining, the router (api.c), every REST handler's
 * query and JSON body parsing and validation down to the store, the
 * static files, the demo app server, the WebSocket upgrade.  So that the
 * handlers behind the signature check are reached, the placeholders
 * @ADMIN@, @FZ1@ and @FZ2@ are replaced by valid userSign tokens of the
 * admin, fz1 and fz2 before the bytes are sent.
 *
 * Oracle beyond sanitizers: what the server sends back parses as a
 * sequence of HTTP/1.1 responses (http-parser, response mode), unless the
 * connection was upgraded or a HEAD request makes lengths ambiguous.
 */
#include "fuzz/harness.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static uint8_t *subst(const uint8_t *d, size_t n, size_t *out_len)
{
    static const char *const ph[] = {"@ADMIN@", "@FZ1@", "@FZ2@"};
    static const char *const who[] = {"admin", "fz1", "fz2"};
    size_t cap = n + 1, len = 0;
    uint8_t *o = malloc(cap);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n;) {
        int hit = -1;
        for (int k = 0; k < 3 && hit < 0; k++) {
            size_t pl = strlen(ph[k]);
            if (n - i >= pl && !memcmp(d + i, ph[k], pl))
                hit = k;
        }
        const uint8_t *piece = d + i;
        size_t pl = 1;
        if (hit >= 0) {
            piece = (const uint8_t *)fz_sign(who[hit]);
            pl = strlen((const char *)piece);
            i += strlen(ph[hit]);
        } else {
            i++;
        }
        if (len + pl > cap) {
            cap = (len + pl) * 2;
            uint8_t *g = realloc(o, cap);
            if (!g) {
                free(o);
                return NULL;
            }
            o = g;
        }
        memcpy(o + len, piece, pl);
        len += pl;
    }
    *out_len = len;
    return o;
}

static int on_message_begin(http_parser *p)
{
    (*(int *)p->data)++;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = fz_out();
    size_t n;
    uint8_t *req = subst(data, size, &n);
    if (!req)
        return 0;
    size_t got = fz_session(FZ_HTTP, req, n, 0, 0, out, FZ_OUT_MAX);
    int head = memmem(req, n, "HEAD", 4) != NULL;
    free(req);
    fz_quiesce();
    if (got == 0 || got > FZ_OUT_MAX || head || memmem(out, got, " 101 Switching", 14))
        return 0;
    http_parser p;
    http_parser_settings s = {.on_message_begin = on_message_begin};
    int responses = 0;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &responses;
    size_t used = http_parser_execute(&p, &s, (const char *)out, got);
    if (HTTP_PARSER_ERRNO(&p) != HPE_OK || used != got) {
        fprintf(stderr, "fuzz_http oracle: the answer is not HTTP (%s at %zu of %zu): %.*s\n",
                http_errno_name(HTTP_PARSER_ERRNO(&p)), used, got, (int)(got < 300 ? got : 300),
                (const char *)out);
        abort();
    }
    return 0;
}
