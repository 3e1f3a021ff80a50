"""The built-in demo app server (/app/v1/register, /app/v1/login,
/app/v1/callback): registration, duplicate and malformed input, login
handing out a userSign that really logs in on the socket, wrong password,
failed-login throttling (per name and per IP), the webhook receiver, and the
demo_app_server switch.  Every test gets a fresh server, so throttle state
never leaks between tests."""
import http.client
import json

import pytest

import petrelproto as pp
from conftest import SLOW

TIMEOUT = 30.0 * SLOW   # scrypt under ASan is slow


def post(srv, path, body, raw=None, timeout=TIMEOUT):
    """-> (HTTP status, parsed JSON body or None)."""
    c = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=timeout)
    try:
        data = raw if raw is not None else json.dumps(body).encode()
        c.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        text = r.read()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, None
    finally:
        c.close()


def register(srv, name, password, **extra):
    body = {"userName": name, "password": password}
    body.update(extra)
    return post(srv, "/app/v1/register", body)


def login(srv, name, password, **extra):
    body = {"userName": name, "password": password}
    body.update(extra)
    return post(srv, "/app/v1/login", body)


def assert_ok_register(st, r, name):
    assert st == 200 and r and r.get("code") == 200, (st, r)
    assert r["data"] == {"userId": name, "userName": name, "appId": pp.APP_ID}, r


def test_register_then_login_on_socket(srv):
    # (srv imported alice..erin as IM users: their names cannot be
    # registered, see test_app_takeover.py)
    st, r = register(srv, "amelia", "correct horse", registerType=1)
    assert_ok_register(st, r, "amelia")

    st, r = login(srv, "amelia", "correct horse", loginType=1)
    assert st == 200 and r.get("code") == 200, (st, r)
    d = r["data"]
    assert d["userId"] == "amelia" and d["appId"] == pp.APP_ID, d
    assert d["imUserSign"] == d["userSign"], d
    assert d["expire"] == 7 * 24 * 3600, d
    # an independent verifier accepts the token, for amelia, with that ttl
    doc = pp.decode_token(d["imUserSign"])
    assert doc["TLS.identifier"] == "amelia" and doc["TLS.appId"] == pp.APP_ID, doc
    assert doc["TLS.expire"] == d["expire"], doc

    c = srv.tcp()
    ack = c.login("amelia", d["imUserSign"], client_type=pp.CT_WEB, imei="web-1")
    assert ack.command == pp.LOGINACK, ack
    assert ack.data.get("userId") == "amelia", ack
    assert c.ping().command == pp.PING

    # passwords are never logged
    assert "correct horse" not in srv.stderr_text()


def test_login_any_case(srv):
    st, r = register(srv, "Bob.Smith", "password-1")
    assert_ok_register(st, r, "Bob.Smith")
    st, r = login(srv, "bob.smith", "password-1")
    assert st == 200 and r.get("code") == 200, (st, r)
    assert r["data"]["userId"] == "Bob.Smith", r


def test_duplicate_register(srv):
    st, r = register(srv, "cora", "password-1")
    assert_ok_register(st, r, "cora")
    for name in ("cora", "CORA", "Cora"):
        st, r = register(srv, name, "another-password")
        assert st == 200 and r.get("code") == 10003, (name, st, r)
        assert r.get("msg") == "user name already registered", r
    # the first password still works, the second never replaced it
    st, r = login(srv, "cora", "password-1")
    assert r.get("code") == 200, r
    st, r = login(srv, "cora", "another-password")
    assert r.get("code") == 10001, r


BAD_REGISTER = {
    "no-name": {"password": "password-1"},
    "no-password": {"userName": "dave"},
    "name-too-short": {"userName": "ab", "password": "password-1"},
    "name-too-long": {"userName": "a" * 33, "password": "password-1"},
    "name-space": {"userName": "da ve", "password": "password-1"},
    "name-slash": {"userName": "da/ve", "password": "password-1"},
    "name-unicode": {"userName": "dävé", "password": "password-1"},
    "name-not-string": {"userName": 12345, "password": "password-1"},
    "password-empty": {"userName": "dave", "password": ""},
    "password-too-short": {"userName": "dave", "password": "1234567"},
    "password-too-long": {"userName": "dave", "password": "p" * 129},
    "password-not-string": {"userName": "dave", "password": 12345678},
    "password-nul": {"userName": "dave", "password": "pass\u0000word-1"},
    "register-type-2": {"userName": "dave", "password": "password-1", "registerType": 2},
}


@pytest.mark.parametrize("case", sorted(BAD_REGISTER))
def test_register_bad_input(srv, case):
    st, r = post(srv, "/app/v1/register", BAD_REGISTER[case])
    assert st == 400 and r and r.get("code") == 90001, (case, st, r)
    # nothing was created
    st, r = login(srv, "dave", "password-1")
    assert r.get("code") == 10001, r


def test_register_limits_accepted(srv):
    st, r = register(srv, "a_b", "12345678")
    assert_ok_register(st, r, "a_b")
    name = "Z9._-" + "x" * 27
    st, r = register(srv, name, "p" * 128)
    assert_ok_register(st, r, name)
    st, r = login(srv, name, "p" * 128)
    assert r.get("code") == 200, r


def test_login_bad_input(srv):
    for body in ({"userName": "erin", "password": "password-1", "loginType": 2},
                 {"userName": "erin", "password": "password-1", "loginType": 3},
                 {"userName": "erin"},
                 {"password": "password-1"},
                 {"userName": "erin", "password": "p" * 129}):
        st, r = post(srv, "/app/v1/login", body)
        assert st == 400 and r.get("code") == 90001, (body, st, r)


def test_wrong_password_and_unknown_user(srv):
    st, r = register(srv, "frank", "password-1")
    assert_ok_register(st, r, "frank")
    for name, pw in (("frank", "password-2"), ("frank", ""), ("nobody", "password-1")):
        st, r = login(srv, name, pw)
        assert st == 200 and r.get("code") == 10001, (name, st, r)
        assert r.get("msg") == "wrong user name or password", r
        assert "data" not in r or not r.get("data"), r


def test_throttle_per_name(srv):
    st, r = register(srv, "grace", "password-1")
    assert_ok_register(st, r, "grace")
    st, r = register(srv, "heidi", "password-1")
    assert_ok_register(st, r, "heidi")
    for i in range(5):
        st, r = login(srv, "grace", "wrong-%d" % i)
        assert st == 200 and r.get("code") == 10001, (i, st, r)
    for pw in ("wrong-5", "password-1"):   # even the right password now
        st, r = login(srv, "grace", pw)
        assert st == 429 and r.get("code") == 10004, (pw, st, r)
        assert r.get("msg") == "too many failed logins, try later", r
    st, r = login(srv, "GRACE", "password-1")   # same account, other case
    assert st == 429 and r.get("code") == 10004, (st, r)
    # another name from the same IP is not affected (5 < 20)
    st, r = login(srv, "heidi", "password-1")
    assert st == 200 and r.get("code") == 200, (st, r)


def test_success_resets_name_counter(srv):
    st, r = register(srv, "ivan", "password-1")
    assert_ok_register(st, r, "ivan")
    for _ in range(2):
        for i in range(4):
            st, r = login(srv, "ivan", "wrong-%d" % i)
            assert r.get("code") == 10001, r
        st, r = login(srv, "ivan", "password-1")
        assert r.get("code") == 200, r


def test_throttle_per_ip(srv):
    st, r = register(srv, "judy", "password-1")
    assert_ok_register(st, r, "judy")
    # 20 failures spread over names (4 each, so no name is blocked)
    for i in range(20):
        st, r = login(srv, "ghost%d" % (i // 4), "wrong")
        assert st == 200 and r.get("code") == 10001, (i, st, r)
    st, r = login(srv, "judy", "password-1")
    assert st == 429 and r.get("code") == 10004, (st, r)


def test_callback(srv):
    st, r = post(srv, "/app/v1/callback?appId=%d&command=user.modify.after" % pp.APP_ID,
                 {"userId": "alice", "nickName": "secret-nick"})
    assert st == 200 and r == {"code": 200, "msg": "success"}, (st, r)
    st, r = post(srv, "/app/v1/callback", {})
    assert st == 200 and r == {"code": 200, "msg": "success"}, (st, r)
    err = srv.stderr_text()
    assert "command=user.modify.after" in err, err[-2000:]
    assert "secret-nick" not in err


def test_disabled(server):
    s = server("--demo-app-server=false")
    for path in ("/app/v1/register", "/app/v1/login", "/app/v1/callback"):
        st, r = post(s, path, {"userName": "kate", "password": "password-1"})
        assert st == 404 and r and r.get("code") == 404, (path, st, r)
        assert r.get("msg") == "demo app server is disabled", r
