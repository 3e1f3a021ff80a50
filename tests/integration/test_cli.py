"""The petrel CLI: sign, login, raw."""
import json
import os
import subprocess
import threading
import time

import pytest

import petrelproto as pp
from conftest import PETREL_CLI, SLOW, child_env, sanitizer_report


def cli(*args, timeout=20):
    if not os.path.exists(PETREL_CLI):
        pytest.fail("petrel CLI not found at %s" % PETREL_CLI)
    r = subprocess.run([PETREL_CLI] + [str(a) for a in args], capture_output=True,
                       timeout=timeout * SLOW, env=child_env(), stdin=subprocess.DEVNULL)
    err = r.stderr.decode("utf-8", "replace")
    san = sanitizer_report(err)
    assert not san, "sanitizer report from petrel %s:\n%s" % (args[0], "\n".join(san))
    return r


def json_lines(r, strict=False):
    """The packet lines ({"command":N,"data":{...}}) of the CLI's stdout.
    Every line must be a JSON object; other objects (status lines) are
    skipped unless strict."""
    out = []
    for ln in r.stdout.decode("utf-8").splitlines():
        if not ln.strip():
            continue
        doc = json.loads(ln)
        assert isinstance(doc, dict), ln
        if "command" in doc and "data" in doc:
            out.append(doc)
        else:
            assert not strict, "stdout line that is not a packet: %r" % ln
    return out


def url(s, transport):
    return ("tcp://127.0.0.1:%d" % s.tcp_port if transport == "tcp"
            else "ws://127.0.0.1:%d/ws" % s.http_port)


def test_sign(tmp_path):
    now = int(time.time())
    r = cli("sign", "--secret", "cli-secret", "--app", 10000, "--user", "alice", "--ttl", 600)
    assert r.returncode == 0, r.stderr
    tok = r.stdout.decode().strip()
    code, doc = pp.verify_token("cli-secret", tok)
    assert code == 0, "petrel sign token rejected by the reference verifier: %r" % doc
    assert doc["TLS.identifier"] == "alice" and doc["TLS.appId"] == 10000, doc
    assert doc["TLS.expire"] == 600, doc
    assert abs(doc["TLS.expireTime"] - now) <= 5, doc
    assert list(doc) == ["TLS.identifier", "TLS.appId", "TLS.expire", "TLS.expireTime",
                         "TLS.sig"], doc
    assert pp.verify_token("other-secret", tok)[0] == pp.E_SIGN_INVALID


def test_sign_unicode_user_default_ttl():
    r = cli("sign", "--secret", "s", "--app", 10000, "--user", "用户/1")
    assert r.returncode == 0, r.stderr
    code, doc = pp.verify_token("s", r.stdout.decode().strip())
    assert code == 0 and doc["TLS.identifier"] == "用户/1" and doc["TLS.expire"] > 0, doc


def test_sign_missing_secret_fails():
    r = cli("sign", "--app", 10000, "--user", "alice")
    assert r.returncode != 0, "petrel sign without --secret exited 0: %r" % r.stdout
    assert not r.stdout.strip(), r.stdout


def test_sign_token_logs_in(srv):
    r = cli("sign", "--secret", srv.secret, "--app", 10000, "--user", "carol")
    assert r.returncode == 0, r.stderr
    c = srv.tcp()
    ack = c.login("carol", r.stdout.decode().strip())
    assert ack.command == pp.LOGINACK, ack


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_login(srv, transport):
    r = cli("login", "--url", url(srv, transport), "--app", 10000, "--user", "alice",
            "--secret", srv.secret, "--client-type", 3, "--imei", "cli-imei", "--for", 1)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    docs = json_lines(r)
    acks = [d for d in docs if d["command"] == pp.LOGINACK]
    assert len(acks) == 1, docs
    d = acks[0]["data"]
    assert (d["userId"], d["appId"], d["clientType"], d["imei"]) == \
        ("alice", 10000, 3, "cli-imei"), d


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_login_wrong_secret(srv, transport):
    r = cli("login", "--url", url(srv, transport), "--app", 10000, "--user", "alice",
            "--secret", "wrong", "--for", 1)
    docs = json_lines(r)
    assert not [d for d in docs if d["command"] == pp.LOGINACK], docs
    errs = [d for d in docs if d["command"] == pp.ERROR]
    assert errs and errs[0]["data"]["code"] == pp.E_SIGN_INVALID, docs


def test_login_prints_kick(srv):
    """The CLI's device is kicked by a Python client: it prints the 9002."""
    if not os.path.exists(PETREL_CLI):
        pytest.fail("petrel CLI not found at %s" % PETREL_CLI)
    res = {}

    def run():
        res["r"] = cli("login", "--url", url(srv, "tcp"), "--app", 10000, "--user", "dave",
                       "--secret", srv.secret, "--client-type", 2, "--imei", "cli",
                       "--for", int(3 * SLOW))

    t = threading.Thread(target=run)
    t.start()
    # give the CLI time to connect and log in
    time.sleep(1.0 * SLOW)
    srv.login("dave", client_type=pp.CT_ANDROID, imei="py")
    t.join(30 * SLOW)
    assert "r" in res, "petrel login did not finish"
    docs = json_lines(res["r"])
    cmds = [d["command"] for d in docs]
    assert cmds[:2] == [pp.LOGINACK, pp.MUTUALLOGIN], docs
    k = docs[1]["data"]
    assert (k["byClientType"], k["byImei"]) == (pp.CT_ANDROID, "py"), k


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_raw_ping(srv, transport):
    r = cli("raw", "--url", url(srv, transport), "--app", 10000, "--user", "erin",
            "--secret", srv.secret, "--cmd", 9999, "--body", "{}", "--wait", 1)
    assert r.returncode == 0, (r.stdout, r.stderr)
    cmds = [d["command"] for d in json_lines(r)]
    assert cmds == [pp.LOGINACK, pp.PING], cmds


def test_raw_unknown_command(srv):
    r = cli("raw", "--url", url(srv, "tcp"), "--app", 10000, "--user", "erin",
            "--secret", srv.secret, "--cmd", 1234, "--body", '{"a":1}', "--wait", 1)
    docs = json_lines(r)
    assert [d["command"] for d in docs] == [pp.LOGINACK, pp.ERROR], docs
    assert docs[1]["data"]["code"] == pp.E_UNKNOWN_CMD and docs[1]["data"]["command"] == 1234


def test_login_output_is_only_packet_lines(srv):
    """login prints each received packet as a JSON line
    {"command":N,"data":{...}}, and a final {"event":"closed"} line when the
    server closes the connection -- nothing else on stdout."""
    r = cli("login", "--url", url(srv, "tcp"), "--app", 10000, "--user", "alice",
            "--secret", "wrong", "--for", 1)
    lines = [json.loads(ln) for ln in r.stdout.decode().splitlines() if ln.strip()]
    assert lines[-1] == {"event": "closed"}, lines
    assert r.returncode == 2
    docs = lines[:-1]
    assert all(set(d) == {"command", "data"} for d in docs), docs
    assert [d["command"] for d in docs] == [pp.ERROR], docs
