"""What a client needs to match answers to requests and to rebuild its view
after a reload (found while writing the JavaScript SDK and web client):
a refused packet's ERROR names its messageId, a refused recall names its
messageKey, REST message/send defaults fromId to the operator, a
conversation row tells how far the peer has read, and HEAD answers with
the length GET would send."""
import http.client

from test_messages import (MSG_ACK, MSG_P2P, MSG_RECALL_ACK, WEB, Dev, api_ok, conv_of,
                           mk, recall, send_ok)

MSG_READED = 1106


def test_error_packet_names_the_message_id(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    # an unsupported command with a messageId
    a.send(7777, {"messageId": "m-unsupported", "toId": "bob"})
    p = a.take(9998)
    assert (p.data["code"], p.data["command"], p.data.get("messageId")) == \
        (61008, 7777, "m-unsupported"), p.data
    # a send as someone else
    m = mk("bob", mid="m-not-me")
    m["fromId"] = "carol"
    a.send(MSG_P2P, m)
    p = a.take(9998)
    assert (p.data["code"], p.data["command"], p.data.get("messageId")) == \
        (61007, MSG_P2P, "m-not-me"), p.data
    # no messageId, or not a string: none in the error
    a.send(7777, {"messageId": 5})
    p = a.take(9998)
    assert p.data["code"] == 61008 and "messageId" not in p.data, p.data
    # the connection carries on
    send_ok(a, "bob")


def test_refused_recall_names_the_message_key(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "ws")
    _, ack = send_ok(a, "bob")
    p = recall(b, ack["messageKey"])
    assert p.data["code"] == 60006 and p.data["data"] == {"messageKey": ack["messageKey"]}, p.data
    p = recall(a, 424242)
    assert p.data["code"] == 50003 and p.data["data"] == {"messageKey": 424242}, p.data
    assert recall(a, ack["messageKey"]).data["code"] == 200
    p = recall(a, ack["messageKey"])
    assert p.data["code"] == 50005 and p.data["data"] == {"messageKey": ack["messageKey"]}, p.data
    a.expect_none({MSG_RECALL_ACK, MSG_ACK}, wait=0.05)


def test_rest_send_from_defaults_to_the_operator(srv):
    b = Dev(srv, "bob", WEB, "tcp")
    d = api_ok(srv, "/v1/message/send", {"toId": "bob", "messageId": "dflt-1",
                                         "messageBody": {"type": 1, "content": "hi"}},
               as_user="alice")
    assert d["messageSequence"] >= 1 and d["duplicate"] is False, d
    p = b.take(MSG_P2P)
    assert (p.data["fromId"], p.data["messageId"]) == ("alice", "dflt-1"), p.data
    # the admin without fromId sends as the admin, not as anyone else
    st, doc = srv.api("/v1/message/send", {"toId": "bob", "messageBody": "x"}, as_user="admin")
    assert st == 200 and doc["code"] in (200, 20001), doc
    # a wrong type is still refused
    st, doc = srv.api("/v1/message/send", {"fromId": 7, "toId": "bob", "messageBody": "x"},
                      as_user="alice")
    assert (st, doc["code"]) == (400, 90001), doc


def test_conversation_row_has_the_peer_read_sequence(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "ws")
    for _ in range(4):
        send_ok(a, "bob")
    assert conv_of(srv, "alice", "bob")["peerReadSequence"] == 0
    assert conv_of(srv, "bob", "alice")["peerReadSequence"] == 4   # the sender's own
    since = api_ok(srv, "/v1/conversation/syncConversationList",
                   {"lastSequence": 0, "maxLimit": 100}, as_user="alice")["maxSequence"]
    b.send(MSG_READED, {"toId": "alice", "conversationType": 0, "messageSequence": 3})
    a.take(1054)
    # alice's incremental sync learns bob's read position
    d = api_ok(srv, "/v1/conversation/syncConversationList",
               {"lastSequence": since, "maxLimit": 100}, as_user="alice")
    assert [(r["toId"], r["peerReadSequence"]) for r in d["dataList"]] == [("bob", 3)], d
    mine = conv_of(srv, "alice", "bob")
    assert (mine["readedSequence"], mine["peerReadSequence"]) == (4, 3), mine
    theirs = conv_of(srv, "bob", "alice")
    assert (theirs["readedSequence"], theirs["peerReadSequence"]) == (3, 4), theirs
    # the full list carries it too (a reload)
    rows = api_ok(srv, "/v1/conversation/syncConversationList",
                  {"lastSequence": 0, "maxLimit": 100}, as_user="alice")["dataList"]
    assert [r["peerReadSequence"] for r in rows if r["toId"] == "bob"] == [3], rows


def test_head_has_the_get_content_length(srv):
    def req(method, path):
        c = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=5)
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, r.getheader("Content-Length"), body

    st, n, body = req("GET", "/")
    assert st == 200 and int(n) == len(body) > 0
    st, hn, hbody = req("HEAD", "/")
    assert (st, hn, hbody) == (200, n, b""), (st, hn, hbody)
    st, n, body = req("GET", "/healthz")
    st2, hn, hbody = req("HEAD", "/healthz")
    assert st2 == st == 200 and int(hn) == len(body) and hbody == b"", (hn, body)


def test_offline_device_learns_a_recall_from_the_sync(srv):
    """A device that synced past a message and was offline when it was
    recalled meets it again in syncOfflineMessage, recalled."""
    a = Dev(srv, "alice", WEB, "tcp")
    _, ack1 = send_ok(a, "bob")
    _, ack2 = send_ok(a, "bob")
    first = api_ok(srv, "/v1/message/syncOfflineMessage", {"lastSequence": 0, "maxLimit": 100},
                   as_user="bob")
    assert [r["messageKey"] for r in first["dataList"]] == [ack1["messageKey"], ack2["messageKey"]]
    cursor = first["lastSequence"]
    assert first["completed"] is True and cursor == ack2["messageKey"], first

    assert recall(a, ack1["messageKey"]).data["code"] == 200
    _, ack3 = send_ok(a, "bob")
    d = api_ok(srv, "/v1/message/syncOfflineMessage", {"lastSequence": cursor, "maxLimit": 1},
               as_user="bob")
    rows = d["dataList"]
    assert [(r["messageKey"], r["delFlag"]) for r in rows] == [(ack1["messageKey"], 1)], d
    assert rows[0].get("messageBody") is None and d["completed"] is False, d
    d = api_ok(srv, "/v1/message/syncOfflineMessage",
               {"lastSequence": d["lastSequence"], "maxLimit": 100}, as_user="bob")
    assert [(r["messageKey"], r["delFlag"]) for r in d["dataList"]] == \
        [(ack3["messageKey"], 0)] and d["completed"] is True, d
    # a fresh device sees each message once, the recalled one recalled
    d = api_ok(srv, "/v1/message/syncOfflineMessage", {"lastSequence": 0, "maxLimit": 100},
               as_user="bob")
    keys = [r["messageKey"] for r in d["dataList"]]
    assert sorted(keys) == sorted([ack1["messageKey"], ack2["messageKey"], ack3["messageKey"]]), d
    assert [r["delFlag"] for r in d["dataList"] if r["messageKey"] == ack1["messageKey"]] == [1]


def test_group_conversation_pin_mute_and_group_sequence(srv):
    before = api_ok(srv, "/v1/user/getUserSequence", {}, as_user="alice")["groupSeq"]
    g = api_ok(srv, "/v1/group/createGroup",
               {"groupName": "hints", "groupType": 1, "member": [{"memberId": "bob"}]},
               as_user="alice")
    gid = g["groupId"]
    after = api_ok(srv, "/v1/user/getUserSequence", {}, as_user="alice")["groupSeq"]
    assert after > before, (before, after)
    cid = "1_alice_%s" % gid
    d = api_ok(srv, "/v1/conversation/updateConversation", {"conversationId": cid, "isTop": 1},
               as_user="alice")
    assert (d["conversationType"], d["isTop"]) == (1, 1), d
    d = api_ok(srv, "/v1/conversation/updateConversation", {"conversationId": cid, "isMute": 1},
               as_user="alice")
    rows = api_ok(srv, "/v1/conversation/syncConversationList",
                  {"lastSequence": 0, "maxLimit": 100}, as_user="alice")["dataList"]
    mine = [r for r in rows if r["conversationId"] == cid]
    assert len(mine) == 1 and (mine[0]["isTop"], mine[0]["isMute"]) == (1, 1), rows
    st, doc = srv.api("/v1/conversation/deleteConversation", {"conversationId": cid},
                      as_user="alice")
    assert (st, doc["code"]) == (200, 50000), doc
    # someone else's group conversation
    st, doc = srv.api("/v1/conversation/updateConversation",
                      {"conversationId": "1_bob_%s" % gid, "isTop": 1}, as_user="alice")
    assert (st, doc["code"]) == (403, 60006), doc
    st, doc = srv.api("/v1/conversation/updateConversation",
                      {"conversationId": "2_alice_%s" % gid, "isTop": 1}, as_user="alice")
    assert (st, doc["code"]) == (400, 90001), doc
