"""Cluster test 1: three nodes, users spread over them; everything a single
node pushes arrives the same way when the devices are on other nodes.

  alice: web on node 1, ios on node 3     bob: web (WebSocket) on node 2,
  carol: node 3 (WebSocket)                     mac on node 3
  dave: node 1 (alice's node)

One-to-one: alice (node 1) -> bob: bob's two devices (nodes 2 and 3) get
1103, alice's ios (node 3) the 1108 sync copy, the sending device and the
others nothing.  bob (node 2) -> alice: alice's two devices get 1103, bob's
mac the 1108.  Receive ack 1107, read receipts (1053 to the reader's other
device, 1054 to the sender's devices) and recall (1051 to the recaller,
1055 to its other devices, 1052 to the peer's) across nodes.  Groups:
the 2002 creation push and 2104 group messages from nodes 1 and 2 reach
every member device on every node (2105 to the sender's other device),
exactly once.  A device on the sender's own node (dave) works as before.
The bus counters moved on every node; /metrics has the bus, Redis and
cluster lines, /healthz says redis ok; discovery (/v1/user/login) answers
a live node's address, the same from every node for one user (hash)."""
import json
import time

import petrelproto as pp
from conftest import SLOW
from test_groups import CREATED_GROUP, MSG_GROUP, MSG_GROUP_SYNC, create, gsend
from test_messages import (MAC, MSG_P2P, MSG_P2P_SYNC, MSG_READED, MSG_READED_NOTIFY,
                           MSG_READED_RECEIPT, MSG_RECALL_NOTIFY, MSG_RECALL_SYNC,
                           MSG_RECEIVE_ACK, PUSHES, WEB, IOS, Dev, check_msg, recall,
                           recall_ok_data, send_ok)

T = 5.0 * SLOW        # a cross-node push must arrive within this


def test_chat_across_three_nodes(cluster):
    c = cluster(3)
    n1, n2, n3 = c
    c.users(["alice", "bob", "carol", "dave"])
    a1 = Dev(n1, "alice", WEB, imei="alice-n1")
    a3 = Dev(n3, "alice", IOS, imei="alice-n3")
    b2 = Dev(n2, "bob", WEB, "ws", imei="bob-n2")
    b3 = Dev(n3, "bob", MAC, imei="bob-n3")
    c3 = Dev(n3, "carol", WEB, "ws", imei="carol-n3")
    d1 = Dev(n1, "dave", WEB, imei="dave-n1")
    everyone = [a1, a3, b2, b3, c3, d1]

    # ---- one-to-one, node 1 -> nodes 2 and 3 (and the sender's other node)
    m, ack = send_ok(a1, "bob")
    t0 = time.monotonic()
    for b in (b2, b3):
        check_msg(b.take(MSG_P2P, timeout=T), MSG_P2P, m, "alice", ack, a1)
    check_msg(a3.take(MSG_P2P_SYNC, timeout=T), MSG_P2P_SYNC, m, "alice", ack, a1)
    took = time.monotonic() - t0
    # ---- the other way: node 2 -> nodes 1 and 3
    m2, ack2 = send_ok(b2, "alice")
    for a in (a1, a3):
        check_msg(a.take(MSG_P2P, timeout=T), MSG_P2P, m2, "bob", ack2, b2)
    check_msg(b3.take(MSG_P2P_SYNC, timeout=T), MSG_P2P_SYNC, m2, "bob", ack2, b2)
    # ---- a local one on node 1 (dave), and a node 3 -> node 1 one (carol)
    m3, ack3 = send_ok(d1, "alice")
    m4, ack4 = send_ok(c3, "dave")
    for a in (a1, a3):
        check_msg(a.take(MSG_P2P, timeout=T), MSG_P2P, m3, "dave", ack3, d1)
    check_msg(d1.take(MSG_P2P, timeout=T), MSG_P2P, m4, "carol", ack4, c3)
    # exactly one copy each, nothing to the senders or to outsiders
    for d in everyone:
        d.expect_none(PUSHES)

    # ---- receive ack 1107: bob (node 3) -> alice's devices on nodes 1 and 3
    b3.send(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": ack["messageKey"],
                              "messageSequence": ack["messageSequence"]})
    for a in (a1, a3):
        p = a.take(MSG_RECEIVE_ACK, lambda p: p.data.get("messageKey") == ack["messageKey"],
                   timeout=T)
        assert p.data.get("fromId") == "bob" and not p.data.get("serverSend"), p.data

    # ---- read receipts: alice (node 3) sends again, bob reads it on node 2
    # (bob's own message made him read up to it: the read must be newer)
    m5, ack5 = send_ok(a3, "bob")
    for d, cmd in ((b2, MSG_P2P), (b3, MSG_P2P), (a1, MSG_P2P_SYNC)):
        check_msg(d.take(cmd, timeout=T), cmd, m5, "alice", ack5, a3)
    b2.send(MSG_READED, {"toId": "alice", "conversationType": 0,
                         "messageSequence": ack5["messageSequence"]})
    want = {"messageSequence": ack5["messageSequence"], "fromId": "bob", "toId": "alice",
            "conversationType": 0}
    p = b3.take(MSG_READED_NOTIFY, timeout=T)
    assert {k: p.data.get(k) for k in want} == want, "1053 to bob's node 3 device: %r" % p.data
    for a in (a1, a3):
        p = a.take(MSG_READED_RECEIPT, timeout=T)
        assert {k: p.data.get(k) for k in want} == want, "1054 to %s: %r" % (a.name, p.data)

    # ---- recall: alice recalls on node 1 what she sent to bob
    p = recall(a1, ack["messageKey"])
    assert p.data["code"] == 200, "recall: %r" % p.data
    recall_ok_data(a3.take(MSG_RECALL_SYNC, timeout=T), m, ack)
    for b in (b2, b3):
        recall_ok_data(b.take(MSG_RECALL_NOTIFY, timeout=T), m, ack)
    for d in everyone:
        d.expect_none({MSG_RECALL_NOTIFY, MSG_RECALL_SYNC}, wait=0.1)

    # ---- groups: alice owns one with bob, carol and dave
    gid = create(n2, "alice", ["bob", "carol", "dave"])
    for d in everyone:
        p = d.take(CREATED_GROUP, timeout=T)
        assert p.data["groupId"] == gid, p.data
    gm, gack = gsend(a1, gid)                     # from node 1
    for d in (b2, b3, c3, d1):
        p = d.take(MSG_GROUP, timeout=T)
        assert (p.data["groupId"], p.data["messageKey"], p.data["fromId"]) == \
            (gid, gack["messageKey"], "alice"), p.data
        assert p.data["messageBody"] == gm["messageBody"]
    p = a3.take(MSG_GROUP_SYNC, timeout=T)
    assert p.data["messageKey"] == gack["messageKey"], p.data
    gm2, gack2 = gsend(b2, gid)                   # from node 2
    for d in (a1, a3, c3, d1):
        p = d.take(MSG_GROUP, timeout=T)
        assert p.data["messageKey"] == gack2["messageKey"], p.data
    assert b3.take(MSG_GROUP_SYNC, timeout=T).data["messageKey"] == gack2["messageKey"]
    assert gack2["messageSequence"] == gack["messageSequence"] + 1
    for d in everyone:
        d.expect_none({MSG_GROUP, MSG_GROUP_SYNC})
    for d in everyone:
        assert d.c.ping().command == pp.PING, d
    # the pushes went over the bus, and the /metrics say so
    bus = {n.node_id: n.metrics("petrel_bus_messages_total") for n in c}
    for n in c:
        assert bus[n.node_id].get('petrel_bus_messages_total{direction="out"}', 0) > 0 and \
            bus[n.node_id].get('petrel_bus_messages_total{direction="in"}', 0) > 0, bus
    for n in c:
        got = n.metrics()
        for name in ("petrel_bus_bytes_total", "petrel_bus_latency_seconds_count",
                     "petrel_redis_round_trips_total", "petrel_redis_errors_total",
                     "petrel_redis_up", "petrel_cluster_nodes_alive"):
            assert any(k == name or k.startswith(name + "{") for k in got), \
                "%r: no %s in /metrics" % (n, name)
        assert got["petrel_cluster_nodes_alive"] == 3 and got["petrel_redis_up"] == 1, \
            {k: v for k, v in got.items() if "cluster" in k or "redis" in k}
        st, h = n.healthz()
        assert st == 200 and h["data"].get("redis") == "ok" and h["data"].get("store") == "ok", h

    # discovery: every node answers a live node, the same one for a user
    # (route_strategy hash), and the users spread over the three
    ids = ["u%02d" % i for i in range(20)]
    c.users(ids)
    tcp = {n.tcp_port: n.node_id for n in c}
    ws = {n.http_port: n.node_id for n in c}
    chosen = set()
    for u in ids:
        for ct, ports in ((IOS, tcp), (WEB, ws)):
            ans = [c.discover(n, u, ct) for n in c]
            assert all(a["ip"] == "127.0.0.1" and a["port"] in ports for a in ans), \
                "discovery for %s ct=%d: %r, nodes %r" % (u, ct, ans, ports)
            assert len({a["port"] for a in ans}) == 1, \
                "the nodes send %s (ct=%d) to different nodes: %r" % (u, ct, ans)
            chosen.add(ports[ans[0]["port"]])
    assert len(chosen) > 1, "discovery sends all 20 users to node %r" % chosen
    print("\ncross-node 1103 + 1108 in %.0f ms; bus messages: %s" % (took * 1000, json.dumps(bus)))
