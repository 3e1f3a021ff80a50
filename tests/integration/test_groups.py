"""Groups (docs/API.md "Groups", docs/PROTOCOL.md "Group messages"):
management endpoints and the permission table row by row, join requests,
muting, the 2000-2011 pushes, group messages (ack after commit,
idempotency, fan-out, ordering with concurrent senders), membership
bounds, offline catch-up, receipts, recall, history, conversations, and
destroy / transfer / the owner trying to leave."""
import json
import threading
import time

import pytest

from test_messages import WEB, IOS, Dev, QUIET, api_ok

G = "/v1/group/"
GM = "/v1/group/member/"
JOIN_GROUP, ADDED_MEMBER, CREATED_GROUP, UPDATED_GROUP, EXIT_GROUP = 2000, 2001, 2002, 2003, 2004
UPDATED_MEMBER, DELETED_MEMBER, DESTROY_GROUP, TRANSFER_GROUP = 2005, 2006, 2007, 2008
MUTE_GROUP, SPEAK_MEMBER, UNMUTE_GROUP = 2009, 2010, 2011
GROUP_MSG_ACK, MSG_GROUP, MSG_GROUP_SYNC, MSG_GROUP_READED = 2047, 2104, 2105, 2106
READED_NOTIFY, READED_RECEIPT = 2053, 2054
MSG_RECALL, MSG_RECALL_ACK, MSG_RECALL_NOTIFY, MSG_RECALL_SYNC = 1050, 1051, 1052, 1055
GROUP_PUSHES = set(range(2000, 2012))

_n = [0]


def nid(prefix="g"):
    _n[0] += 1
    return "%s-%d-%d" % (prefix, int(time.time() * 1000) % 100000000, _n[0])


def call(srv, path, body, user):
    return srv.api(path, body, as_user=user)


def ok(srv, path, body, user):
    return api_ok(srv, path, body, as_user=user)


def fails(srv, path, body, user, code, http=200):
    st, doc = call(srv, path, body, user)
    assert (st, doc.get("code")) == (http, code), \
        "%s as %s %r: expected %d/%d, got %d %r" % (path, user, body, http, code, st, doc)
    assert isinstance(doc.get("msg"), str) and doc["msg"]
    return doc


def create(srv, owner, members=(), gtype=2, **kw):
    body = {"groupType": gtype, "groupName": "g", "member": [{"memberId": m} for m in members]}
    body.update(kw)
    d = ok(srv, G + "createGroup", body, owner)
    assert all(r["code"] == 200 for r in d["memberResults"]), d
    return d["groupId"]


def info(srv, gid, user="admin"):
    return ok(srv, G + "getGroupInfo", {"groupId": gid}, user)


def roles(srv, gid):
    return {m["memberId"]: m["role"] for m in info(srv, gid)["memberList"]}


def gmk(gid, mid=None, text=None):
    _n[0] += 1
    return {"groupId": gid, "messageId": mid or nid("gm"),
            "messageBody": json.dumps({"type": 1, "content": text or "hi %d" % _n[0]}),
            "messageTime": int(time.time() * 1000), "messageRandom": _n[0]}


def gack(dev, mid):
    p = dev.take(GROUP_MSG_ACK, lambda p: (p.data.get("data") or {}).get("messageId") == mid,
                 what="2047 of %s" % mid)
    return p.data


def gsend(dev, gid, **kw):
    m = gmk(gid, **kw)
    dev.send(MSG_GROUP, m)
    a = gack(dev, m["messageId"])
    assert a["code"] == 200, a
    d = a["data"]
    assert d["messageKey"] > 0 and d["messageSequence"] > 0 and d["groupId"] == gid, a
    return m, d


def grefused(dev, gid, code):
    m = gmk(gid)
    dev.send(MSG_GROUP, m)
    a = gack(dev, m["messageId"])
    assert a["code"] == code, "expected %d, got %r" % (code, a)
    assert "messageKey" not in a["data"], a
    return a


def sync(srv, gid, user, last=0, limit=100):
    return ok(srv, G + "message/syncGroupMessage",
              {"groupId": gid, "lastSequence": last, "maxLimit": limit}, user)


def seqs_of(rows):
    return [r["messageSequence"] for r in rows]


# ================================================================ management
def test_create_info_joined_sync(srv):
    gid = create(srv, "alice", ["bob", "carol"], gtype=2, introduction="intro",
                 notification="n", maxMemberCount=10, extra={"k": 1}, applyJoinType=0)
    d = info(srv, gid, "bob")
    assert d["ownerId"] == "alice" and d["groupType"] == 2 and d["memberCount"] == 3
    assert d["maxMemberCount"] == 10 and d["introduction"] == "intro" and d["status"] == 1
    assert json.loads(d["extra"]) == {"k": 1} and d["applyJoinType"] == 0
    assert [m["memberId"] for m in d["memberList"]] == ["alice", "bob", "carol"]
    assert roles(srv, gid) == {"alice": 2, "bob": 0, "carol": 0}
    # a chosen id, an existing one
    ok(srv, G + "createGroup", {"groupId": "fixed-" + gid, "groupType": 1}, "bob")
    fails(srv, G + "createGroup", {"groupId": "fixed-" + gid, "groupType": 1}, "bob", 40001)
    j = ok(srv, G + "getJoinedGroup", {}, "bob")
    assert j["totalCount"] == 2 and {g["groupId"] for g in j["groupList"]} == {gid, "fixed-" + gid}
    j = ok(srv, G + "getJoinedGroup", {"groupType": [1]}, "bob")
    assert [g["groupId"] for g in j["groupList"]] == ["fixed-" + gid]
    s = ok(srv, G + "syncJoinedGroup", {"lastSequence": 0}, "carol")
    assert [g["groupId"] for g in s["dataList"]] == [gid] and s["completed"] is True
    last = s["maxSequence"]
    assert ok(srv, G + "syncJoinedGroup", {"lastSequence": last}, "carol")["dataList"] == []
    ok(srv, G + "update", {"groupId": gid, "groupName": "renamed"}, "alice")
    s = ok(srv, G + "syncJoinedGroup", {"lastSequence": last}, "carol")
    assert [g["groupName"] for g in s["dataList"]] == ["renamed"] and s["maxSequence"] > last
    # non-admins act only as themselves
    fails(srv, G + "getJoinedGroup", {"memberId": "alice"}, "bob", 60006, http=403)
    assert ok(srv, G + "getJoinedGroup", {"memberId": "bob"}, "admin")["totalCount"] == 2
    fails(srv, G + "createGroup", {"ownerId": "alice"}, "bob", 60006, http=403)


def test_hostile_input(srv):
    gid = create(srv, "alice", ["bob"])
    for body in ({"groupId": ""}, {"groupId": "x" * 65}, {"groupId": 5}, {"groupId": "a\nb"}):
        fails(srv, G + "getGroupInfo", body, "alice", 90001, http=400)
    for body in ({"groupType": 3}, {"groupType": "1"}, {"groupName": "x" * 101},
                 {"member": "bob"}, {"member": [{"memberId": ""}]}, {"member": [5]},
                 {"member": ["bob", "bob"]}, {"maxMemberCount": 100000},
                 {"applyJoinType": 7}, {"mute": 2}, {"notification": "x" * 1001}):
        fails(srv, G + "createGroup", body, "alice", 90001, http=400)
    fails(srv, G + "update", {"groupId": gid}, "alice", 90001, http=400)
    fails(srv, GM + "speak", {"groupId": gid, "memberId": "bob", "speakDate": -1}, "alice",
          90001, http=400)
    fails(srv, GM + "update", {"groupId": gid, "memberId": "bob", "role": 2}, "alice", 90001,
          http=400)
    fails(srv, G + "getGroupInfo", {"groupId": "nope-" + gid}, "alice", 40000)
    d = ok(srv, G + "createGroup", {"member": ["ghost-user"]}, "alice")
    assert d["memberResults"] == [{"memberId": "ghost-user", "code": 20001}]


def test_max_member_count(srv):
    gid = create(srv, "alice", ["bob"], gtype=1, maxMemberCount=3)
    d = ok(srv, GM + "add", {"groupId": gid, "members": ["carol", "dave"]}, "alice")
    assert [r["code"] for r in d["memberResults"]] == [200, 40005]
    assert info(srv, gid)["memberCount"] == 3
    fails(srv, G + "update", {"groupId": gid, "maxMemberCount": 2}, "alice", 40005)
    # the default per type
    assert info(srv, create(srv, "alice", gtype=1))["maxMemberCount"] == 500
    assert info(srv, create(srv, "alice", gtype=2))["maxMemberCount"] == 2000


# ================================================================ permissions
# (group type, actor, path, body builder, expected code); actors: owner alice,
# manager bob (public only), members carol and dave, outsider erin.
def perm_group(srv, gtype):
    gid = create(srv, "alice", ["bob", "carol", "dave"], gtype=gtype)
    if gtype == 2:
        ok(srv, GM + "update", {"groupId": gid, "memberId": "bob", "role": 1}, "alice")
    return gid


PERMS = [
    # update
    (2, "carol", "update", {"groupName": "x"}, 40007),
    (2, "bob", "update", {"groupName": "x"}, 200),
    (1, "carol", "update", {"groupName": "x"}, 200),
    (1, "erin", "update", {"groupName": "x"}, 40006),
    (2, "bob", "update", {"mute": 1}, 200),
    (1, "carol", "update", {"mute": 1}, 40007),
    # getGroupInfo: public to anyone, private to members
    (2, "erin", "getGroupInfo", {}, 200),
    (1, "erin", "getGroupInfo", {}, 40006),
    # forbidSendMessage
    (2, "carol", "forbidSendMessage", {"mute": 1}, 40007),
    (2, "bob", "forbidSendMessage", {"mute": 1}, 200),
    (1, "alice", "forbidSendMessage", {"mute": 1}, 200),
    # destroy / transfer: owner only
    (2, "bob", "destroyGroup", {}, 40009),
    (1, "carol", "destroyGroup", {}, 40009),
    (1, "alice", "destroyGroup", {}, 200),
    (2, "bob", "transferGroup", {"ownerId": "carol"}, 40009),
    (2, "alice", "transferGroup", {"ownerId": "erin"}, 40006),
    (2, "alice", "transferGroup", {"ownerId": "carol"}, 200),
    # member/add: public owner/manager, private any member
    (2, "carol", "member/add", {"members": ["erin"]}, 40007),
    (2, "bob", "member/add", {"members": ["erin"]}, 200),
    (1, "carol", "member/add", {"members": ["erin"]}, 200),
    (1, "erin", "member/add", {"members": ["erin"]}, 40006),
    # member/remove
    (2, "bob", "member/remove", {"memberId": "carol"}, 200),
    (2, "bob", "member/remove", {"memberId": "alice"}, 40010),
    (2, "carol", "member/remove", {"memberId": "dave"}, 40007),
    (2, "alice", "member/remove", {"memberId": "bob"}, 200),
    (2, "alice", "member/remove", {"memberId": "erin"}, 40006),
    (1, "carol", "member/remove", {"memberId": "dave"}, 40009),
    (1, "alice", "member/remove", {"memberId": "dave"}, 200),
    # member/update alias: only oneself
    (2, "carol", "member/update", {"memberId": "carol", "alias": "me"}, 200),
    (2, "alice", "member/update", {"memberId": "carol", "alias": "you"}, 40014),
    # roles: only the owner makes or unmakes managers; no managers in private groups
    (2, "bob", "member/update", {"memberId": "carol", "role": 1}, 40009),
    (2, "alice", "member/update", {"memberId": "carol", "role": 1}, 200),
    (2, "alice", "member/update", {"memberId": "bob", "role": 0}, 200),
    (1, "alice", "member/update", {"memberId": "carol", "role": 1}, 40024),
    (2, "carol", "member/update", {"memberId": "dave", "extra": "x"}, 40007),
    (2, "bob", "member/update", {"memberId": "dave", "extra": "x"}, 200),
    # speak (mute a member)
    (2, "carol", "member/speak", {"memberId": "dave", "speakDate": 60000}, 40007),
    (2, "bob", "member/speak", {"memberId": "dave", "speakDate": 60000}, 200),
    (2, "bob", "member/speak", {"memberId": "alice", "speakDate": 60000}, 40008),
    (2, "alice", "member/speak", {"memberId": "bob", "speakDate": 60000}, 200),
    (1, "alice", "member/speak", {"memberId": "carol", "speakDate": 60000}, 200),
    # exit
    (2, "alice", "member/exitGroup", {}, 40020),
    (2, "carol", "member/exitGroup", {}, 200),
    (2, "erin", "member/exitGroup", {}, 40006),
    # join requests are the owner's and managers' business
    (2, "carol", "getJoinRequest", {}, 40007),
    (2, "bob", "getJoinRequest", {}, 200),
    # the app admin
    (1, "admin", "destroyGroup", {}, 200),
    (2, "admin", "member/remove", {"memberId": "alice"}, 40010),
]


@pytest.mark.parametrize("gtype,actor,path,body,code", PERMS,
                         ids=["%d-%s-%s-%d" % (p[0], p[1], p[2], i) for i, p in enumerate(PERMS)])
def test_permission_table(srv, gtype, actor, path, body, code):
    gid = perm_group(srv, gtype)
    b = dict(body, groupId=gid)
    st, doc = call(srv, G + path, b, actor)
    assert st == 200 and doc["code"] == code, (path, actor, b, doc)


def test_private_group_rules(srv):
    gid = create(srv, "alice", ["bob", "carol"], gtype=1)
    # a private group can be destroyed by its owner (XC refused it)
    ok(srv, G + "destroyGroup", {"groupId": gid}, "alice")
    fails(srv, G + "destroyGroup", {"groupId": gid}, "alice", 40018)
    fails(srv, GM + "add", {"groupId": gid, "members": ["dave"]}, "alice", 40018)


# ================================================================ pushes
def test_pushes_reach_the_right_members(srv):
    devs = {u: Dev(srv, u) for u in ("alice", "bob", "carol", "dave", "erin")}
    gid = create(srv, "alice", ["bob", "carol"])
    for u in ("alice", "bob", "carol"):
        p = devs[u].take(CREATED_GROUP)
        assert p.data["groupId"] == gid and p.data["ownerId"] == "alice"
    ok(srv, GM + "add", {"groupId": gid, "members": ["dave"]}, "alice")
    for u in ("alice", "bob", "carol", "dave"):
        p = devs[u].take(ADDED_MEMBER)
        assert p.data["members"] == ["dave"] and "memberIds" not in p.data
    ok(srv, G + "update", {"groupId": gid, "notification": "hello"}, "alice")
    for u in ("alice", "bob", "carol", "dave"):
        assert devs[u].take(UPDATED_GROUP).data["notification"] == "hello"
    ok(srv, GM + "update", {"groupId": gid, "memberId": "bob", "role": 1}, "alice")
    for u in ("alice", "bob", "carol", "dave"):
        assert devs[u].take(UPDATED_MEMBER).data["role"] == 1
    ok(srv, G + "forbidSendMessage", {"groupId": gid, "mute": 1}, "bob")
    for u in ("alice", "bob", "carol", "dave"):
        d = devs[u].take(MUTE_GROUP).data
        assert d["groupId"] == gid and d["mute"] == 1 and d["sequence"] > 0
    ok(srv, G + "forbidSendMessage", {"groupId": gid, "mute": 0}, "bob")
    for u in ("alice", "bob", "carol", "dave"):
        assert devs[u].take(UNMUTE_GROUP).data["mute"] == 0
    ok(srv, GM + "speak", {"groupId": gid, "memberId": "dave", "speakDate": 1000}, "bob")
    for u in ("alice", "bob", "carol", "dave"):
        assert devs[u].take(SPEAK_MEMBER).data["memberId"] == "dave"
    ok(srv, GM + "remove", {"groupId": gid, "memberId": "dave"}, "bob")
    for u in ("alice", "bob", "carol", "dave"):
        assert devs[u].take(DELETED_MEMBER).data["member"] == "dave"
    ok(srv, GM + "exitGroup", {"groupId": gid}, "carol")
    for u in ("alice", "bob", "carol"):
        assert devs[u].take(EXIT_GROUP).data["userId"] == "carol"
    ok(srv, G + "transferGroup", {"groupId": gid, "ownerId": "bob"}, "alice")
    for u in ("alice", "bob"):
        assert devs[u].take(TRANSFER_GROUP).data["ownerId"] == "bob"
    ok(srv, G + "destroyGroup", {"groupId": gid}, "bob")
    for u in ("alice", "bob"):
        assert devs[u].take(DESTROY_GROUP).data["groupId"] == gid
    # the ones who left, and the outsider, heard nothing more
    devs["carol"].expect_none({TRANSFER_GROUP, DESTROY_GROUP})
    devs["dave"].expect_none({EXIT_GROUP, TRANSFER_GROUP, DESTROY_GROUP})
    devs["erin"].expect_none(GROUP_PUSHES)


# ================================================================ join requests
def test_join_request_flow(srv):
    alice, bob, erin = Dev(srv, "alice"), Dev(srv, "bob"), Dev(srv, "erin")
    gid = create(srv, "alice", ["bob", "carol"], gtype=2, applyJoinType=1)
    ok(srv, GM + "update", {"groupId": gid, "memberId": "bob", "role": 1}, "alice")
    d = ok(srv, G + "applyJoinGroup", {"groupId": gid, "wording": "let me in"}, "erin")
    assert d["joined"] is False and d["request"]["status"] == 0
    rid = d["request"]["requestId"]
    for dev in (alice, bob):
        p = dev.take(JOIN_GROUP)
        assert p.data["requestId"] == rid and p.data["fromId"] == "erin"
    # applying again refreshes the same request
    d2 = ok(srv, G + "applyJoinGroup", {"groupId": gid, "wording": "please"}, "erin")
    assert d2["request"]["requestId"] == rid
    pend = ok(srv, G + "getJoinRequest", {"groupId": gid}, "bob")["dataList"]
    assert [(r["requestId"], r["wording"]) for r in pend] == [(rid, "please")]
    fails(srv, G + "approveJoinRequest", {"groupId": gid, "requestId": rid, "status": 1},
          "carol", 40007)
    fails(srv, G + "approveJoinRequest", {"groupId": gid, "requestId": rid + 999, "status": 1},
          "bob", 40022)
    d = ok(srv, G + "approveJoinRequest", {"groupId": gid, "requestId": rid, "status": 1}, "bob")
    assert d["joined"] is True and d["request"]["status"] == 1
    assert erin.take(JOIN_GROUP).data["status"] == 1
    assert erin.take(ADDED_MEMBER).data["members"] == ["erin"]
    assert roles(srv, gid)["erin"] == 0
    fails(srv, G + "approveJoinRequest", {"groupId": gid, "requestId": rid, "status": 2},
          "bob", 40023)
    assert ok(srv, G + "getJoinRequest", {"groupId": gid}, "bob")["dataList"] == []
    fails(srv, G + "applyJoinGroup", {"groupId": gid}, "erin", 40003)
    # rejection
    d = ok(srv, G + "applyJoinGroup", {"groupId": gid}, "dave")
    ok(srv, G + "approveJoinRequest",
       {"groupId": gid, "requestId": d["request"]["requestId"], "status": 2}, "alice")
    assert "dave" not in roles(srv, gid)
    # free join, no join
    free = create(srv, "alice", gtype=2, applyJoinType=0)
    d = ok(srv, G + "applyJoinGroup", {"groupId": free}, "dave")
    assert d["joined"] is True and roles(srv, free)["dave"] == 0
    closed = create(srv, "alice", gtype=2, applyJoinType=2)
    fails(srv, G + "applyJoinGroup", {"groupId": closed}, "dave", 40004)
    full = create(srv, "alice", gtype=2, applyJoinType=0, maxMemberCount=1)
    fails(srv, G + "applyJoinGroup", {"groupId": full}, "dave", 40005)
    fails(srv, G + "applyJoinGroup", {"groupId": gid, "fromId": "carol"}, "dave", 60006, http=403)


# ================================================================ messages
def test_send_ack_fanout_and_no_member_list(srv):
    a1, a2 = Dev(srv, "alice", WEB), Dev(srv, "alice", IOS)
    b, c, e = Dev(srv, "bob"), Dev(srv, "carol", transport="ws"), Dev(srv, "erin")
    gid = create(srv, "alice", ["bob", "carol"])
    m, ack = gsend(a1, gid)
    assert ack["messageSequence"] == 1
    for dev, cmd in ((b, MSG_GROUP), (c, MSG_GROUP), (a2, MSG_GROUP_SYNC)):
        p = dev.take(cmd)
        d = p.data
        assert d["groupId"] == gid and d["fromId"] == "alice" and d["messageId"] == m["messageId"]
        assert d["messageKey"] == ack["messageKey"] and d["messageSequence"] == 1
        assert d["messageBody"] == m["messageBody"]
        assert "memberId" not in d and "memberIds" not in d and "members" not in d
    a1.expect_none({MSG_GROUP, MSG_GROUP_SYNC})
    e.expect_none({MSG_GROUP})
    # idempotent resend: same ack, delivered once
    a1.send(MSG_GROUP, m)
    again = gack(a1, m["messageId"])["data"]
    assert (again["messageKey"], again["messageSequence"]) == (ack["messageKey"], 1)
    b.expect_none({MSG_GROUP})
    _, ack2 = gsend(b, gid)
    assert ack2["messageSequence"] == 2
    assert seqs_of(sync(srv, gid, "carol")["dataList"]) == [1, 2]


def test_send_refusals(srv):
    a, b, e = Dev(srv, "alice"), Dev(srv, "bob"), Dev(srv, "erin")
    gid = create(srv, "alice", ["bob", "carol"])
    grefused(e, gid, 40006)
    grefused(a, "nope-" + gid, 40000)
    m = gmk(gid)
    del m["messageBody"]
    a.send(MSG_GROUP, m)
    assert gack(a, m["messageId"])["code"] == 90001
    # whole-group mute: only owner and managers speak
    ok(srv, G + "forbidSendMessage", {"groupId": gid, "mute": 1}, "alice")
    grefused(b, gid, 40012)
    gsend(a, gid)
    ok(srv, GM + "update", {"groupId": gid, "memberId": "bob", "role": 1}, "alice")
    gsend(b, gid)
    ok(srv, G + "forbidSendMessage", {"groupId": gid, "mute": 0}, "alice")
    # a member muted until a time
    ok(srv, GM + "speak", {"groupId": gid, "memberId": "bob", "speakDate": 60000}, "alice")
    grefused(b, gid, 40017)
    ok(srv, GM + "speak", {"groupId": gid, "memberId": "bob", "speakDate": 0}, "alice")
    gsend(b, gid)
    ok(srv, GM + "speak", {"groupId": gid, "memberId": "bob", "speakDate": 700}, "alice")
    grefused(b, gid, 40017)
    time.sleep(0.8)
    gsend(b, gid)
    ok(srv, G + "destroyGroup", {"groupId": gid}, "alice")
    grefused(a, gid, 40018)


def test_concurrent_senders_order(srv):
    users = ["alice", "bob", "carol", "dave"]
    gid = create(srv, "alice", users[1:])
    devs = {u: Dev(srv, u) for u in users}
    watcher = Dev(srv, "erin")
    ok(srv, GM + "add", {"groupId": gid, "members": ["erin"]}, "alice")
    per = 40
    errors = []

    def run(u):
        try:
            d = devs[u]
            msgs = [gmk(gid) for _ in range(per)]
            d.send_many([(MSG_GROUP, m) for m in msgs])
            for m in msgs:
                a = gack(d, m["messageId"])
                assert a["code"] == 200, a
        except Exception as ex:  # noqa: BLE001
            errors.append(ex)

    ts = [threading.Thread(target=run, args=(u,)) for u in users]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    got = []
    while len(got) < per * len(users):
        got.append(watcher.take(MSG_GROUP).data["messageSequence"])
    assert got == list(range(1, per * len(users) + 1))
    rows = sync(srv, gid, "erin", limit=1000)
    assert seqs_of(rows["dataList"]) == list(range(1, 101))
    assert rows["completed"] is False and rows["maxSequence"] == per * len(users)


def test_membership_bounds_and_catch_up(srv):
    a = Dev(srv, "alice")
    gid = create(srv, "alice", ["bob"])
    for _ in range(3):
        gsend(a, gid)
    ok(srv, GM + "add", {"groupId": gid, "members": ["carol"]}, "alice")
    for _ in range(2):
        gsend(a, gid)           # 4, 5
    ok(srv, GM + "remove", {"groupId": gid, "memberId": "bob"}, "alice")
    gsend(a, gid)               # 6
    # carol joined after 3: sees 4..6; bob left after 5: sees 1..5
    assert seqs_of(sync(srv, gid, "carol")["dataList"]) == [4, 5, 6]
    s = sync(srv, gid, "bob")
    assert seqs_of(s["dataList"]) == [1, 2, 3, 4, 5] and s["maxSequence"] == 5
    h = ok(srv, "/v1/message/queryGroupMessageHistory", {"groupId": gid}, "carol")
    assert seqs_of(h["dataList"]) == [6, 5, 4]
    fails(srv, G + "message/syncGroupMessage", {"groupId": gid}, "erin", 40006)
    # paged catch-up from a given sequence
    s = sync(srv, gid, "alice", last=2, limit=2)
    assert seqs_of(s["dataList"]) == [3, 4] and s["completed"] is False
    s = sync(srv, gid, "alice", last=4, limit=2)
    assert seqs_of(s["dataList"]) == [5, 6] and s["completed"] is True
    # history paging
    h = ok(srv, "/v1/message/queryGroupMessageHistory",
           {"groupId": gid, "messageSequence": 5, "limit": 2}, "alice")
    assert seqs_of(h["dataList"]) == [4, 3] and h["hasMore"] is True
    h = ok(srv, "/v1/message/queryGroupMessageHistory",
           {"groupId": gid, "messageSequence": "4", "isGt": True}, "alice")
    assert seqs_of(h["dataList"]) == [5, 6]
    # an offline member who comes back gets only what it missed, via sync
    b2 = Dev(srv, "carol")
    b2.expect_none({MSG_GROUP})
    # rejoin: a new window
    ok(srv, GM + "add", {"groupId": gid, "members": ["bob"]}, "alice")
    gsend(a, gid)               # 7
    assert seqs_of(sync(srv, gid, "bob", last=5)["dataList"]) == [7]


def test_sequences_survive_restart(server):
    s = server()
    s.ensure_users(["alice", "bob"])
    gid = create(s, "alice", ["bob"])
    a = Dev(s, "alice")
    m, ack = gsend(a, gid)
    gsend(a, gid)
    a.close()
    s.stop()
    s.start()
    a = Dev(s, "alice")
    # the same messageId is still the same message; the sequence goes on
    a.send(MSG_GROUP, m)
    d = gack(a, m["messageId"])["data"]
    assert (d["messageKey"], d["messageSequence"]) == (ack["messageKey"], 1)
    _, d3 = gsend(a, gid)
    assert d3["messageSequence"] == 3


def test_receipts_read_count_and_conversations(srv):
    a1, a2, b = Dev(srv, "alice", WEB), Dev(srv, "alice", IOS), Dev(srv, "bob")
    gid = create(srv, "alice", ["bob", "carol"])
    _, k1 = gsend(b, gid)
    _, k2 = gsend(b, gid)
    convs = ok(srv, "/v1/conversation/syncConversationList", {"lastSequence": 0}, "alice")
    row = [c for c in convs["dataList"] if c["conversationType"] == 1]
    assert len(row) == 1, convs
    assert row[0]["conversationId"] == "1_alice_" + gid and row[0]["toId"] == gid
    assert (row[0]["lastSequence"], row[0]["unreadCount"]) == (2, 2), row
    a1.send(MSG_GROUP_READED, {"groupId": gid, "messageSequence": 2, "conversationType": 1})
    p = a2.take(READED_NOTIFY)
    assert p.data["groupId"] == gid and p.data["messageSequence"] == 2 and p.data["fromId"] == "alice"
    p = b.take(READED_RECEIPT)
    assert p.data["groupId"] == gid and p.data["fromId"] == "alice"
    a1.expect_none({READED_NOTIFY})
    rc = ok(srv, G + "message/getReadCount", {"groupId": gid, "messageSequence": 2}, "bob")
    assert rc["readCount"] == 1 and rc["messageKey"] == k2["messageKey"]
    h = ok(srv, "/v1/message/queryGroupMessageHistory", {"groupId": gid}, "carol")
    assert [r["readCount"] for r in h["dataList"]] == [1, 1]
    convs = ok(srv, "/v1/conversation/syncConversationList", {"lastSequence": 0}, "alice")
    row = [c for c in convs["dataList"] if c["conversationType"] == 1][0]
    assert (row["readedSequence"], row["unreadCount"]) == (2, 0), row
    # the sender has read what it sent
    convs = ok(srv, "/v1/conversation/syncConversationList", {"lastSequence": 0}, "bob")
    assert [c["unreadCount"] for c in convs["dataList"] if c["conversationType"] == 1] == [0]
    # reading never goes back, nor beyond the last message
    a1.send(MSG_GROUP_READED, {"groupId": gid, "messageSequence": 1})
    a1.send(MSG_GROUP_READED, {"groupId": gid, "messageSequence": 99})
    a2.expect_none({READED_NOTIFY})


def test_recall(srv):
    a, b, c = Dev(srv, "alice"), Dev(srv, "bob"), Dev(srv, "carol")
    gid = create(srv, "alice", ["bob", "carol"])
    _, k = gsend(b, gid)
    c.take(MSG_GROUP)
    body = {"messageKey": k["messageKey"], "groupId": gid, "conversationType": 1}
    c.send(MSG_RECALL, body)
    assert c.take(MSG_RECALL_ACK).data["code"] == 60006
    b.send(MSG_RECALL, body)
    p = b.take(MSG_RECALL_ACK)
    assert p.data["code"] == 200 and p.data["data"]["messageSequence"] == 1
    for dev in (a, c):
        n = dev.take(MSG_RECALL_NOTIFY)
        assert n.data["messageKey"] == k["messageKey"] and n.data["groupId"] == gid
    b.send(MSG_RECALL, body)
    assert b.take(MSG_RECALL_ACK).data["code"] == 50005
    b.send(MSG_RECALL, dict(body, messageKey=k["messageKey"] + 12345))
    assert b.take(MSG_RECALL_ACK).data["code"] == 50003
    rows = sync(srv, gid, "carol")["dataList"]
    assert rows[0]["delFlag"] == 1 and "messageBody" not in rows[0]


def test_recall_window(server):
    s = server("--recall-window-ms=300")
    s.ensure_users(["alice", "bob"])
    gid = create(s, "alice", ["bob"])
    b = Dev(s, "bob")
    _, old = gsend(b, gid)
    time.sleep(0.6)
    b.send(MSG_RECALL, {"messageKey": old["messageKey"], "groupId": gid, "conversationType": 1})
    assert b.take(MSG_RECALL_ACK).data["code"] == 50004
    _, fresh = gsend(b, gid)
    b.send(MSG_RECALL, {"messageKey": fresh["messageKey"], "groupId": gid, "conversationType": 1})
    assert b.take(MSG_RECALL_ACK).data["code"] == 200


def test_destroy_transfer_owner_leave(srv):
    a, b = Dev(srv, "alice"), Dev(srv, "bob")
    gid = create(srv, "alice", ["bob", "carol"])
    fails(srv, GM + "exitGroup", {"groupId": gid}, "alice", 40020)
    ok(srv, G + "transferGroup", {"groupId": gid, "ownerId": "bob"}, "alice")
    assert roles(srv, gid) == {"bob": 2, "alice": 0, "carol": 0}
    fails(srv, G + "destroyGroup", {"groupId": gid}, "alice", 40009)
    ok(srv, GM + "exitGroup", {"groupId": gid}, "alice")
    assert "alice" not in roles(srv, gid)
    grefused(a, gid, 40006)
    gsend(b, gid)
    ok(srv, G + "destroyGroup", {"groupId": gid}, "bob")
    grefused(b, gid, 40018)
    assert info(srv, gid, "bob")["status"] == 2
    s = ok(srv, G + "syncJoinedGroup", {"lastSequence": 0}, "alice")
    assert [(g["groupId"], g["role"]) for g in s["dataList"]] == [(gid, 3)]


def test_admin_import_and_send(srv):
    b = Dev(srv, "bob")
    gid = nid("imp")
    fails(srv, G + "importGroup", {"groupId": gid, "groupType": 2}, "admin", 40016)
    fails(srv, G + "importGroup", {"groupId": gid, "groupType": 2, "ownerId": "alice"}, "bob",
          60006, http=403)
    ok(srv, G + "importGroup", {"groupId": gid, "groupType": 2, "ownerId": "alice",
                                "createTime": 1700000000000}, "admin")
    assert info(srv, gid)["createTime"] == 1700000000000
    d = ok(srv, GM + "importGroupMember",
           {"groupId": gid, "members": [{"memberId": "bob", "role": 1}, {"memberId": "alice"},
                                        {"memberId": "carol", "role": 2}]}, "admin")
    assert [r["result"] for r in d["memberResults"]] == [0, 2, 1]
    assert roles(srv, gid) == {"alice": 2, "bob": 1}
    s = ok(srv, G + "sendMessage", {"groupId": gid, "fromId": "alice", "messageId": "adm-1",
                                    "messageBody": "hello"}, "admin")
    assert s["messageSequence"] == 1
    assert b.take(MSG_GROUP).data["messageId"] == "adm-1"
    fails(srv, G + "sendMessage", {"groupId": gid, "fromId": "erin", "messageId": "adm-2",
                                   "messageBody": "x"}, "admin", 40006)
    fails(srv, G + "sendMessage", {"groupId": gid, "fromId": "alice", "messageId": "adm-3",
                                   "messageBody": "x"}, "alice", 60006, http=403)
