"""Attacks on messaging (issue 14, items 2, 6, 7 and the message part of 10),
each performed against a real petreld, with the refusal asserted and the
legitimate use next to it:

  2   forged MSG_RECEIVE_ACK 1107: only for a message toId sent to the
      acker, built from the stored message, not when toId blacklisted the
      acker; a flood of forged acks leaves other clients' ping and login fast;
  6   group read counts only count members whose membership holds the message;
  7   client numbers at the edge of their range (INT64_MAX sequences, huge
      or malformed numbers) get answers, not signed overflow (run this file
      against the ASan/UBSan build: the fixture fails on any sanitizer report);
  10  getReadCount on a message one cannot read, and REST message/send
      refusals, each with its own code and words, the same as the socket's.
"""
import json
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW
from test_messages import (IOS, MSG_ACK, MSG_P2P, MSG_RECEIVE_ACK, WEB, WINDOWS, Dev,
                           api_ok, check_refused, mk, send_ok)
from test_groups import (G, GM, GROUP_MSG_ACK, MSG_GROUP, MSG_GROUP_READED, create, fails,
                         gsend, ok, sync)

INT64_MAX = (1 << 63) - 1
E_MSG_NOT_READABLE = 62020
E_RACK_NO_MESSAGE = 62021
E_RACK_BUSY = 62022
FS = "/v1/friendship/"


def pong(dev):
    """The device's connection still answers a PING (after what is pending)."""
    dev.drain(0.1)
    p = dev.c.ping()
    assert p.command == pp.PING, "%s: ping got %r" % (dev.name, p)


def rack_error(dev, key, code):
    """The ERROR 9998 refusing a 1107 for messageKey `key`."""
    p = dev.take(pp.ERROR, lambda p: p.data.get("command") == MSG_RECEIVE_ACK
                 and p.data.get("messageKey") == key, what="1107 refusal of %r" % key)
    assert p.data.get("code") == code, "expected %d, got %r" % (code, p.data)
    assert isinstance(p.data.get("msg"), str) and p.data["msg"], p.data
    return p.data


# ============================================================ item 2: 1107
def test_forged_receive_acks_are_refused(srv):
    srv.ensure_users(["mallory"])
    alice = [Dev(srv, "alice", WEB, "tcp"), Dev(srv, "alice", IOS, "ws")]
    bob = Dev(srv, "bob", WEB, "tcp")
    bob2 = Dev(srv, "bob", WINDOWS, "ws")
    mallory = Dev(srv, "mallory", WEB, "tcp")
    carol = Dev(srv, "carol", WEB, "ws")
    m, ack = send_ok(alice[0], "bob")           # alice -> bob, key K
    k = ack["messageKey"]
    _, ack_c = send_ok(carol, "mallory")        # carol -> mallory
    for d in (bob, bob2, alice[1], mallory):
        d.drain(0.1)
        d.backlog.clear()

    # mallory acks a message that was never sent to her, towards its sender
    mallory.send(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": k, "messageSequence": 1})
    rack_error(mallory, k, E_RACK_NO_MESSAGE)
    # ... a key that does not exist, towards anyone
    mallory.send(MSG_RECEIVE_ACK, {"toId": "bob", "messageKey": k + 12345})
    rack_error(mallory, k + 12345, E_RACK_NO_MESSAGE)
    # ... her own message from carol, but towards someone who did not send it
    mallory.send(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": ack_c["messageKey"]})
    rack_error(mallory, ack_c["messageKey"], E_RACK_NO_MESSAGE)
    # the sender "acking" its own message towards the receiver
    alice[0].send(MSG_RECEIVE_ACK, {"toId": "bob", "messageKey": k})
    rack_error(alice[0], k, E_RACK_NO_MESSAGE)
    # malformed: not a positive integer key, no toId, toId yourself
    for body in ({"toId": "alice", "messageKey": "1"}, {"toId": "alice", "messageKey": 0},
                 {"toId": "alice", "messageKey": -5}, {"messageKey": k},
                 {"toId": "mallory", "messageKey": k}, {"toId": "x" * 129, "messageKey": k}):
        mallory.send(MSG_RECEIVE_ACK, body)
        p = mallory.take(pp.ERROR, lambda p: p.data.get("command") == MSG_RECEIVE_ACK)
        assert p.data["code"] == 90001, (body, p.data)
    pong(mallory)                               # the connection is kept
    for d in alice + [bob, bob2, carol]:
        d.expect_none({MSG_RECEIVE_ACK}, wait=0.05)

    # the legitimate ack: built from the stored message, whatever else the
    # client put in (arbitrary JSON is not relayed, nor its numbers)
    bob.send(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": k, "messageSequence": 999,
                               "messageId": "forged", "evil": "x" * 40000,
                               "messageBody": {"type": 1, "content": "phish"}})
    for a in alice:
        p = a.take(MSG_RECEIVE_ACK)
        assert p.data == {"fromId": "bob", "toId": "alice", "messageKey": k,
                          "messageId": m["messageId"], "messageSequence": 1,
                          "conversationType": 0, "serverSend": False}, p.data
    for d in alice + [bob, bob2, mallory]:
        d.expect_none({MSG_RECEIVE_ACK, pp.ERROR}, wait=0.1)

    # a recipient the sender blacklisted is not relayed (30007, as for sends)
    _, ack2 = send_ok(alice[0], "bob")
    ok(srv, FS + "addBlack", {"toId": "bob"}, "alice")
    bob.send(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": ack2["messageKey"]})
    rack_error(bob, ack2["messageKey"], 30007)
    for a in alice:
        a.expect_none({MSG_RECEIVE_ACK}, wait=0.1)
    ok(srv, FS + "deleteBlack", {"toId": "bob"}, "alice")
    bob.send(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": ack2["messageKey"]})
    assert alice[1].take(MSG_RECEIVE_ACK).data["messageKey"] == ack2["messageKey"]


def test_forged_receive_ack_flood_leaves_others_fast(srv, bystander):
    """Up to 30,000 forged 1107s carrying 2 KB of junk each (all relayed to
    alice before) while a bystander pings, newcomers log in and bob acks a
    real message: each stays fast, bob's ack gets through, alice gets none
    of mallory's."""
    srv.ensure_users(["mallory"])
    victim = Dev(srv, "alice", WEB, "tcp")
    bob = Dev(srv, "bob", WEB, "tcp")
    mallory = Dev(srv, "mallory", WEB, "tcp")
    _, ack = send_ok(victim, "bob")
    bob.drain(0.1)
    junk = "j" * 2000
    frames = [mallory.frame(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": 1000 + i,
                                              "junk": junk}) for i in range(200)]
    stop = threading.Event()
    sent = [0]

    def flood():
        try:
            while not stop.is_set() and sent[0] < 150:
                mallory.c.send_raw(b"".join(frames))
                sent[0] += 1
        except OSError:
            pass

    t = threading.Thread(target=flood)
    t.start()
    worst_ping = worst_login = 0.0
    try:
        # bob's real ack still goes through while mallory floods
        time.sleep(0.1)
        bob.send(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": ack["messageKey"]})
        p = victim.take(MSG_RECEIVE_ACK)
        assert p.data["fromId"] == "bob" and p.data["messageKey"] == ack["messageKey"], p.data
        for i in range(10):
            t0 = time.monotonic()
            assert bystander.c.ping().command == pp.PING
            worst_ping = max(worst_ping, time.monotonic() - t0)
            t0 = time.monotonic()
            c = srv.login("newcomer", client_type=pp.CT_WEB, imei="nc-%d" % i)
            worst_login = max(worst_login, time.monotonic() - t0)
            c.close()
            time.sleep(0.05)
    finally:
        stop.set()
        t.join()
    assert worst_ping < 1.0 * SLOW, "bystander ping took %.3fs during the flood" % worst_ping
    assert worst_login < 2.0 * SLOW, "login took %.3fs during the flood" % worst_login
    # mallory gets refusals (62021; 62022 when too many wait, 62081 over
    # the send rate), alice nothing
    codes = set()
    deadline = time.monotonic() + 3 * SLOW
    while time.monotonic() < deadline and len(codes) < 3:
        try:
            p = mallory.recv(0.5)
        except TimeoutError:
            break
        if p.command == pp.ERROR:
            codes.add(p.data.get("code"))
    assert codes and codes <= {E_RACK_NO_MESSAGE, E_RACK_BUSY, 62081}, codes
    victim.expect_none({MSG_RECEIVE_ACK}, wait=0.2)
    bystander.check()


# ======================================================= item 6: read counts
def read_count(srv, gid, seq, user="alice"):
    return ok(srv, G + "message/getReadCount", {"groupId": gid, "messageSequence": seq},
              user)["readCount"]


def test_read_count_ignores_members_who_cannot_read_the_message(srv):
    a = Dev(srv, "alice")
    b = Dev(srv, "bob")
    gid = create(srv, "alice", ["bob"])
    gsend(a, gid)                                   # 1
    assert read_count(srv, gid, 1) == 0
    # carol joins after message 1: her read sequence starts past it
    ok(srv, GM + "add", {"groupId": gid, "members": ["carol", "dave"]}, "alice")
    assert read_count(srv, gid, 1) == 0, "a member who joined later counted as a reader"
    h = ok(srv, "/v1/message/queryGroupMessageHistory", {"groupId": gid}, "alice")
    assert [r["readCount"] for r in h["dataList"]] == [0]
    gsend(a, gid)                                   # 2
    c = Dev(srv, "carol")
    c.send(MSG_GROUP_READED, {"groupId": gid, "messageSequence": 2})
    b.send(MSG_GROUP_READED, {"groupId": gid, "messageSequence": 1})
    deadline = time.monotonic() + 5 * SLOW
    while read_count(srv, gid, 2) < 1 or read_count(srv, gid, 1) < 1:
        assert time.monotonic() < deadline, "reads not counted"
        time.sleep(0.05)
    assert (read_count(srv, gid, 1), read_count(srv, gid, 2)) == (1, 1)
    # bob read message 1 and then left: he still counts for it (it was his)
    ok(srv, GM + "remove", {"groupId": gid, "memberId": "bob"}, "alice")
    assert read_count(srv, gid, 1) == 1
    # dave left before reading anything and comes back: still not a reader of 1
    ok(srv, GM + "remove", {"groupId": gid, "memberId": "dave"}, "alice")
    ok(srv, GM + "add", {"groupId": gid, "members": ["dave"]}, "alice")
    assert (read_count(srv, gid, 1), read_count(srv, gid, 2)) == (1, 1)
    h = ok(srv, "/v1/message/queryGroupMessageHistory", {"groupId": gid}, "alice")
    assert [(r["messageSequence"], r["readCount"]) for r in h["dataList"]] == [(2, 1), (1, 1)]


# ================================================== item 10: codes and words
def test_read_count_of_an_unreadable_message_has_its_own_code(srv):
    a = Dev(srv, "alice")
    gid = create(srv, "alice", ["bob"])
    gsend(a, gid)
    ok(srv, GM + "add", {"groupId": gid, "members": ["carol"]}, "alice")
    gsend(a, gid)
    # carol joined after 1: cannot read it; 7 does not exist
    for seq in (1, 7, INT64_MAX):
        d = fails(srv, G + "message/getReadCount", {"groupId": gid, "messageSequence": seq},
                  "carol", E_MSG_NOT_READABLE)
        assert "forbidden" not in d["msg"], d
    assert read_count(srv, gid, 2, "carol") == 0
    assert read_count(srv, gid, 1, "bob") == 0


def test_rest_send_refusals_say_why_like_the_socket(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    words = {}

    def both(code, frm="alice", to="bob"):
        m = mk(to)
        a.send(MSG_P2P, m)
        sock = check_refused(a.take(MSG_ACK), code, m["messageId"])["msg"]
        d = fails(srv, "/v1/message/send", {"fromId": frm, "toId": to, "messageBody": "x"},
                  "admin", code)
        assert d["msg"] == sock and d["msg"] != "refused", (d, sock)
        words[code] = sock

    api_ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "alice", "silentFlag": 1})
    both(50002)
    api_ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "alice", "silentFlag": 0})
    ok(srv, "/v1/app/updateSetting", {"settings": {"sendMessageCheckBlack": True}}, "admin")
    ok(srv, FS + "addBlack", {"toId": "alice"}, "bob")
    both(30007)
    ok(srv, FS + "deleteBlack", {"toId": "alice"}, "bob")
    ok(srv, FS + "addBlack", {"toId": "bob"}, "alice")
    both(30006)
    ok(srv, FS + "deleteBlack", {"toId": "bob"}, "alice")
    api_ok(srv, "/v1/user/deleteUser", {"userId": ["erin"]})
    both(20001, to="erin")
    assert len(set(words.values())) == len(words), words
    send_ok(a, "bob")                             # and the legitimate send works
    d = api_ok(srv, "/v1/message/send", {"fromId": "alice", "toId": "bob", "messageBody": "y"})
    assert d["messageSequence"] == 2, d


# =================================================== item 7: client numbers
def test_sequences_at_int64_max_get_empty_pages(srv):
    a = Dev(srv, "alice")
    send_ok(a, "bob")
    gid = create(srv, "alice", ["bob"])
    gsend(a, gid)
    for seq in (INT64_MAX, str(INT64_MAX)):
        d = api_ok(srv, "/v1/message/queryP2pMessageHistory",
                   {"toId": "bob", "messageSequence": seq, "isGt": True}, "alice")
        assert d["dataList"] == [] and d["hasMore"] is False, d
        d = ok(srv, "/v1/message/queryGroupMessageHistory",
               {"groupId": gid, "messageSequence": seq, "isGt": True}, "alice")
        assert d["dataList"] == [], d
        # before INT64_MAX: everything, newest first
        d = api_ok(srv, "/v1/message/queryP2pMessageHistory",
                   {"toId": "bob", "messageSequence": seq}, "alice")
        assert [r["messageSequence"] for r in d["dataList"]] == [1], d
    d = sync(srv, gid, "alice", last=INT64_MAX)
    assert d["dataList"] == [] and d["completed"] is True, d
    for path, body in (("/v1/message/syncOfflineMessage", {"lastSequence": INT64_MAX}),
                       ("/v1/conversation/syncConversationList", {"lastSequence": INT64_MAX}),
                       (FS + "syncFriendshipList", {"lastSequence": INT64_MAX}),
                       ("/v1/friendshipRequest/syncFriendshipRequest",
                        {"lastSequence": INT64_MAX}),
                       (FS + "group/syncFriendshipGroupList", {"lastSequence": INT64_MAX}),
                       (G + "syncJoinedGroup", {"lastSequence": INT64_MAX}),
                       ("/v1/message/getP2pMessageRange",
                        {"toId": "bob", "fromSequence": INT64_MAX, "toSequence": INT64_MAX})):
        d = ok(srv, path, body, "alice")
        assert d["dataList"] == [], (path, d)
    # the legitimate pages still work
    d = api_ok(srv, "/v1/message/queryP2pMessageHistory",
               {"toId": "bob", "messageSequence": 0, "isGt": True}, "alice")
    assert [r["messageSequence"] for r in d["dataList"]] == [1], d
    assert [r["messageSequence"] for r in sync(srv, gid, "bob")["dataList"]] == [1]


@pytest.mark.parametrize("bad", [str(INT64_MAX + 1), "-1", "1e3", " 5", "5 ", "", "0x10",
                                 "+5", "１", 1.5, -1, True, [1], {"a": 1}])
def test_malformed_sequences_are_refused(srv, bad):
    gid = create(srv, "alice", ["bob"])
    st, doc = srv.api("/v1/message/queryP2pMessageHistory",
                      {"toId": "bob", "messageSequence": bad, "isGt": True}, as_user="alice")
    assert (st, doc["code"]) == (400, 90001), (bad, st, doc)
    st, doc = srv.api("/v1/message/queryGroupMessageHistory",
                      {"groupId": gid, "messageSequence": bad}, as_user="alice")
    assert (st, doc["code"]) == (400, 90001), (bad, st, doc)


def test_numbers_out_of_range_everywhere(srv):
    """Every client number at and past its bounds, over REST and the socket;
    the server answers each (no overflow: the ASan build aborts on one) and
    keeps serving."""
    a = Dev(srv, "alice")
    b = Dev(srv, "bob")
    _, ack = send_ok(a, "bob")
    gid = create(srv, "alice", ["bob"])
    gsend(a, gid)
    big = INT64_MAX
    # JSON integers past int64 are not numbers the server accepts
    st, _, raw = pp.http_request(srv.http_port, "POST", pp.signed_path(
        "/v1/message/syncOfflineMessage", srv.secret, "alice"),
        b'{"lastSequence": 9223372036854775808}', timeout=10 * SLOW)
    assert st == 400 and json.loads(raw)["code"] == 90001, raw
    for path, body in (
            ("/v1/message/syncOfflineMessage", {"lastSequence": -1}),
            ("/v1/message/syncOfflineMessage", {"maxLimit": big}),
            ("/v1/message/queryP2pMessageHistory", {"toId": "bob", "limit": big}),
            ("/v1/message/getP2pMessageRange", {"toId": "bob", "fromSequence": 0}),
            ("/v1/message/getP2pMessageRange", {"toId": "bob", "fromSequence": 1,
                                                "toSequence": -big - 1}),
            (G + "message/getReadCount", {"groupId": gid, "messageSequence": 0}),
            (G + "message/getReadCount", {"groupId": gid, "messageSequence": -big - 1}),
            (G + "message/syncGroupMessage", {"groupId": gid, "lastSequence": -1}),
            (G + "message/syncGroupMessage", {"groupId": gid, "maxLimit": -big - 1}),
            (G + "getJoinedGroup", {"offset": big}),
            (G + "getJoinedGroup", {"limit": big}),
            (GM + "speak", {"groupId": gid, "memberId": "bob", "speakDate": big}),
            ("/v1/user/data/queryImUserPage", {"currentPage": big, "pageSize": 10}),
            ("/v1/user/data/queryImUserPage", {"pageSize": big}),
            ("/v1/user/setUserCustomerStatus", {"customText": "x", "customStatus": 1 << 31}),
            ("/v1/user/data/modifyUserInfo", {"userSex": big}),
            ("/v1/conversation/updateConversation",
             {"conversationId": "0_alice_bob", "isTop": big}),
            ("/v1/group/update", {"groupId": gid, "maxMemberCount": big}),
            ("/v1/group/update", {"groupId": gid, "maxMemberCount": -big - 1}),
    ):
        st, doc = srv.api(path, body, as_user="alice")
        assert (st, doc.get("code")) == (400, 90001), (path, body, st, doc)
    # accepted at the top of their range, with a sane answer
    d = ok(srv, "/v1/user/subscribeUserOnlineStatus",
           {"subUserIds": ["bob"], "subTime": big}, "alice")
    # subTime is cut to 7 days (presence_subs: issue 14 item 15), no overflow
    now = int(time.time() * 1000)
    assert now < d["expireTime"] <= now + 7 * 86400 * 1000 + 60000, d
    d = api_ok(srv, "/v1/message/send", {"fromId": "alice", "toId": "bob", "messageBody": "t",
                                         "messageTime": big, "messageRandom": -big - 1})
    assert d["messageTime"] == big, d
    # socket: receipts, recall and acks with extreme numbers
    a.send(1106, {"toId": "bob", "messageSequence": big})          # read all
    a.send(2106, {"groupId": gid, "messageSequence": big})
    for key in (big, -big - 1, 0):
        a.send(1050, {"messageKey": key})
        p = a.take(1051, lambda p: (p.data.get("data") or {}).get("messageKey") == key)
        assert p.data["code"] == 50003, p.data
        a.send(1050, {"messageKey": key, "conversationType": 1, "groupId": gid})
        p = a.take(1051)
        assert p.data["code"] == 50003, p.data
    b.send(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": big})
    rack_error(b, big, E_RACK_NO_MESSAGE)
    # messageTime is epoch ms: a negative one is refused, on both paths
    m = mk("bob", messageTime=-1)
    a.send(MSG_P2P, m)
    check_refused(a.take_ack(m["messageId"]), 90001, m["messageId"])
    st, doc = srv.api("/v1/message/send", {"fromId": "alice", "toId": "bob", "messageBody": "t",
                                           "messageTime": -big - 1})
    assert (st, doc["code"]) == (400, 90001), doc
    a.send(MSG_GROUP, {"groupId": gid, "messageId": "neg-time", "messageBody": "t",
                       "messageTime": -5})
    p = a.take(GROUP_MSG_ACK)
    assert p.data["code"] == 90001, p.data
    m = mk("bob", messageTime=big, messageRandom=-big - 1)
    a.send(MSG_P2P, m)
    a.take_ack(m["messageId"])
    convs = ok(srv, "/v1/conversation/syncConversationList", {"lastSequence": 0}, "alice")
    row = [c for c in convs["dataList"] if c["toId"] == "bob"][0]
    assert row["lastSequence"] == 3 and 2 <= row["readedSequence"] <= 3, row
    pong(a)
    pong(b)
    assert srv.alive()
    # legitimate reads still fine
    d = api_ok(srv, "/v1/message/getP2pMessageRange", {"toId": "bob", "fromSequence": 1},
               "alice")
    assert len(d["dataList"]) == 3 and d["dataList"][0]["messageKey"] == ack["messageKey"], d
