"""Online status (docs/PROTOCOL.md "Online status (4xxx)", docs/API.md
"Online status"): 4004 to friends on a user's first device online and
last device gone (debounced, and coalesced when the user comes back within
the window), 4005 to the user's other devices on every login and logout,
the relation rule (deleted and blacklisted friendships get nothing),
subscriptions with expiry, the custom status (push 4003, persisted across
a restart), the two query endpoints and their errors."""
import time

import pytest

import petrelproto as pp
from conftest import SLOW
from test_messages import ANDROID, IOS, QUIET, WEB, WINDOWS, Dev, api_ok

CUSTOM = pp.USER_CUSTOM_STATUS        # 4003
ONLINE = pp.USER_ONLINE_STATUS        # 4004
SYNC = pp.USER_ONLINE_STATUS_SYNC     # 4005
ALL = {CUSTOM, ONLINE, SYNC}

DEBOUNCE_MS = int(300 * SLOW)
DEBOUNCE = DEBOUNCE_MS / 1000.0
USERS = ["alice", "bob", "carol", "dave", "erin", "walt"]
U = "/v1/user/"


# ================================================================ helpers
@pytest.fixture
def psrv(server):
    s = server("--presence-debounce-ms=%d" % DEBOUNCE_MS)
    s.ensure_users(USERS)
    return s


def dev(srv, user, ct=WEB, transport="tcp", imei=None):
    """A logged-in device that sees the presence pushes."""
    d = Dev(srv, user, ct, transport, imei)
    d.c.ignore = frozenset()
    return d


def ok(srv, path, body, as_user="admin"):
    return api_ok(srv, path, body, as_user=as_user)


def fails(srv, path, body, as_user, code, http=200):
    st, doc = srv.api(path, body, as_user=as_user)
    assert (st, doc.get("code")) == (http, code), \
        "%s as %s %r: expected HTTP %d code %d, got %d %r" % (path, as_user, body, http, code,
                                                              st, doc)
    return doc


def befriend(srv, a, b):
    d = ok(srv, "/v1/friendship/addFriend", {"toItem": {"toId": b}}, a)
    assert d["added"] is True, d


def status_of(p, user, status):
    return lambda q: q.data.get("userId") == user and q.data.get("status") == status


def clients(data):
    return [(c["clientType"], c["imei"]) for c in data["client"]]


def public_clients(data):
    """4004 to friends and subscribers: no device ids (issue 14 item 5)."""
    assert "imei" not in data, data
    assert all(set(c) == {"clientType", "loginTime"} for c in data["client"]), data
    return [c["clientType"] for c in data["client"]]


def query_users(srv, ids, as_user="admin"):
    return ok(srv, U + "queryUserOnlineStatus", {"userIdList": ids}, as_user)


def query_friends(srv, as_user, **body):
    return ok(srv, U + "queryFriendOnlineStatus", body, as_user)


def take_status(d, user, status, timeout=None):
    return d.take(ONLINE, status_of(None, user, status), timeout=timeout,
                  what="%s status %d" % (user, status))


# ====================================================== online / offline
def test_first_device_online_tells_friends_once(psrv):
    s = psrv
    befriend(s, "alice", "bob")
    b = dev(s, "bob", IOS)
    c = dev(s, "carol", IOS)                    # not a friend of alice
    a1 = dev(s, "alice", WEB)

    p = take_status(b, "alice", 1)
    d = p.data
    assert (d["appId"], d["userId"], d["status"], d["clientType"]) == \
        (pp.APP_ID, "alice", 1, WEB), d
    assert public_clients(d) == [WEB], d
    assert isinstance(d["client"][0]["loginTime"], int) and d["client"][0]["loginTime"] > 0, d
    assert d["clientCount"] == 1, d
    a1.expect_none(ALL)                         # no other device to sync, no own 4004

    # a second device: friends learn nothing, the first device gets 4005
    a2 = dev(s, "alice", IOS)
    p = a1.take(SYNC)
    d = p.data
    assert (d["userId"], d["status"], d["clientType"], d["imei"]) == ("alice", 1, IOS, a2.imei), d
    assert sorted(clients(d)) == sorted([(WEB, a1.imei), (IOS, a2.imei)]), d
    assert d["client"][0]["loginTime"] <= d["client"][1]["loginTime"], d
    b.expect_none({ONLINE, SYNC})
    a2.expect_none(ALL)
    c.expect_none(ALL, wait=0.1)

    # bob's own second device: alice is not told, bob's first device is
    b2 = dev(s, "bob", WINDOWS)
    p = b.take(SYNC)
    assert (p.data["userId"], p.data["status"], p.data["imei"]) == ("bob", 1, b2.imei), p
    a1.expect_none({ONLINE}, wait=0.1)


def test_logout_syncs_and_last_device_goes_offline_after_debounce(psrv):
    s = psrv
    befriend(s, "alice", "bob")
    b = dev(s, "bob", IOS)
    a1 = dev(s, "alice", WEB)
    take_status(b, "alice", 1)
    a2 = dev(s, "alice", IOS)
    a1.take(SYNC)

    # LOGOUT of one device: 4005 to the other, friends learn nothing
    a2.send(pp.LOGOUT, {})
    p = a1.take(SYNC, lambda q: q.data["status"] == 2)
    d = p.data
    assert (d["userId"], d["clientType"], d["imei"]) == ("alice", IOS, a2.imei), d
    assert clients(d) == [(WEB, a1.imei)] and d["clientCount"] == 1, d
    b.expect_none({ONLINE}, wait=DEBOUNCE + QUIET)

    # the last device goes: 4004 status 2 only after the debounce window
    t0 = time.monotonic()
    a1.close()
    p = take_status(b, "alice", 2)
    elapsed = time.monotonic() - t0
    assert elapsed >= DEBOUNCE - 0.05, "offline told after %.3fs, window %.3fs" % (elapsed,
                                                                                  DEBOUNCE)
    d = p.data
    assert (d["appId"], d["clientType"], d["client"], d["clientCount"]) == \
        (pp.APP_ID, WEB, [], 0), d
    assert "imei" not in d, d
    b.expect_none({ONLINE})                     # exactly once
    assert query_users(s, ["alice"])["alice"]["onlineStatus"] == 0


def test_flap_within_window_sends_nothing(psrv):
    s = psrv
    befriend(s, "alice", "bob")
    b = dev(s, "bob", IOS)
    a = dev(s, "alice", WEB, imei="flap")
    take_status(b, "alice", 1)

    # close and reconnect (same device), then LOGOUT and another device
    for how in ("close", "logout"):
        t0 = time.monotonic()
        if how == "close":
            a.close()
        else:
            a.send(pp.LOGOUT, {})
        a = dev(s, "alice", IOS if how == "logout" else WEB, imei="flap-" + how)
        took = time.monotonic() - t0
        if took > 0.8 * DEBOUNCE:
            pytest.skip("reconnect took %.3fs, longer than the window" % took)
        b.expect_none({ONLINE}, wait=DEBOUNCE + QUIET)
        assert query_users(s, ["alice"])["alice"]["onlineStatus"] == 1

    # a real departure is still told
    a.close()
    take_status(b, "alice", 2)


def test_policy_kick_is_no_status_change(psrv):
    s = psrv
    befriend(s, "alice", "bob")
    b = dev(s, "bob", WEB)
    a1 = dev(s, "alice", IOS, imei="ios-1")
    take_status(b, "alice", 1)
    dev(s, "alice", IOS, imei="ios-2")          # policy 3: replaces ios-1
    a1.c.ignore = pp.PRESENCE_PUSHES
    p = a1.c.recv()
    assert p.command == pp.MUTUALLOGIN, p
    b.expect_none({ONLINE}, wait=DEBOUNCE + QUIET)


def test_forbidden_user_goes_offline(psrv):
    s = psrv
    befriend(s, "alice", "bob")
    b = dev(s, "bob", WEB)
    dev(s, "alice", IOS)
    dev(s, "alice", WINDOWS)
    take_status(b, "alice", 1)
    ok(s, U + "data/modifyUserInfo", {"userId": "alice", "forbiddenFlag": 1})
    p = take_status(b, "alice", 2)
    assert p.data["client"] == [], p
    b.expect_none({ONLINE})


def test_heartbeat_timeout_goes_offline(server):
    hb = int(400 * SLOW)
    s = server("--presence-debounce-ms=%d" % DEBOUNCE_MS, "--heartbeat-interval-ms=%d" % hb,
               "--heartbeat-miss=1")
    s.ensure_users(USERS)
    befriend(s, "alice", "bob")
    b = dev(s, "bob", WEB)
    dev(s, "alice", IOS)                        # never pings again
    deadline = time.monotonic() + 10 * SLOW
    seen = []
    while time.monotonic() < deadline:
        b.send(pp.PING, {})                     # bob stays alive
        try:
            p = b.recv(0.1)
        except TimeoutError:
            continue
        seen.append(p)
        if p.command == ONLINE and p.data["status"] == 2:
            assert p.data["userId"] == "alice", p
            assert [q.data["status"] for q in seen if q.command == ONLINE] == [1, 2], seen
            return
    raise AssertionError("no offline 4004 after alice's heartbeat timeout: %r" % seen)


# ================================================================= the relation rule
def test_deleted_and_blacklisted_relations_get_no_status(psrv):
    s = psrv
    for u in ("bob", "carol", "dave", "erin"):
        befriend(s, "alice", u)
    ok(s, "/v1/friendship/deleteFriend", {"toId": "carol"}, "alice")
    ok(s, "/v1/friendship/addBlack", {"toId": "alice"}, "dave")     # dave blacklists alice
    ok(s, "/v1/friendship/addBlack", {"toId": "erin"}, "alice")     # alice blacklists erin
    # one direction only (imported): no status either
    ok(s, "/v1/friendship/importFriendShip", {"fromId": "alice", "friendItem": [{"toId": "walt"}]})

    others = {u: dev(s, u, WEB) for u in ("bob", "carol", "dave", "erin", "walt")}
    a = dev(s, "alice", IOS)
    take_status(others["bob"], "alice", 1)
    a.close()
    take_status(others["bob"], "alice", 2)
    for u in ("carol", "dave", "erin", "walt"):
        others[u].expect_none(ALL, wait=0.1)

    assert set(query_friends(s, "alice")) == {"bob"}
    for u in ("carol", "dave", "erin", "walt"):
        assert query_friends(s, u) == {}, u
    assert set(query_friends(s, "bob")) == {"alice"}

    # the custom status follows the same rule
    ok(s, U + "setUserCustomerStatus", {"customText": "busy", "customStatus": 1}, "alice")
    others["bob"].take(CUSTOM)
    for u in ("carol", "dave", "erin", "walt"):
        others[u].expect_none(ALL, wait=0.1)


# ================================================================= subscriptions
def test_subscriptions(psrv):
    s = psrv
    befriend(s, "alice", "bob")
    ok(s, "/v1/friendship/addBlack", {"toId": "dave"}, "alice")
    d = ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["alice"], "subTime": 60000},
           "carol")
    assert d["userId"] == "carol" and d["subUserIds"] == ["alice"] and d["subTime"] == 60000, d
    assert abs(d["expireTime"] - (time.time() * 1000 + 60000)) < 10000, d
    ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["alice"], "subTime": 60000}, "bob")
    ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["alice"], "subTime": 60000}, "dave")
    ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["alice"], "subTime": DEBOUNCE_MS},
       "erin")
    # the admin may subscribe for a user
    ok(s, U + "subscribeUserOnlineStatus",
       {"userId": "walt", "subUserIds": ["alice", "nobody"], "subTime": 60000})
    devs = {u: dev(s, u, WEB) for u in ("bob", "carol", "dave", "erin", "walt")}
    time.sleep(DEBOUNCE + 0.1)                  # erin's subscription expires

    a = dev(s, "alice", IOS)
    for u in ("bob", "carol", "walt"):
        take_status(devs[u], "alice", 1)
    devs["bob"].expect_none({ONLINE})           # friend and subscriber: told once
    devs["dave"].expect_none(ALL, wait=0.1)       # alice blacklisted dave
    devs["erin"].expect_none(ALL, wait=0.1)       # expired

    ok(s, U + "setUserCustomerStatus", {"customText": "x", "customStatus": 3}, "alice")
    for u in ("bob", "carol", "walt"):
        p = devs[u].take(CUSTOM)
        assert p.data == {"userId": "alice", "customText": "x", "customStatus": 3}, p

    a.close()
    for u in ("carol", "walt"):
        take_status(devs[u], "alice", 2)
    devs["dave"].expect_none(ALL, wait=0.1)
    devs["erin"].expect_none(ALL, wait=0.1)

    # renewal with a short time replaces the long one
    ok(s, U + "subscribeUserOnlineStatus", {"subUserIds": ["alice"], "subTime": 1}, "carol")
    time.sleep(0.05)
    dev(s, "alice", IOS)
    take_status(devs["walt"], "alice", 1)
    devs["carol"].expect_none({ONLINE})


def test_subscribe_errors(psrv):
    s = psrv
    body = {"subUserIds": ["alice"]}
    fails(s, U + "subscribeUserOnlineStatus", body, "bob", 20004)
    for t in (0, -5):
        fails(s, U + "subscribeUserOnlineStatus", dict(body, subTime=t), "bob", 20004)
    fails(s, U + "subscribeUserOnlineStatus", dict(body, subTime="10"), "bob", 90001, 400)
    for ids in ([], None, ["ok", 5], [""], ["u%d" % i for i in range(101)]):
        fails(s, U + "subscribeUserOnlineStatus", {"subUserIds": ids, "subTime": 1000}, "bob",
              90001, 400)
    fails(s, U + "subscribeUserOnlineStatus", dict(body, subTime=1000, userId="carol"), "bob",
          60006, 403)


# ================================================================= custom status
def test_custom_status_push_and_persistence(server):
    s1 = server("--presence-debounce-ms=%d" % DEBOUNCE_MS)
    s1.ensure_users(USERS)
    befriend(s1, "alice", "bob")
    ok(s1, U + "subscribeUserOnlineStatus", {"subUserIds": ["alice"], "subTime": 60000}, "carol")
    a1, a2 = dev(s1, "alice", WEB), dev(s1, "alice", IOS, "ws")
    b, c, d = dev(s1, "bob", WEB), dev(s1, "carol", WEB), dev(s1, "dave", WEB)
    a1.take(SYNC)

    want = {"userId": "alice", "customText": "in a meeting \u2615", "customStatus": 2}
    got = ok(s1, U + "setUserCustomerStatus",
             {"customText": want["customText"], "customStatus": 2}, "alice")
    assert got == want, got
    for x in (a1, a2, b, c):                    # own devices, friend, subscriber
        p = x.take(CUSTOM)
        assert p.data == want, "%s: %r" % (x.name, p)
    d.expect_none(ALL)
    for x in (a1, a2):                          # (bob's 4004 is there: he came online)
        x.expect_none({SYNC, ONLINE}, wait=0.1, pred=lambda q: q.data["userId"] == "alice")

    # the admin may set it for alice; nobody else
    ok(s1, U + "setUserCustomerStatus", {"userId": "alice", "customText": "back",
                                         "customStatus": 0})
    want = {"userId": "alice", "customText": "back", "customStatus": 0}
    assert b.take(CUSTOM).data == want
    fails(s1, U + "setUserCustomerStatus", {"userId": "alice", "customText": "x"}, "bob",
          60006, 403)
    fails(s1, U + "setUserCustomerStatus", {"userId": "nobody", "customText": "x"}, "admin",
          20001)
    fails(s1, U + "setUserCustomerStatus", {"customText": "x" * 101}, "alice", 90001, 400)
    fails(s1, U + "setUserCustomerStatus", {"customStatus": "1"}, "alice", 90001, 400)
    fails(s1, U + "setUserCustomerStatus", {"customStatus": 1 << 40}, "alice", 90001, 400)
    ok(s1, U + "setUserCustomerStatus", {"customText": "x" * 100, "customStatus": -7}, "alice")
    ok(s1, U + "setUserCustomerStatus", {"customText": "kept", "customStatus": 5}, "alice")
    # a default text/status is "" / 0
    ok(s1, U + "setUserCustomerStatus", {"customStatus": 9}, "erin")

    for x in (a1, a2, b, c, d):
        x.close()
    assert s1.stop() == 0, "petreld exited with %s after SIGTERM" % s1.returncode
    s2 = server("--presence-debounce-ms=%d" % DEBOUNCE_MS, data_dir=s1.data_dir,
                app_secret=s1.secret)
    q = query_users(s2, ["alice", "erin", "bob"], as_user="bob")
    assert q["alice"] == {"session": [], "onlineStatus": 0, "customText": "kept",
                          "customStatus": 5}, q
    # erin is no friend of bob: nothing to see; the admin sees it
    assert (q["erin"]["customText"], q["erin"]["customStatus"]) == ("", 0), q
    q2 = query_users(s2, ["erin"], as_user="admin")
    assert (q2["erin"]["customText"], q2["erin"]["customStatus"]) == ("", 9), q2
    assert (q["bob"]["customText"], q["bob"]["customStatus"]) == ("", 0), q
    # subscriptions do not survive a restart
    s2.imported.update(USERS)
    c = dev(s2, "carol", WEB)
    dev(s2, "alice", WEB)
    c.expect_none({ONLINE})


# ================================================================= queries
def test_query_endpoints(psrv):
    s = psrv
    for u in ("bob", "carol", "dave"):
        befriend(s, "alice", u)
    ok(s, "/v1/friendship/addBlack", {"toId": "alice"}, "dave")    # dave hides from alice
    ok(s, U + "setUserCustomerStatus", {"customText": "gym", "customStatus": 4}, "bob")
    b1 = dev(s, "bob", WEB)
    b2 = dev(s, "bob", ANDROID, "ws")
    dev(s, "dave", WEB)

    q = query_friends(s, "alice")
    assert set(q) == {"bob", "carol"}, q      # dave blacklisted alice: not a status peer
    bob = q["bob"]
    assert (bob["onlineStatus"], bob["customText"], bob["customStatus"]) == (1, "gym", 4), bob
    # friends see the devices' types, never their ids
    assert sorted(x["clientType"] for x in bob["session"]) == sorted([WEB, ANDROID]), bob
    assert all("imei" not in x for x in bob["session"]), bob
    assert all(isinstance(x["loginTime"], int) and x["loginTime"] > 0 for x in bob["session"])
    assert q["carol"] == {"session": [], "onlineStatus": 0, "customText": "",
                          "customStatus": 0}, q

    q = query_users(s, ["bob", "carol", "nobody", "dave", "alice"], as_user="alice")
    assert set(q) == {"bob", "carol", "nobody", "dave", "alice"}, q
    assert q["bob"]["onlineStatus"] == 1 and len(q["bob"]["session"]) == 2, q
    assert q["nobody"] == {"session": [], "onlineStatus": 0, "customText": "",
                           "customStatus": 0}, q
    assert q["dave"]["onlineStatus"] == 0, q      # dave blacklisted alice: looks offline
    assert q["alice"]["onlineStatus"] == 0, q
    assert query_users(s, ["dave"], as_user="admin")["dave"]["onlineStatus"] == 1
    # bob is no friend of dave and does not subscribe: nothing to see
    assert query_users(s, ["dave"], as_user="bob")["dave"]["onlineStatus"] == 0
    # the admin and the user themselves see the device ids
    adm = query_users(s, ["bob"], as_user="admin")["bob"]["session"]
    assert sorted((x["clientType"], x["imei"]) for x in adm) == \
        sorted([(WEB, b1.imei), (ANDROID, b2.imei)]), adm
    own = query_users(s, ["bob"], as_user="bob")["bob"]["session"]
    assert sorted(x["imei"] for x in own) == sorted([b1.imei, b2.imei]), own

    # the admin may read anyone's friends; others only their own
    assert set(query_friends(s, "admin", userId="alice")) == {"bob", "carol"}
    fails(s, U + "queryFriendOnlineStatus", {"userId": "alice"}, "bob", 60006, 403)
    for ids in (None, [], ["a", 1], ["u%d" % i for i in range(101)]):
        fails(s, U + "queryUserOnlineStatus", {"userIdList": ids}, "alice", 90001, 400)
