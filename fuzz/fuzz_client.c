/*
 * Fuzz target: libpetrel's parsers of what a server sends (src/libpetrel/):
 * the WebSocket handshake answer and the server's frames (client.c over
 * wslay), the TCP downlink stream (client.c over the codec), and the HTTP
 * response of petrel_http_post (http_client.c over http-parser).  The
 * petrel CLI, the bench and the tests use these against servers that may
 * be anything at the end of a URL.
 *
 * The first byte chooses the mode (value % 3: TCP, WebSocket, HTTP); the
 * rest is what a fake server on a loopback port sends to the client, on a
 * thread, after reading the client's first bytes; then it closes.  The
 * placeholder @ACCEPT@ becomes the Sec-WebSocket-Accept value for the key
 * the client sent, so that WebSocket inputs get past the handshake.  The
 * client is the real one: petrel_connect / petrel_run until the
 * connection ends, or one petrel_http_post.  Oracle beyond sanitizers:
 * every delivered packet's JSON is NUL-terminated at its length.
 */
#include "petrel/client.h"
#include "petrel/http.h"

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int lfd = -1, port;

typedef struct feed {
    const uint8_t *data;
    size_t len;
} feed_t;

static void *fake_server(void *arg)
{
    feed_t *f = arg;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[4096];
    ssize_t rn = recv(fd, req, sizeof req - 1, 0); /* handshake / request / LOGIN */
    req[rn > 0 ? rn : 0] = '\0';
    char accept_b64[64] = "";
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    if (k) {
        k += 19;
        size_t kl = strcspn(k, "\r\n");
        char buf[160];
        int n = snprintf(buf, sizeof buf, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
                         (int)(kl < 100 ? kl : 100), k);
        unsigned char sha[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)buf, (size_t)n, sha);
        EVP_EncodeBlock((unsigned char *)accept_b64, sha, SHA_DIGEST_LENGTH);
    }
    for (size_t off = 0; off < f->len;) {
        const uint8_t *p = f->data + off;
        size_t n = f->len - off;
        const uint8_t *ph = memmem(p, n, "@ACCEPT@", 8);
        if (ph == p) {
            p = (const uint8_t *)accept_b64;
            n = strlen(accept_b64);
            off += 8;
        } else {
            n = ph ? (size_t)(ph - p) : n;
            off += n;
        }
        if (n && send(fd, p, n, MSG_NOSIGNAL) != (ssize_t)n)
            break;
    }
    shutdown(fd, SHUT_WR);
    while (recv(fd, req, sizeof req, 0) > 0) /* until the client closes */
        ;
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    return NULL;
}

static void on_packet(petrel_client_t *c, int32_t command, const char *json, size_t len,
                      void *userdata)
{
    (void)c, (void)userdata;
    if (json[len] != '\0')
        abort();
    if (getenv("PETREL_FUZZ_SHOW")) /* to check what a seed reaches */
        fprintf(stderr, "packet %d: %s\n", (int)command, json);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    signal(SIGPIPE, SIG_IGN);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 16) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) < 0)
        abort();
    port = ntohs(a.sin_port);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    int mode = data[0] % 3;
    feed_t f = {data + 1, size - 1};
    pthread_t th;
    if (pthread_create(&th, NULL, fake_server, &f) != 0)
        return 0;
    char url[64];
    if (mode == 2) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
        int status;
        char *body = NULL;
        size_t len;
        int rc = petrel_http_post(url, "/v1/user/getUserSequence?appId=1", "{}", 2000, &status,
                                  &body, &len);
        if (rc == 0 && body[len] != '\0')
            abort();
        if (getenv("PETREL_FUZZ_SHOW"))
            fprintf(stderr, "http rc %d status %d body %s\n", rc, rc ? 0 : status, body ? body : "");
        free(body);
    } else {
        snprintf(url, sizeof url, mode ? "ws://127.0.0.1:%d/ws" : "tcp://127.0.0.1:%d", port);
        petrel_client_opts_t o = {.url = url, .app_id = 10000, .client_type = 1,
                                  .user_id = "fz1", .user_sign = "x", .imei = "fz",
                                  .heartbeat_ms = -1, .connect_timeout_ms = 2000,
                                  .on_packet = on_packet};
        petrel_client_t *c = petrel_client_new(&o);
        if (c && petrel_connect(c) == 0) {
            (void)petrel_login(c);
            for (int i = 0; i < 50 && petrel_run(c, 20) == 0 && petrel_is_connected(c); i++)
                ;
        }
        petrel_client_free(c);
    }
    pthread_join(th, NULL);
    return 0;
}
