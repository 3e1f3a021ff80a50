"""Cluster test 4: the sessions of a node killed with SIGKILL vanish within
node_timeout_ms (+ heartbeats), and its users' friends on other nodes are
told they went offline.

alice (two devices) and erin are on node 3; alice's friends bob (node 1)
and carol (node 2) saw her come online (4004 status 1).  Node 3 is killed:
  - bob and carol each get exactly one 4004 status 2 (offline) for alice, within
    the limit; erin (no friends) is no one's business; dave, bob's friend
    with devices on nodes 3 and 2, is not offline (bob is told nothing)
    and keeps his node 2 device in the registry;
  - queryUserOnlineStatus on nodes 1 and 2 lists no device of alice's;
  - a message to alice is acked, and reaches no device: node 1 publishes
    nothing on the bus for it, and bob gets the server's 1107 (serverSend:
    no device of alice's online), as on one node;
  - petrel_cluster_nodes_alive says 2 on the survivors, and discovery
    (/v1/user/login) never answers node 3's address;
  - alice logs in again on node 1: bob and carol see her online again and
    her messages flow."""
import time

import petrelproto as pp
from conftest import HEARTBEAT_MS, PRESENCE_DEBOUNCE_MS, SLOW, TIMEOUT_MS, wait_for
from test_messages import (IOS, MSG_P2P, MSG_P2P_SYNC, MSG_RECEIVE_ACK, WEB, Dev, check_msg,
                           send_ok)

ONLINE = pp.USER_ONLINE_STATUS
T = 5.0 * SLOW
# the reaper sees a node silent for TIMEOUT_MS at its next heartbeat; the
# node's last heartbeat was up to one interval before the kill; then the
# offline announcement (debounced or not); plus scheduling slack on a
# loaded 2-core machine
LIMIT = (TIMEOUT_MS + 2 * HEARTBEAT_MS + PRESENCE_DEBOUNCE_MS) / 1000.0 + 1.5 * SLOW
# the registry: node_timeout_ms + one heartbeat (+ one for the kill's
# place in the beat, and slack)
REG_LIMIT = (TIMEOUT_MS + 2 * HEARTBEAT_MS) / 1000.0 + 0.8 * SLOW


def pdev(node, user, ct=WEB, imei=None):
    d = Dev(node, user, ct, imei=imei)
    d.c.ignore = frozenset()           # this test looks at 4004
    return d


def status(user, st):
    return lambda p: p.data.get("userId") == user and p.data.get("status") == st


def test_dead_node_sessions_vanish_and_friends_see_offline(cluster):
    c = cluster(3)
    n1, n2, n3 = c
    c.users(["alice", "bob", "carol", "dave", "erin"])
    for u, f in (("alice", "bob"), ("alice", "carol"), ("dave", "bob")):
        d = c.api_ok(n1, "/v1/friendship/addFriend", {"toItem": {"toId": f}}, as_user=u)
        assert d["added"] is True, d
    bob = pdev(n1, "bob", imei="bob-n1")
    carol = pdev(n2, "carol", imei="carol-n2")
    a_web = pdev(n3, "alice", WEB, imei="alice-web-n3")
    pdev(n3, "alice", IOS, imei="alice-ios-n3")
    pdev(n3, "erin", imei="erin-n3")
    pdev(n3, "dave", IOS, imei="dave-n3")
    dave = Dev(n2, "dave", WEB, imei="dave-n2")       # dave keeps a device
    for f in (bob, carol):
        f.take(ONLINE, status("alice", 1), timeout=T, what="alice online")
    bob.take(ONLINE, status("dave", 1), timeout=T, what="dave online")
    assert len(c.sessions(n1, "alice")) == 2
    nodes_alive = wait_for(lambda: n1.metric("petrel_cluster_nodes_alive") == 3, 5 * SLOW,
                           what="petrel_cluster_nodes_alive 3 on node 1")
    assert nodes_alive
    m0, ack0 = send_ok(bob, "alice")                  # reaches node 3 while alive
    check_msg(a_web.take(MSG_P2P, timeout=T), MSG_P2P, m0, "bob", ack0, bob)

    c.kill(n3)
    t_kill = time.monotonic()
    seen = {}
    for f in (bob, carol):
        left = LIMIT - (time.monotonic() - t_kill)
        f.take(ONLINE, status("alice", 2), timeout=max(left, 0.01),
               what="alice offline after node 3 died")
        seen[f.user] = time.monotonic() - t_kill
    gone = wait_for(lambda: not c.sessions(n1, "alice") and not c.sessions(n2, "alice")
                    and not c.sessions(n1, "erin"),
                    max(0.05, REG_LIMIT - (time.monotonic() - t_kill)), step=0.05,
                    what="no device of alice's or erin's listed %.1fs after the kill" % REG_LIMIT)
    assert gone
    t_gone = time.monotonic() - t_kill
    for f in (bob, carol):
        f.expect_none({ONLINE}, wait=0.3)     # exactly one offline notice, none for dave
    assert c.sessions(n1, "dave") == [(WEB, dave.imei)], "dave's device on node 2"
    assert dave.c.ping().command == pp.PING

    # a message to alice reaches nobody: node 1 publishes nothing on the
    # bus for it (no device of alice's is anywhere: none at node 3)
    OUT = 'petrel_bus_messages_total{direction="out"}'
    out0 = n1.metrics("petrel_bus_messages_total").get(OUT)
    m, ack = send_ok(bob, "alice")
    for d in (bob, carol):
        d.expect_none({MSG_P2P, MSG_P2P_SYNC}, wait=0.2)
    out1 = n1.metrics("petrel_bus_messages_total").get(OUT)
    assert out1 == out0, "node 1 published %s bus messages for a message to alice, who has " \
        "no device left (node 3 is dead)" % (out1 - out0)
    # and bob is told so, as on one node: the server's 1107 (serverSend)
    p = bob.take(MSG_RECEIVE_ACK, lambda p: p.data.get("messageKey") == ack["messageKey"],
                 timeout=T, what="the server's 1107: alice has no device online")
    assert p.data.get("serverSend") is True, "1107 not from the server: %r" % p.data

    for n in (n1, n2):
        wait_for(lambda: n.metric("petrel_cluster_nodes_alive") == 2, 2 * SLOW,
                 what="petrel_cluster_nodes_alive 2 on %r" % n)
    dead = n3.tcp_port
    for i in range(20):
        d = c.discover((n1, n2)[i % 2], ("alice", "bob", "carol", "erin")[i % 4])
        assert d["port"] in (n1.tcp_port, n2.tcp_port) and d["port"] != dead, \
            "discovery answered %r (node 3 was %d; alive %d, %d)" % (
                d, dead, n1.tcp_port, n2.tcp_port)

    # alice comes back on node 1
    a = pdev(n1, "alice", IOS, imei="alice-ios-n1")
    for f in (bob, carol):
        f.take(ONLINE, status("alice", 1), timeout=T, what="alice online again")
    assert c.sessions(n2, "alice") == [(IOS, a.imei)]
    m2, ack2 = send_ok(carol, "alice")
    check_msg(a.take(MSG_P2P, timeout=T), MSG_P2P, m2, "carol", ack2, carol)
    print("\ndead node: offline 4004 after %s s (limit %.2f s), registry empty after %.2f s "
          "(limit %.2f s)" % ({u: round(t, 2) for u, t in seen.items()}, LIMIT, t_gone,
                              REG_LIMIT))
