"""Issue 14, items 3, 4, 5 and 15: each attack performed against a real
petreld, the refusal asserted, and the unchanged behaviour of legitimate
users next to it (docs/SECURITY.md, "## Authorization").

  3  blacklist and disableAddFriend vs addFriend, requests, approvals and
     messages (blacklist now blocks messages by default);
  4  a forbidden / deleted / never-imported operator on REST and socket;
  5  presence privacy: device ids only to the user, status only to status
     peers and subscribers the user has not blacklisted;
  15 subscriptions: only to existing users, a per-user cap, and a second
     client's ping/login latency while one user floods the table."""
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW
from test_messages import IOS, WEB, Dev, check_refused, mk, send_ok
from test_presence import fails, ok

FS = "/v1/friendship/"
U = "/v1/user/"
FRIEND_ADD, FRIEND_REQUEST = 3000, 3003
CREATED_GROUP = 2002
USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]


@pytest.fixture
def rsrv(server):
    s = server("--presence-debounce-ms=0")
    s.ensure_users(USERS)
    return s


def relation(srv, owner, peer):
    st, doc = srv.api(FS + "getRelation", {"toId": peer}, as_user=owner)
    return doc.get("data") if doc.get("code") == 200 else None


def requests_to(srv, user):
    return ok(srv, "/v1/friendshipRequest/getFriendRequest", {}, user)


# ======================================================== item 3: blacklist
def test_blacklist_blocks_add_request_and_approval(rsrv):
    s = rsrv
    ok(s, U + "data/modifyUserInfo", {"userId": "carol", "friendAllowType": 2})
    b = Dev(s, "bob", WEB)
    c = Dev(s, "carol", WEB)
    # bob (adds at once) and carol (requests) blacklist alice
    ok(s, FS + "addBlack", {"toId": "alice"}, "bob")
    ok(s, FS + "addBlack", {"toId": "alice"}, "carol")
    # the attack: alice adds them anyway
    fails(s, FS + "addFriend", {"toItem": {"toId": "bob"}}, "alice", 30007)
    fails(s, FS + "addFriend", {"toItem": {"toId": "carol", "addWording": "spam"}}, "alice",
          30007)
    assert relation(s, "alice", "bob") is None
    assert relation(s, "bob", "alice")["status"] == 0      # blacklist-only row
    assert requests_to(s, "carol") == []
    b.expect_none({FRIEND_ADD, FRIEND_REQUEST})
    c.expect_none({FRIEND_ADD, FRIEND_REQUEST}, wait=0.05)
    # the blacklister cannot add either (remove the entry first)
    fails(s, FS + "addFriend", {"toItem": {"toId": "alice"}}, "bob", 30006)
    # legitimate: dave adds bob at once, asks carol
    assert ok(s, FS + "addFriend", {"toItem": {"toId": "bob"}}, "dave")["added"] is True
    assert ok(s, FS + "addFriend", {"toItem": {"toId": "carol"}}, "dave")["added"] is False
    b.take(FRIEND_ADD)
    c.take(FRIEND_REQUEST)

    # a request made before the blacklist is rejected by it, and cannot be
    # approved afterwards (test_security_privacy.py has the details)
    req = ok(s, FS + "addFriend", {"toItem": {"toId": "carol", "addWording": "hi"}}, "erin")
    ok(s, FS + "addBlack", {"toId": "erin"}, "carol")
    fails(s, "/v1/friendshipRequest/approveFriendRequest", {"id": req["requestId"],
                                                            "status": 1}, "carol", 30013)
    assert relation(s, "erin", "carol") is None
    assert [r["approveStatus"] for r in requests_to(s, "carol") if r["fromId"] == "erin"] == [2]
    # dave's is approved as before
    dave_req = [r for r in requests_to(s, "carol") if r["fromId"] == "dave"][0]
    ok(s, "/v1/friendshipRequest/approveFriendRequest", {"id": dave_req["id"], "status": 1},
       "carol")
    assert relation(s, "dave", "carol")["status"] == 1

    # after deleteBlack alice may add bob again
    ok(s, FS + "deleteBlack", {"toId": "alice"}, "bob")
    assert ok(s, FS + "addFriend", {"toItem": {"toId": "bob"}}, "alice")["added"] is True


def test_disable_add_friend_is_enforced(rsrv):
    s = rsrv
    # bob sets it himself (a user field anyone may set on their own profile)
    ok(s, U + "data/modifyUserInfo", {"disableAddFriend": 1}, "bob")
    b = Dev(s, "bob", WEB)
    for allow in (1, 2):
        ok(s, U + "data/modifyUserInfo", {"userId": "bob", "friendAllowType": allow})
        fails(s, FS + "addFriend", {"toItem": {"toId": "bob", "addWording": "x"}}, "alice",
              62040)
    assert relation(s, "alice", "bob") is None
    assert requests_to(s, "bob") == []
    b.expect_none({FRIEND_ADD, FRIEND_REQUEST})
    # bob may still add others; turning it off lets alice add him
    assert ok(s, FS + "addFriend", {"toItem": {"toId": "carol"}}, "bob")["added"] is True
    ok(s, U + "data/modifyUserInfo", {"disableAddFriend": 0, "friendAllowType": 1}, "bob")
    assert ok(s, FS + "addFriend", {"toItem": {"toId": "bob"}}, "alice")["added"] is True


def test_blacklist_blocks_messages_by_default(rsrv):
    s = rsrv
    a, b, c = Dev(s, "alice", WEB), Dev(s, "bob", WEB, "ws"), Dev(s, "carol", WEB)
    ok(s, FS + "addBlack", {"toId": "alice"}, "bob")        # no app setting at all
    m = mk("bob")
    a.send(pp.MSG_P2P, m)
    check_refused(a.take_ack(m["messageId"]), 30007, m["messageId"])
    m = mk("alice")
    b.send(pp.MSG_P2P, m)
    check_refused(b.take_ack(m["messageId"]), 30006, m["messageId"])
    fails(s, "/v1/message/send", {"toId": "bob", "messageBody": "x", "messageId": "r1"},
          "alice", 30007)
    b.expect_none({pp.MSG_P2P})
    # legitimate traffic is untouched
    send_ok(c, "bob")
    send_ok(b, "carol")


def test_blacklist_blocks_group_invitations(rsrv):
    """Same class: a group is another way to reach someone who blacklisted
    you; nobody is put into a group by a user they blacklisted."""
    s = rsrv
    ok(s, FS + "addBlack", {"toId": "alice"}, "bob")
    b, c = Dev(s, "bob", WEB), Dev(s, "carol", WEB)
    d = ok(s, "/v1/group/createGroup", {"groupId": "g1", "groupType": 1, "groupName": "g",
                                        "applyJoinType": 0, "member": ["bob", "carol"]},
           "alice")
    codes = {r["memberId"]: r["code"] for r in d["memberResults"]}
    assert codes == {"bob": 30007, "carol": 200}, d
    c.take(CREATED_GROUP)
    d = ok(s, "/v1/group/member/add", {"groupId": "g1", "members": ["bob"]}, "alice")
    assert [r["code"] for r in d["memberResults"]] == [30007], d
    b.expect_none({CREATED_GROUP, 2001})
    # the group member carol may invite bob; bob may join of his own accord
    d = ok(s, "/v1/group/member/add", {"groupId": "g1", "members": ["bob"]}, "carol")
    assert [r["code"] for r in d["memberResults"]] == [200], d
    ok(s, "/v1/group/member/remove", {"groupId": "g1", "memberId": "bob"}, "alice")
    d = ok(s, "/v1/group/applyJoinGroup", {"groupId": "g1"}, "bob")
    assert d["joined"] is True, d
    # the app admin is exempt
    d = ok(s, "/v1/group/createGroup", {"groupId": "g2", "groupType": 1, "groupName": "g",
                                        "ownerId": "alice", "member": ["bob"]})
    assert [r["code"] for r in d["memberResults"]] == [200], d


# ================================================== item 4: forbidden, deleted
def test_forbidden_user_can_do_nothing(rsrv):
    s = rsrv
    ok(s, FS + "addFriend", {"toItem": {"toId": "bob"}}, "alice")
    b = Dev(s, "bob", WEB)
    a = Dev(s, "alice", IOS)
    ok(s, U + "data/modifyUserInfo", {"userId": "alice", "forbiddenFlag": 1})
    # her socket is closed with 61015
    a.c.ignore = pp.PRESENCE_PUSHES | {4000}
    p = a.c.recv()
    assert p.command == pp.ERROR and p.data["code"] == 61015, p
    a.c.expect_closed()
    # the same token: every write and read over REST is refused
    attacks = [
        ("/v1/group/createGroup", {"groupType": 1, "groupName": "g", "member": ["bob"]}),
        (FS + "addFriend", {"toItem": {"toId": "carol"}}),
        (U + "setUserCustomerStatus", {"customText": "still here"}),
        (U + "data/modifyUserInfo", {"nickName": "x"}),
        (U + "data/getSingleUserInfo", {}),
        ("/v1/message/send", {"toId": "bob", "messageBody": "x", "messageId": "f1"}),
        (FS + "addBlack", {"toId": "carol"}),
    ]
    for path, body in attacks:
        doc = fails(s, path, body, "alice", 61015, 403)
        assert "forbidden" in doc["msg"], doc
    b.expect_none({CREATED_GROUP, FRIEND_ADD, pp.MSG_P2P, 4003})
    assert relation(s, "alice", "carol") is None
    # a new LOGIN is refused
    c = s.tcp()
    p = c.login("alice", s.token("alice"))
    assert p.command == pp.ERROR and p.data["code"] == 61015, p
    # legitimate users are untouched; the admin lifts it and alice is back
    ok(s, U + "setUserCustomerStatus", {"customText": "fine"}, "bob")
    ok(s, U + "data/modifyUserInfo", {"userId": "alice", "forbiddenFlag": 0})
    d = ok(s, "/v1/group/createGroup", {"groupType": 1, "groupName": "g", "member": ["bob"]},
           "alice")
    assert d["ownerId"] == "alice"
    b.take(CREATED_GROUP)
    Dev(s, "alice", WEB)


def test_deleted_and_unknown_operators_are_refused(rsrv):
    s = rsrv
    ok(s, U + "deleteUser", {"userId": ["erin"]})
    for path, body in [(FS + "addBlack", {"toId": "bob"}),
                       (U + "subscribeUserOnlineStatus", {"subUserIds": ["bob"], "subTime": 1000}),
                       (U + "data/queryImUserPage", {}),
                       (U + "login", {"clientType": 1}),
                       (U + "data/getUserInfo", {"userIds": ["bob"]})]:
        doc = fails(s, path, body, "erin", 61015, 403)
        assert "deleted" in doc["msg"], doc
        # an identifier with a valid token that was never imported
        fails(s, path, body, "nobody-at-all", 20001, 403)
        # a live user still may
        ok(s, path, body, "frank")
    c = s.tcp()
    p = c.login("erin", s.token("erin"))
    assert p.command == pp.ERROR and p.data["code"] == 61015, p
    # the app admin is exempt (it is no imported user here)
    ok(s, U + "data/queryImUserPage", {}, "admin")


# ========================================================= item 5: presence
def test_device_ids_only_to_the_user(rsrv):
    s = rsrv
    ok(s, FS + "addFriend", {"toItem": {"toId": "bob"}}, "alice")
    b = Dev(s, "bob", WEB)
    b.c.ignore = frozenset()
    m = Dev(s, "frank", WEB)                     # mallory: no relation to alice
    m.c.ignore = frozenset()
    a = Dev(s, "alice", IOS, imei="alice-secret-device")
    # the friend's 4004 has no device id
    p = b.take(pp.USER_ONLINE_STATUS, lambda q: q.data.get("userId") == "alice")
    assert "alice-secret-device" not in p.raw.decode(), p
    # the stranger reads nothing
    q = ok(s, U + "queryUserOnlineStatus", {"userIdList": ["alice"]}, "frank")["alice"]
    assert q == {"session": [], "onlineStatus": 0, "customText": "", "customStatus": 0}, q
    # the friend: online, device types, no ids
    q = ok(s, U + "queryUserOnlineStatus", {"userIdList": ["alice"]}, "bob")["alice"]
    assert q["onlineStatus"] == 1 and [x["clientType"] for x in q["session"]] == [IOS], q
    assert all("imei" not in x for x in q["session"]), q
    q = ok(s, U + "queryFriendOnlineStatus", {}, "bob")["alice"]
    assert all("imei" not in x for x in q["session"]), q
    # alice herself and the admin see the id
    for who in ("alice", "admin"):
        q = ok(s, U + "queryUserOnlineStatus", {"userIdList": ["alice"]}, who)["alice"]
        assert [x["imei"] for x in q["session"]] == ["alice-secret-device"], (who, q)

    # a stranger who subscribes sees the status (not the ids) ...
    ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["alice"], "subTime": 60000},
       "frank")
    q = ok(s, U + "queryUserOnlineStatus", {"userIdList": ["alice"]}, "frank")["alice"]
    assert q["onlineStatus"] == 1 and all("imei" not in x for x in q["session"]), q
    a2 = Dev(s, "alice", WEB, imei="alice-second")
    a.close()
    a2.close()
    p = m.take(pp.USER_ONLINE_STATUS, lambda q: q.data.get("status") == 2)
    assert "alice-s" not in p.raw.decode(), p
    # ... until alice blacklists him: then nothing, subscription or not
    ok(s, FS + "addBlack", {"toId": "frank"}, "alice")
    Dev(s, "alice", WEB)
    q = ok(s, U + "queryUserOnlineStatus", {"userIdList": ["alice"]}, "frank")["alice"]
    assert q["onlineStatus"] == 0, q
    m.expect_none({pp.USER_ONLINE_STATUS})
    b.take(pp.USER_ONLINE_STATUS, lambda q: q.data.get("status") == 1)


def test_messages_carry_no_device_id(rsrv):
    """The same leak through messages: neither a one-to-one receiver (any
    stranger) nor a group member learns the sender's device id."""
    s = rsrv
    a = Dev(s, "alice", WEB, imei="alice-hardware-id")
    a2 = Dev(s, "alice", IOS, imei="alice-phone-id")
    b = Dev(s, "bob", WEB)
    c = Dev(s, "carol", WEB)
    m = mk("bob")
    a.send(pp.MSG_P2P, m)
    a.take_ack(m["messageId"])
    for d, cmd in ((b, pp.MSG_P2P), (a2, 1108)):
        p = d.take(cmd)
        assert p.data["imei"] == "" and p.data["clientType"] == WEB, p
        assert b"alice-hardware-id" not in p.raw, p
    ok(s, "/v1/group/createGroup", {"groupId": "g1", "groupType": 1, "groupName": "g",
                                    "member": ["carol"]}, "alice")
    a.send(2104, {"groupId": "g1", "messageId": "gm-1", "messageBody": "hi"})
    p = c.take(2104)
    assert p.data["imei"] == "" and b"alice-hardware-id" not in p.raw, p


# ==================================================== item 15: subscriptions
def test_subscriptions_only_to_existing_users_and_capped(server):
    s = server("--presence-subs-per-user=5")
    s.ensure_users(USERS + ["gina", "hank"])
    ok(s, U + "deleteUser", {"userId": ["erin"]})
    d = ok(s, U + "subscribeUserOnlineStatus",
           {"subUserIds": ["bob", "ghost-1", "erin", "ghost-2"], "subTime": 60000}, "alice")
    assert d["subUserIds"] == ["bob"] and d["failUserIds"] == ["ghost-1", "erin", "ghost-2"], d
    # a flood of made-up ids stores nothing and never reaches the cap
    for i in range(20):
        d = ok(s, U + "subscribeUserOnlineStatus",
               {"subUserIds": ["x%d-%d" % (i, k) for k in range(100)], "subTime": 60000},
               "alice")
        assert d["subUserIds"] == [] and len(d["failUserIds"]) == 100, d
    # the cap counts live subscriptions of the subscriber; renewals are free
    ok(s, U + "subscribeUserOnlineStatus",
       {"subUserIds": ["carol", "dave", "frank", "hank"], "subTime": 60000}, "alice")
    fails(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["gina"], "subTime": 60000},
          "alice", 62041)
    ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["bob", "carol"], "subTime": 60000},
       "alice")
    # all or nothing: nothing of a refused call is kept
    fails(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["bob", "gina"],
                                               "subTime": 60000}, "alice", 62041)
    # a subscription lasts 7 days at most
    d = ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["bob"], "subTime": 1 << 62},
           "alice")
    week = 7 * 24 * 3600 * 1000
    assert abs(d["expireTime"] - (time.time() * 1000 + week)) < 60000, d
    # expired subscriptions free their slots
    ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["bob"], "subTime": 1}, "alice")
    time.sleep(0.05)
    ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["gina"], "subTime": 60000}, "alice")
    # another user is not affected by alice's cap
    ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["gina", "bob"], "subTime": 60000},
       "bob")
    # and alice's subscriptions work
    c = Dev(s, "alice", WEB)
    c.c.ignore = frozenset()
    Dev(s, "gina", WEB)
    c.take(pp.USER_ONLINE_STATUS, lambda q: q.data.get("userId") == "gina")


def test_subscription_flood_does_not_starve_others(server):
    s = server()
    s.ensure_users(USERS + ["target%d" % i for i in range(50)])
    stop = threading.Event()
    errors = []
    sent = [0]

    def flood(k):
        i = 0
        while not stop.is_set():
            ids = ["nx-%d-%d-%d" % (k, i, j) for j in range(100)]
            if i % 2:
                ids = ["target%d" % j for j in range(50)]
            st, doc = s.api(U + "subscribeUserOnlineStatus",
                            {"subUserIds": ids, "subTime": 600000}, as_user="alice")
            if st != 200 or doc.get("code") not in (200, 62041):
                errors.append((st, doc))
                return
            sent[0] += 1
            i += 1

    threads = [threading.Thread(target=flood, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        # a second client measures its ping and a fresh login meanwhile
        other = s.login("bob", imei="bob-1")
        pings, logins = [], []
        deadline = time.monotonic() + 2.0 * SLOW
        n = 0
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            assert other.ping().command == pp.PING
            pings.append(time.monotonic() - t0)
            t0 = time.monotonic()
            c = s.login("carol", imei="c-%d" % n)
            logins.append(time.monotonic() - t0)
            c.close()
            n += 1
        # and another user may still subscribe (no 90000 for everybody)
        d = ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["dave"], "subTime": 1000},
               "frank")
        assert d["subUserIds"] == ["dave"], d
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert sent[0] > 10, "the flood did not run (%d calls)" % sent[0]
    pings.sort()
    logins.sort()
    p99 = lambda v: v[min(len(v) - 1, int(len(v) * 0.99))]  # noqa: E731
    assert p99(pings) < 0.5 * SLOW, "ping p99 %.3fs during the flood" % p99(pings)
    assert p99(logins) < 1.0 * SLOW, "login p99 %.3fs during the flood" % p99(logins)
