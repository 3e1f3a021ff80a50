"""Issue 14, items 16 and 17: token lifetime, and a health check that tells
the truth about storage.

Item 16 (tokens): a correctly signed userSign whose issue time lies 30
years ahead used to be accepted (and so lived 30 years); one with a ttl of
years too.  Now LOGIN and REST refuse a token issued more than
token_clock_skew ahead (62100) or with a ttl over token_max_lifetime
(62101), while the lifetimes real clients sign with keep working.

Item 17 (storage): /healthz answered 200 while a full disk failed every
write, and after petrel.db was deleted at runtime, which then lost every
message acked meanwhile at the next start (an empty database, silently).
Each test performs the failure and checks: the refusals (no ack for what
is not durable), /healthz and /metrics, that a legitimate user on the side
still gets pongs and logins, and what the next start does.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

import petrelproto as pp
from conftest import PETRELD, SLOW, STORE, child_env, free_port
from test_messages import MSG_P2P, WEB, Dev, check_ack, check_refused, mk, sync_all

YEAR = 365 * 86400
E_FUTURE = 62100
E_LIFETIME = 62101
E_GONE = 62102
E_FAILING = 62103
T = 10 * SLOW


# ================================================================ helpers
def healthz(srv):
    st, _, data = pp.http_get(srv.http_port, "/healthz", timeout=T)
    return st, json.loads(data)


def metric(srv, name):
    st, _, body = pp.http_get(srv.http_port, "/metrics", timeout=T)
    assert st == 200
    for ln in body.decode().splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[1])
    raise AssertionError("metric %s missing" % name)


def rest_with_token(srv, user, token, path="/v1/user/data/getSingleUserInfo", body=None):
    q = "%s?appId=%d&identifier=%s&userSign=%s" % (path, pp.APP_ID, user, token)
    st, _, data = pp.http_request(srv.http_port, "POST", q,
                                  body if body is not None else {"userId": user}, timeout=T)
    return st, json.loads(data)


def login_with(srv, user, token, transport="tcp", imei="i1"):
    c = srv.client(transport)
    c.send(pp.LOGIN, {"userId": user, "userSign": token}, client_type=pp.CT_IOS, imei=imei)
    return c


def assert_login_ok(srv, user, token, transport="tcp", imei="ok-1"):
    c = login_with(srv, user, token, transport, imei)
    p = c.recv()
    assert p.command == pp.LOGINACK, "legitimate token refused: %r" % (p,)
    c.close()


def bystander_latency(srv, dev):
    """(ping round trip, fresh login time) of a legitimate user, seconds."""
    t0 = time.monotonic()
    p = dev.c.ping()
    ping = time.monotonic() - t0
    assert p.command == pp.PING, p
    t0 = time.monotonic()
    c = srv.login("dave", client_type=pp.CT_ANDROID, imei="dave-%d" % int(t0 * 1000))
    login = time.monotonic() - t0
    c.close()
    return ping, login


def run_petreld(data_dir, *flags, env=None, timeout=None):
    """Start petreld on data_dir; returns (exit code or None if it is still
    running after `timeout` s, stderr text).  A running one is stopped."""
    argv = [PETRELD, "--data-dir=" + str(data_dir), "--app-secret=guard-secret",
            "--tcp-listen=127.0.0.1:%d" % free_port(),
            "--http-listen=127.0.0.1:%d" % free_port()] + STORE.flags(data_dir) + list(flags)
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=child_env(env))
    try:
        _, err = p.communicate(timeout=timeout or 3 * SLOW)
        return p.returncode, err.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        p.terminate()
        _, err = p.communicate(timeout=T)
        return None, err.decode("utf-8", "replace")


# ================================================================ item 16: tokens
@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_token_issued_30_years_ahead_is_refused(srv, transport):
    now = int(time.time())
    future = srv.token("alice", ttl=3600, issued=now + 30 * YEAR)
    c = login_with(srv, "alice", future, transport)
    c.expect_error(E_FUTURE, closes=True, command=pp.LOGIN)
    st, doc = rest_with_token(srv, "alice", future)
    assert st == 401 and doc["code"] == E_FUTURE, (st, doc)
    # legitimate: a little clock skew (60 s ahead) and an ordinary token
    assert_login_ok(srv, "alice", srv.token("alice", issued=now + 60), transport)
    assert_login_ok(srv, "alice", srv.token("alice"), transport, imei="ok-2")
    st, doc = rest_with_token(srv, "alice", srv.token("alice", issued=now + 60))
    assert st == 200 and doc["code"] == 200, doc


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_token_lifetime_is_capped(srv, transport):
    forever = srv.token("alice", ttl=30 * YEAR)
    c = login_with(srv, "alice", forever, transport)
    c.expect_error(E_LIFETIME, closes=True, command=pp.LOGIN)
    st, doc = rest_with_token(srv, "alice", forever)
    assert st == 401 and doc["code"] == E_LIFETIME, (st, doc)
    one_more = srv.token("alice", ttl=30 * 86400 + 1)
    st, doc = rest_with_token(srv, "alice", one_more)
    assert st == 401 and doc["code"] == E_LIFETIME, (st, doc)
    # what real clients sign with: CLI 1 day, demo app server 7 days, the
    # seeds' app server 500000 s, and the cap itself (30 days)
    for i, ttl in enumerate((86400, 7 * 86400, 500000, 30 * 86400)):
        assert_login_ok(srv, "alice", srv.token("alice", ttl=ttl), transport, imei="ttl-%d" % i)
        st, doc = rest_with_token(srv, "alice", srv.token("alice", ttl=ttl))
        assert st == 200 and doc["code"] == 200, (ttl, doc)


def test_token_forged_future_token_is_still_invalid(srv):
    # the policy judges genuine tokens only: a forged one answers 60003
    doc = pp.decode_token(srv.token("alice", ttl=3600))
    doc["TLS.expireTime"] += 30 * YEAR
    c = login_with(srv, "alice", pp.encode_token_doc(doc))
    c.expect_error(pp.E_SIGN_INVALID, closes=True, command=pp.LOGIN)


def test_token_policy_is_configurable(server):
    s = server("--token-max-lifetime=3600", "--token-clock-skew=0", "--app-token-ttl=3600")
    s.ensure_users(["alice"])
    now = int(time.time())
    st, doc = rest_with_token(s, "alice", s.token("alice", ttl=3601))
    assert st == 401 and doc["code"] == E_LIFETIME, doc
    st, doc = rest_with_token(s, "alice", s.token("alice", ttl=600, issued=now + 5))
    assert st == 401 and doc["code"] == E_FUTURE, doc
    assert_login_ok(s, "alice", s.token("alice", ttl=3600))


def test_app_token_ttl_over_the_cap_is_a_config_error(tmp_path):
    code, err = run_petreld(tmp_path / "d", "--token-max-lifetime=3600", "--app-token-ttl=7200")
    assert code == 2 and "token_max_lifetime" in err, (code, err)


def test_demo_app_server_tokens_still_log_in(srv):
    st, _, data = pp.http_request(srv.http_port, "POST", "/app/v1/register",
                                  {"userName": "tokuser", "password": "pw-123456",
                                   "registerType": 1}, timeout=T)
    assert st == 200, data
    st, _, data = pp.http_request(srv.http_port, "POST", "/app/v1/login",
                                  {"userName": "tokuser", "password": "pw-123456",
                                   "loginType": 1}, timeout=T)
    d = json.loads(data)
    assert st == 200 and d["code"] == 200, d
    uid, tok = d["data"]["userId"], d["data"]["userSign"]
    c = srv.tcp()
    assert c.login(uid, tok, client_type=pp.CT_IOS, imei="app-1").command == pp.LOGINACK


# ================================================================ item 17: storage
def _send_acked(dev, n):
    """n messages alice -> bob, each acked 200; returns their messageIds."""
    mids = []
    for _ in range(n):
        m = mk("bob")
        dev.send(MSG_P2P, m)
        check_ack(dev.take_ack(m["messageId"]), m["messageId"], "bob")
        mids.append(m["messageId"])
    return mids


def _stored_mids(srv):
    return {r["messageId"] for r in sync_all(srv, "alice")}


@pytest.mark.sqlite_only("deletes or replaces the SQLite database file (PostgreSQL keeps its "
                         "own files)")
@pytest.mark.parametrize("how", ["deleted", "replaced", "wal-deleted"])
def test_database_file_gone_at_runtime(server, tmp_path, how):
    s = server()
    s.ensure_users(["alice", "bob", "carol", "dave"])
    alice = Dev(s, "alice", WEB)
    Dev(s, "bob", WEB)
    by = Dev(s, "carol", WEB)   # a legitimate user on the side
    _send_acked(alice, 20)
    st, doc = healthz(s)
    assert st == 200 and doc["data"]["store"] == "ok", doc
    db = os.path.join(s.data_dir, "petrel.db")

    # the attack (or accident)
    if how == "deleted":
        os.unlink(db)
    elif how == "replaced":
        shutil.copy(db, db + ".copy")
        os.replace(db + ".copy", db)
    else:
        os.unlink(db + "-wal")

    # health notices it without any write
    st, doc = healthz(s)
    assert st == 503 and doc["code"] == E_GONE and doc["data"]["store"] == "gone", (st, doc)
    assert metric(s, "petrel_store_db_gone") == 1

    # no more acks: every send is refused with 62102, nothing is acked
    for _ in range(5):
        m = mk("bob")
        alice.send(MSG_P2P, m)
        check_refused(alice.take_ack(m["messageId"]), E_GONE, m["messageId"])
    st, doc = s.api("/v1/user/importUser", {"userData": [{"userId": "newbie"}]})
    assert (st, doc["code"]) == (503, E_GONE) and "deleted or replaced" in doc["msg"], (st, doc)
    assert metric(s, "petrel_store_write_failures_total") >= 6
    # reads and the legitimate user's pings and logins keep working
    ping, login = bystander_latency(s, by)
    assert ping < 1.0 * SLOW and login < 2.0 * SLOW, (ping, login)
    st, doc = healthz(s)
    assert st == 503 and doc["code"] == E_GONE, doc
    assert "restart" in doc["msg"], doc
    assert s.stop() == 0

    if how == "replaced":
        # the file now at the path is a valid database (a copy without the
        # WAL's tail): it starts; what the server acked went to the file it
        # had open, which is why it stopped acking the moment it was swapped
        s2 = server(app_secret=s.secret, data_dir=s.data_dir)
        assert healthz(s2)[0] == 200
        return

    if how == "deleted":
        # the next start refuses the empty database...
        code, err = run_petreld(s.data_dir)
        assert code == 1 and "refusing to start" in err, (code, err)
        assert not os.path.exists(db), "a refused start must not create the database"
        # ...unless told to, and then begins anew without the stale WAL
        code, err = run_petreld(s.data_dir, "--allow-empty-db=1")
        assert code is None, (code, err)
        assert "EMPTY DATABASE" in err, err
    else:
        # the database without its WAL starts, missing the acked tail:
        # which is why the server refused to ack once the WAL was gone
        s2 = server(app_secret=s.secret, data_dir=s.data_dir)
        assert healthz(s2)[0] == 200


@pytest.mark.sqlite_only("the data directory guard watches the SQLite file (PostgreSQL answers "
                         "for its own data)")
def test_refuses_to_start_on_missing_database(server):
    s = server()
    s.ensure_users(["alice", "bob"])
    alice = Dev(s, "alice", WEB)
    acked = _send_acked(alice, 3)
    assert s.stop() == 0
    marker = os.path.join(s.data_dir, ".petrel-data")
    assert os.path.exists(marker)
    assert (os.stat(marker).st_mode & 0o777) == 0o600
    # a legitimate restart keeps everything
    s2 = server(app_secret=s.secret, data_dir=s.data_dir)
    assert set(acked) <= _stored_mids(s2)
    assert s2.stop() == 0

    db = os.path.join(s.data_dir, "petrel.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    code, err = run_petreld(s.data_dir)
    assert code == 1 and "refusing to start" in err and "allow-empty-db" in err, (code, err)
    # an empty (zero-length) file is no better
    open(db, "wb").close()
    code, err = run_petreld(s.data_dir)
    assert code == 1 and "state=empty" in err, (code, err)
    # the environment variable works as well as the flag
    code, err = run_petreld(s.data_dir, env={"PETREL_ALLOW_EMPTY_DB": "1"})
    assert code is None, err
    # a fresh data directory starts as always
    code, err = run_petreld(os.path.join(s.data_dir, "fresh"))
    assert code is None, err


@pytest.mark.sqlite_only("the data directory guard watches the SQLite file (PostgreSQL answers "
                         "for its own data)")
def test_marker_added_to_an_older_data_directory(server):
    # a data directory from before the marker gets one at its next start,
    # and is then protected like a new one
    s = server()
    s.ensure_users(["alice"])
    marker = os.path.join(s.data_dir, ".petrel-data")
    assert s.stop() == 0
    os.unlink(marker)
    s2 = server(app_secret=s.secret, data_dir=s.data_dir)
    assert os.path.exists(marker)
    assert s2.stop() == 0
    os.unlink(os.path.join(s.data_dir, "petrel.db"))
    code, err = run_petreld(s.data_dir)
    assert code == 1 and "refusing to start" in err, (code, err)


def _mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                        str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): %s" % r.stderr.decode().strip())


def _fill(path):
    """Write a file until the filesystem is full (ENOSPC), down to 512 B."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = 1 << 20
        while size >= 512:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)


@pytest.mark.sqlite_only("fills the disk of the data directory, where only SQLite writes "
                         "(test_pg_outage.py: PostgreSQL going away)")
def test_full_disk(server, tmp_path):
    mnt = tmp_path / "small"
    _mount_tmpfs(mnt, "16m")
    s = None
    try:
        s = server(data_dir=str(mnt / "data"))
        s.ensure_users(["alice", "bob", "carol", "dave"])
        alice = Dev(s, "alice", WEB)
        Dev(s, "bob", WEB)
        by = Dev(s, "carol", WEB)   # a legitimate user on the side
        acked = set(_send_acked(alice, 10))
        assert healthz(s)[0] == 200
        assert metric(s, "petrel_store_write_failing") == 0

        _fill(str(mnt / "filler"))
        # sends: each is acked (the WAL had room) or refused; never
        # silently lost.  Soon every one is refused.
        refused = 0
        for i in range(400):
            m = mk("bob", body=json.dumps({"type": 1, "content": "x" * 4000}))
            alice.send(MSG_P2P, m)
            p = alice.take_ack(m["messageId"])
            if p.data.get("code") == 200:
                acked.add(m["messageId"])
                refused = 0
                continue
            check_refused(p, 90000, m["messageId"])
            refused += 1
            if refused >= 5:
                break
        assert refused >= 5, "the full disk never refused a write"

        st, doc = healthz(s)
        assert st == 503 and doc["code"] == E_FAILING, (st, doc)
        assert doc["data"]["store"] == "write_failing" and doc["data"]["writeFailures"] >= 5, doc
        assert metric(s, "petrel_store_write_failing") == 1
        assert metric(s, "petrel_store_write_failures_total") >= 5
        # the legitimate user on the side
        ping, login = bystander_latency(s, by)
        assert ping < 1.0 * SLOW and login < 2.0 * SLOW, (ping, login)

        # room again: the health check's probe write finds it by itself
        os.unlink(str(mnt / "filler"))
        st, doc = healthz(s)
        assert st == 200 and doc["data"]["store"] == "ok", (st, doc)
        assert metric(s, "petrel_store_write_failing") == 0
        acked |= set(_send_acked(alice, 3))

        # nothing acked is lost across a restart
        assert s.stop() == 0
        s2 = server(app_secret=s.secret, data_dir=s.data_dir)
        missing = acked - _stored_mids(s2)
        assert not missing, "acked but lost: %d, e.g. %r" % (len(missing), sorted(missing)[:3])
        assert s2.stop() == 0
    finally:
        if s is not None and s.alive():
            s.kill()
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
