"""The petrel CLI's message commands: send (socket), sync and history (REST).

Two CLIs chat: bob stays online with `petrel login` in the background while
alice runs `petrel send`; the messages then come back through `petrel sync`
and `petrel history`.  Exit codes: 0 ok, 1 usage/connect/REST error, 2 the
server closed, 3 an ack refused the message.
"""
import json
import os
import subprocess
import threading
import time
import uuid

import pytest

import petrelproto as pp
from conftest import PETREL_CLI, SLOW, child_env, sanitizer_report

MSG_ACK = 1046
MSG_P2P = 1103
MSG_RECEIVE_ACK = 1107
MSG_P2P_SYNC = 1108
E_USER_NOT_FOUND = 20001


def _check_cli_present():
    if not os.path.exists(PETREL_CLI):
        pytest.fail("petrel CLI not found at %s" % PETREL_CLI)


def cli(*args, env=None, timeout=30):
    _check_cli_present()
    r = subprocess.run([PETREL_CLI] + [str(a) for a in args], capture_output=True,
                       timeout=timeout * SLOW, env=child_env(env), stdin=subprocess.DEVNULL)
    err = r.stderr.decode("utf-8", "replace")
    san = sanitizer_report(err)
    assert not san, "sanitizer report from petrel %s:\n%s" % (args[0], "\n".join(san))
    return r


def lines(r):
    return [json.loads(ln) for ln in r.stdout.decode("utf-8").splitlines() if ln.strip()]


def packets(r):
    return [d for d in lines(r) if "command" in d and "data" in d]


def url(s, transport):
    return ("tcp://127.0.0.1:%d" % s.tcp_port if transport == "tcp"
            else "ws://127.0.0.1:%d/ws" % s.http_port)


def http(s):
    return "http://127.0.0.1:%d" % s.http_port


def uid(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def send(s, frm, to, *extra, transport="tcp", wait=0.3):
    return cli("send", "--url", url(s, transport), "--user", frm, "--secret", s.secret,
               "--to", to, "--wait", wait, *extra)


def acks(r):
    return [d["data"] for d in packets(r) if d["command"] == MSG_ACK]


def body_of(row):
    b = row["messageBody"]
    return json.loads(b) if isinstance(b, str) else b


class Background:
    """A `petrel login` running in the background; stdout lines collected."""

    def __init__(self, s, user, transport, imei, *extra):
        _check_cli_present()
        self.proc = subprocess.Popen(
            [PETREL_CLI, "login", "--url", url(s, transport), "--user", user,
             "--secret", s.secret, "--imei", imei, "--for", str(int(30 * SLOW))] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env=child_env())
        self.docs = []
        self.err = b""
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for ln in self.proc.stdout:
            if ln.strip():
                with self.lock:
                    self.docs.append(json.loads(ln))

    def wait_for(self, pred, timeout=5.0):
        end = time.monotonic() + timeout * SLOW
        while time.monotonic() < end:
            with self.lock:
                hit = [d for d in self.docs if pred(d)]
            if hit:
                return hit
            if self.proc.poll() is not None and not self.t.is_alive():
                break
            time.sleep(0.02)
        with self.lock:
            got = list(self.docs)
        pytest.fail("background login: nothing matched within %.1fs; got %r; stderr %r"
                    % (timeout * SLOW, got, self.proc.stderr.read1()
                       if self.proc.poll() is not None else b""))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=10 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.t.join(5)
        err = self.proc.stderr.read().decode("utf-8", "replace")
        san = sanitizer_report(err)
        assert not san, "sanitizer report from background petrel login:\n" + "\n".join(san)
        return rc


@pytest.fixture
def background():
    started = []

    def factory(*a):
        b = Background(*a)
        started.append(b)
        return b

    yield factory
    for b in started:
        if b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()


# ---------------------------------------------------------------------------
# send


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_two_clis_chat(srv, background, transport):
    """bob is online with `petrel login`; alice's `petrel send` reaches him
    as a 1103 and alice gets the 1046 ack (and no serverSend 1107, since bob
    is online)."""
    bob = background(srv, "bob", transport, "bob-" + transport)
    bob.wait_for(lambda d: d.get("command") == pp.LOGINACK)
    mid = uid("chat-" + transport)
    r = send(srv, "alice", "bob", "--text", "hello bob ✓", "--message-id", mid,
             transport=transport, wait=0.5)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    docs = packets(r)
    assert docs[0]["command"] == pp.LOGINACK, docs
    a = acks(r)
    assert len(a) == 1 and a[0]["code"] == 200, docs
    ack = a[0]["data"]
    assert ack["messageId"] == mid and ack["messageSequence"] >= 1, ack
    assert isinstance(ack["messageKey"], int) and ack["messageKey"] > 0, ack
    assert not [d for d in docs if d["command"] == MSG_RECEIVE_ACK], \
        "bob is online: no serverSend 1107 expected: %r" % docs

    got = bob.wait_for(lambda d: d.get("command") == MSG_P2P)
    m = got[0]["data"]
    assert (m["fromId"], m["toId"], m["messageId"]) == ("alice", "bob", mid), m
    assert (m["messageKey"], m["messageSequence"]) == (ack["messageKey"], ack["messageSequence"]), m
    assert body_of(m) == {"type": 1, "content": "hello bob ✓"}, m
    assert bob.stop() == 0


@pytest.mark.parametrize("transports", [("tcp", "ws"), ("ws", "tcp")])
def test_two_clis_chat_with_receipts(srv, background, transports):
    """bob's `petrel login --receipts` answers alice's message with a
    delivery receipt (1107) and a read receipt (1106): alice's `petrel send`
    prints the 1046 ack, bob's 1107 and the 1054 read receipt."""
    a_tr, b_tr = transports
    bob = background(srv, "bob", b_tr, "bob-r-" + b_tr, "--receipts")
    bob.wait_for(lambda d: d.get("command") == pp.LOGINACK)
    mid = uid("receipts")
    r = send(srv, "alice", "bob", "--text", "read me", "--message-id", mid,
             transport=a_tr, wait=1.5)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    docs = packets(r)
    ack = acks(r)[0]["data"]
    rec = [d["data"] for d in docs if d["command"] == MSG_RECEIVE_ACK]
    assert rec and rec[0]["fromId"] == "bob" and rec[0]["messageKey"] == ack["messageKey"], docs
    assert not rec[0].get("serverSend"), rec
    read = [d["data"] for d in docs if d["command"] == 1054]
    assert read and read[0]["fromId"] == "bob" and \
        read[0]["messageSequence"] == ack["messageSequence"], docs
    assert bob.stop() == 0


def test_send_to_offline_user_gets_server_receive_ack(srv):
    """dave is offline: alice's device gets the server-made 1107
    {serverSend: true} for the message."""
    mid = uid("offline")
    r = send(srv, "alice", "dave", "--body", '{"type":1,"content":"later"}',
             "--message-id", mid, wait=1.0)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    a = acks(r)
    assert len(a) == 1 and a[0]["code"] == 200, packets(r)
    rec = [d["data"] for d in packets(r) if d["command"] == MSG_RECEIVE_ACK]
    assert rec, "no 1107 for a message to an offline user: %r" % packets(r)
    assert rec[0].get("serverSend") is True, rec
    assert rec[0]["messageSequence"] == a[0]["data"]["messageSequence"], (rec, a)


def test_send_unknown_user_exits_3(srv):
    mid = uid("nobody")
    r = send(srv, "alice", "nobody-" + uuid.uuid4().hex[:8], "--text", "hi",
             "--message-id", mid, wait=0)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    a = acks(r)
    assert len(a) == 1 and a[0]["code"] == E_USER_NOT_FOUND, packets(r)
    assert a[0]["data"]["messageId"] == mid, a


def test_send_same_message_id_is_idempotent(srv):
    mid = uid("dup")
    r1 = send(srv, "carol", "erin", "--text", "once", "--message-id", mid, wait=0)
    r2 = send(srv, "carol", "erin", "--text", "once", "--message-id", mid, wait=0)
    assert r1.returncode == 0 and r2.returncode == 0, (r1.stderr, r2.stderr)
    a1, a2 = acks(r1)[0]["data"], acks(r2)[0]["data"]
    assert (a1["messageKey"], a1["messageSequence"]) == (a2["messageKey"], a2["messageSequence"])
    h = cli("history", "--http", http(srv), "--user", "carol", "--secret", srv.secret,
            "--with", "erin", "--limit", 200)
    assert h.returncode == 0, h.stderr
    assert [row["messageId"] for row in lines(h)].count(mid) == 1, lines(h)


def test_send_repeat_waits_for_every_ack(srv):
    base = uid("rep")
    r = send(srv, "erin", "carol", "--text", "n", "--message-id", base, "--repeat", 25, wait=0)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    a = acks(r)
    assert sorted(x["data"]["messageId"] for x in a) == \
        sorted("%s-%d" % (base, i) for i in range(1, 26)), a
    assert all(x["code"] == 200 for x in a), a
    seqs = [x["data"]["messageSequence"] for x in a]
    assert len(set(seqs)) == 25, seqs


def test_send_login_refused_exits_2(srv):
    r = cli("send", "--url", url(srv, "tcp"), "--user", "alice", "--secret", "wrong",
            "--to", "bob", "--text", "x", "--wait", 0)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    docs = packets(r)
    assert [d["command"] for d in docs] == [pp.ERROR], docs
    assert docs[0]["data"]["code"] == pp.E_SIGN_INVALID, docs


@pytest.mark.parametrize("args", [
    ["--text", "x"],                                  # no --to
    ["--to", "bob"],                                  # no --text/--body
    ["--to", "bob", "--text", "x", "--body", "{}"],   # both
    ["--to", "bob", "--body", "[1]"],                 # not an object
    ["--to", "bob", "--body", "{nope"],
    ["--to", "bob", "--text", "x", "--repeat", "0"],
    ["--to", "bob", "--text", "x", "--message-id", ""],
])
def test_send_usage_errors(args):
    r = cli("send", "--url", "tcp://127.0.0.1:1", "--user", "alice", "--secret", "s", *args)
    assert r.returncode == 1, (args, r.returncode, r.stderr)
    assert not r.stdout.strip(), r.stdout
    assert r.stderr.strip()


def test_send_connect_error_exits_1():
    r = cli("send", "--url", "tcp://127.0.0.1:1", "--user", "alice", "--secret", "s",
            "--to", "bob", "--text", "x")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert b"cannot connect" in r.stderr, r.stderr


# ---------------------------------------------------------------------------
# sync and history


def chat(srv, a, b, n_ab, n_ba):
    """a sends n_ab messages to b, then b sends n_ba to a; returns the acks
    (messageId, messageKey, messageSequence) in sending order."""
    out = []
    for frm, to, n in ((a, b, n_ab), (b, a, n_ba)):
        if not n:
            continue
        base = uid("%s2%s" % (frm, to))
        r = send(srv, frm, to, "--text", "from " + frm, "--message-id", base,
                 "--repeat", n, wait=0)
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        got = {x["data"]["messageId"]: x["data"] for x in acks(r)}
        for i in range(1, n + 1):
            d = got["%s-%d" % (base, i)]
            out.append((d["messageId"], d["messageKey"], d["messageSequence"]))
    return out


def test_sync_prints_every_message_in_key_order(server):
    s = server()
    s.ensure_users(["ann", "ben", "cid"])
    sent = chat(s, "ann", "ben", 3, 2) + chat(s, "cid", "ben", 2, 0)
    r = cli("sync", "--http", http(s), "--user", "ben", "--secret", s.secret)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    rows = lines(r)
    assert [row["messageId"] for row in rows] == [m[0] for m in sent], rows
    keys = [row["messageKey"] for row in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), keys
    first = rows[0]
    assert (first["fromId"], first["toId"]) == ("ann", "ben"), first
    assert body_of(first) == {"type": 1, "content": "from ann"}, first

    # small pages: same rows, no overlap
    r2 = cli("sync", "--http", http(s), "--user", "ben", "--secret", s.secret, "--limit", 2)
    assert r2.returncode == 0, r2.stderr
    assert lines(r2) == rows

    # --since a key: only what follows it
    r3 = cli("sync", "--http", http(s), "--user", "ben", "--secret", s.secret,
             "--since", keys[2], "--limit", 3)
    assert r3.returncode == 0, r3.stderr
    assert [row["messageKey"] for row in lines(r3)] == keys[3:]

    # the other side sees only its own conversation
    r4 = cli("sync", "--http", http(s), "--user", "cid", "--secret", s.secret)
    assert [row["messageId"] for row in lines(r4)] == [m[0] for m in sent[5:]], lines(r4)


def test_sync_env_defaults_and_sign_token(server):
    """PETREL_HTTP / PETREL_USER / PETREL_SECRET are the defaults; --sign
    takes a ready token (URL-encoded by the CLI)."""
    s = server()
    s.ensure_users(["fay", "gus"])
    sent = chat(s, "fay", "gus", 1, 1)
    env = {"PETREL_HTTP": http(s), "PETREL_USER": "gus", "PETREL_SECRET": s.secret}
    r = cli("sync", env=env)
    assert r.returncode == 0, r.stderr
    assert [row["messageId"] for row in lines(r)] == [m[0] for m in sent]
    tok = cli("sign", "--secret", s.secret, "--user", "fay").stdout.decode().strip()
    r = cli("sync", "--http", http(s), "--user", "fay", "--sign", tok)
    assert r.returncode == 0, r.stderr
    assert [row["messageId"] for row in lines(r)] == [m[0] for m in sent]


def test_sync_nothing_prints_nothing(srv):
    r = cli("sync", "--http", http(srv), "--user", "dave", "--secret", srv.secret,
            "--since", 2 ** 62)
    assert r.returncode == 0, r.stderr
    assert not r.stdout.strip(), r.stdout


def test_sync_bad_token_prints_envelope(srv):
    r = cli("sync", "--http", http(srv), "--user", "alice", "--secret", "wrong")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert not r.stdout.strip(), r.stdout
    env = json.loads(r.stderr.decode().strip().splitlines()[-1])
    assert env["code"] == pp.E_SIGN_INVALID, env


def test_sync_unreachable_exits_1():
    r = cli("sync", "--http", "http://127.0.0.1:1", "--user", "alice", "--secret", "s",
            "--timeout-ms", 2000)
    assert r.returncode == 1 and r.stderr.strip(), (r.returncode, r.stderr)
    r = cli("sync", "--http", "ftp://x", "--user", "alice", "--secret", "s")
    assert r.returncode == 1 and b"--http" in r.stderr, r.stderr


def test_history_oldest_first_and_paging(server):
    s = server()
    s.ensure_users(["hal", "ivy"])
    sent = chat(s, "hal", "ivy", 4, 3)
    r = cli("history", "--http", http(s), "--user", "hal", "--secret", s.secret,
            "--with", "ivy")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    rows = lines(r)
    assert [row["messageId"] for row in rows] == [m[0] for m in sent], rows
    seqs = [row["messageSequence"] for row in rows]
    assert seqs == sorted(seqs) and seqs == [m[2] for m in sent], seqs
    assert {(row["fromId"], row["toId"]) for row in rows} == {("hal", "ivy"), ("ivy", "hal")}

    # the peer sees the same conversation
    r2 = cli("history", "--http", http(s), "--user", "ivy", "--secret", s.secret,
             "--with", "hal")
    assert [row["messageId"] for row in lines(r2)] == [m[0] for m in sent]

    # --limit: the newest N, still printed oldest first
    r3 = cli("history", "--http", http(s), "--user", "hal", "--secret", s.secret,
             "--with", "ivy", "--limit", 3)
    assert [row["messageSequence"] for row in lines(r3)] == seqs[-3:]

    # --before: the page before a sequence (scrolling up)
    r4 = cli("history", "--http", http(s), "--user", "hal", "--secret", s.secret,
             "--with", "ivy", "--before", seqs[-3], "--limit", 2)
    assert [row["messageSequence"] for row in lines(r4)] == seqs[-5:-3]


def test_history_usage_and_errors(srv):
    r = cli("history", "--http", http(srv), "--user", "alice", "--secret", srv.secret)
    assert r.returncode == 1 and b"--with" in r.stderr, r.stderr
    r = cli("history", "--http", http(srv), "--user", "alice", "--secret", "wrong",
            "--with", "bob")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stderr.decode().strip().splitlines()[-1])["code"] == pp.E_SIGN_INVALID
    # no conversation yet: an empty page
    r = cli("history", "--http", http(srv), "--user", "carol", "--secret", srv.secret,
            "--with", "dave")
    assert r.returncode == 0 and not r.stdout.strip(), (r.stdout, r.stderr)


def test_help_texts():
    r = cli("help")
    assert r.returncode == 0
    for word in (b"send", b"sync", b"history", b"PETREL_HTTP"):
        assert word in r.stdout, word
    for cmd, opts in (("send", [b"--to", b"--text", b"--body", b"--message-id", b"--wait",
                                b"--repeat"]),
                      ("sync", [b"--http", b"--since", b"--limit"]),
                      ("history", [b"--with", b"--before", b"--limit"])):
        for how in (["help", cmd], [cmd, "--help"]):
            r = cli(*how)
            assert r.returncode == 0, how
            for o in opts:
                assert o in r.stdout, (how, o)
