"""Friendship (docs/API.md "Friends"): addFriend with and without
verification, the request flow (get, read, approve, reject, incremental
sync), update / delete (both directions) / deleteAll, getAllFriendShip,
getRelation, checkFriend and checkBlack (both spellings), the blacklist and
its effect on messages under the app settings, friend lists (membership
rule, incremental sync), importFriendShip, the operator rule, the 3000-3016
pushes to the right devices, and getUserSequence."""
import pytest

from test_messages import (IOS, MSG_ACK, MSG_P2P, WEB, WINDOWS, Dev, api_ok, check_refused,
                           mk, send_ok)

FRIEND_ADD = 3000
FRIEND_UPDATE = 3001
FRIEND_DELETE = 3002
FRIEND_REQUEST = 3003
FRIEND_REQUEST_READ = 3004
FRIEND_REQUEST_APPROVER = 3005
BLACK_ADD = 3010
BLACK_DELETE = 3011
GROUP_ADD = 3012
GROUP_DELETE = 3013
GROUP_MEMBER_ADD = 3014
GROUP_MEMBER_DELETE = 3015
ALL_DELETE = 3016
FRIEND_PUSHES = {FRIEND_ADD, FRIEND_UPDATE, FRIEND_DELETE, FRIEND_REQUEST, FRIEND_REQUEST_READ,
                 FRIEND_REQUEST_APPROVER, BLACK_ADD, BLACK_DELETE, GROUP_ADD, GROUP_DELETE,
                 GROUP_MEMBER_ADD, GROUP_MEMBER_DELETE, ALL_DELETE}

FS = "/v1/friendship/"
FR = "/v1/friendshipRequest/"
FG = "/v1/friendship/group/"


# ================================================================ helpers
def call(srv, path, body, as_user):
    return srv.api(path, body, as_user=as_user)


def ok(srv, path, body, as_user):
    return api_ok(srv, path, body, as_user=as_user)


def fails(srv, path, body, as_user, code, http=200):
    st, doc = call(srv, path, body, as_user)
    assert (st, doc.get("code")) == (http, code), \
        "%s as %s %r: expected HTTP %d code %d, got %d %r" % (path, as_user, body, http, code,
                                                              st, doc)
    assert isinstance(doc.get("msg"), str) and doc["msg"], doc
    return doc


def befriend(srv, a, b, **item):
    item["toId"] = b
    d = ok(srv, FS + "addFriend", {"toItem": item}, a)
    assert d["added"] is True, d
    return d


def relation(srv, a, b):
    st, doc = call(srv, FS + "getRelation", {"toId": b}, a)
    assert st == 200, doc
    return doc["data"] if doc["code"] == 200 else None


def seqs(srv, user):
    return ok(srv, "/v1/user/getUserSequence", {}, user)


def allow_type(srv, user, t):
    ok(srv, "/v1/user/data/modifyUserInfo", {"friendAllowType": t}, user)


def settings(srv, **kw):
    ok(srv, "/v1/app/updateSetting", {"settings": kw}, "admin")


def statuses(data):
    return {r["toId"]: r["status"] for r in data}


@pytest.fixture
def fsrv(srv):
    srv.ensure_users(["vera", "walt"])
    allow_type(srv, "vera", 2)
    allow_type(srv, "walt", 2)
    return srv


# ============================================================= addFriend
def test_add_friend_at_once_pushes_to_both_and_sequences(fsrv):
    srv = fsrv
    a1, a2 = Dev(srv, "alice", WEB, "tcp"), Dev(srv, "alice", IOS, "ws")
    b = Dev(srv, "bob", WINDOWS, "tcp")
    c = Dev(srv, "carol", WEB, "tcp")
    d = ok(srv, FS + "addFriend", {"fromId": "alice",
                                   "toItem": {"toId": "bob", "remark": "Bobby",
                                              "addSource": "search", "addWording": "hi",
                                              "extra": {"k": 1}}}, "alice")
    assert d == {"added": True, "fromId": "alice", "toId": "bob", "sequence": 1}, d
    want = {"fromId": "alice", "toId": "bob", "remark": "Bobby", "addSource": "search",
            "addWording": "hi", "sequence": 1}
    for dev in (a1, a2, b):
        p = dev.take(FRIEND_ADD)
        if dev is b:   # alice's remark is her own note: bob does not get it
            want = {k: v for k, v in want.items() if k != "remark"}
        assert p.data == want, "%s: 3000 %r, expected %r" % (dev.name, p.data, want)
    c.expect_none(FRIEND_PUSHES, wait=0.1)

    ab, ba = relation(srv, "alice", "bob"), relation(srv, "bob", "alice")
    assert (ab["status"], ab["black"], ab["remark"], ab["addSource"], ab["friendSequence"]) \
        == (1, 1, "Bobby", "search", 1), ab
    assert ab["extra"] == '{"k":1}' and ab["nickName"] == "bob", ab
    assert (ba["status"], ba["remark"], ba["friendSequence"]) == (1, "", 1), ba
    assert isinstance(ab["createTime"], int) and ab["createTime"] > 0, ab
    for u in ("alice", "bob"):
        s = seqs(srv, u)
        assert (s["friendshipSeq"], s["friendshipRequestSeq"], s["friendshipGroupSeq"]) \
            == (1, 0, 0), s

    # already friends, either way round
    fails(srv, FS + "addFriend", {"toItem": {"toId": "bob"}}, "alice", 30002)
    fails(srv, FS + "addFriend", {"toItem": {"toId": "alice"}}, "bob", 30002)
    # users must exist; no self; toItem required
    fails(srv, FS + "addFriend", {"toItem": {"toId": "nobody-such"}}, "alice", 20001)
    fails(srv, FS + "addFriend", {"toItem": {"toId": "alice"}}, "alice", 90001, 400)
    fails(srv, FS + "addFriend", {"toId": "carol"}, "alice", 90001, 400)
    fails(srv, FS + "addFriend", {"toItem": {"toId": "carol", "remark": "r" * 101}}, "alice",
          90001, 400)
    # the operator rule: fromId is the caller unless the admin calls
    fails(srv, FS + "addFriend", {"fromId": "bob", "toItem": {"toId": "carol"}}, "alice",
          60006, 403)
    d = ok(srv, FS + "addFriend", {"fromId": "carol", "toItem": {"toId": "alice"}}, "admin")
    assert d["added"] is True and d["sequence"] == 1, d
    p = a1.take(FRIEND_ADD)
    assert (p.data["fromId"], p.data["toId"], p.data["sequence"]) == ("carol", "alice", 2), p
    c.take(FRIEND_ADD)
    assert seqs(srv, "alice")["friendshipSeq"] == 2


# ================================================================ requests
def test_friend_request_flow(fsrv):
    srv = fsrv
    a = Dev(srv, "alice", WEB, "tcp")
    v1, v2 = Dev(srv, "vera", WEB, "ws"), Dev(srv, "vera", IOS, "tcp")
    d = ok(srv, FS + "addFriend", {"toItem": {"toId": "vera", "remark": "V", "addSource": "qr",
                                              "addWording": "it's me"}}, "alice")
    assert d["added"] is False and d["sequence"] == 1 and isinstance(d["requestId"], int), d
    rid = d["requestId"]
    for v in (v1, v2):
        r = v.take(FRIEND_REQUEST).data
        assert (r["id"], r["fromId"], r["toId"], r["addSource"], r["addWording"],
                r["approveStatus"], r["readStatus"], r["sequence"]) \
            == (rid, "alice", "vera", "qr", "it's me", 0, 0, 1), r
        assert "remark" not in r, r    # alice's private note for vera
    a.expect_none({FRIEND_ADD, FRIEND_REQUEST}, wait=0.1)
    assert relation(srv, "alice", "vera") is None and relation(srv, "vera", "alice") is None
    fails(srv, FS + "getRelation", {"toId": "vera"}, "alice", 30008)

    # asking again refreshes the pending request
    d2 = ok(srv, FS + "addFriend", {"toItem": {"toId": "vera", "addWording": "again"}}, "alice")
    assert d2["requestId"] == rid and d2["sequence"] == 2, d2
    assert v1.take(FRIEND_REQUEST).data["addWording"] == "again"
    d3 = ok(srv, FS + "addFriend", {"toItem": {"toId": "vera"}}, "bob")
    assert d3["requestId"] != rid and d3["sequence"] == 3, d3

    got = ok(srv, FR + "getFriendRequest", {}, "vera")
    assert [(r["fromId"], r["sequence"]) for r in got] == [("alice", 2), ("bob", 3)], got
    assert ok(srv, FR + "getFriendRequest", {}, "alice") == []
    fails(srv, FR + "getFriendRequest", {"fromId": "vera"}, "alice", 60006, 403)
    # incremental request sync
    s = ok(srv, FR + "syncFriendshipRequest", {"lastSequence": 0, "maxLimit": 1}, "vera")
    assert s["maxSequence"] == 3 and s["completed"] is False and len(s["dataList"]) == 1, s
    s = ok(srv, FR + "syncFriendshipRequest", {"lastSequence": 2, "maxLimit": 1}, "vera")
    assert s["completed"] is True and [r["fromId"] for r in s["dataList"]] == ["bob"], s

    # read (both spellings): 3004 to the reader's devices
    r = ok(srv, FR + "readFriendShipRequest", {}, "vera")
    assert r == {"fromId": "vera", "sequence": 5}, r
    for v in (v1, v2):
        assert v.take(FRIEND_REQUEST_READ).data == {"fromId": "vera", "sequence": 5}
    r = ok(srv, FR + "readFriendShipRequestReq", {}, "vera")
    assert r == {"fromId": "vera", "sequence": 0}, r       # nothing left unread: no change
    v1.expect_none({FRIEND_REQUEST_READ}, wait=0.1)
    s = ok(srv, FR + "syncFriendshipRequest", {"lastSequence": 3}, "vera")
    assert all(x["readStatus"] == 1 for x in s["dataList"]) and len(s["dataList"]) == 2, s

    # approve: only the addressee, an existing request, a valid status
    fails(srv, FR + "approveFriendRequest", {"id": rid, "status": 1}, "alice", 30011)
    fails(srv, FR + "approveFriendRequest", {"id": 999999, "status": 1}, "vera", 30012)
    fails(srv, FR + "approveFriendRequest", {"id": rid, "status": 3}, "vera", 90001, 400)
    fails(srv, FR + "approveFriendRequest", {"status": 1}, "vera", 90001, 400)
    d = ok(srv, FR + "approveFriendRequest", {"id": rid, "status": 1}, "vera")
    assert d == {"id": rid, "status": 1, "sequence": 6}, d
    for v in (v1, v2):
        assert v.take(FRIEND_REQUEST_APPROVER).data == d
        p = v.take(FRIEND_ADD).data
        assert (p["fromId"], p["toId"], p["sequence"]) == ("alice", "vera", 1), p
    p = a.take(FRIEND_ADD).data              # the refreshed request's values
    assert (p["fromId"], p["toId"], p["remark"], p["addWording"], p["sequence"]) \
        == ("alice", "vera", "", "again", 1), p
    a.expect_none({FRIEND_REQUEST_APPROVER}, wait=0.1)
    assert relation(srv, "alice", "vera")["status"] == 1
    assert relation(srv, "vera", "alice")["status"] == 1
    fails(srv, FR + "approveFriendRequest", {"id": rid, "status": 1}, "vera", 30013)
    fails(srv, FS + "addFriend", {"toItem": {"toId": "vera"}}, "alice", 30002)

    # reject: no friendship; a new request is a new one
    bid = d3["requestId"]
    d = ok(srv, FR + "approveFriendRequest", {"id": bid, "status": 2}, "vera")
    assert d["status"] == 2, d
    assert v1.take(FRIEND_REQUEST_APPROVER).data["status"] == 2
    v1.expect_none({FRIEND_ADD}, wait=0.1)
    assert relation(srv, "bob", "vera") is None
    d4 = ok(srv, FS + "addFriend", {"toItem": {"toId": "vera"}}, "bob")
    assert d4["added"] is False and d4["requestId"] not in (rid, bid), d4
    # the admin may decide any request
    d = ok(srv, FR + "approveFriendRequest", {"id": d4["requestId"], "status": 1}, "admin")
    assert d["status"] == 1 and relation(srv, "bob", "vera")["status"] == 1, d
    s = seqs(srv, "vera")
    assert (s["friendshipSeq"], s["friendshipRequestSeq"]) == (2, 9), s


# ============================================================ update/delete
def test_update_friend(fsrv):
    srv = fsrv
    a1, a2 = Dev(srv, "alice", WEB, "tcp"), Dev(srv, "alice", IOS, "ws")
    b = Dev(srv, "bob", WEB, "tcp")
    fails(srv, FS + "updateFriend", {"toItem": {"toId": "bob", "remark": "x"}}, "alice", 30003)
    befriend(srv, "alice", "bob")
    for dev in (a1, a2, b):
        dev.take(FRIEND_ADD)
    fails(srv, FS + "updateFriend", {"toItem": {"toId": "bob"}}, "alice", 90001, 400)
    d = ok(srv, FS + "updateFriend", {"toItem": {"toId": "bob", "remark": "B",
                                                 "extra": "e"}}, "alice")
    assert d == {"fromId": "alice", "toId": "bob", "remark": "B", "extra": "e", "sequence": 2}, d
    for dev in (a1, a2):
        assert dev.take(FRIEND_UPDATE).data == d
    b.expect_none({FRIEND_UPDATE}, wait=0.1)
    r = relation(srv, "alice", "bob")
    assert (r["remark"], r["extra"], r["addSource"], r["friendSequence"]) == ("B", "e", "", 2), r
    assert relation(srv, "bob", "alice")["remark"] == ""


def test_delete_friend_ends_both_directions(fsrv):
    srv = fsrv
    a = Dev(srv, "alice", WEB, "tcp")
    b1, b2 = Dev(srv, "bob", WEB, "tcp"), Dev(srv, "bob", IOS, "ws")
    befriend(srv, "alice", "bob")
    befriend(srv, "alice", "carol")
    fails(srv, FS + "deleteFriend", {"toId": "dave"}, "alice", 30003)
    fails(srv, FS + "deleteFriend", {"toId": "alice"}, "alice", 90001, 400)
    fails(srv, FS + "deleteFriend", {"fromId": "bob", "toId": "alice"}, "alice", 60006, 403)
    d = ok(srv, FS + "deleteFriend", {"toId": "alice"}, "bob")
    assert d == {"fromId": "bob", "toId": "alice", "sequence": 2}, d
    for dev in (b1, b2):
        assert dev.take(FRIEND_DELETE).data == d
    assert a.take(FRIEND_DELETE).data == {"fromId": "bob", "toId": "alice", "sequence": 3}
    # the seeds ended one direction only; here both
    assert relation(srv, "alice", "bob")["status"] == 2
    assert relation(srv, "bob", "alice")["status"] == 2
    fails(srv, FS + "deleteFriend", {"toId": "bob"}, "alice", 30004)
    fails(srv, FS + "deleteFriend", {"toId": "alice"}, "bob", 30004)
    fails(srv, FS + "updateFriend", {"toItem": {"toId": "bob", "remark": "x"}}, "alice", 30003)
    assert statuses(ok(srv, FS + "getAllFriendShip", {}, "alice")) == {"carol": 1}
    assert ok(srv, FS + "getAllFriendShip", {}, "bob") == []
    # friends again after a delete
    befriend(srv, "bob", "alice")
    assert relation(srv, "alice", "bob")["status"] == 1


def test_delete_all_friends(fsrv):
    srv = fsrv
    a = Dev(srv, "alice", WEB, "tcp")
    b, c = Dev(srv, "bob", WEB, "tcp"), Dev(srv, "carol", WEB, "ws")
    d_ = Dev(srv, "dave", WEB, "tcp")
    befriend(srv, "alice", "bob")
    befriend(srv, "carol", "alice")
    befriend(srv, "bob", "dave")
    d = ok(srv, FS + "deleteAllFriend", {}, "alice")
    assert d == {"fromId": "alice", "sequence": 4, "toIds": ["bob", "carol"]}, d
    assert a.take(ALL_DELETE).data == {"fromId": "alice", "sequence": 4}
    assert b.take(FRIEND_DELETE).data == {"fromId": "alice", "toId": "bob", "sequence": 3}
    assert c.take(FRIEND_DELETE).data == {"fromId": "alice", "toId": "carol", "sequence": 2}
    d_.expect_none({FRIEND_DELETE, ALL_DELETE}, wait=0.1)
    assert ok(srv, FS + "getAllFriendShip", {}, "alice") == []
    assert statuses(ok(srv, FS + "getAllFriendShip", {}, "bob")) == {"dave": 1}
    assert relation(srv, "carol", "alice")["status"] == 2
    d = ok(srv, FS + "deleteAllFriend", {}, "alice")
    assert d["toIds"] == [], d
    a.expect_none({ALL_DELETE}, wait=0.1)


def test_get_all_friendship_nicknames(fsrv):
    srv = fsrv
    ok(srv, "/v1/user/data/modifyUserInfo", {"nickName": "Bob B."}, "bob")
    befriend(srv, "alice", "bob", remark="b")
    befriend(srv, "alice", "carol")
    ok(srv, FS + "addBlack", {"toId": "dave"}, "alice")      # a blacklist-only row
    rows = ok(srv, FS + "getAllFriendShip", {}, "alice")
    assert [(r["toId"], r["nickName"], r["status"]) for r in rows] \
        == [("bob", "Bob B.", 1), ("carol", "carol", 1)], rows
    assert rows[0]["remark"] == "b" and rows[0]["fromId"] == "alice"
    for k in ("friendSequence", "blackSequence", "createTime", "black", "addSource", "extra"):
        assert k in rows[0], rows[0]
    fails(srv, FS + "getAllFriendShip", {"fromId": "bob"}, "alice", 60006, 403)
    assert statuses(ok(srv, FS + "getAllFriendShip", {"fromId": "bob"}, "admin")) == {"alice": 1}


# ===================================================== check / blacklist
def test_check_friend_both_spellings(fsrv):
    srv = fsrv
    befriend(srv, "alice", "bob")
    d = ok(srv, FS + "importFriendShip", {"fromId": "alice", "friendItem": [{"toId": "carol"}]},
           "admin")
    assert d == {"successId": ["carol"], "errorId": []}, d
    ok(srv, FS + "importFriendShip", {"fromId": "dave", "friendItem": [{"toId": "alice"}]}, "admin")
    ids = ["bob", "carol", "dave", "erin"]
    for path in ("checkFriend", "chekFriendship"):
        single = ok(srv, FS + path, {"toIds": ids, "checkType": 1}, "alice")
        assert single == [{"fromId": "alice", "toId": t, "status": s}
                          for t, s in zip(ids, (1, 1, 0, 0))], single
        both = ok(srv, FS + path, {"toIds": ids, "checkType": 2}, "alice")
        assert [x["status"] for x in both] == [1, 2, 3, 4], both
    assert [x["status"] for x in ok(srv, FS + "checkFriend", {"toIds": ids}, "alice")] \
        == [1, 1, 0, 0]
    fails(srv, FS + "checkFriend", {"toIds": [], "checkType": 1}, "alice", 90001, 400)
    fails(srv, FS + "checkFriend", {"toIds": ids, "checkType": 3}, "alice", 90001, 400)
    fails(srv, FS + "checkFriend", {"toIds": ["x"] * 101}, "alice", 90001, 400)


def test_black_add_delete_check(fsrv):
    srv = fsrv
    a1, a2 = Dev(srv, "alice", WEB, "tcp"), Dev(srv, "alice", IOS, "ws")
    b = Dev(srv, "bob", WEB, "tcp")
    befriend(srv, "alice", "bob")
    for dev in (a1, a2, b):
        dev.take(FRIEND_ADD)
    fails(srv, FS + "deleteBlack", {"toId": "bob"}, "alice", 30010)
    fails(srv, FS + "addBlack", {"toId": "nobody-such"}, "alice", 20001)
    d = ok(srv, FS + "addBlack", {"toId": "bob"}, "alice")
    assert d == {"fromId": "alice", "toId": "bob", "sequence": 2}, d
    for dev in (a1, a2):
        assert dev.take(BLACK_ADD).data == d
    b.expect_none({BLACK_ADD}, wait=0.1)        # the blacked user is not told
    r = relation(srv, "alice", "bob")
    assert (r["status"], r["black"], r["blackSequence"], r["friendSequence"]) == (1, 2, 2, 2), r
    fails(srv, FS + "addBlack", {"toId": "bob"}, "alice", 30006)
    # a blacklist entry for a stranger, and one against alice
    ok(srv, FS + "addBlack", {"toId": "carol"}, "alice")
    assert relation(srv, "alice", "carol")["status"] == 0
    ok(srv, FS + "addBlack", {"toId": "alice"}, "dave")
    ids = ["bob", "carol", "dave", "erin"]
    for path in ("checkBlack", "checkBlck"):
        single = ok(srv, FS + path, {"toIds": ids, "checkType": 1}, "alice")
        assert [x["status"] for x in single] == [0, 0, 1, 1], single      # 1 = not blacked
        both = ok(srv, FS + path, {"toIds": ids, "checkType": 2}, "alice")
        assert [x["status"] for x in both] == [3, 3, 2, 1], both
    # deleteBlack answers success on success (the XC seed answered 30010)
    d = ok(srv, FS + "deleteBlack", {"toId": "bob"}, "alice")
    assert d == {"fromId": "alice", "toId": "bob", "sequence": 4}, d
    assert a1.take(BLACK_DELETE).data == d and a2.take(BLACK_DELETE).data == d
    fails(srv, FS + "deleteBlack", {"toId": "bob"}, "alice", 30010)
    r = relation(srv, "alice", "bob")
    assert (r["status"], r["black"], r["blackSequence"]) == (1, 1, 4), r


def test_blacklist_and_friendship_checks_on_messages(fsrv):
    srv = fsrv
    a, b = Dev(srv, "alice", WEB, "tcp"), Dev(srv, "bob", WEB, "ws")
    c = Dev(srv, "carol", WEB, "tcp")
    befriend(srv, "alice", "bob")
    ok(srv, FS + "addBlack", {"toId": "bob"}, "alice")
    # turned off explicitly: the blacklist does not block messages
    settings(srv, sendMessageCheckBlack=False)
    send_ok(a, "bob")
    send_ok(b, "alice")
    send_ok(c, "alice")

    for dev in (a, b, c):
        dev.drain(0.1)
        dev.backlog.clear()

    # the default (no setting) blocks them (issue 14 item 3); so does true
    for flags in ({}, {"sendMessageCheckBlack": True}):
        settings(srv, **flags)
        for sender, to, code in ((a, "bob", 30006), (b, "alice", 30007)):
            m = mk(to)
            sender.send(MSG_P2P, m)
            check_refused(sender.take_ack(m["messageId"]), code, m["messageId"])
    for sender, to, code in ((a, "bob", 30006), (b, "alice", 30007)):
        m = mk(to)
        sender.send(MSG_P2P, m)
        check_refused(sender.take_ack(m["messageId"]), code, m["messageId"])
    b.expect_none({MSG_P2P}, wait=0.1)
    send_ok(c, "alice")                          # not friends, but not checked
    # REST send follows the same rules
    fails(srv, "/v1/message/send", {"fromId": "bob", "toId": "alice", "messageBody": "x"},
          "admin", 30007)
    fails(srv, "/v1/message/send", {"fromId": "alice", "toId": "bob", "messageBody": "x"},
          "alice", 30006)
    ok(srv, FS + "deleteBlack", {"toId": "bob"}, "alice")
    send_ok(b, "alice")

    settings(srv, sendMessageCheckBlack=True, sendMessageCheckFriend=True)
    m = mk("alice")
    c.send(MSG_P2P, m)
    check_refused(c.take_ack(m["messageId"]), 30003, m["messageId"])
    send_ok(a, "bob")
    ok(srv, FS + "deleteFriend", {"toId": "bob"}, "alice")
    for sender, to in ((a, "bob"), (b, "alice")):
        m = mk(to)
        sender.send(MSG_P2P, m)
        check_refused(sender.take_ack(m["messageId"]), 30003, m["messageId"])
    # a one-way (imported) friendship is not enough
    ok(srv, FS + "importFriendShip", {"fromId": "carol", "friendItem": [{"toId": "alice"}]},
       "admin")
    m = mk("alice")
    c.send(MSG_P2P, m)
    check_refused(c.take_ack(m["messageId"]), 30003, m["messageId"])

    settings(srv, sendMessageCheckBlack=0)       # both off again
    send_ok(c, "alice")
    send_ok(a, "bob")


# ============================================================ friend lists
def test_friend_lists(fsrv):
    srv = fsrv
    a1, a2 = Dev(srv, "alice", WEB, "tcp"), Dev(srv, "alice", IOS, "ws")
    b = Dev(srv, "bob", WEB, "tcp")
    befriend(srv, "alice", "bob")
    befriend(srv, "alice", "carol")
    d = ok(srv, FG + "add", {"groupName": "work", "toIds": ["bob", "dave", "nobody-such"]},
           "alice")
    assert (d["groupName"], d["sequence"], d["successId"], d["errorId"]) \
        == ("work", 1, ["bob"], ["dave", "nobody-such"]), d
    assert isinstance(d["groupId"], int), d
    note = {"fromId": "alice", "groupName": "work", "sequence": 1, "toIds": ["bob"]}
    for dev in (a1, a2):
        assert dev.take(GROUP_ADD).data == note
    b.expect_none({GROUP_ADD}, wait=0.1)
    fails(srv, FG + "add", {"groupName": "work"}, "alice", 30015)
    fails(srv, FG + "add", {"groupName": ""}, "alice", 90001, 400)
    fails(srv, FG + "add", {}, "alice", 90001, 400)
    d = ok(srv, FG + "add", {"groupName": "family"}, "alice")
    assert d["sequence"] == 2 and d["successId"] == [] and d["errorId"] == [], d
    a1.take(GROUP_ADD)
    ok(srv, FG + "add", {"groupName": "work"}, "bob")          # names are per owner

    # members: friends only; the answer lists who made it
    d = ok(srv, FG + "member/add", {"groupName": "work", "toIds": ["carol", "erin", "bob"]},
           "alice")
    assert (d["successId"], d["errorId"], d["sequence"]) == (["carol", "bob"], ["erin"], 3), d
    assert a1.take(GROUP_MEMBER_ADD).data == {"fromId": "alice", "groupName": "work",
                                              "sequence": 3, "toIds": ["carol", "bob"]}
    d = ok(srv, FG + "member/add", {"groupName": "work", "toIds": ["bob"]}, "alice")
    assert d["successId"] == ["bob"] and d["sequence"] == 0, d     # no change, no push
    d = ok(srv, FG + "member/del", {"groupName": "work", "toIds": ["bob", "erin"]}, "alice")
    assert (d["successId"], d["errorId"], d["sequence"]) == (["bob"], ["erin"], 4), d
    assert a2.take(GROUP_MEMBER_DELETE).data == {"fromId": "alice", "groupName": "work",
                                                 "sequence": 4, "toIds": ["bob"]}
    a1.expect_none({GROUP_MEMBER_ADD}, wait=0.1)
    fails(srv, FG + "member/add", {"groupName": "nope", "toIds": ["bob"]}, "alice", 30016)
    fails(srv, FG + "member/del", {"groupName": "nope", "toIds": ["bob"]}, "alice", 30016)
    fails(srv, FG + "member/add", {"groupName": "work", "toIds": []}, "alice", 90001, 400)
    ok(srv, FG + "member/add", {"groupName": "family", "toIds": ["bob"]}, "alice")

    s = ok(srv, FG + "syncFriendshipGroupList", {"lastSequence": 0}, "alice")
    assert s["maxSequence"] == 5 and s["completed"] is True, s
    assert [(g["groupName"], g["sequence"], g["toIds"], g["delFlag"]) for g in s["dataList"]] \
        == [("work", 4, ["carol"], 0), ("family", 5, ["bob"], 0)], s
    # ending a friendship takes the friend out of the lists
    ok(srv, FS + "deleteFriend", {"toId": "bob"}, "alice")
    s = ok(srv, FG + "syncFriendshipGroupList", {"lastSequence": 5}, "alice")
    assert [(g["groupName"], g["toIds"]) for g in s["dataList"]] == [("family", [])], s
    # delete lists (an array of names, or one)
    d = ok(srv, FG + "del", {"groupName": ["work", "nope"]}, "alice")
    assert d == {"successId": ["work"], "errorId": ["nope"]}, d
    assert a1.take(GROUP_DELETE).data == {"fromId": "alice", "groupName": "work", "sequence": 7}
    d = ok(srv, FG + "del", {"groupName": "family"}, "alice")
    assert d["successId"] == ["family"], d
    s = ok(srv, FG + "syncFriendshipGroupList", {"lastSequence": 6, "maxLimit": 1}, "alice")
    assert s["completed"] is False and s["maxSequence"] == 8, s
    assert [(g["groupName"], g["delFlag"], g["toIds"]) for g in s["dataList"]] \
        == [("work", 1, [])], s
    d = ok(srv, FG + "add", {"groupName": "work"}, "alice")        # the name is free again
    assert d["sequence"] == 9, d
    assert seqs(srv, "alice")["friendshipGroupSeq"] == 9
    fails(srv, FG + "add", {"fromId": "bob", "groupName": "x"}, "alice", 60006, 403)


# =============================================================== sync
def test_sync_friendship_list_incremental(fsrv):
    srv = fsrv
    befriend(srv, "alice", "bob")                                  # 1
    befriend(srv, "alice", "carol")                                # 2
    ok(srv, FS + "updateFriend", {"toItem": {"toId": "bob", "remark": "B"}}, "alice")   # 3
    ok(srv, FS + "addBlack", {"toId": "dave"}, "alice")            # 4
    ok(srv, FS + "deleteFriend", {"toId": "carol"}, "alice")       # 5
    s = ok(srv, FS + "syncFriendshipList", {"lastSequence": 0, "maxLimit": 2}, "alice")
    assert s["maxSequence"] == 5 and s["completed"] is False, s
    assert [(r["toId"], r["friendSequence"]) for r in s["dataList"]] == [("bob", 3), ("dave", 4)], s
    seen, last = [], 0
    while True:
        s = ok(srv, FS + "syncFriendshipList", {"lastSequence": last, "maxLimit": 2}, "alice")
        seen += [(r["toId"], r["friendSequence"], r["status"], r["black"]) for r in s["dataList"]]
        if s["completed"]:
            break
        last = s["dataList"][-1]["friendSequence"]
    assert seen == [("bob", 3, 1, 1), ("dave", 4, 0, 2), ("carol", 5, 2, 1)], seen
    s = ok(srv, FS + "syncFriendshipList", {"lastSequence": 5, "maxLimit": 1000}, "alice")
    assert s == {"maxSequence": 5, "completed": True, "dataList": []}, s
    fails(srv, FS + "syncFriendshipList", {"lastSequence": -1}, "alice", 90001, 400)
    s = seqs(srv, "alice")
    assert s["friendshipSeq"] == 5, s
    assert seqs(srv, "carol")["friendshipSeq"] == 2


def test_import_friendship_admin_only(fsrv):
    srv = fsrv
    fails(srv, FS + "importFriendShip", {"fromId": "alice", "friendItem": [{"toId": "bob"}]},
          "alice", 60006, 403)
    fails(srv, FS + "importFriendShip", {"fromId": "alice",
                                         "friendItem": [{"toId": "u%d" % i} for i in range(101)]},
          "admin", 30000)
    fails(srv, FS + "importFriendShip", {"fromId": "nobody-such",
                                         "friendItem": [{"toId": "bob"}]}, "admin", 20001)
    fails(srv, FS + "importFriendShip", {"fromId": "alice", "friendItem": [{"remark": "x"}]},
          "admin", 90001, 400)
    d = ok(srv, FS + "importFriendShip",
           {"fromId": "alice", "friendItem": [
               {"toId": "bob", "remark": "b", "addSource": "import"},
               {"toId": "carol", "status": 2},
               {"toId": "dave", "black": 2},
               {"toId": "nobody-such"},
               {"toId": "erin", "status": 7}]}, "admin")
    assert d == {"successId": ["bob", "carol", "dave"], "errorId": ["nobody-such", "erin"]}, d
    r = relation(srv, "alice", "bob")
    assert (r["status"], r["remark"], r["addSource"], r["friendSequence"]) \
        == (1, "b", "import", 1), r
    assert relation(srv, "bob", "alice") is None                  # one direction, as given
    assert relation(srv, "alice", "carol")["status"] == 2
    assert relation(srv, "alice", "dave")["black"] == 2
    d = ok(srv, FS + "importFriendShip", {"fromId": "alice", "friendItem": [{"toId": "bob"}]},
           "admin")
    assert d == {"successId": [], "errorId": ["bob"]}, d          # already a live friend


def test_sequences_survive_restart(server):
    s1 = server()
    s1.ensure_users(["alice", "bob", "carol"])
    befriend(s1, "alice", "bob")
    ok(s1, FG + "add", {"groupName": "g", "toIds": ["bob"]}, "alice")
    assert s1.stop() == 0, "petreld exited with %s after SIGTERM" % s1.returncode
    srv = server(data_dir=s1.data_dir, app_secret=s1.secret)
    befriend(srv, "alice", "carol")
    s = seqs(srv, "alice")
    assert (s["friendshipSeq"], s["friendshipGroupSeq"]) == (2, 1), s
    assert statuses(ok(srv, FS + "getAllFriendShip", {}, "alice")) == {"bob": 1, "carol": 1}
