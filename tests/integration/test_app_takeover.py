"""Issue 14 item 1: nobody can become the app admin, or take over an
existing IM user, through the demo app server's /app/v1/register, and the
demo app server answers only clients on the server's machine unless
demo_app_remote is set.

Each attack is performed against a real petreld and must be refused; next
to it a legitimate user's sign-up, login and socket LOGIN must keep
working.  The races (two registrations of one new name; registration
against /v1/user/importUser of the same id) are run with many concurrent
requests, over several rounds."""
import http.client
import json
import socket
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW

TIMEOUT = 30.0 * SLOW   # scrypt under ASan is slow

E_APP_LOCAL_ONLY = 62000
E_NAME_RESERVED = 62001
E_WRONG_LOGIN = 10001
E_NAME_TAKEN = 10003


def post(port, path, body, host="127.0.0.1", source=None):
    """-> (HTTP status, parsed JSON body)."""
    c = http.client.HTTPConnection(host, port, timeout=TIMEOUT,
                                   source_address=(source, 0) if source else None)
    try:
        c.request("POST", path, body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def register(s, name, pw, **kw):
    return post(s.http_port, "/app/v1/register", {"userName": name, "password": pw}, **kw)


def login(s, name, pw, **kw):
    return post(s.http_port, "/app/v1/login", {"userName": name, "password": pw}, **kw)


def assert_legit_user_works(s, name="legit.user", pw="legit-password-1"):
    """The unchanged path: sign up, log in, LOGIN on the socket with the
    token, and the token is not an admin token."""
    st, r = register(s, name, pw)
    assert (st, r.get("code")) == (200, 200), (st, r)
    st, r = login(s, name, pw)
    assert (st, r.get("code")) == (200, 200), (st, r)
    tok = r["data"]["imUserSign"]
    assert pp.decode_token(tok)["TLS.identifier"] == name
    c = s.tcp()
    ack = c.login(name, tok, client_type=pp.CT_WEB, imei="legit-1")
    assert ack.command == pp.LOGINACK, ack
    assert c.ping().command == pp.PING
    # with that token, admin-only REST is refused
    p = "/v1/user/importUser?appId=%d&identifier=%s&userSign=%s" % (
        pp.APP_ID, name, tok)
    st, _, data = pp.http_request(s.http_port, "POST", p, {"userData": [{"userId": "x1"}]},
                                  timeout=10 * SLOW)
    assert st == 403 and json.loads(data)["code"] == 60006, (st, data)
    c.close()


def admin_token_never_issued(s, name, pw):
    st, r = login(s, name, pw)
    assert r.get("code") != 200 and not r.get("data"), (name, st, r)
    return st, r


# ------------------------------------------------------------ the admin name
@pytest.mark.parametrize("name", ["admin", "ADMIN", "Admin"])
def test_register_admin_refused(srv, name):
    st, r = register(srv, name, "attacker-password")
    assert (st, r.get("code")) == (200, E_NAME_RESERVED), (st, r)
    assert r.get("msg") == "this user name is reserved", r
    admin_token_never_issued(srv, name, "attacker-password")
    # nothing was created: no IM user under that id either
    st, doc = srv.api("/v1/user/data/getSingleUserInfo", {"userId": name})
    assert doc["code"] == 20001, doc
    assert_legit_user_works(srv)


def test_configured_admin_name_refused(server):
    s = server("--app-admin=root.ops")
    st, r = register(s, "Root.Ops", "attacker-password")
    assert (st, r.get("code")) == (200, E_NAME_RESERVED), (st, r)
    # "admin" is an ordinary name when it is not the admin
    st, r = register(s, "admin", "password-123")
    assert (st, r.get("code")) == (200, 200), (st, r)
    assert_legit_user_works(s)


def test_account_that_became_admin_gets_no_token(server, tmp_path):
    """An account registered while another id was the admin, then the
    admin setting changed to that account's id: login must not mint an
    admin token through the public door."""
    data = tmp_path / "adm"
    s1 = server("--app-admin=boss", data_dir=data)
    st, r = register(s1, "chief", "chief-password")
    assert (st, r.get("code")) == (200, 200), (st, r)
    secret = s1.secret
    assert s1.stop() == 0
    s2 = server("--app-admin=chief", data_dir=data, app_secret=secret)
    st, r = admin_token_never_issued(s2, "chief", "chief-password")
    assert r.get("code") == E_NAME_RESERVED, (st, r)
    assert "account maps to the app admin" in s2.stderr_text()
    assert_legit_user_works(s2)


# ----------------------------------------------------- existing IM identities
def test_register_imported_user_refused(srv):
    st, doc = srv.api("/v1/user/importUser",
                      {"userData": [{"userId": "victim", "nickName": "The Victim"}]})
    assert doc["code"] == 200 and doc["data"]["successId"] == ["victim"], doc
    # the victim has a conversation
    a = srv.login("alice", imei="alice-1")
    v = srv.login("victim", imei="victim-1")
    a.send(1103, {"fromId": "alice", "toId": "victim", "messageId": "m-1",
                  "messageBody": "for the victim only"})
    got = v.recv()
    assert got.command == 1103 and got.data["messageBody"] == "for the victim only", got

    for name in ("victim", "VICTIM"):
        st, r = register(srv, name, "attacker-password")
        if name == "victim":
            assert (st, r.get("code")) == (200, E_NAME_TAKEN), (st, r)
        else:
            # another letter case is another IM identity: allowed, and it
            # is not the victim
            assert (st, r.get("code")) == (200, 200), (st, r)
            assert r["data"]["userId"] == "VICTIM", r
    st, r = login(srv, "victim", "attacker-password")
    # the name is now VICTIM's account (names ignore case): a token for
    # VICTIM, never for victim
    assert r.get("code") == 200 and r["data"]["userId"] == "VICTIM", r
    assert pp.decode_token(r["data"]["imUserSign"])["TLS.identifier"] == "VICTIM"

    # the victim is untouched and still logged in
    st, doc = srv.api("/v1/user/data/getSingleUserInfo", {"userId": "victim"})
    assert doc["code"] == 200 and doc["data"]["nickName"] == "The Victim", doc
    assert v.ping().command == pp.PING
    a.close()
    assert_legit_user_works(srv)


def test_register_deleted_user_refused(srv):
    st, doc = srv.api("/v1/user/importUser", {"userData": [{"userId": "gone.user"}]})
    assert doc["data"]["successId"] == ["gone.user"], doc
    st, doc = srv.api("/v1/user/deleteUser", {"userId": ["gone.user"]})
    assert doc["data"]["successId"] == ["gone.user"], doc
    st, r = register(srv, "gone.user", "attacker-password")
    assert (st, r.get("code")) == (200, E_NAME_TAKEN), (st, r)
    admin_token_never_issued(srv, "gone.user", "attacker-password")


# ------------------------------------------------------------------ races
def run_together(fns):
    out = [None] * len(fns)
    barrier = threading.Barrier(len(fns))

    def go(i):
        barrier.wait()
        out[i] = fns[i]()

    ts = [threading.Thread(target=go, args=(i,)) for i in range(len(fns))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(TIMEOUT * 2)
    return out


def test_concurrent_registrations_one_winner(server):
    s = server("--demo-app-register-per-ip=1000", "--password-queue=64")
    for rnd in range(3):
        name = "racer%d" % rnd
        n = 12
        res = run_together([lambda i=i: register(s, name, "password-%02d" % i)
                            for i in range(n)])
        codes = [r[1].get("code") for r in res]
        assert codes.count(200) == 1, codes
        assert set(codes) == {200, E_NAME_TAKEN}, codes
        winner = codes.index(200)
        st, r = login(s, name, "password-%02d" % winner)
        assert r.get("code") == 200, r
        loser = (winner + 1) % n
        st, r = login(s, name, "password-%02d" % loser)
        assert r.get("code") == E_WRONG_LOGIN, r


def test_register_races_import(server):
    """register X and importUser X at the same moment: exactly one wins,
    and when the import wins the registration never owns X."""
    s = server("--demo-app-register-per-ip=1000", "--password-queue=64")
    outcomes = set()
    for rnd in range(8):
        name = "dual%d" % rnd

        def imp(name=name, delay=rnd * 0.03 * SLOW):
            # staggered, so that some rounds import while the registration
            # hashes (its early check passed; the store op must refuse) and
            # others after it committed
            time.sleep(delay)
            st, doc = s.api("/v1/user/importUser",
                            {"userData": [{"userId": name, "nickName": "imported"}]})
            assert doc["code"] == 200, doc
            return name in doc["data"]["successId"]

        reg, imported = run_together([lambda name=name: register(s, name, "password-1"),
                                      imp])
        registered = reg[1].get("code") == 200
        assert registered != imported, (rnd, reg, imported)
        if imported:
            assert reg[1].get("code") == E_NAME_TAKEN, reg
            admin_token_never_issued(s, name, "password-1")
            st, doc = s.api("/v1/user/data/getSingleUserInfo", {"userId": name})
            assert doc["data"]["nickName"] == "imported", doc
        else:
            st, doc = s.api("/v1/user/data/getSingleUserInfo", {"userId": name})
            assert doc["data"]["nickName"] == name, doc
        outcomes.add("import" if imported else "register")
    # (which side wins each round depends on timing; both are checked above)
    print("register vs import outcomes:", sorted(outcomes))


# ------------------------------------------------------------ loopback only
def non_loopback_address():
    """An IPv4 address of this machine that is not loopback, or None."""
    cands = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            cands.add(info[4][0])
    except OSError:
        pass
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.connect(("192.0.2.1", 9))   # no packet is sent
        cands.add(u.getsockname()[0])
        u.close()
    except OSError:
        pass
    for a in sorted(cands):
        if not a.startswith("127.") and a != "0.0.0.0":
            try:
                t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                t.bind((a, 0))
                t.close()
                return a
            except OSError:
                continue
    return None


@pytest.fixture
def remote_ip():
    a = non_loopback_address()
    if a is None:
        pytest.skip("this machine has no non-loopback IPv4 address to test from")
    return a


def test_remote_client_refused_by_default(server, remote_ip):
    s = server("--http-listen=0.0.0.0:{http_port}")
    err = s.stderr_text()
    assert 'msg="demo app server on"' in err and "clients=loopback-only" in err, err[-2000:]
    for path in ("/app/v1/register", "/app/v1/login", "/app/v1/callback"):
        st, r = post(s.http_port, path, {"userName": "outsider", "password": "password-1"},
                     host=remote_ip, source=remote_ip)
        assert (st, r.get("code")) == (403, E_APP_LOCAL_ONLY), (path, st, r)
    # nothing was created
    st, doc = s.api("/v1/user/data/getSingleUserInfo", {"userId": "outsider"})
    assert doc["code"] == 20001, doc
    # the rest of the HTTP API still answers remote clients
    st, _, data = pp.http_request(s.http_port, "GET", "/healthz", host=remote_ip,
                                  timeout=10 * SLOW)
    assert st == 200, (st, data)
    # a local client (the web client on 127.0.0.1) is served
    assert_legit_user_works(s)


def test_remote_client_allowed_when_configured(server, remote_ip):
    s = server("--http-listen=0.0.0.0:{http_port}", "--demo-app-remote=true")
    err = s.stderr_text()
    assert "clients=any" in err and "level=warn" in err, err[-2000:]
    st, r = post(s.http_port, "/app/v1/register",
                 {"userName": "outsider", "password": "password-1"},
                 host=remote_ip, source=remote_ip)
    assert (st, r.get("code")) == (200, 200), (st, r)
    st, r = post(s.http_port, "/app/v1/login",
                 {"userName": "outsider", "password": "password-1"},
                 host=remote_ip, source=remote_ip)
    assert (st, r.get("code")) == (200, 200), (st, r)
    # the admin name stays reserved for remote clients too
    st, r = post(s.http_port, "/app/v1/register",
                 {"userName": "admin", "password": "password-1"},
                 host=remote_ip, source=remote_ip)
    assert (st, r.get("code")) == (200, E_NAME_RESERVED), (st, r)


# ------------------------------------------- deleted and forbidden accounts
def test_deleted_or_forbidden_account_gets_no_token(srv):
    """Same class: the demo login must not mint tokens for users the admin
    deleted or forbade (the right password is not enough)."""
    for name in ("to.forbid", "to.delete", "stays.ok"):
        st, r = register(srv, name, "password-%s" % name)
        assert r.get("code") == 200, r
    st, doc = srv.api("/v1/user/data/modifyUserInfo", {"userId": "to.forbid", "forbiddenFlag": 1})
    assert doc["code"] == 200, doc
    st, doc = srv.api("/v1/user/deleteUser", {"userId": ["to.delete"]})
    assert doc["data"]["successId"] == ["to.delete"], doc
    for name in ("to.forbid", "to.delete"):
        st, r = login(srv, name, "password-%s" % name)
        assert (st, r.get("code")) == (403, 61015), (name, st, r)
        assert not r.get("data"), r
    # a wrong password still says only "wrong" (no hint that it exists)
    st, r = login(srv, "to.delete", "not-the-password")
    assert (st, r.get("code")) == (200, E_WRONG_LOGIN), (st, r)
    st, r = login(srv, "stays.ok", "password-stays.ok")
    assert (st, r.get("code")) == (200, 200), (st, r)
    # lifting the ban gives tokens again
    st, doc = srv.api("/v1/user/data/modifyUserInfo", {"userId": "to.forbid", "forbiddenFlag": 0})
    assert doc["code"] == 200, doc
    st, r = login(srv, "to.forbid", "password-to.forbid")
    assert (st, r.get("code")) == (200, 200), (st, r)
