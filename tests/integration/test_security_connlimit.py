"""Connections per client address (issue 14, item 8 follow-up): one
address must not take all of max_connections and lock new users out.

Each test performs the attack against a real petreld.  One machine has
many loopback addresses (127.0.0.2, 127.0.0.3... are distinct), so the
attacker binds its sockets to 127.0.0.2 while the legitimate users come
from 127.0.0.1; loopback is only limited with
--max-connections-per-ip-loopback, which these tests set.  One test uses a
non-loopback address of this machine (skipped if it has none) to check the
default limit and that loopback stays exempt by default.

- an address at its limit gets ERROR 62120 on the binary port and HTTP 429
  (code 62120) on HTTP and WebSocket; other addresses, logged-in users
  (PING) and new logins are unaffected and fast, measured during a flood of
  refused connects; the log line is rate-limited;
- past max_pending_per_ip connections without LOGIN (a slowloris) an
  address gets 62121 while its logged-in connections keep working;
- the count is given back on every close path (client EOF and RST, login
  timeout, protocol error with unread input (lingering close), policy
  kick, WebSocket upgrade, HTTP Connection: close), checked each time by
  filling the address's quota again exactly: LIMIT connections fit, the
  next is refused.
"""
import contextlib
import http.client
import json
import os
import re
import socket
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW

T = 5.0 * SLOW
ATT = "127.0.0.2"      # the attacker's address
OTHER = "127.0.0.3"    # an unrelated client's address
E_PER_IP = 62120
E_PENDING = 62121

_orig_create_connection = socket.create_connection
_from_lock = threading.Lock()


@contextlib.contextmanager
def from_addr(src):
    """Within the block, sockets made by socket.create_connection (the
    petrelproto clients, http.client) come from address src."""
    def cc(addr, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kw):
        return _orig_create_connection(addr, timeout, (src, 0), **kw)
    with _from_lock:
        socket.create_connection = cc
        try:
            yield
        finally:
            socket.create_connection = _orig_create_connection


def tcp_from(srv, src, timeout=None):
    with from_addr(src):
        return pp.TcpClient(srv.tcp_port, timeout=timeout)


def ws_from(srv, src):
    with from_addr(src):
        return pp.WsClient(srv.http_port)


def retry_refused(fn, deadline_s=10 * SLOW):
    """fn() until petreld accepts it: a connection the test closed just
    before is released when petreld reads its EOF, a moment later."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return fn()
        except Refused:
            if time.monotonic() > deadline:
                raise AssertionError("still refused after %.0fs" % deadline_s)
            time.sleep(0.05)


class Refused(Exception):
    pass


def idle_tcp(srv, src, codes=(E_PER_IP,)):
    """An accepted TCP connection from src (no refusal within 0.2 s)."""
    def one():
        c = tcp_from(srv, src)
        try:
            p = c.recv(0.2)
        except TimeoutError:
            return c
        c.close()
        if p.command == pp.ERROR and p.data.get("code") in codes:
            raise Refused()
        raise AssertionError("new connection got %r" % p)
    return retry_refused(one)


def ws_accepted(srv, src):
    def one():
        try:
            return ws_from(srv, src)
        except pp.ProtocolViolation as e:
            if "429" in str(e):
                raise Refused()
            raise
    return retry_refused(one)


def login_from(srv, src, user, transport="tcp", **kw):
    def one():
        c = idle_tcp(srv, src) if transport == "tcp" else ws_accepted(srv, src)
        ack = c.login(user, srv.token(user), **kw)
        assert ack.command == pp.LOGINACK, ack
        return c
    return one()


def raw_from(src, port, host="127.0.0.1"):
    s = _orig_create_connection((host, port), T, (src, 0))
    s.settimeout(T)
    return s


def http_keepalive(port, src, host="127.0.0.1"):
    """An HTTP connection from src that got one answer (so petreld accepted
    it) and stays open (keep-alive).  -> (conn or None, status, body)."""
    h = http.client.HTTPConnection(host, port, timeout=T, source_address=(src, 0))
    try:
        h.request("GET", "/healthz")
        r = h.getresponse()
        body = r.read()
    except (ConnectionError, http.client.HTTPException, OSError) as e:
        h.close()
        return None, None, repr(e)
    if r.status != 200 or r.getheader("connection", "").lower() == "close":
        h.close()
        return None, r.status, body
    return h, r.status, body


def assert_refused_tcp(port, src, host="127.0.0.1", code=E_PER_IP):
    c = pp.TcpClient.__new__(pp.TcpClient)
    pp.BaseClient.__init__(c)
    c.sock = raw_from(src, port, host)
    c.buf = bytearray()
    try:
        p = c.recv(T)
        assert p.command == pp.ERROR and p.data["code"] == code, p
        assert "address" in p.data["msg"], p
        rest, _ = c.expect_closed(T)
        assert not rest, rest
    finally:
        c.close()


def assert_refused_http(port, src, host="127.0.0.1", code=E_PER_IP):
    h = http.client.HTTPConnection(host, port, timeout=T, source_address=(src, 0))
    try:
        h.request("GET", "/healthz")
        r = h.getresponse()
        body = r.read()
        assert r.status == 429, (r.status, body)
        assert json.loads(body)["code"] == code, body
        assert r.getheader("retry-after") == "1"
    finally:
        h.close()


def close_all(conns):
    for c in conns:
        try:
            c.close()
        except OSError:
            pass


def fill(port, src, n, deadline_s, host="127.0.0.1"):
    """Open n HTTP keep-alive connections from src, each answered 200.
    Connections closed just before are released asynchronously (when
    petreld reads their EOF), so retry until the deadline; returns them."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        conns = []
        for _ in range(n):
            h, st, body = http_keepalive(port, src, host)
            if h is None:
                last = (st, body)
                break
            conns.append(h)
        if len(conns) == n:
            return conns
        close_all(conns)
        if time.monotonic() > deadline:
            raise AssertionError("only %d of %d connections from %s fit after %.0fs: %r"
                                 % (len(conns), n, src, deadline_s, last))
        time.sleep(0.1)


def exactly(srv, src, n, deadline_s=10 * SLOW):
    """src's quota is whole again: n connections fit, the next is refused."""
    conns = fill(srv.http_port, src, n, deadline_s)
    try:
        assert_refused_tcp(srv.tcp_port, src)
        assert_refused_http(srv.http_port, src)
    finally:
        close_all(conns)


def no_data(c, wait=0.3):
    """c was accepted: no refusal arrives, it stays open."""
    try:
        p = c.recv(wait)
    except TimeoutError:
        return
    raise AssertionError("accepted connection got %r" % p)


def timed_ping(c):
    t0 = time.monotonic()
    p = c.ping()
    assert p.command == pp.PING, "ping answered with %r" % p
    return time.monotonic() - t0


class Flood:
    """Threads connecting from src again and again (each connection is
    refused with 62120) until stopped; counts the refusals."""

    def __init__(self, port, src, threads=2, code=E_PER_IP):
        self.port, self.src, self.code = port, src, code
        self.refused = 0
        self.other = []
        self.stopping = False
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stopping:
            try:
                s = raw_from(self.src, self.port)
                d = b""
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    d += b
                s.close()
            except OSError as e:
                with self.lock:
                    self.other.append(repr(e))
                continue
            with self.lock:
                if b'"code":%d' % self.code in d:
                    self.refused += 1
                else:
                    self.other.append(d[:100])

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join()


def loopback_server(server, limit, *flags):
    return server("--workers=2", "--max-connections-per-ip-loopback=%d" % limit, *flags)


# ============================================================ the attack


def test_one_address_cannot_lock_out_new_users(server):
    LIMIT = 12
    srv = loopback_server(server, LIMIT, "--login-timeout-ms=60000",
                          "--http-idle-timeout-ms=60000")
    assert re.search(r'msg="connections per address" max_connections_per_ip=1000 '
                     r'max_connections_per_ip_loopback=%d' % LIMIT, srv.stderr_text())
    srv.ensure_users(["alice", "bob"])
    alice = srv.login("alice", imei="a-1")       # from 127.0.0.1, before the attack
    size0 = os.path.getsize(srv.stderr_path)

    # the attacker takes its whole quota: idle TCP (no LOGIN), keep-alive
    # HTTP and WebSocket, all counted together
    tcp = [tcp_from(srv, ATT) for _ in range(4)]
    ws = [ws_from(srv, ATT) for _ in range(4)]
    https = fill(srv.http_port, ATT, LIMIT - 8, T)
    for c in tcp + ws:
        no_data(c)
    try:
        # past it: refused on every port, clearly, and closed
        assert_refused_tcp(srv.tcp_port, ATT)
        assert_refused_http(srv.http_port, ATT)
        with pytest.raises(pp.ProtocolViolation, match="429"):
            ws_from(srv, ATT)

        # a flood of connects from that address: the others do not notice
        flood = Flood(srv.tcp_port, ATT)
        try:
            time.sleep(0.5)
            pings = [timed_ping(alice) for _ in range(20)]
            assert max(pings) < 1.0 * SLOW, pings
            t0 = time.monotonic()
            bob = srv.login("bob", imei="b-1")       # a fresh connection and LOGIN
            assert time.monotonic() - t0 < 2.0 * SLOW
            assert bob.ping().command == pp.PING
            st, _, _ = pp.http_request(srv.http_port, "GET", "/healthz", timeout=T)
            assert st == 200
            # another address has its own quota
            others = fill(srv.http_port, OTHER, 3, T)
            close_all(others)
            t0 = time.monotonic()
            w = srv.ws()
            assert w.login("alice", srv.token("alice"), imei="a-ws").command == pp.LOGINACK
            assert time.monotonic() - t0 < 2.0 * SLOW
        finally:
            flood.stop()
        assert flood.refused >= 20, (flood.refused, flood.other[:5])
        assert not flood.other, flood.other[:5]
        # the refusals did not eat into anyone's count: still exactly full
        assert_refused_tcp(srv.tcp_port, ATT)
        for c in tcp:
            no_data(c, 0.05)
        # one log line for all of it (rate-limited), naming the address
        text = srv.stderr_text()
        assert text.count("connections per address reached") == 1, srv.stderr_tail()
        assert re.search(r'connections per address reached.*addr=127\.0\.0\.2 '
                         r'max_connections_per_ip=%d' % LIMIT, text)
        assert os.path.getsize(srv.stderr_path) - size0 < 4096, srv.stderr_tail()
        st, _, body = pp.http_request(srv.http_port, "GET", "/metrics", timeout=T)
        m = re.search(rb"^petrel_connections_refused_per_ip_total (\d+)", body, re.M)
        assert m and int(m.group(1)) >= flood.refused + 4, body[:300]
    finally:
        close_all(tcp + ws + https)

    # the attacker left: its address may connect again, LIMIT times exactly
    exactly(srv, ATT, LIMIT)


# ============================================================ every close path


def test_count_released_on_every_close_path(server):
    LIMIT = 6
    srv = loopback_server(server, LIMIT, "--login-policy=1", "--login-timeout-ms=%d" % (1500 * SLOW))
    users = ["k%d" % i for i in range(LIMIT)]
    srv.ensure_users(users)
    exactly(srv, ATT, LIMIT)

    # client EOF on idle connections, RST on logged-in ones
    idle = [idle_tcp(srv, ATT) for _ in range(LIMIT // 2)]
    authed = [login_from(srv, ATT, u, imei=u) for u in users[:LIMIT - len(idle)]]
    assert_refused_tcp(srv.tcp_port, ATT)
    close_all(idle)
    for c in authed:
        c.reset()
    exactly(srv, ATT, LIMIT)

    # login timeout (61009): the server closes them
    idle = [idle_tcp(srv, ATT) for _ in range(LIMIT)]
    assert_refused_tcp(srv.tcp_port, ATT)
    for c in idle:
        c.expect_error(61009, closes=True, timeout=5 * T)
    exactly(srv, ATT, LIMIT)
    close_all(idle)

    # protocol error with unread input behind it: 61000 and a lingering close
    bad = [idle_tcp(srv, ATT) for _ in range(LIMIT)]
    for c in bad:
        c.send_raw(b"\xff" * 64 + b"more input the server never reads" * 100)
    for c in bad:
        c.expect_error(61000, closes=True)
    exactly(srv, ATT, LIMIT)
    close_all(bad)

    # kicked by the policy (mode 1: a new login kicks the others), from
    # another address; and an ERROR that closes a WebSocket
    ks = [login_from(srv, ATT, u, imei="old", client_type=pp.CT_IOS) for u in users[:LIMIT // 2]]
    wss = [ws_accepted(srv, ATT) for _ in range(LIMIT - len(ks))]
    assert_refused_tcp(srv.tcp_port, ATT)
    for u, c in zip(users, ks):
        new = srv.login(u, imei="new", client_type=pp.CT_WEB)     # from 127.0.0.1
        p = c.recv()
        assert p.command == pp.MUTUALLOGIN, p
        c.expect_closed()
        new.close()
    for w in wss:
        w.send(pp.PING, {})                                          # before LOGIN: 61006, closed
        w.expect_error(61006, closes=True)
    exactly(srv, ATT, LIMIT)
    close_all(ks + wss)

    # WebSocket logged in, closed by the client (close frame); HTTP
    # answered with Connection: close
    wss = [login_from(srv, ATT, u, transport="ws", imei="ws", client_type=pp.CT_WEB)
           for u in users[:LIMIT // 2]]
    closers = [c.sock for c in fill(srv.http_port, ATT, LIMIT - len(wss), 10 * SLOW)]
    assert_refused_tcp(srv.tcp_port, ATT)
    for w in wss:
        w.send_close(1000)
        w.wait_tcp_eof(T)
    for s in closers:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.settimeout(T)
        s.settimeout(T)
        while s.recv(65536):
            pass
    exactly(srv, ATT, LIMIT)
    close_all(wss + closers)
    assert "connections per address reached" in srv.stderr_text()


# ============================================================ slowloris


def test_connections_without_login_limited_per_address(server):
    """A slowloris from one address (HTTP requests that never end, sockets
    that never LOGIN) holds at most max_pending_per_ip connections; its
    logged-in connections, other addresses and new users are unaffected."""
    PENDING = 5
    srv = loopback_server(server, 20, "--max-pending-per-ip=%d" % PENDING,
                          "--login-timeout-ms=60000", "--http-idle-timeout-ms=60000")
    assert re.search(r"max_pending_per_ip=%d" % PENDING, srv.stderr_text())
    users = ["u%d" % i for i in range(3)]
    srv.ensure_users(users + ["alice", "bob"])
    alice = srv.login("alice", imei="a-1")
    # logged-in connections from that address do not count as pending
    mine = [login_from(srv, ATT, u, imei=u) for u in users]
    slow = []
    try:
        for i in range(PENDING):
            s = raw_from(ATT, srv.http_port)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")   # never finished
            slow.append(s)
        time.sleep(0.2)
        for s in slow:
            s.sendall(b"X-Slow: 1\r\n")
        # 3 + 5 of 20: the total is not the limit, the pending count is
        assert_refused_tcp(srv.tcp_port, ATT, code=E_PENDING)
        assert_refused_http(srv.http_port, ATT, code=E_PENDING)
        flood = Flood(srv.tcp_port, ATT, code=E_PENDING)
        try:
            time.sleep(0.3)
            pings = [timed_ping(alice) for _ in range(20)]
            assert max(pings) < 1.0 * SLOW, pings
            for c in mine:
                assert timed_ping(c) < 1.0 * SLOW
            t0 = time.monotonic()
            srv.login("bob", imei="b-1")
            assert time.monotonic() - t0 < 2.0 * SLOW
            close_all(fill(srv.http_port, OTHER, PENDING, T))
        finally:
            flood.stop()
        assert flood.refused >= 10 and not flood.other, (flood.refused, flood.other[:5])
        assert "which=pending" in srv.stderr_text()
    finally:
        close_all(slow)

    # the slowloris left: PENDING connections without LOGIN fit again...
    idle = [idle_tcp(srv, ATT, codes=(E_PENDING,)) for _ in range(PENDING)]
    assert_refused_tcp(srv.tcp_port, ATT, code=E_PENDING)
    # ...and one of them logging in makes room for exactly one more
    assert idle[0].login(users[0], srv.token(users[0]), imei="again").command == pp.LOGINACK
    idle.append(idle_tcp(srv, ATT, codes=()))
    assert_refused_tcp(srv.tcp_port, ATT, code=E_PENDING)
    close_all(idle + mine)


# ============================================================ defaults


def local_ipv4():
    """A non-loopback IPv4 address of this machine, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


def test_defaults_limit_other_addresses_not_loopback(server):
    """By default loopback is not counted (tests, bench, a local proxy);
    any other address is, at max_connections_per_ip."""
    ip = local_ipv4()
    if ip is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    LIMIT = 5
    srv = server("--workers=2", "--max-connections-per-ip=%d" % LIMIT, listen_flags=False,
                 start=False)
    srv.flags += ["--tcp-listen=0.0.0.0:{tcp_port}", "--http-listen=0.0.0.0:{http_port}"]
    srv.start()
    # loopback: far more than LIMIT from one address
    many = fill(srv.http_port, ATT, 3 * LIMIT, T)
    tcps = [tcp_from(srv, ATT) for _ in range(LIMIT)]
    for c in tcps:
        no_data(c, 0.05)
    close_all(many + tcps)
    # the machine's own non-loopback address: limited
    conns = fill(srv.http_port, ip, LIMIT, T, host=ip)
    try:
        assert_refused_tcp(srv.tcp_port, ip, host=ip)
        assert_refused_http(srv.http_port, ip, host=ip)
        st, _, _ = pp.http_request(srv.http_port, "GET", "/healthz", timeout=T)
        assert st == 200
    finally:
        close_all(conns)
    close_all(fill(srv.http_port, ip, LIMIT, 10 * SLOW, host=ip))


def test_ipv6_counts_by_64_and_mapped_ipv4_as_ipv4(server):
    """On a dual-stack listener ([::]) an IPv6 peer is counted under its
    /64 (here ::1, loopback, so with the loopback limit set) and an IPv4
    one (::ffff:127.0.0.2) under its IPv4 address, each refused past it."""
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    LIMIT = 4
    srv = server("--workers=2", "--max-connections-per-ip-loopback=%d" % LIMIT,
                 listen_flags=False, start=False)
    srv.flags += ["--tcp-listen=[::]:{tcp_port}", "--http-listen=[::]:{http_port}"]
    srv.start()
    v6 = fill(srv.http_port, "::1", LIMIT, T, host="::1")
    try:
        assert_refused_tcp(srv.tcp_port, "::1", host="::1")
        assert_refused_http(srv.http_port, "::1", host="::1")
        assert re.search(r"connections per address reached.*addr=::/64 ", srv.stderr_text())
        v4 = fill(srv.http_port, ATT, LIMIT, T)        # its own count
        try:
            assert_refused_tcp(srv.tcp_port, ATT)
            assert_refused_http(srv.http_port, ATT)
        finally:
            close_all(v4)
    finally:
        close_all(v6)
    close_all(fill(srv.http_port, "::1", LIMIT, 10 * SLOW, host="::1"))


def test_limit_is_at_most_half_the_capacity(server):
    """With few descriptors (max_connections small) one address still only
    gets half of them: the default 1000 is lowered, and said so."""
    import resource

    srv = server("--workers=2", "--max-connections-per-ip-loopback=100000", start=False)
    srv.preexec_fn = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    srv.start()
    text = srv.stderr_text()
    cap = int(re.search(r'msg="connection capacity" max_connections=(\d+)', text).group(1))
    m = re.search(r'msg="connections per address" max_connections_per_ip=(\d+) '
                  r'max_connections_per_ip_loopback=(\d+)', text)
    assert m and int(m.group(1)) == cap // 2 and int(m.group(2)) == cap // 2, (cap, text[-2000:])
    half = cap // 2
    conns = fill(srv.http_port, ATT, half, T)
    try:
        assert_refused_tcp(srv.tcp_port, ATT)
        # the other half is there for everyone else
        others = fill(srv.http_port, OTHER, 10, T)
        close_all(others)
    finally:
        close_all(conns)
