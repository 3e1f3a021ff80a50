/*
 * The in-process petreld of the socket fuzz targets (see harness.h): start
 * it as main.c does, play each input as a client over loopback, and keep
 * the store writer from falling behind the fuzzer.
 */
#include "fuzz/harness.h"

#include "petrel/sign.h"
#include "server/app/boot.h"
#include "server/core/log.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static server_t srv;
static int started;
static int show_answers; /* PETREL_FUZZ_SHOW=1: print every answer (to check seeds) */
static int ports[2];
static char data_dir[64];

#define FZ_USERS 5 /* admin, fz1..fz4 */
static const char *const users[FZ_USERS] = {"admin", "fz1", "fz2", "fz3", "fz4"};
static char tokens[FZ_USERS][PETREL_SIGN_MAX_TOKEN + 1];

static void die(const char *what)
{
    fprintf(stderr, "fuzz harness: %s\n", what);
    abort();
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_data_dir(void)
{
    if (data_dir[0])
        nftw(data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A run that crashed (the point of fuzzing) never reaches atexit: remove
 * the data directories of runs whose process is gone (/tmp/petrel-fuzz-<pid>-*). */
static void remove_stale_dirs(void)
{
    DIR *d = opendir("/tmp");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid;
        char path[300];
        struct stat sb;
        if (sscanf(e->d_name, "petrel-fuzz-%ld-", &pid) != 1 || pid <= 0)
            continue;
        snprintf(path, sizeof path, "/tmp/%s", e->d_name);
        if (kill((pid_t)pid, 0) < 0 && errno == ESRCH && lstat(path, &sb) == 0 &&
            S_ISDIR(sb.st_mode) && sb.st_uid == getuid())
            nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    closedir(d);
}

uint8_t *fz_out(void)
{
    static uint8_t *out;
    if (!out && !(out = malloc(FZ_OUT_MAX)))
        die("out of memory");
    return out;
}

const char *fz_sign(const char *user)
{
    for (int i = 0; i < FZ_USERS; i++)
        if (!strcmp(users[i], user))
            return tokens[i];
    static char tok[PETREL_SIGN_MAX_TOKEN + 1];
    if (petrel_sign_make(FZ_SECRET, FZ_APP, user, 86400, time(NULL), tok, sizeof tok) < 0)
        die("cannot sign a token");
    return tok;
}

size_t fz_login_frame(const char *user, uint8_t *out, size_t cap)
{
    char body[PETREL_SIGN_MAX_TOKEN + 256];
    int n = snprintf(body, sizeof body, "{\"userId\":\"%s\",\"userSign\":\"%s\"}", user,
                     fz_sign(user));
    petrel_up_hdr_t h = {.command = PETREL_CMD_LOGIN, .version = 1,
                         .client_type = PETREL_CT_ANDROID, .app_id = FZ_APP};
    size_t len = petrel_encode_up(out, cap, &h, "fz-dev", 6, body, (size_t)n);
    if (len > cap)
        die("LOGIN frame does not fit");
    return len;
}

/* One REST call during setup; it must succeed. */
static void rest(const char *as, const char *path, const char *body)
{
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "POST %s?appId=%d&identifier=%s&userSign=%s HTTP/1.1\r\nHost: fuzz\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     path, FZ_APP, as, fz_sign(as), strlen(body), body);
    if (n <= 0 || (size_t)n >= sizeof req)
        die("setup request too long");
    uint8_t out[8192];
    size_t got = fz_session(FZ_HTTP, (const uint8_t *)req, (size_t)n, 0, 0, out, sizeof out - 1);
    out[got < sizeof out ? got : sizeof out - 1] = '\0';
    if (!strstr((char *)out, "\"code\":200")) {
        fprintf(stderr, "fuzz harness: setup %s failed: %s\n", path, (char *)out);
        abort();
    }
}

/* ---- fz2's web device: the receiving end of the pushes ---------------- */

static int connect_to(int port);

static int peer_fd = -1;
static int64_t peer_ping_us;

static void peer_send_packet(int32_t cmd, const char *body, size_t blen)
{
    uint8_t pkt[2048], fr[2100];
    petrel_up_hdr_t h = {.command = cmd, .version = 1, .client_type = PETREL_CT_WEB,
                         .app_id = FZ_APP};
    size_t n = petrel_encode_up(pkt, sizeof pkt, &h, "fz-peer", 7, body, blen);
    size_t fl = n <= sizeof pkt ? fz_ws_frame(1, 0x2, pkt, n, fr, sizeof fr) : sizeof fr + 1;
    if (fl > sizeof fr || send(peer_fd, fr, fl, MSG_NOSIGNAL) != (ssize_t)fl)
        die("cannot send on fz2's WebSocket");
}

/* Log fz2 in over WebSocket and keep the connection: messages and
 * notifications the inputs send to fz2 then go through the push path
 * (deliver_user, the worker inbox, ws_send_frame) with fuzzed content. */
static void peer_start(void)
{
    static const char up[] = "GET /ws HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: ZnV6ei1wZWVyLWtleQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n";
    peer_fd = connect_to(ports[FZ_HTTP]);
    if (send(peer_fd, up, sizeof up - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof up - 1))
        die("cannot send fz2's upgrade");
    char body[PETREL_SIGN_MAX_TOKEN + 64];
    int bl = snprintf(body, sizeof body, "{\"userId\":\"fz2\",\"userSign\":\"%s\"}",
                      fz_sign("fz2"));
    peer_send_packet(PETREL_CMD_LOGIN, body, (size_t)bl);
    char in[4096];
    size_t got = 0;
    int64_t until = mono_us() + 5000000;
    while (!memmem(in, got, "\"userId\":\"fz2\"", 14)) {
        if (mono_us() > until || got == sizeof in)
            die("fz2's WebSocket login was not answered");
        struct pollfd p = {.fd = peer_fd, .events = POLLIN};
        ssize_t n = poll(&p, 1, 100) > 0 ? recv(peer_fd, in + got, sizeof in - got, 0) : -2;
        if (n == 0 || n == -1)
            die("fz2's WebSocket closed during login");
        if (n > 0)
            got += (size_t)n;
    }
    peer_ping_us = mono_us();
}

/* After each input: read and drop what fz2 got; PING every 5 s (the
 * heartbeat).  An input may end fz2's session (a REST deleteUser, say):
 * the device is then simply gone. */
static void peer_service(void)
{
    if (peer_fd < 0)
        return;
    for (;;) {
        uint8_t buf[65536];
        ssize_t n = recv(peer_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0 && show_answers)
            fprintf(stderr, "---- fz2 got %zd bytes: %.*s\n", n, (int)(n < 300 ? n : 300),
                    (const char *)buf);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        close(peer_fd);
        peer_fd = -1;
        return;
    }
    if (mono_us() - peer_ping_us > 5000000) {
        peer_ping_us = mono_us();
        peer_send_packet(PETREL_CMD_PING, "{}", 2);
    }
}

server_t *fz_start(void)
{
    if (started)
        return &srv;
    started = 1;
    signal(SIGPIPE, SIG_IGN);
    show_answers = getenv("PETREL_FUZZ_SHOW") != NULL;
    server_t *s = &srv;
    config_defaults(&s->cfg);
    remove_stale_dirs();
    snprintf(data_dir, sizeof data_dir, "/tmp/petrel-fuzz-%ld-XXXXXX", (long)getpid());
    if (!mkdtemp(data_dir))
        die("mkdtemp failed");
    atexit(remove_data_dir);
    config_t *c = &s->cfg;
    snprintf(c->data_dir, sizeof c->data_dir, "%s", data_dir);
    c->workers = 1;
    snprintf(c->tcp_listen, sizeof c->tcp_listen, "127.0.0.1:0");
    snprintf(c->http_listen, sizeof c->http_listen, "127.0.0.1:0");
    snprintf(c->web_root, sizeof c->web_root, "%s/web", PETREL_SOURCE_DIR);
    const char *lvl = getenv("PETREL_FUZZ_LOG");
    snprintf(c->log_level, sizeof c->log_level, "%s", lvl ? lvl : "error");
    snprintf(c->app_secret, sizeof c->app_secret, "%s", FZ_SECRET);
    c->explicit_mask |= CONFIG_SET_APP_SECRET;
    c->store_sync_full = 0;      /* no fsync: speed, the data is thrown away */
    c->store_commit_delay_us = 0;
    log_set_level(log_level_parse(c->log_level));

    s->nworkers = 1;
    if (server_open(s) < 0) /* what petreld's main() opens, in its order */
        die("cannot open the server");
    if (workers_start(s) < 0)
        die("cannot start the worker");
    ports[FZ_TCP] = net_worker_port(&s->workers[0], CONN_TCP);
    ports[FZ_HTTP] = net_worker_port(&s->workers[0], CONN_HTTP);
    if (ports[FZ_TCP] <= 0 || ports[FZ_HTTP] <= 0)
        die("cannot read a listener's port");

    for (int i = 0; i < FZ_USERS; i++)
        if (petrel_sign_make(FZ_SECRET, FZ_APP, users[i], 86400, time(NULL), tokens[i],
                             sizeof tokens[i]) < 0)
            die("cannot sign a token");
    rest("admin", "/v1/user/importUser",
         "{\"userData\":[{\"userId\":\"fz1\",\"nickName\":\"F1\"},{\"userId\":\"fz2\"},"
         "{\"userId\":\"fz3\"},{\"userId\":\"fz4\",\"friendAllowType\":2}]}");
    rest("admin", "/v1/friendship/importFriendShip",
         "{\"fromId\":\"fz1\",\"friendItem\":[{\"toId\":\"fz2\"}]}");
    rest("admin", "/v1/friendship/importFriendShip",
         "{\"fromId\":\"fz2\",\"friendItem\":[{\"toId\":\"fz1\"}]}");
    rest("fz1", "/v1/group/createGroup",
         "{\"groupId\":\"fzg\",\"groupType\":1,\"groupName\":\"G\",\"member\":[\"fz2\",\"fz3\"]}");
    fz_quiesce();
    peer_start();
    return s;
}

void fz_quiesce(void)
{
    int64_t deadline = mono_us() + 5000000;
    for (;;) {
        store_stats_t st;
        store_get_stats(srv.store, &st);
        if (st.queued == 0 || mono_us() > deadline)
            return;
        usleep(100);
    }
}

static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = -1;
    /* retried: on a machine shared with other test runs the ephemeral
     * ports may be short for a moment (EADDRNOTAVAIL) */
    for (int tries = 0;; tries++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket failed");
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            break;
        int err = errno;
        close(fd);
        if (tries == 100) {
            fprintf(stderr, "fuzz harness: connect to the server failed: %s\n", strerror(err));
            abort();
        }
        usleep(100000);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Read what arrives within wait_ms: 1 if something did, 0 if not, -1 once
 * the server closed. */
static int drain(int fd, uint8_t *out, size_t cap, size_t *got, int wait_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, wait_ms) <= 0)
        return 0;
    uint8_t buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return -1;
    if (n > 0) {
        if (out && *got < cap) {
            size_t k = (size_t)n < cap - *got ? (size_t)n : cap - *got;
            memcpy(out + *got, buf, k);
        }
        *got += (size_t)n;
        return 1;
    }
    return 0;
}

size_t fz_session(enum fz_port port, const uint8_t *data, size_t len, size_t chunk,
                  int settle, uint8_t *out, size_t cap)
{
    int fd = connect_to(ports[port]);
    size_t got = 0, off = 0;
    if (chunk && len / chunk > FZ_MAX_PIECES) /* each piece is a round trip */
        chunk = (len + FZ_MAX_PIECES - 1) / FZ_MAX_PIECES;
    int closed = 0;
    while (off < len && !closed) {
        size_t n = chunk && chunk < len - off ? chunk : len - off;
        uint64_t before = atomic_load(&srv.metrics.bytes_in);
        ssize_t w = send(fd, data + off, n, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server closed: the rest cannot be delivered */
        off += (size_t)w;
        if (chunk) {
            /* let the server read this piece on its own (bounded: it may
             * have stopped reading, e.g. while a request is answered) */
            int64_t until = mono_us() + 50000;
            while (atomic_load(&srv.metrics.bytes_in) < before + (uint64_t)w &&
                   mono_us() < until && !closed) {
                int r = drain(fd, out, cap, &got, 0);
                closed = r < 0;
                if (r == 0)
                    usleep(10);
            }
        } else {
            closed = drain(fd, out, cap, &got, 0) < 0;
        }
    }
    if (settle && !closed) {
        /* answers that come from the store writer or the thread pool
         * (acks, pushes) arrive after the read that caused them: wait for
         * the writer, then until the connection is quiet for 5 ms (at most
         * 1 s), so that they still find the connection open */
        fz_quiesce();
        int64_t until = mono_us() + 1000000;
        int r;
        while ((r = drain(fd, out, cap, &got, 5)) > 0 && mono_us() < until)
            ;
        closed = r < 0;
    }
    shutdown(fd, SHUT_WR);
    /* a hang is 30 s of silence: slow answers (pipelined scrypt logins,
     * say) keep coming and are not one */
    int64_t deadline = mono_us() + 30000000;
    while (!closed) {
        if (mono_us() > deadline)
            die("the server neither answered nor closed for 30 s after the client's half-close");
        int r = drain(fd, out, cap, &got, 100);
        closed = r < 0;
        if (r > 0)
            deadline = mono_us() + 30000000;
    }
    if (show_answers && out) {
        fprintf(stderr, "---- answer (%zu bytes)\n", got);
        fwrite(out, 1, got < cap ? got : cap, stderr);
        fprintf(stderr, "\n----\n");
    }
    /* reset rather than TIME_WAIT: the fuzzer opens thousands of these */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    peer_service();
    return got;
}

size_t fz_ws_frame(int fin, int opcode, const uint8_t *payload, size_t len, uint8_t *out,
                   size_t cap)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t hl = 2 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8) + 4;
    if (hl + len > cap)
        return hl + len;
    size_t o = 0;
    out[o++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[o++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[o++] = 0x80 | 126;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    } else {
        out[o++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[o++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(out + o, key, 4);
    o += 4;
    for (size_t i = 0; i < len; i++)
        out[o + i] = payload[i] ^ key[i & 3];
    return o + len;
}

void fz_check_downlink(const uint8_t *out, size_t len, size_t cap)
{
    size_t n = len < cap ? len : cap;
    size_t off = 0;
    while (off < n) {
        int32_t cmd;
        const char *json;
        size_t jl, fl;
        int r = petrel_decode_down(out + off, n - off, UINT32_MAX >> 1, &cmd, &json, &jl, &fl);
        if (r == PETREL_DEC_NEED_MORE && len > cap)
            return; /* cut by us */
        if (r != PETREL_DEC_OK) {
            fprintf(stderr, "fuzz oracle: malformed downlink frame at %zu of %zu (rc %d)\n",
                    off, n, r);
            abort();
        }
        json_error_t e;
        json_t *o = json_loadb(json, jl, 0, &e);
        if (!json_is_object(o)) {
            fprintf(stderr, "fuzz oracle: downlink %d is not a JSON object: %.*s\n", (int)cmd,
                    (int)(jl < 200 ? jl : 200), json);
            abort();
        }
        json_decref(o);
        off += fl;
    }
}
