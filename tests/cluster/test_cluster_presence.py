"""Online status across nodes (docs/PROTOCOL.md "Online status"), with the
people on different nodes: alice's friend bob on node 1, carol (not a
friend) subscribed to alice through node 3's REST API, alice on node 2.

  - alice's first device: bob and carol each get one 4004 status 1;
  - her second device (node 3): her first gets 4005, friends nothing;
  - her custom status set through node 1: 4003 to bob, carol and both her
    devices;
  - both devices (on nodes 2 and 3) leave together: one 4004 status 2 to
    bob and carol, after the debounce, not one per node;
test_presence_flap_across_nodes:
  - a flap across nodes: alice's only device (node 2) goes and she logs in
    on node 1 within the debounce window: neither an offline nor a new
    online is sent to bob or carol (a reconnect is not an offline+online
    pair), and the query on node 3 shows her online with the new device."""
import time

import petrelproto as pp
from conftest import PRESENCE_DEBOUNCE_MS, SLOW
from test_messages import IOS, WEB, WINDOWS, Dev

CUSTOM, ONLINE, SYNC = pp.USER_CUSTOM_STATUS, pp.USER_ONLINE_STATUS, pp.USER_ONLINE_STATUS_SYNC
ALL = {CUSTOM, ONLINE, SYNC}
T = 5.0 * SLOW
DEBOUNCE = PRESENCE_DEBOUNCE_MS / 1000.0


def pdev(node, user, ct=WEB, imei=None):
    d = Dev(node, user, ct, imei=imei)
    d.c.ignore = frozenset()
    return d


def st(user, status):
    return lambda p: p.data.get("userId") == user and p.data.get("status") == status


def test_presence_across_nodes(cluster):
    c = cluster(3)
    n1, n2, n3 = c
    c.users(["alice", "bob", "carol"])
    c.api_ok(n1, "/v1/friendship/addFriend", {"toItem": {"toId": "bob"}}, as_user="alice")
    c.api_ok(n3, "/v1/user/subscribeUserOnlineStatus",
             {"subUserIds": ["alice"], "subTime": 600000}, as_user="carol")
    bob = pdev(n1, "bob", imei="bob-n1")
    carol = pdev(n3, "carol", imei="carol-n3")
    watchers = (bob, carol)
    time.sleep(DEBOUNCE + 0.2)
    for w in watchers:
        w.backlog = []

    a2 = pdev(n2, "alice", IOS, imei="alice-n2")
    for w in watchers:
        w.take(ONLINE, st("alice", 1), timeout=T, what="alice online")
    a3 = pdev(n3, "alice", WINDOWS, imei="alice-n3")
    p = a2.take(SYNC, st("alice", 1), timeout=T, what="4005 for alice's second device")
    assert p.data.get("imei") == a3.imei and p.data.get("clientCount") == 2, p.data
    for w in watchers:
        w.expect_none({ONLINE}, wait=0.3)

    c.api_ok(n1, "/v1/user/setUserCustomerStatus", {"customText": "away", "customStatus": 2},
             as_user="alice")
    for d in watchers + (a2, a3):
        p = d.take(CUSTOM, timeout=T, what="alice's custom status")
        assert p.data == {"userId": "alice", "customText": "away", "customStatus": 2}, p.data

    a2.close()
    a3.close()
    t0 = time.monotonic()
    for w in watchers:
        w.take(ONLINE, st("alice", 2), timeout=DEBOUNCE + T, what="alice offline")
    took = time.monotonic() - t0
    for w in watchers:
        w.expect_none({ONLINE}, wait=0.3)
    assert took >= DEBOUNCE * 0.8, "offline told after %.2fs, before the debounce" % took



def test_presence_flap_across_nodes(cluster):
    c = cluster(3)
    n1, n2, n3 = c
    c.users(["alice", "bob", "carol"])
    c.api_ok(n1, "/v1/friendship/addFriend", {"toItem": {"toId": "bob"}}, as_user="alice")
    c.api_ok(n3, "/v1/user/subscribeUserOnlineStatus",
             {"subUserIds": ["alice"], "subTime": 600000}, as_user="carol")
    bob = pdev(n1, "bob", imei="bob-n1")
    carol = pdev(n3, "carol", imei="carol-n3")
    watchers = (bob, carol)
    # a flap across nodes: gone from node 2, back on node 1 within the window
    a2 = pdev(n2, "alice", IOS, imei="alice-n2")
    for w in watchers:
        w.take(ONLINE, st("alice", 1), timeout=T, what="alice online")
    time.sleep(0.2)
    for w in watchers:
        w.backlog = []
    a2.close()
    time.sleep(DEBOUNCE / 3)
    a1 = pdev(n1, "alice", IOS, imei="alice-n1")
    time.sleep(DEBOUNCE + 0.5 * SLOW)
    for w in watchers:
        w.drain(0.3)
        told = [(p.command, p.data.get("status")) for p in w.backlog
                if p.command == ONLINE and p.data.get("userId") == "alice"]
        assert not told, "%s was told %r for alice's reconnect from node 2 to node 1 within " \
            "the debounce window (nothing is due)" % (w.name, told)
    d = c.api_ok(n3, "/v1/user/queryUserOnlineStatus", {"userIdList": ["alice"]})
    assert d["alice"]["onlineStatus"] == 1 and \
        [(x["clientType"], x["imei"]) for x in d["alice"]["session"]] == [(IOS, a1.imei)], d
