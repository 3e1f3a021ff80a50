"""The HTTP server (docs/API.md "Conventions" and "Operations"), black-box
over raw sockets: keep-alive, pipelining (also with requests that go to the
thread pool), Connection: close and HTTP/1.0, request limits (413, 414,
431, 400) and that the server keeps serving after them, /healthz,
/metrics (parsed with prometheus_client), and the static files of
web_root (types, traversal, hidden files)."""
import json
import socket
import time

import pytest

import petrelproto as pp
from conftest import SLOW

T = 5.0 * SLOW
MIB = 1 << 20


# ============================================================ raw HTTP client
class Resp:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body = headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Resp(%d %s %r %r)" % (self.status, self.reason, self.headers, self.body[:200])


class RawConn:
    """One client connection; read_response() parses exactly one response
    (Content-Length or chunked) so several can be read off one stream."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=T)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no (complete) response from the server")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no (complete) response from the server")
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            raise EOFError("connection closed; pending %r" % bytes(self.buf[:200]))
        self.buf += d

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, timeout=T):
        deadline = time.monotonic() + timeout
        status_line = self._line(deadline).decode("latin-1")
        parts = status_line.split(" ", 2)
        assert len(parts) >= 2 and parts[0].startswith("HTTP/1."), \
            "bad status line %r" % status_line
        headers = {}
        while True:
            ln = self._line(deadline)
            if not ln:
                break
            k, _, v = ln.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._line(deadline).split(b";")[0], 16)
                if size == 0:
                    while self._line(deadline):
                        pass
                    break
                body += self._take(size, deadline)
                assert self._take(2, deadline) == b"\r\n"
        else:
            assert "content-length" in headers, \
                "response without Content-Length or chunked: %s %r" % (status_line, headers)
            body = self._take(int(headers["content-length"]), deadline)
        return Resp(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", headers, body)

    def closed_by_server(self, timeout=T):
        """True when the server closes the connection (EOF/RST) within
        timeout with nothing more sent; AssertionError on extra bytes."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
                raise AssertionError("bytes after the response: %r" % bytes(self.buf[:200]))
        except EOFError:
            return True
        except TimeoutError:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def conns():
    made = []

    def make(port):
        c = RawConn(port)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def req(method, path, body=b"", headers=(), version="HTTP/1.1"):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    lines = ["%s %s %s" % (method, path, version), "Host: 127.0.0.1"]
    lines += ["%s: %s" % kv for kv in headers]
    if body or method == "POST":
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def check_envelope(r, what):
    """Every answer, errors included, is the JSON envelope {code,msg,data}."""
    try:
        doc = r.json()
    except ValueError:
        raise AssertionError("%s: body is not JSON: %r" % (what, r))
    assert isinstance(doc, dict) and set(doc) == {"code", "msg", "data"}, (what, doc)
    assert isinstance(doc["code"], int) and isinstance(doc["msg"], str), (what, doc)
    if r.status != 200:
        assert doc["code"] != 200 and doc["data"] is None, (what, doc)
    return doc


def assert_healthy(srv):
    assert srv.alive(), "petreld died:\n" + srv.stderr_tail()
    st, _, data = pp.http_get(srv.http_port, "/healthz", timeout=T)
    assert st == 200, (st, data)
    assert json.loads(data)["data"]["store"] == "ok", data


def signed(srv, path, user):
    return pp.signed_path(path, srv.secret, user)


# ============================================================= keep-alive
def test_keep_alive_sequential(srv, conns):
    c = conns(srv.http_port)
    expect = []
    for i in range(4):
        c.send(req("GET", "/healthz"))
        r = c.read_response()
        assert r.status == 200 and r.json()["data"]["status"] == "up", (i, r)
        assert r.headers.get("connection", "keep-alive").lower() != "close", r
        expect.append(r.status)
        c.send(req("POST", signed(srv, "/v1/user/data/getSingleUserInfo", "alice"),
                   {"userId": "bob"}))
        r = c.read_response()
        assert r.status == 200 and r.json()["data"]["userId"] == "bob", (i, r)
        c.send(req("GET", "/no/such/thing-%d" % i))
        r = c.read_response()
        assert r.status == 404, (i, r)
    # still open: another request on the same connection works
    c.send(req("GET", "/healthz"))
    assert c.read_response().status == 200


def test_pipelining_in_order(srv, conns):
    c = conns(srv.http_port)
    batch = [
        req("POST", signed(srv, "/v1/user/data/getSingleUserInfo", "alice"), {"userId": "bob"}),
        req("GET", "/healthz"),
        req("GET", "/definitely-missing"),
        req("POST", signed(srv, "/v1/user/data/getSingleUserInfo", "admin"),
            {"userId": "carol"}),
        req("GET", "/healthz"),
    ]
    for rnd in range(3):
        c.send(b"".join(batch))   # one write
        got = [c.read_response() for _ in batch]
        assert [r.status for r in got] == [200, 200, 404, 200, 200], got
        assert got[0].json()["data"]["userId"] == "bob", got[0]
        assert got[1].json()["data"]["status"] == "up", got[1]
        assert got[3].json()["data"]["userId"] == "carol", got[3]
        assert got[4].json()["data"]["status"] == "up", got[4]
    assert not c.buf, "extra bytes after the pipelined responses: %r" % bytes(c.buf)


def test_pipelining_many_pool_requests(srv, conns):
    """Pool requests answer in request order even when interleaved with
    inline ones and when many are in flight."""
    users = ["alice", "bob", "carol", "dave", "erin"]
    c = conns(srv.http_port)
    batch, want = [], []
    for i in range(20):
        u = users[i % 5]
        batch.append(req("POST", signed(srv, "/v1/user/data/getSingleUserInfo", "admin"),
                         {"userId": u}))
        want.append(u)
        if i % 3 == 0:
            batch.append(req("GET", "/healthz"))
            want.append("healthz")
    c.send(b"".join(batch))
    for i, w in enumerate(want):
        r = c.read_response()
        assert r.status == 200, (i, r)
        d = r.json()["data"]
        got = "healthz" if "status" in d else d["userId"]
        assert got == w, "response %d: expected %s, got %s" % (i, w, got)


def test_connection_close_honoured(srv, conns):
    c = conns(srv.http_port)
    c.send(req("GET", "/healthz", headers=[("Connection", "close")]))
    r = c.read_response()
    assert r.status == 200, r
    assert c.closed_by_server(), "server kept the connection open after Connection: close"


def test_connection_close_in_a_pipeline(srv, conns):
    c = conns(srv.http_port)
    c.send(req("GET", "/healthz") + req("GET", "/healthz", headers=[("Connection", "close")]) +
           req("GET", "/metrics"))
    assert c.read_response().status == 200
    assert c.read_response().status == 200
    assert c.closed_by_server(), "requests after Connection: close were served"


def test_http10_closed_after_response(srv, conns):
    c = conns(srv.http_port)
    c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.json()["data"]["status"] == "up", r
    assert c.closed_by_server(), "HTTP/1.0 connection without keep-alive left open"


def test_http10_post_closed_after_response(srv, conns):
    c = conns(srv.http_port)
    c.send(req("POST", signed(srv, "/v1/user/data/getSingleUserInfo", "alice"), {},
               version="HTTP/1.0"))
    r = c.read_response()
    assert r.status == 200 and r.json()["data"]["userId"] == "alice", r
    assert c.closed_by_server()


# ================================================================= limits
def expect_status(srv, conns, data, status, what):
    c = conns(srv.http_port)
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass   # the server may refuse before reading everything
    try:
        r = c.read_response()
    except (EOFError, TimeoutError) as e:
        raise AssertionError("%s: no %d response (%s)" % (what, status, e))
    assert r.status == status, "%s: expected %d, got %r" % (what, status, r)
    check_envelope(r, what)
    assert_healthy(srv)
    return r


def test_body_too_large_declared(srv, conns):
    p = signed(srv, "/v1/user/getUserSequence", "alice")
    data = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (p, MIB + 1)).encode()
    expect_status(srv, conns, data, 413, "Content-Length 1 MiB + 1 without a body")
    data = ("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n").encode()
    expect_status(srv, conns, data, 413, "huge Content-Length")


def test_body_too_large_chunked(srv, conns):
    p = signed(srv, "/v1/user/getUserSequence", "alice")
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % p).encode()
    chunk = b"%x\r\n" % (64 * 1024) + b" " * (64 * 1024) + b"\r\n"
    data = head + chunk * 17 + b"0\r\n\r\n"   # 1 MiB + 64 KiB
    expect_status(srv, conns, data, 413, "chunked body over 1 MiB")


def test_body_of_one_mib_accepted(srv, conns):
    p = signed(srv, "/v1/user/data/getSingleUserInfo", "alice")
    prefix, suffix = b'{"userId":"alice","pad":"', b'"}'
    body = prefix + b"x" * (MIB - len(prefix) - len(suffix)) + suffix
    assert len(body) == MIB
    c = conns(srv.http_port)
    c.send(req("POST", p, body))
    r = c.read_response(timeout=2 * T)
    assert r.status == 200 and r.json()["data"]["userId"] == "alice", r
    # the chunked equivalent
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % p).encode()
    c.send(head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    r = c.read_response(timeout=2 * T)
    assert r.status == 200 and r.json()["data"]["userId"] == "alice", r


def test_url_too_long(srv, conns):
    expect_status(srv, conns, req("GET", "/healthz?" + "a" * 5000), 414, "URL of 5 KiB")
    expect_status(srv, conns, req("GET", "/" + "b" * 4200), 414, "path of 4.2 KiB")
    # a 3.5 KiB URL is fine
    r = expect_status(srv, conns, req("GET", "/healthz?x=" + "c" * 3500), 200, "URL of 3.5 KiB")
    assert r.json()["data"]["status"] == "up"


def test_headers_too_large(srv, conns):
    expect_status(srv, conns, req("GET", "/healthz", headers=[("X-Big", "v" * (17 * 1024))]),
                  431, "one 17 KiB header")
    many = [("X-H%03d" % i, "w" * 500) for i in range(40)]   # ~20 KiB in total
    expect_status(srv, conns, req("GET", "/healthz", headers=many), 431, "40 x 500 B headers")
    # 8 KiB of headers is fine
    few = [("X-H%03d" % i, "w" * 500) for i in range(16)]
    expect_status(srv, conns, req("GET", "/healthz", headers=few), 200, "8 KiB of headers")


@pytest.mark.parametrize("line", [b"garbage", b"GET", b"GET /healthz HTTX/1.1",
                                  b"GET  HTTP/1.1", b"\x01\x02\x03 / HTTP/1.1"],
                         ids=["garbage", "method-only", "bad-version", "no-target", "binary"])
def test_malformed_request_line(srv, conns, line):
    expect_status(srv, conns, line + b"\r\nHost: x\r\n\r\n", 400, "request line %r" % line)


@pytest.mark.parametrize("body", [b"{not json", b"[1,2,3]", b'"str"', b"42", b"\xff\xfe{}",
                                  b'{"a":1}garbage'],
                         ids=["broken", "array", "string", "number", "bad-utf8", "trailing"])
def test_bad_json_body_on_v1(srv, conns, body):
    c = conns(srv.http_port)
    c.send(req("POST", signed(srv, "/v1/user/data/getSingleUserInfo", "alice"), body))
    r = c.read_response()
    assert r.status == 400, r
    doc = r.json()
    assert doc.get("code") == 90001 and set(doc) == {"code", "msg", "data"}, doc
    # the connection (or at least the server) is still usable
    assert_healthy(srv)


# ================================================================ healthz
def test_healthz(srv):
    st, hdrs, data = pp.http_get(srv.http_port, "/healthz", timeout=T)
    assert st == 200 and hdrs.get("content-type", "").startswith("application/json"), (st, hdrs)
    doc = json.loads(data)
    assert doc["code"] == 200 and doc["msg"] == "success", doc
    assert doc["data"]["status"] == "up" and doc["data"]["store"] == "ok", doc
    assert doc["data"]["onlineDevices"] == 0, doc
    c = srv.login("alice", client_type=pp.CT_IOS, imei="hz-1")
    doc = json.loads(pp.http_get(srv.http_port, "/healthz", timeout=T)[2])
    assert doc["data"]["onlineDevices"] == 1, doc
    c.close()


# ================================================================ metrics
def scrape(srv):
    from prometheus_client.parser import text_string_to_metric_families
    st, hdrs, data = pp.http_get(srv.http_port, "/metrics", timeout=T)
    assert st == 200, (st, data[:300])
    assert hdrs.get("content-type", "").startswith("text/plain"), hdrs
    text = data.decode("utf-8")
    try:
        fams = list(text_string_to_metric_families(text))
    except Exception as e:   # noqa: BLE001 - any parse error fails the test
        pytest.fail("/metrics is not valid Prometheus text: %r\n%s" % (e, text[:2000]))
    samples = {}
    for f in fams:
        for s in f.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, "duplicate sample %r" % (key,)
            samples[key] = s.value
    return fams, samples


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics(srv):
    fams, before = scrape(srv)
    names = {f.name for f in fams}
    for want in ("petrel_connections", "petrel_online_devices", "petrel_online_users",
                 "petrel_logins", "petrel_kicks", "petrel_packets_in", "petrel_packets_out",
                 "petrel_bytes_in", "petrel_bytes_out", "petrel_errors",
                 "petrel_http_requests", "petrel_store_commits",
                 "petrel_store_commit_seconds", "petrel_store_queued"):
        assert want in names, "metric family %s missing (have %s)" % (want, sorted(names))

    c = srv.login("alice", client_type=pp.CT_IOS, imei="m-1")   # ok
    bad = srv.tcp()
    bad.send(pp.LOGIN, {"userId": "bob", "userSign": pp.make_token("wrong-secret", "bob")},
             client_type=pp.CT_IOS, imei="m-2")
    bad.expect_error(pp.E_SIGN_INVALID, closes=True)               # failed
    assert pp.http_get(srv.http_port, "/healthz", timeout=T)[0] == 200

    fams, after = scrape(srv)
    assert val(after, "petrel_logins_total", result="ok") >= \
        val(before, "petrel_logins_total", result="ok") + 1, after
    assert val(after, "petrel_logins_total", result="failed") >= \
        val(before, "petrel_logins_total", result="failed") + 1, after
    assert val(after, "petrel_http_requests_total", path="/healthz", status="200") >= 1, \
        sorted(k for k in after if k[0] == "petrel_http_requests_total")
    assert val(after, "petrel_errors_total", code="60003") >= \
        val(before, "petrel_errors_total", code="60003") + 1, \
        sorted((k, v) for k, v in after.items() if k[0] == "petrel_errors_total")
    assert val(after, "petrel_online_users") == 1, after
    assert val(after, "petrel_online_devices", transport="tcp", client_type="ios") == 1 or \
        sum(v for k, v in after.items() if k[0] == "petrel_online_devices") == 1, after

    # the commit histogram is consistent, and users were imported, so it moved
    hist = [f for f in fams if f.name == "petrel_store_commit_seconds"]
    assert len(hist) == 1 and hist[0].type == "histogram", hist
    inf = val(after, "petrel_store_commit_seconds_bucket", le="+Inf")
    count = val(after, "petrel_store_commit_seconds_count")
    assert inf == count and count >= 1, (inf, count)
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                     if k[0] == "petrel_store_commit_seconds_bucket")
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), \
        "histogram buckets not cumulative: %r" % buckets
    assert val(after, "petrel_store_commits_total") >= count, after
    c.close()


def test_metrics_http_errors_counted(srv, conns):
    _, before = scrape(srv)
    st, _, _ = pp.http_request(srv.http_port, "POST", "/v1/user/getUserSequence?appId=10000",
                               b"{}", timeout=T)
    assert st == 401
    _, after = scrape(srv)
    assert val(after, "petrel_errors_total", code="60002") == \
        val(before, "petrel_errors_total", code="60002") + 1, after
    assert val(after, "petrel_http_requests_total", path="/v1/user/getUserSequence",
               status="401") == val(before, "petrel_http_requests_total",
                                    path="/v1/user/getUserSequence", status="401") + 1


# =========================================================== static files
INDEX = b"<!doctype html><title>petrel test</title><p>hello from index</p>\n"
APPJS = b"console.log('petrel test app');\n"


@pytest.fixture
def websrv(server, tmp_path):
    root = tmp_path / "webroot"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "app.js").write_bytes(APPJS)
    (root / ".hidden").write_bytes(b"hidden file\n")
    (root / "sub" / "page.html").write_bytes(b"<p>sub</p>")
    (tmp_path / "outside.txt").write_bytes(b"outside the web root\n")
    return server("--web-root=%s" % root)


def get_raw(port, target):
    """GET with the target sent byte for byte (no client normalisation)."""
    c = RawConn(port)
    try:
        c.send(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target).encode())
        return c.read_response()
    finally:
        c.close()


def test_static_index_and_js(websrv):
    r = get_raw(websrv.http_port, "/")
    assert r.status == 200 and r.body == INDEX, r
    assert r.headers.get("content-type", "").startswith("text/html"), r.headers
    r = get_raw(websrv.http_port, "/index.html")
    assert r.status == 200 and r.body == INDEX, r
    r = get_raw(websrv.http_port, "/app.js")
    assert r.status == 200 and r.body == APPJS, r
    assert r.headers.get("content-type", "").startswith("text/javascript"), r.headers
    r = get_raw(websrv.http_port, "/sub/page.html")
    assert r.status == 200 and r.body == b"<p>sub</p>", r


@pytest.mark.parametrize("target", [
    "/../etc/passwd", "/../outside.txt", "/%2e%2e/outside.txt", "/%2e%2e/",
    "/%2E%2E/etc/passwd", "/sub/../../outside.txt", "/sub/%2e%2e/%2e%2e/outside.txt",
    "/..%2foutside.txt", "/.hidden", "/sub/.hidden", "/%2ehidden", "/missing.html",
    "/sub/missing.js", "/nope/",
])
def test_static_refused(websrv, target):
    r = get_raw(websrv.http_port, target)
    assert r.status == 404, "%s: expected 404, got %r" % (target, r)
    check_envelope(r, target)
    assert b"root:" not in r.body and b"outside the web root" not in r.body \
        and b"hidden file" not in r.body, r
    assert_healthy(websrv)
