"""One send use case behind two transports (im/msg_send.h): the socket's
1103 / 2104 and REST message/send / group/sendMessage go through the same
im_send_p2p / im_send_group, with the same idempotency.  A resend of a
messageId, over either transport, answers the original messageKey and
sequence and stores nothing more (history shows one row), and the
receiver is pushed the message once.  After a restart the idempotency
cache is empty and the database's unique key (app, sender, messageId)
still decides."""
from test_groups import G, MSG_GROUP, create, gack, gmk, ok, sync
from test_messages import (IOS, MSG_P2P, MSG_P2P_SYNC, PUSHES, WEB, Dev, api_ok, check_ack,
                           history, mk, send_ok)

SEND = "/v1/message/send"
GSEND = G + "sendMessage"


def rest_send(srv, m, frm="alice"):
    body = dict(m, fromId=frm)
    return api_ok(srv, SEND, body)


def rows_with(srv, owner, peer, mid):
    rows, _ = history(srv, owner, peer, seq=0, is_gt=True, limit=200)
    return [r for r in rows if r.get("messageId") == mid]


def test_rest_resend_answers_the_original_and_stores_once(srv):
    b = Dev(srv, "bob", WEB, "tcp")
    m = mk("bob", mid="uc-rest-1")
    d1 = rest_send(srv, m)
    assert d1["duplicate"] is False and d1["messageSequence"] == 1, d1
    p = b.take(MSG_P2P)
    assert p.data.get("messageKey") == d1["messageKey"], p
    for _ in range(3):   # answered by the idempotency cache now
        d = rest_send(srv, m)
        assert (d["messageKey"], d["messageSequence"], d["messageId"], d["duplicate"]) == \
            (d1["messageKey"], d1["messageSequence"], "uc-rest-1", True), (d, d1)
    b.expect_none(PUSHES)            # delivered once
    rows = rows_with(srv, "alice", "bob", "uc-rest-1")
    assert len(rows) == 1 and rows[0]["messageKey"] == d1["messageKey"], rows
    # the next message takes the next sequence: the resends took none
    d2 = rest_send(srv, mk("bob", mid="uc-rest-2"))
    assert d2["messageSequence"] == 2 and d2["duplicate"] is False, d2


def test_socket_send_then_rest_resend(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", IOS, "ws")
    m, ack = send_ok(a, "bob", mid="uc-sock-1")
    b.take(MSG_P2P)
    d = rest_send(srv, m)
    assert (d["messageKey"], d["messageSequence"], d["duplicate"]) == \
        (ack["messageKey"], ack["messageSequence"], True), (d, ack)
    b.expect_none(PUSHES)
    a.expect_none({MSG_P2P_SYNC}, wait=0.05)   # no sync copy of a resend either
    assert len(rows_with(srv, "bob", "alice", "uc-sock-1")) == 1


def test_rest_send_then_socket_resend(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "tcp")
    m = mk("bob", mid="uc-rest-sock-1")
    d = rest_send(srv, m)
    b.take(MSG_P2P)
    a.take(MSG_P2P_SYNC)                      # REST sends sync to every device of the sender
    for _ in range(2):
        a.send(MSG_P2P, m)
        again = check_ack(a.take_ack(m["messageId"]), m["messageId"], "bob")
        assert (again["messageKey"], again["messageSequence"]) == \
            (d["messageKey"], d["messageSequence"]), (again, d)
    b.expect_none(PUSHES)
    assert len(rows_with(srv, "alice", "bob", "uc-rest-sock-1")) == 1


def test_rest_resend_after_restart_the_database_decides(server):
    s1 = server()
    s1.ensure_users(["alice", "bob"])
    m = mk("bob", mid="uc-restart-1")
    d1 = rest_send(s1, m)
    assert s1.stop() == 0
    s2 = server(data_dir=s1.data_dir, app_secret=s1.secret)
    s2.ensure_users(["alice", "bob"])
    b = Dev(s2, "bob", WEB, "tcp")
    d2 = rest_send(s2, m)                     # the cache is empty: the store finds it
    assert (d2["messageKey"], d2["messageSequence"], d2["duplicate"]) == \
        (d1["messageKey"], d1["messageSequence"], True), (d1, d2)
    b.expect_none(PUSHES)
    assert len(rows_with(s2, "alice", "bob", "uc-restart-1")) == 1


def test_group_send_socket_and_rest_share_idempotency(srv):
    gid = create(srv, "alice", ["bob"])
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "tcp")
    # socket first, then REST
    m = gmk(gid, mid="uc-g-1")
    a.send(MSG_GROUP, m)
    first = gack(a, "uc-g-1")
    assert first["code"] == 200, first
    b.take(MSG_GROUP)
    d = ok(srv, GSEND, dict(m, fromId="alice"), "admin")
    assert (d["messageKey"], d["messageSequence"], d["duplicate"]) == \
        (first["data"]["messageKey"], first["data"]["messageSequence"], True), (d, first)
    # REST first, then REST again and the socket
    m2 = gmk(gid, mid="uc-g-2")
    d2 = ok(srv, GSEND, dict(m2, fromId="alice"), "admin")
    assert d2["duplicate"] is False and d2["messageSequence"] == first["data"]["messageSequence"] + 1
    b.take(MSG_GROUP)
    d3 = ok(srv, GSEND, dict(m2, fromId="alice"), "admin")
    assert (d3["messageKey"], d3["messageSequence"], d3["duplicate"]) == \
        (d2["messageKey"], d2["messageSequence"], True), (d2, d3)
    a.send(MSG_GROUP, m2)
    again = gack(a, "uc-g-2")
    assert again["code"] == 200 and again["data"]["messageKey"] == d2["messageKey"], again
    b.expect_none({MSG_GROUP})
    rows = sync(srv, gid, "bob")["dataList"]
    assert sorted(r["messageId"] for r in rows if r["messageId"].startswith("uc-g-")) == \
        ["uc-g-1", "uc-g-2"], rows
