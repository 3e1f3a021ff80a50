"""Cluster test 5: a node SIGSTOPped past node_timeout_ms, then SIGCONTed.

alice and carol are on node 2, bob on node 1.  Node 2 is stopped; the
others reap it (petrel_cluster_nodes_alive 2 on node 1, alice has no
device in the registry) within the limit; a message bob sends meanwhile is
acked.  Node 2 is continued: it must find it was reaped and close its
client connections within about one heartbeat (its TCP sockets stayed
open all along).  alice reconnects to node 2 itself, carol to node 3, at
once, as clients do: both logins are acked, both are in the registry, node
2 counts as alive again, and messages flow both ways between all three
nodes; alice finds bob's message from the pause in her sync."""
import time

import petrelproto as pp
from conftest import HEARTBEAT_MS, SLOW, TIMEOUT_MS, wait_for
from test_messages import IOS, MSG_P2P, WEB, Dev, check_msg, send_ok, sync_all

T = 5.0 * SLOW
REAP_LIMIT = (TIMEOUT_MS + 2 * HEARTBEAT_MS) / 1000.0 + 0.8 * SLOW
# after SIGCONT: the node's next heartbeat (at once: it is overdue) finds
# the tombstone; one interval plus slack
CLOSE_LIMIT = HEARTBEAT_MS / 1000.0 + 1.0 * SLOW


def test_paused_node_drops_its_clients_after_it_returns(cluster):
    c = cluster(3)
    n1, n2, n3 = c
    c.users(["alice", "bob", "carol"])
    bob = Dev(n1, "bob", WEB, imei="bob-n1")
    alice = Dev(n2, "alice", IOS, imei="alice-n2")
    carol = Dev(n2, "carol", WEB, imei="carol-n2")
    m, ack = send_ok(bob, "alice")
    check_msg(alice.take(MSG_P2P, timeout=T), MSG_P2P, m, "bob", ack, bob)
    wait_for(lambda: n1.metric("petrel_cluster_nodes_alive") == 3, 5 * SLOW,
             what="3 nodes alive")

    n2.pause()
    t_stop = time.monotonic()
    wait_for(lambda: n1.metric("petrel_cluster_nodes_alive") == 2, REAP_LIMIT, step=0.1,
             what="node 2 reaped (petrel_cluster_nodes_alive 2 on node 1)")
    wait_for(lambda: not c.sessions(n1, "alice") and not c.sessions(n3, "carol"), 1.0 * SLOW,
             step=0.1, what="node 2's devices gone from the registry")
    t_reaped = time.monotonic() - t_stop
    mp, ackp = send_ok(bob, "alice")          # alice is nowhere: stored only
    time.sleep(max(0.0, TIMEOUT_MS / 1000.0 - t_reaped) + 0.2)   # well past the limit

    n2.resume()
    t_cont = time.monotonic()
    closed_after = {}
    for d in (alice, carol):
        left = CLOSE_LIMIT - (time.monotonic() - t_cont)
        try:
            pkts, how = d.c.expect_closed(timeout=max(left, 0.01))
        except AssertionError as e:
            raise AssertionError("%s: node 2 kept its connection %.1fs after SIGCONT: %s"
                                 % (d.name, CLOSE_LIMIT, e))
        closed_after[d.user] = (round(time.monotonic() - t_cont, 2), how.how,
                                [p.command for p in pkts])
        d.close()

    alice = Dev(n2, "alice", IOS, imei="alice-n2")      # back to the same node
    carol = Dev(n3, "carol", WEB, imei="carol-n3")      # or to another one
    assert c.sessions(n1, "alice") == [(IOS, alice.imei)]
    assert c.sessions(n1, "carol") == [(WEB, carol.imei)]
    wait_for(lambda: n1.metric("petrel_cluster_nodes_alive") == 3, 5 * SLOW, step=0.1,
             what="node 2 alive again (petrel_cluster_nodes_alive 3 on node 1)")
    for frm, to, rx in ((bob, "alice", [alice]), (alice, "bob", [bob]),
                        (carol, "alice", [alice]), (alice, "carol", [carol]),
                        (bob, "carol", [carol])):
        m, ack = send_ok(frm, to)
        for r in rx:
            check_msg(r.take(MSG_P2P, timeout=T), MSG_P2P, m, frm.user, ack, frm)
    assert ackp["messageKey"] in [r["messageKey"] for r in sync_all(n2, "alice")]
    assert alice.c.ping().command == pp.PING
    print("\npause: reaped after %.2f s; closed after SIGCONT: %r" % (t_reaped, closed_after))
