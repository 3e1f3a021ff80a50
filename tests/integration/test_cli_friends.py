"""The petrel CLI's friend and call commands, and issue #5's "done when":
two CLIs befriend each other through a verified request, see each other
come online and go offline, chat, and are blocked when one blacklists the
other -- every step through the `petrel` binary, none through the test's
own protocol code.

alice is online with `petrel login` over TCP and bob over WebSocket, both
in the background; the other commands are one-shot `petrel friend`,
`petrel call` and `petrel send` runs.
"""
import json
import time

import pytest

import petrelproto as pp
from conftest import SLOW
from test_cli_messages import acks, background, cli, http, lines, packets, send  # noqa: F401

FRIEND_ADD = 3000
FRIEND_REQUEST = 3003
FRIEND_REQUEST_APPROVE = 3005
BLACK_ADD = 3010
ONLINE_NOTIFY = 4004
MSG_P2P = 1103
DEBOUNCE_MS = int(300 * SLOW)


@pytest.fixture
def fsrv(server):
    s = server("--presence-debounce-ms=%d" % DEBOUNCE_MS)
    s.ensure_users(["alice", "bob", "carol"])
    return s


def rest(s, user, *args):
    return cli(*args, "--http", http(s), "--user", user, "--secret", s.secret)


def friend(s, user, action, *args):
    return rest(s, user, "friend", action, *args)


def one(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    docs = lines(r)
    assert len(docs) == 1, docs
    return docs[0]


def envelope(r):
    """The error envelope `petrel` prints on stderr for a refused call."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    return json.loads(r.stderr.decode().strip().splitlines()[-1])


def status_of(b, user, status):
    return lambda d: d.get("command") == ONLINE_NOTIFY and \
        d["data"]["userId"] == user and d["data"]["status"] == status


def test_two_clis_befriend_see_status_chat_and_block(fsrv, background):
    s = fsrv
    # bob wants to approve his friends; the app checks blacklists on sends
    one(rest(s, "bob", "call", "--path", "/v1/user/data/modifyUserInfo",
             "--body", '{"friendAllowType":2}'))
    one(rest(s, "admin", "call", "--path", "/v1/app/updateSetting",
             "--body", '{"settings":{"sendMessageCheckBlack":true}}'))

    bob = background(s, "bob", "ws", "bob-ws")
    bob.wait_for(lambda d: d.get("command") == pp.LOGINACK)
    alice = background(s, "alice", "tcp", "alice-tcp")
    alice.wait_for(lambda d: d.get("command") == pp.LOGINACK)

    # a verified request: nothing is a friendship until bob approves
    d = one(friend(s, "alice", "add", "--to", "bob", "--remark", "Bobby",
                   "--wording", "it's alice"))
    assert d["added"] is False and d["requestId"] > 0, d
    req_id = d["requestId"]
    got = bob.wait_for(lambda d: d.get("command") == FRIEND_REQUEST)
    assert got[0]["data"]["fromId"] == "alice", got
    reqs = lines(friend(s, "bob", "requests"))
    assert [(q["id"], q["fromId"], q["addWording"], q["approveStatus"]) for q in reqs] == \
        [(req_id, "alice", "it's alice", 0)], reqs
    assert lines(friend(s, "alice", "list")) == []
    # only the addressee may decide
    assert envelope(friend(s, "alice", "approve", "--id", req_id))["code"] == 30011

    one(friend(s, "bob", "approve", "--id", req_id))
    bob.wait_for(lambda d: d.get("command") == FRIEND_REQUEST_APPROVE)
    for who, dev, other, remark in (("alice", alice, "bob", "Bobby"), ("bob", bob, "alice", "")):
        dev.wait_for(lambda d: d.get("command") == FRIEND_ADD)
        rows = lines(friend(s, who, "list"))
        assert [(r["toId"], r["status"], r["remark"]) for r in rows] == [(other, 1, remark)], rows

    # online status: bob sees alice go offline (after the debounce) and
    # come back, and asks for it
    online = {k: v["onlineStatus"] for k, v in one(friend(s, "bob", "status")).items()}
    assert online == {"alice": 1}, online
    assert alice.stop() == 0
    bob.wait_for(status_of(bob, "alice", 2), timeout=5 + DEBOUNCE_MS / 1000.0)
    d = one(friend(s, "bob", "status", "--to", "alice,carol"))
    assert (d["alice"]["onlineStatus"], d["carol"]["onlineStatus"]) == (0, 0), d
    alice = background(s, "alice", "tcp", "alice-tcp-2")
    alice.wait_for(lambda d: d.get("command") == pp.LOGINACK)
    bob.wait_for(status_of(bob, "alice", 1))
    # and alice sees bob's status the same way
    d = one(friend(s, "alice", "status"))
    # (a friend sees the device's type, never its id: docs/SECURITY.md)
    assert d["bob"]["onlineStatus"] == 1 and "imei" not in d["bob"]["session"][0], d

    # chat both ways
    r = send(s, "alice", "bob", "--text", "hi bob")
    assert r.returncode == 0 and acks(r)[0]["code"] == 200, (r.stdout, r.stderr)
    got = bob.wait_for(lambda d: d.get("command") == MSG_P2P)
    assert json.loads(got[-1]["data"]["messageBody"])["content"] == "hi bob", got
    r = send(s, "bob", "alice", "--text", "hi alice", transport="ws")
    assert r.returncode == 0 and acks(r)[0]["code"] == 200, (r.stdout, r.stderr)
    alice.wait_for(lambda d: d.get("command") == MSG_P2P and d["data"]["fromId"] == "bob")

    # bob blacklists alice: both directions are refused with the seeds' codes
    one(friend(s, "bob", "black", "--to", "alice"))
    bob.wait_for(lambda d: d.get("command") == BLACK_ADD)
    r = send(s, "alice", "bob", "--text", "are you there?")
    assert r.returncode == 3 and acks(r)[0]["code"] == 30007, (r.returncode, r.stdout)
    r = send(s, "bob", "alice", "--text", "no", transport="ws")
    assert r.returncode == 3 and acks(r)[0]["code"] == 30006, (r.returncode, r.stdout)
    n = len([d for d in bob.docs if d.get("command") == MSG_P2P])
    time.sleep(0.2)
    assert len([d for d in bob.docs if d.get("command") == MSG_P2P]) == n

    # and lifted again
    one(friend(s, "bob", "unblack", "--to", "alice"))
    r = send(s, "alice", "bob", "--text", "back")
    assert r.returncode == 0 and acks(r)[0]["code"] == 200, (r.returncode, r.stdout)

    # deleting the friendship ends the status pushes
    one(friend(s, "alice", "delete", "--to", "bob"))
    assert lines(friend(s, "alice", "list")) == []
    n = len([d for d in bob.docs if d.get("command") == ONLINE_NOTIFY])
    assert alice.stop() == 0
    time.sleep(DEBOUNCE_MS / 1000.0 + 0.3)
    assert len([d for d in bob.docs if d.get("command") == ONLINE_NOTIFY]) == n, bob.docs
    assert bob.stop() == 0


def test_friend_usage_and_errors(fsrv):
    s = fsrv
    r = cli("friend")
    assert r.returncode == 1 and b"usage: petrel friend" in r.stderr
    r = cli("friend", "--help")
    assert r.returncode == 0 and b"approve --id N" in r.stdout
    r = cli("help", "friend")
    assert r.returncode == 0 and b"usage: petrel friend" in r.stdout
    r = friend(s, "alice", "poke", "--to", "bob")
    assert r.returncode == 1 and b"unknown action 'poke'" in r.stderr
    for action, opt in (("add", "to"), ("approve", "id"), ("reject", "id"),
                        ("delete", "to"), ("black", "to"), ("unblack", "to")):
        r = friend(s, "alice", action)
        assert r.returncode == 1 and ("--%s is required" % opt).encode() in r.stderr, \
            (action, r.stderr)
    r = friend(s, "alice", "approve", "--id", "x")
    assert r.returncode == 1 and b"invalid value for --id" in r.stderr
    # server-side refusals come back as the envelope
    assert envelope(friend(s, "alice", "add", "--to", "nobody"))["code"] == 20001
    assert envelope(friend(s, "alice", "add", "--to", "alice"))["code"] != 200
    assert envelope(friend(s, "alice", "approve", "--id", "999999"))["code"] == 30012
    assert envelope(friend(s, "alice", "delete", "--to", "bob"))["code"] == 30003
    # a bad token is refused before anything runs
    r = cli("friend", "list", "--http", http(s), "--user", "alice", "--secret", "wrong")
    assert r.returncode == 1 and envelope(r)["code"] != 200


def test_call(fsrv):
    s = fsrv
    d = one(rest(s, "alice", "call", "--path", "/v1/user/data/getSingleUserInfo",
                 "--body", '{"userId":"bob"}'))
    assert d["userId"] == "bob" and "password" not in d, d
    d = one(rest(s, "alice", "call", "--path", "/v1/user/getUserSequence"))
    assert isinstance(d, dict), d
    r = rest(s, "alice", "call", "--path", "/v1/user/data/getSingleUserInfo", "--body", "[1]")
    assert r.returncode == 1 and b"not a JSON object" in r.stderr
    r = rest(s, "alice", "call", "--path", "/v1/user/data/getSingleUserInfo", "--body", "{")
    assert r.returncode == 1 and b"not a JSON object" in r.stderr
    r = rest(s, "alice", "call")
    assert r.returncode == 1 and b"--path" in r.stderr
    assert envelope(rest(s, "alice", "call", "--path", "/v1/no/such"))["code"] != 200
    # a non-admin acting for someone else
    assert envelope(rest(s, "alice", "call", "--path", "/v1/user/data/modifyUserInfo",
                         "--body", '{"userId":"bob","nickName":"x"}'))["code"] == 60006
