"""Security of the network edge (issue 14, items 8, 10, 11 and 18), each
test performing the attack against a real petreld:

- descriptor exhaustion (item 8): idle connections past RLIMIT_NOFILE must
  not hang the loops; existing users keep their pings and logins, the log
  stays small, SIGTERM works, and new users get in once the attacker left;
- HTTP error answers (item 10): an over-limit body gets a 413 the client can
  read (no reset), Expect: 100-continue is answered;
- CORS (item 11): off by default, an allow-list with preflight when on;
- log injection (item 18): hostile user ids are quoted in log lines.
"""
import json
import os
import re
import resource
import socket
import struct
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW

T = 5.0 * SLOW


def low_nofile(n):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return set_limit


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


class Attacker:
    """Threads that keep opening idle connections (up to `most`) until
    stopped: the kernel completes them from the listen backlog, so petreld
    always has something to accept while its descriptors are exhausted."""

    def __init__(self, port, threads=4, most=3000):
        self.port, self.most = port, most
        self.socks = []
        self.lock = threading.Lock()
        self.stopping = False
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stopping:
            with self.lock:
                if len(self.socks) >= self.most:
                    break
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            except OSError:
                time.sleep(0.01)
                continue
            with self.lock:
                self.socks.append(s)

    def leave(self):
        self.stopping = True
        for t in self.threads:
            t.join()
        close_all(self.socks)
        self.socks = []


def timed_ping(c):
    t0 = time.monotonic()
    p = c.ping()
    assert p.command == pp.PING, "ping answered with %r" % p
    return time.monotonic() - t0


def login_after(srv, user, deadline_s):
    """Retry connecting+LOGIN until it works (the attacker's descriptors
    come back as the server reads their EOF); returns the client."""
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        try:
            c = pp.TcpClient(srv.tcp_port, timeout=2 * SLOW)
            ack = c.login(user, srv.token(user), imei="after-%d" % time.monotonic_ns())
            if ack.command == pp.LOGINACK:
                srv.clients.append(c)
                return c
            last = ack
            c.close()
        except (OSError, pp.ConnectionClosed, TimeoutError) as e:
            last = e
        time.sleep(0.2)
    raise AssertionError("no login %.0fs after the attacker left: %r" % (deadline_s, last))


def stderr_size(srv):
    return os.path.getsize(srv.stderr_path)


# ============================================================ item 8: EMFILE
def test_fd_exhaustion_does_not_hang_the_server(server):
    """max_connections above what RLIMIT_NOFILE allows, so accept() really
    fails with EMFILE: the listener pauses instead of spinning."""
    srv = server("--workers=2", "--max-connections=100000", start=False)
    srv.preexec_fn = low_nofile(200)
    srv.start()
    assert "connection capacity" in srv.stderr_text()
    srv.ensure_users(["alice", "bob"])
    alice = srv.login("alice", imei="a-1")
    bob_conn = srv.tcp()           # connected before the attack, logs in during it
    size0 = stderr_size(srv)

    attack = [Attacker(srv.tcp_port), Attacker(srv.http_port, threads=1, most=500)]
    try:
        time.sleep(1.0)
        pings = [timed_ping(alice) for _ in range(20)]
        t0 = time.monotonic()
        ack = bob_conn.login("bob", srv.token("bob"), imei="b-1")
        login_s = time.monotonic() - t0
        assert ack.command == pp.LOGINACK, ack
        assert max(pings) < 1.0 * SLOW, "bystander pings during the attack: %r" % pings
        assert login_s < 2.0 * SLOW, "login during the attack took %.2fs" % login_s
        time.sleep(1.0)
        assert timed_ping(alice) < 1.0 * SLOW
        text = srv.stderr_text()
        assert "accept failed" in text, "the attack did not reach EMFILE:\n" + srv.stderr_tail()
        grown = stderr_size(srv) - size0
        assert grown < 8192, "log grew by %d bytes during the attack" % grown
        assert text.count("accept failed") <= 2, srv.stderr_tail()
    finally:
        for a in attack:
            a.leave()

    # the attacker left: new users get in
    c = login_after(srv, "alice", 10 * SLOW)
    assert c.ping().command == pp.PING
    assert timed_ping(alice) < 1.0 * SLOW

    # attack again, then SIGTERM while under attack: prompt clean exit
    attack = Attacker(srv.tcp_port)
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        rc = srv.stop(timeout=15 * SLOW)
        took = time.monotonic() - t0
    finally:
        attack.leave()
    assert rc == 0, "exit code %r after SIGTERM under attack" % rc
    assert took < 8 * SLOW, "SIGTERM under attack took %.1fs" % took


def test_connection_capacity_refuses_with_clear_error(server):
    """Default max_connections (from the fd limit): past it a new
    connection gets ERROR 62060 (HTTP 503) at once, nothing hangs."""
    srv = server("--workers=2", start=False)
    srv.preexec_fn = low_nofile(256)
    srv.start()
    m = re.search(r'msg="connection capacity" max_connections=(\d+) nofile=256',
                  srv.stderr_text())
    assert m, srv.stderr_tail()
    cap = int(m.group(1))
    assert 16 <= cap < 256
    srv.ensure_users(["alice", "bob"])
    alice = srv.login("alice", imei="a-1")
    bob_conn = srv.tcp()           # connected before the attack, logs in during it
    size0 = stderr_size(srv)

    attack = Attacker(srv.tcp_port, most=cap + 200)
    try:
        time.sleep(1.0)
        # a connection past the capacity is told why and closed
        c = pp.TcpClient(srv.tcp_port)
        p = c.recv()
        assert p.command == pp.ERROR and p.data["code"] == 62060, p
        c.expect_closed()
        c.close()
        st, hdrs, body = pp.http_request(srv.http_port, "GET", "/healthz", timeout=T)
        assert st == 503 and json.loads(body)["code"] == 62060, (st, body)
        assert hdrs.get("retry-after") == "1"
        pings = [timed_ping(alice) for _ in range(20)]
        assert max(pings) < 1.0 * SLOW, pings
        t0 = time.monotonic()
        ack = bob_conn.login("bob", srv.token("bob"), imei="b-1")
        assert ack.command == pp.LOGINACK, ack
        assert time.monotonic() - t0 < 2.0 * SLOW
        assert stderr_size(srv) - size0 < 4096, srv.stderr_tail()
        assert srv.stderr_text().count("connection capacity reached") == 1
    finally:
        attack.leave()
    c = login_after(srv, "alice", 10 * SLOW)
    assert c.ping().command == pp.PING
    st, _, body = pp.http_request(srv.http_port, "GET", "/metrics", timeout=T)
    assert st == 200
    m = re.search(rb"^petrel_connections_refused_total (\d+)", body, re.M)
    assert m and int(m.group(1)) >= 2, body[:300]


# ============================================================ item 10: HTTP
def signed(srv, path, user):
    return pp.signed_path(path, srv.secret, user)


def test_413_is_readable_by_a_common_client(srv):
    """http.client sends the whole 2 MiB body before it reads: the 413
    must reach it (no ECONNRESET), and the server keeps serving."""
    import http.client
    for _ in range(3):
        c = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=T)
        try:
            c.request("POST", signed(srv, "/v1/user/getUserSequence", "alice"),
                      body=b"x" * (2 << 20), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            doc = json.loads(r.read())
        finally:
            c.close()
        assert r.status == 413 and doc["code"] == 413, (r.status, doc)
        assert r.getheader("Connection") == "close"
    st, _, body = pp.http_request(srv.http_port, "POST",
                                  signed(srv, "/v1/user/getUserSequence", "alice"), {},
                                  timeout=T)
    assert st == 200, body


def test_413_chunked_then_half_close(srv):
    """A chunked body that grows past the limit: 413, then FIN (EOF for
    the client), not a reset, even though the client goes on sending."""
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=T)
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   % signed(srv, "/v1/user/getUserSequence", "alice")).encode())
        chunk = b"%x\r\n" % (64 * 1024) + b" " * (64 * 1024) + b"\r\n"
        for _ in range(40):                 # 2.5 MiB, well past the 1 MiB limit
            s.sendall(chunk)
        data = b""
        s.settimeout(T)
        while True:
            d = s.recv(65536)               # ConnectionResetError fails the test
            if not d:
                break
            data += d
        assert data.startswith(b"HTTP/1.1 413 "), data[:200]
        assert b"Connection: close" in data
        # the client may still send: the server reads and drops it
        s.sendall(b"more bytes the server must swallow")
    finally:
        s.close()


def read_head(s, deadline_s=T):
    s.settimeout(deadline_s)
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(4096)
        if not d:
            break
        data += d
    return data


def test_expect_100_continue(srv):
    body = json.dumps({}).encode()
    path = signed(srv, "/v1/user/getUserSequence", "alice")
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=T)
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                   % (path, len(body))).encode())
        head = read_head(s)
        assert head == b"HTTP/1.1 100 Continue\r\n\r\n", head
        s.sendall(body)
        resp = read_head(s)
        assert resp.startswith(b"HTTP/1.1 200 "), resp
    finally:
        s.close()


def test_expect_100_continue_too_large_refused_at_once(srv):
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=T)
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                   "Expect: 100-continue\r\n\r\n"
                   % (signed(srv, "/v1/user/getUserSequence", "alice"), 5 << 20)).encode())
        head = read_head(s)
        assert head.startswith(b"HTTP/1.1 413 "), head
        assert b"100 Continue" not in head
    finally:
        s.close()


def test_expect_other_is_417(srv):
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=T)
    try:
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                  b"Expect: teapot\r\n\r\n")
        head = read_head(s)
        assert head.startswith(b"HTTP/1.1 417 "), head
    finally:
        s.close()


# ============================================================ item 11: CORS
GOOD = "https://chat.example.com"


def options(srv, path, origin=None, method=None, headers=None):
    h = {}
    if origin is not None:
        h["Origin"] = origin
    if method is not None:
        h["Access-Control-Request-Method"] = method
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return pp.http_request(srv.http_port, "OPTIONS", path, headers=h, timeout=T)


def test_cors_off_by_default(srv):
    st, hdrs, body = options(srv, "/v1/user/getUserSequence", GOOD, "POST", "content-type")
    assert st == 405, (st, body)
    assert "access-control-allow-origin" not in hdrs
    st, hdrs, _ = pp.http_request(srv.http_port, "POST",
                                  signed(srv, "/v1/user/getUserSequence", "alice"), {},
                                  headers={"Origin": GOOD}, timeout=T)
    assert st == 200
    assert "access-control-allow-origin" not in hdrs and "vary" not in hdrs, hdrs


@pytest.fixture
def corsrv(server):
    s = server("--cors-origins=%s, http://localhost:3000/" % GOOD)
    s.ensure_users(["alice"])
    return s


def test_cors_preflight_allowed_origin(corsrv):
    st, hdrs, body = options(corsrv, "/v1/user/getUserSequence", GOOD, "POST",
                             "Content-Type")
    assert st == 204 and body == b"", (st, hdrs, body)
    assert hdrs["access-control-allow-origin"] == GOOD
    assert "POST" in hdrs["access-control-allow-methods"]
    assert "content-type" in hdrs["access-control-allow-headers"].lower()
    assert "Origin" in hdrs["vary"]
    assert "access-control-allow-credentials" not in hdrs
    # the trailing slash in the list is tolerated; the origin is echoed as sent
    st, hdrs, _ = options(corsrv, "/healthz", "http://localhost:3000", "GET")
    assert st == 204 and hdrs["access-control-allow-origin"] == "http://localhost:3000"
    # the actual request then carries the headers the browser checks
    st, hdrs, body = pp.http_request(corsrv.http_port, "POST",
                                     signed(corsrv, "/v1/user/getUserSequence", "alice"), {},
                                     headers={"Origin": GOOD,
                                              "Content-Type": "application/json"},
                                     timeout=T)
    assert st == 200, body
    assert hdrs["access-control-allow-origin"] == GOOD and hdrs["vary"] == "Origin"
    # errors too (a web client must be able to read a 401)
    st, hdrs, body = pp.http_request(corsrv.http_port, "POST", "/v1/user/getUserSequence", {},
                                     headers={"Origin": GOOD}, timeout=T)
    assert st == 401 and hdrs["access-control-allow-origin"] == GOOD


@pytest.mark.parametrize("origin", [
    "https://evil.example.net",
    "https://chat.example.com.evil.net",     # a listed origin as a prefix
    "https://chat.example.co",               # a prefix of a listed origin
    "http://chat.example.com",               # another scheme
    "null",                                   # sandboxed frames, file://
    "https://chat.example.com, https://evil.example.net",
    GOOD + "/" + "x" * 300,                   # cut by the header buffer
])
def test_cors_never_reflects_an_unlisted_origin(corsrv, origin):
    st, hdrs, body = options(corsrv, "/v1/user/getUserSequence", origin, "POST")
    assert st == 403 and json.loads(body)["code"] == 62061, (st, body)
    assert "access-control-allow-origin" not in hdrs, hdrs
    assert "Origin" in hdrs.get("vary", "")
    st, hdrs, _ = pp.http_request(corsrv.http_port, "POST",
                                  signed(corsrv, "/v1/user/getUserSequence", "alice"), {},
                                  headers={"Origin": origin}, timeout=T)
    assert st == 200 and "access-control-allow-origin" not in hdrs, hdrs
    assert hdrs.get("vary") == "Origin"


def test_cors_preflight_refuses_other_methods_and_headers(corsrv):
    st, hdrs, body = options(corsrv, "/v1/user/getUserSequence", GOOD, "DELETE")
    assert st == 403 and json.loads(body)["code"] == 62062, body
    st, hdrs, body = options(corsrv, "/app/v1/register", GOOD, "GET")
    assert st == 403 and json.loads(body)["code"] == 62062, body
    st, hdrs, body = options(corsrv, "/v1/user/getUserSequence", GOOD, "POST",
                             "content-type, x-evil")
    doc = json.loads(body)
    assert st == 403 and doc["code"] == 62062 and "x-evil" in doc["msg"], body
    assert "access-control-allow-headers" not in hdrs
    # a preflight for an unknown path is a 404
    st, _, _ = options(corsrv, "/v1/nope", GOOD, "POST")
    assert st == 404


# ============================================================ item 18: logs
def parse_logfmt(line):
    """key=value pairs of one logfmt line; values may be "quoted" with
    backslash escapes.  Returns a list of (key, value) in order."""
    out, i, n = [], 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        j = i
        while j < n and line[j] not in "= ":
            j += 1
        key = line[i:j]
        if j >= n or line[j] != "=":
            raise ValueError("not key=value at %d: %r" % (i, line))
        j += 1
        if j < n and line[j] == '"':
            j += 1
            val = []
            while j < n and line[j] != '"':
                if line[j] == "\\":
                    j += 1
                    esc = line[j]
                    if esc == "x":
                        val.append(chr(int(line[j + 1:j + 3], 16)))
                        j += 2
                    else:
                        val.append({"n": "\n", "r": "\r", "t": "\t"}.get(esc, esc))
                else:
                    val.append(line[j])
                j += 1
            if j >= n:
                raise ValueError("unterminated quote: %r" % line)
            j += 1
            value = "".join(val)
        else:
            k = j
            while j < n and line[j] != " ":
                j += 1
            value = line[k:j]
        out.append((key, value))
        i = j
    return out


HOSTILE = ['eve admin=1 level=error msg="owned"',
           'mallory" peer=10.0.0.1 x="',
           'back\\slash\\" user=root']


def test_hostile_user_ids_are_quoted_in_logs(server):
    srv = server("--log-level=debug")
    for uid in HOSTILE:
        srv.ensure_users([uid])
        c = srv.login(uid, imei="dev-1")
        c.send(pp.LOGOUT, {})
        c.close()
    # a second iOS device of the same user kicks the first: an info line
    kicked = HOSTILE[0]
    srv.login(kicked, client_type=pp.CT_IOS, imei="ios-1")
    srv.login(kicked, client_type=pp.CT_IOS, imei="ios-2")
    time.sleep(0.3)
    lines = srv.stderr_text().splitlines()
    for ln in lines:                        # every line is well-formed logfmt
        kv = parse_logfmt(ln)
        keys = [k for k, _ in kv]
        assert keys[:3] == ["ts", "level", "msg"], ln
        assert len(keys) == len(set(keys)), "duplicate key in %r" % ln
    for uid in HOSTILE:
        logins = [dict(parse_logfmt(ln)) for ln in lines if 'msg="login"' in ln]
        mine = [d for d in logins if d.get("user") == uid]
        assert mine, "no login line with user=%r in:\n%s" % (uid, "\n".join(lines[-20:]))
        assert set(mine[0]) == {"ts", "level", "msg", "conn", "app", "user", "clientType",
                                "kicked"}, mine[0]
        assert mine[0]["level"] == "debug"
        outs = [dict(parse_logfmt(ln)) for ln in lines if 'msg="logout"' in ln]
        assert any(d.get("user") == uid and set(d) == {"ts", "level", "msg", "conn", "user"}
                   for d in outs), outs
    kicks = [dict(parse_logfmt(ln)) for ln in lines if 'msg="device kicked"' in ln]
    assert any(d.get("user") == kicked and d["level"] == "info" and
               set(d) == {"ts", "level", "msg", "app", "user", "clientType", "byClientType"}
               for d in kicks), kicks
    assert not any("level=error" in ln.split(" msg=")[0] for ln in lines), lines


# ====================== item 10's class of bug on the binary and WS protocols
def read_until_eof(sock, timeout=T):
    """Everything the server sends until its FIN; ConnectionResetError
    (the bug: the answer destroyed by a reset) propagates."""
    sock.settimeout(timeout)
    data = b""
    while True:
        d = sock.recv(65536)
        if not d:
            return data
        data += d


@pytest.mark.parametrize("logged_in", [False, True])
def test_tcp_error_survives_unread_input(srv, logged_in):
    """An oversized frame followed by more bytes: the ERROR 61002 must
    reach the client (the server lingers, reading and dropping, instead of
    resetting the connection with unread input)."""
    for i in range(5):
        c = srv.login("alice", imei="t-%d" % i) if logged_in else srv.tcp()
        try:
            c.sock.sendall(pp.encode_up(pp.MSG_P2P if logged_in else pp.LOGIN,
                                        b"x" * (200 * 1024)) + b"y" * (1 << 20))
        except OSError:
            pass
        data = read_until_eof(c.sock)
        p, _ = pp.decode_down(bytearray(data))
        assert p is not None and p.command == pp.ERROR and p.data["code"] == 61002, data[:200]
        c.close()
    # nothing lingers for long: the user's device is gone at once
    d = srv.login("bob", imei="b-1")
    assert d.ping().command == pp.PING


def test_ws_error_survives_unread_input(srv):
    w = srv.ws()
    big = pp.ws_frame(pp.OP_BINARY, b"x" * (300 * 1024))
    try:
        w.sock.sendall(big + pp.ws_frame(pp.OP_BINARY, b"y" * 65536) * 8)
    except OSError:
        pass
    data = read_until_eof(w.sock)
    f, _ = pp.ws_parse_frame(bytearray(data))
    assert f is not None and f[2] == pp.OP_CLOSE, data[:200]
    assert struct.unpack("!H", bytes(f[4][:2]))[0] == 1009, f   # message too big
    w.close()
