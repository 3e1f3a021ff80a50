"""Issue 14 item 14: a flood of /app/v1/register (and /app/v1/login) must
not starve everyone else.

Password hashing runs on a pool of its own with a bounded queue (a full
queue answers 503/62002 at once), so REST reads and socket LOGINs, which
use libuv's thread pool, stay fast while many connections register; and
registrations and login attempts are throttled per client IP (429/62003,
429/62004).  The flood test measures a second client's socket LOGIN, PING
and a REST read (getUserInfo, which runs on libuv's pool) during the
attack and asserts a generous bound."""
import http.client
import json
import statistics
import threading
import time

import petrelproto as pp
from conftest import SLOW

TIMEOUT = 30.0 * SLOW

E_PW_BUSY = 62002
E_REG_THROTTLED = 62003
E_LOGIN_THROTTLED = 62004


def post(port, path, body, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        c.request("POST", path, body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        if conn is None:
            c.close()


def register(s, name, pw="password-1"):
    return post(s.http_port, "/app/v1/register", {"userName": name, "password": pw})


def login(s, name, pw="password-1"):
    return post(s.http_port, "/app/v1/login", {"userName": name, "password": pw})


def test_register_throttled_per_ip(server):
    s = server("--demo-app-register-per-ip=4")
    for i in range(4):
        st, r = register(s, "early%d" % i)
        assert (st, r.get("code")) == (200, 200), (i, st, r)
    for name in ("late0", "late1"):
        st, r = register(s, name)
        assert (st, r.get("code")) == (429, E_REG_THROTTLED), (st, r)
        assert r.get("msg") == "too many registrations from this address, try later", r
    # nothing was created for the refused ones
    st, doc = s.api("/v1/user/data/getSingleUserInfo", {"userId": "late0"})
    assert doc["code"] == 20001, doc
    # the accounts that exist still log in (another throttle)
    st, r = login(s, "early0")
    assert (st, r.get("code")) == (200, 200), (st, r)


def test_login_attempts_throttled_per_ip(server):
    s = server("--demo-app-login-per-ip=5")
    st, r = register(s, "steady")
    assert r.get("code") == 200, r
    # successful logins count too: a valid account cannot be used to keep
    # the password pool busy
    for i in range(5):
        st, r = login(s, "steady")
        assert (st, r.get("code")) == (200, 200), (i, st, r)
    st, r = login(s, "steady")
    assert (st, r.get("code")) == (429, E_LOGIN_THROTTLED), (st, r)
    assert r.get("msg") == "too many login attempts from this address, try later", r
    # the IM service itself is not throttled: a socket LOGIN works
    c = s.login("alice", imei="a-1")
    assert c.ping().command == pp.PING


def pctl(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def test_register_flood_keeps_login_and_rest_fast(server):
    # throttles out of the way: this measures the pool separation and the
    # queue bound (as from many addresses, or behind a proxy)
    s = server("--demo-app-register-per-ip=1000", "--demo-app-login-per-ip=1000",
               "--password-threads=1", "--password-queue=16")
    s.ensure_users(["bystander"] + ["probe%d" % i for i in range(400)])
    by = s.login("bystander", imei="by-1")
    rest_path = pp.signed_path("/v1/user/data/getUserInfo", s.secret, "bystander", ttl=3600)

    def rest_once():
        t0 = time.monotonic()
        st, _, data = pp.http_request(s.http_port, "POST", rest_path,
                                      {"userIds": ["bystander"]}, timeout=TIMEOUT)
        assert st == 200 and json.loads(data)["code"] == 200, (st, data)
        return time.monotonic() - t0

    def login_once(i):
        t0 = time.monotonic()
        c = s.tcp()
        ack = c.login("probe%d" % i, s.token("probe%d" % i), imei="p-%d" % i)
        assert ack.command == pp.LOGINACK, ack
        dt = time.monotonic() - t0
        c.close()
        return dt

    def ping_once():
        t0 = time.monotonic()
        assert by.ping().command == pp.PING
        return time.monotonic() - t0

    # baseline
    base = [rest_once() for _ in range(5)] + [login_once(i) for i in range(5)]

    stop = threading.Event()
    counts = {"ok": 0, "busy": 0, "other": []}
    lock = threading.Lock()

    def flooder(k):
        conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=TIMEOUT)
        n = 0
        while not stop.is_set():
            try:
                st, r = post(s.http_port, "/app/v1/register",
                             {"userName": "flood%d_%d" % (k, n), "password": "password-1"},
                             conn=conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=TIMEOUT)
                continue
            n += 1
            with lock:
                if r.get("code") == 200:
                    counts["ok"] += 1
                elif (st, r.get("code")) == (503, E_PW_BUSY):
                    counts["busy"] += 1
                else:
                    counts["other"].append((st, r))
        conn.close()

    flooders = [threading.Thread(target=flooder, args=(k,), daemon=True) for k in range(48)]
    for t in flooders:
        t.start()
    time.sleep(1.0)   # let the queue fill
    rest, logins, pings = [], [], []
    deadline = time.monotonic() + 6.0
    i = 5
    while time.monotonic() < deadline:
        rest.append(rest_once())
        logins.append(login_once(i))
        pings.append(ping_once())
        i += 1
        time.sleep(0.05)
    stop.set()
    for t in flooders:
        t.join(TIMEOUT)

    assert not counts["other"], counts["other"][:5]
    # the attack really ran: hashes were done and the bounded queue refused
    assert counts["ok"] >= 3, counts
    assert counts["busy"] >= 10, counts
    summary = ("baseline p50 %.1f ms; during flood: REST p50 %.1f p95 %.1f ms, LOGIN p50 "
               "%.1f p95 %.1f ms, PING p50 %.1f ms (%d samples; %d registered, %d busy)" % (
                   statistics.median(base) * 1e3,
                   statistics.median(rest) * 1e3, pctl(rest, 0.95) * 1e3,
                   statistics.median(logins) * 1e3, pctl(logins, 0.95) * 1e3,
                   statistics.median(pings) * 1e3, len(rest), counts["ok"], counts["busy"]))
    print(summary)
    assert len(rest) >= 10, summary
    # generous bounds (before the fix the p50s were 1.5 s with 32 clients;
    # the machine is shared, hence the slack)
    assert statistics.median(rest) < 0.25 * SLOW, summary
    assert statistics.median(logins) < 0.25 * SLOW, summary
    assert statistics.median(pings) < 0.25 * SLOW, summary
    assert pctl(rest, 0.95) < 1.0 * SLOW and pctl(logins, 0.95) < 1.0 * SLOW, summary
    # and sign-up works again at once
    st, r = register(s, "after.flood")
    assert (st, r.get("code")) == (200, 200), (st, r)


def test_shutdown_during_flood(server):
    """SIGTERM while the password queue is full: the process exits 0
    promptly (waiting jobs are cancelled, running ones finish, no reply is
    sent to a worker that is gone), and every registration answered 200
    is there after a restart."""
    s = server("--demo-app-register-per-ip=1000", "--password-queue=16")
    results = {}
    lock = threading.Lock()

    def one(k):
        try:
            r = register(s, "bye%d" % k)
        except (OSError, http.client.HTTPException, ValueError) as e:
            r = ("conn", type(e).__name__)
        with lock:
            results[k] = r

    ts = [threading.Thread(target=one, args=(k,), daemon=True) for k in range(24)]
    for t in ts:
        t.start()
    time.sleep(0.3 * SLOW)
    t0 = time.monotonic()
    assert s.stop() == 0, s.stderr_tail()
    took = time.monotonic() - t0
    for t in ts:
        t.join(TIMEOUT)
    assert took < 10 * SLOW, took
    assert len(results) == 24
    ok = []
    for k, r in results.items():
        if r[0] == "conn":
            continue   # HTTP connections still waiting are closed by the shutdown
        st, doc = r
        assert doc.get("code") in (200, E_PW_BUSY, 61016), r
        if doc.get("code") == 200:
            ok.append(k)
    assert ok, results
    s2 = server(data_dir=s.data_dir, app_secret=s.secret)
    for k in ok:
        st, r = login(s2, "bye%d" % k)
        assert r.get("code") == 200, (k, r)
