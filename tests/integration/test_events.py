"""Domain events (src/server/im/event.h), seen from outside through
/metrics petrel_events_total{kind}: every committed change emits exactly one
event of its kind; a refusal, a duplicate or a change that changes nothing
emits none.  Device notifications are event subscribers (notify/), so the
pushes the other tests check are the events' effects; this file checks the
count."""
import re
import time

import petrelproto as pp
from test_conversations import conv_call
from test_messages import (CONV_UPDATE, MSG_ACK, MSG_P2P, WEB, IOS, Dev, api_ok, check_refused,
                           mk, send_ok)


def events(srv):
    st, _, body = pp.http_get(srv.http_port, "/metrics", timeout=10)
    assert st == 200
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r'^petrel_events_total\{kind="([a-z._]+)"\} (\d+)$', body.decode(), re.M)}


def delta(before, after):
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def settle(srv, before, want, timeout=5.0):
    """The events counted since before, once they equal want (events of a
    commit are emitted before its answer; presence ones on the device's
    worker, right after the LOGINACK or the close)."""
    end = time.time() + timeout
    while True:
        d = delta(before, events(srv))
        if d == want or time.time() > end:
            return d
        time.sleep(0.02)


def test_every_kind_is_listed(srv):
    ev = events(srv)
    for k in ("msg.stored", "msg.recalled", "msg.read", "group.msg.stored", "friend.added",
              "user.modified", "group.created", "conversation.updated", "user.status",
              "device.online", "device.offline", "device.kicked", "user.online", "user.offline"):
        assert k in ev, "no petrel_events_total{kind=%r}" % k


def test_one_to_one_send_once_per_commit(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", IOS, "ws")
    before = events(srv)
    m, ack = send_ok(a, "bob", mid="ev-1")
    b.take(MSG_P2P)
    a.send(MSG_P2P, m)                                    # resend: the cache answers
    assert a.take(MSG_ACK).data["data"]["messageKey"] == ack["messageKey"]
    api_ok(srv, "/v1/message/send", dict(m, fromId="alice"))   # resend over REST
    a.send(MSG_P2P, mk("nobody-such", mid="ev-2"))       # refused by the store
    check_refused(a.take(MSG_ACK), 20001, "ev-2")
    assert settle(srv, before, {"msg.stored": 1}) == {"msg.stored": 1}


def test_conversation_and_status_changes(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "tcp")
    send_ok(a, "bob")
    b.take(MSG_P2P)
    before = events(srv)
    api_ok(srv, "/v1/conversation/updateConversation",
           {"conversationId": "0_alice_bob", "isTop": 1}, as_user="alice")
    a.take(CONV_UPDATE)
    st, doc = conv_call(srv, "updateConversation",                # no such conversation
                        {"conversationId": "0_alice_nobody", "isTop": 1}, "alice")
    assert (st, doc.get("code")) == (200, 50000), doc
    api_ok(srv, "/v1/user/setUserCustomerStatus",
           {"userId": "alice", "customText": "lunch", "customStatus": 2}, as_user="alice")
    assert settle(srv, before, {"conversation.updated": 1, "user.status": 1}) == \
        {"conversation.updated": 1, "user.status": 1}


def test_presence_events(server):
    s = server("--presence-debounce-ms=0")
    s.ensure_users(["alice", "bob"])
    before = events(s)
    a1 = Dev(s, "alice", WEB, "tcp", imei="a1")
    assert settle(s, before, {"device.online": 1, "user.online": 1}) == \
        {"device.online": 1, "user.online": 1}
    before = events(s)
    a2 = Dev(s, "alice", IOS, "ws", imei="a2")           # a second device: not the user's first
    assert settle(s, before, {"device.online": 1}) == {"device.online": 1}
    before = events(s)
    a2.c.close()
    assert settle(s, before, {"device.offline": 1}) == {"device.offline": 1}
    before = events(s)
    a1.c.close()                                          # the last one: offline at once (debounce 0)
    assert settle(s, before, {"device.offline": 1, "user.offline": 1}) == \
        {"device.offline": 1, "user.offline": 1}


def test_kick_is_an_event(server):
    s = server("--login-policy=1")                       # one device per user: a new one kicks
    s.ensure_users(["alice"])
    Dev(s, "alice", WEB, "tcp", imei="k1")
    before = events(s)
    Dev(s, "alice", IOS, "tcp", imei="k2")
    d = settle(s, before, {"device.online": 1, "device.kicked": 1, "device.offline": 1})
    assert d.get("device.kicked") == 1 and d.get("device.online") == 1, d
    assert "user.online" not in d and "user.offline" not in d, d
