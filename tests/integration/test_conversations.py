"""Conversations (docs/API.md "Conversations"): rows for both users from
the first message, unreadCount, incremental syncConversationList,
updateConversation / deleteConversation with their pushes (5001 / 5000),
ownership (403/60006) and unknown conversations (50000)."""
from test_messages import (CONV_DELETE, CONV_UPDATE, IOS, MSG_P2P, MSG_READED,
                           MSG_READED_NOTIFY, MSG_READED_RECEIPT, WEB, WINDOWS, Dev,
                           api_ok, conv_of, conv_page, send_ok)

ROW_KEYS = ("conversationId", "conversationType", "fromId", "toId", "isTop", "isMute",
            "readedSequence", "lastSequence", "unreadCount", "sequence", "deleted",
            "updateTime")


def check_row(r, owner, peer, last, read=None):
    missing = [k for k in ROW_KEYS if k not in r]
    assert not missing, "conversation row without %r: %r" % (missing, r)
    want = {"conversationId": "0_%s_%s" % (owner, peer), "conversationType": 0,
            "fromId": owner, "toId": peer, "lastSequence": last}
    if read is not None:
        want["readedSequence"] = read
    assert {k: r[k] for k in want} == want, "row %r, expected %r" % (r, want)
    assert r["unreadCount"] == r["lastSequence"] - r["readedSequence"], \
        "unreadCount is not lastSequence - readedSequence: %r" % r
    assert isinstance(r["sequence"], int) and r["sequence"] > 0, r
    assert isinstance(r["updateTime"], int) and r["updateTime"] > 0, r


def conv_call(srv, op, body, as_user):
    return srv.api("/v1/conversation/" + op, body, as_user=as_user)


def test_rows_for_both_users_and_unread_count(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "ws")
    assert conv_page(srv, "alice")["dataList"] == []
    send_ok(a, "bob")
    ra, rb = conv_of(srv, "alice", "bob"), conv_of(srv, "bob", "alice")
    assert ra is not None and rb is not None, "after the first message: alice %r, bob %r" % (ra, rb)
    check_row(ra, "alice", "bob", 1, read=1)     # nobody has their own message unread
    check_row(rb, "bob", "alice", 1, read=0)
    assert (ra["unreadCount"], rb["unreadCount"]) == (0, 1), (ra, rb)
    for r in (ra, rb):
        assert (r["isTop"], r["isMute"], r["deleted"]) == (0, 0, False), r
        assert r["deleted"] is False, r
    assert conv_of(srv, "carol", "alice") is None and conv_page(srv, "carol")["dataList"] == []

    send_ok(a, "bob")
    send_ok(a, "bob")
    b.send(MSG_READED, {"toId": "alice", "conversationType": 0, "messageSequence": 2})
    a.take(MSG_READED_RECEIPT)     # pushed once the read position is stored
    rb = conv_of(srv, "bob", "alice")
    check_row(rb, "bob", "alice", 3, read=2)
    assert rb["unreadCount"] == 1, rb
    # bob replies: his conversation is read up to his reply; alice has
    # bob's reply unread
    send_ok(b, "alice")
    a.take(MSG_P2P)
    check_row(conv_of(srv, "bob", "alice"), "bob", "alice", 4, read=4)
    check_row(conv_of(srv, "alice", "bob"), "alice", "bob", 4, read=3)


def test_sync_conversation_list_incremental(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    send_ok(a, "bob")
    send_ok(a, "carol")
    d = conv_page(srv, "alice")
    rows = d["dataList"]
    assert sorted(r["conversationId"] for r in rows) == ["0_alice_bob", "0_alice_carol"], rows
    assert d["completed"] is True, d
    seqs = [r["sequence"] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 2, "change sequences %r" % seqs
    assert d["maxSequence"] == max(seqs), d
    mark = d["maxSequence"]

    # nothing changed: nothing after the mark
    d = conv_page(srv, "alice", mark)
    assert d["dataList"] == [] and d["completed"] is True and d["maxSequence"] == mark, d

    # a message to carol changes only that conversation
    send_ok(a, "carol")
    d = conv_page(srv, "alice", mark)
    assert [r["conversationId"] for r in d["dataList"]] == ["0_alice_carol"], d
    r = d["dataList"][0]
    check_row(r, "alice", "carol", 2)
    assert r["sequence"] > mark and d["maxSequence"] == r["sequence"], d
    # bob's own list is per owner: his row with alice is there, carol's is not
    assert [x["conversationId"] for x in conv_page(srv, "bob")["dataList"]] == ["0_bob_alice"]

    # paging: three changes, one per page
    send_ok(a, "bob")
    send_ok(a, "dave")
    got, last, completed = [], mark, []
    for _ in range(10):
        d = conv_page(srv, "alice", last, limit=1)
        completed.append(d["completed"])
        got += d["dataList"]
        if d["completed"]:
            break
        assert len(d["dataList"]) == 1, d
        last = d["dataList"][-1]["sequence"]
    assert [x["conversationId"] for x in got] == ["0_alice_carol", "0_alice_bob", "0_alice_dave"], got
    assert completed == [False, False, True], completed
    s = [x["sequence"] for x in got]
    assert s == sorted(s) and len(set(s)) == 3, s


def test_update_conversation_pushes_5001(srv):
    a1 = Dev(srv, "alice", WEB, "tcp")
    a2 = Dev(srv, "alice", IOS, "ws")
    b = Dev(srv, "bob", WINDOWS, "tcp")
    send_ok(a1, "bob")
    b.take(MSG_P2P)
    mark = conv_page(srv, "alice")["maxSequence"]
    bob_mark = conv_page(srv, "bob")["maxSequence"]

    for field in ("isTop", "isMute"):
        api_ok(srv, "/v1/conversation/updateConversation",
               {"conversationId": "0_alice_bob", field: 1}, as_user="alice")
        for a in (a1, a2):
            p = a.take(CONV_UPDATE)
            assert isinstance(p.data, dict), p
            if "conversationId" in p.data:
                assert p.data["conversationId"] == "0_alice_bob", p.data
        d = conv_page(srv, "alice", mark)
        assert [r["conversationId"] for r in d["dataList"]] == ["0_alice_bob"], \
            "update of %s did not take a new change sequence: %r" % (field, d)
        r = d["dataList"][0]
        assert r[field] == 1 and r["sequence"] > mark, r
        mark = r["sequence"]
    r = conv_of(srv, "alice", "bob")
    assert (r["isTop"], r["isMute"]) == (1, 1), r
    assert (conv_of(srv, "bob", "alice")["isTop"], conv_of(srv, "bob", "alice")["isMute"]) == (0, 0)
    assert conv_page(srv, "bob", bob_mark)["dataList"] == [], "alice's update changed bob's row"
    b.expect_none({CONV_UPDATE, CONV_DELETE})

    api_ok(srv, "/v1/conversation/updateConversation",
           {"conversationId": "0_alice_bob", "isTop": 0}, as_user="alice")
    a1.take(CONV_UPDATE)
    a2.take(CONV_UPDATE)
    assert conv_of(srv, "alice", "bob")["isTop"] == 0

    # neither isTop nor isMute
    st, doc = conv_call(srv, "updateConversation", {"conversationId": "0_alice_bob"}, "alice")
    assert doc.get("code") == 50000, "update without isTop/isMute: %d %r" % (st, doc)


def test_delete_conversation_persists_and_comes_back(srv):
    a1 = Dev(srv, "alice", WEB, "tcp")
    a2 = Dev(srv, "alice", IOS, "ws")
    b = Dev(srv, "bob", WEB, "ws")
    send_ok(a1, "bob")
    mark = conv_page(srv, "alice")["maxSequence"]
    api_ok(srv, "/v1/conversation/deleteConversation", {"conversationId": "0_alice_bob"},
           as_user="alice")
    for a in (a1, a2):
        p = a.take(CONV_DELETE)
        if isinstance(p.data, dict) and "conversationId" in p.data:
            assert p.data["conversationId"] == "0_alice_bob", p.data
    b.expect_none({CONV_DELETE, CONV_UPDATE})
    d = conv_page(srv, "alice", mark)
    assert [(r["conversationId"], r["deleted"]) for r in d["dataList"]] == [("0_alice_bob", True)], d
    mark = d["maxSequence"]
    assert conv_of(srv, "bob", "alice")["deleted"] is False, "alice's delete touched bob's row"

    # persisted: still deleted in a full sync
    assert conv_of(srv, "alice", "bob")["deleted"] is True

    # the next message brings it back
    send_ok(b, "alice")
    d = conv_page(srv, "alice", mark)
    assert [r["conversationId"] for r in d["dataList"]] == ["0_alice_bob"], d
    r = d["dataList"][0]
    assert r["deleted"] is False, "conversation did not come back with a message: %r" % r
    check_row(r, "alice", "bob", 2)


def test_delete_persists_across_restart(server):
    s1 = server()
    s1.ensure_users(["alice", "bob"])
    a = Dev(s1, "alice", WEB, "tcp")
    send_ok(a, "bob")
    api_ok(s1, "/v1/conversation/deleteConversation", {"conversationId": "0_alice_bob"},
           as_user="alice")
    api_ok(s1, "/v1/conversation/updateConversation", {"conversationId": "0_bob_alice", "isMute": 1},
           as_user="bob")
    assert s1.stop() == 0
    s2 = server(data_dir=s1.data_dir, app_secret=s1.secret)
    assert conv_of(s2, "alice", "bob")["deleted"] is True
    assert conv_of(s2, "bob", "alice")["isMute"] == 1


def test_ownership_and_unknown(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "ws")
    send_ok(a, "bob")
    b.take(MSG_P2P)
    for op, body in (("updateConversation", {"conversationId": "0_bob_alice", "isTop": 1}),
                     ("deleteConversation", {"conversationId": "0_bob_alice"})):
        for who in ("alice", "carol"):
            st, doc = conv_call(srv, op, body, who)
            assert (st, doc.get("code")) == (403, 60006), "%s %s by %s: %d %r" % (op, body, who, st, doc)
    b.expect_none({CONV_UPDATE, CONV_DELETE})
    r = conv_of(srv, "bob", "alice")
    assert (r["isTop"], r["deleted"]) == (0, False), r
    # the admin may
    api_ok(srv, "/v1/conversation/updateConversation",
           {"conversationId": "0_bob_alice", "isTop": 1}, as_user="admin")
    b.take(CONV_UPDATE)
    assert conv_of(srv, "bob", "alice")["isTop"] == 1

    for op, body in (("updateConversation", {"conversationId": "0_alice_dave", "isTop": 1}),
                     ("deleteConversation", {"conversationId": "0_alice_dave"}),
                     ("deleteConversation", {"conversationId": "0_alice_nobody"})):
        st, doc = conv_call(srv, op, body, "alice")
        assert (st, doc.get("code")) == (200, 50000), "%s %s: %d %r" % (op, body, st, doc)
    a.expect_none({CONV_UPDATE, CONV_DELETE})


def test_readed_moves_change_sequence(srv):
    """A read receipt changes bob's row (other devices learn the read
    position through syncConversationList)."""
    a = Dev(srv, "alice", WEB, "tcp")
    b1 = Dev(srv, "bob", WEB, "ws")
    b2 = Dev(srv, "bob", IOS, "tcp")
    for _ in range(3):
        send_ok(a, "bob")
    mark = conv_page(srv, "bob")["maxSequence"]
    b1.send(MSG_READED, {"toId": "alice", "conversationType": 0, "messageSequence": 3})
    b2.take(MSG_READED_NOTIFY)
    d = conv_page(srv, "bob", mark)
    assert [(r["conversationId"], r["readedSequence"], r["unreadCount"]) for r in d["dataList"]] \
        == [("0_bob_alice", 3, 0)], d
