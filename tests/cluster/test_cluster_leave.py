"""A node stopped cleanly (SIGTERM) leaves the cluster at once, without
waiting for node_timeout_ms: it exits 0, and right after its exit the
others count it gone (petrel_cluster_nodes_alive, discovery) and the
registry holds none of its devices; its user's friend on another node gets
the 4004 offline within the debounce (+ 1 s), not after the node timeout
(the stopping node cannot tell it: another node does)."""
import time

import petrelproto as pp
from conftest import HEARTBEAT_MS, PRESENCE_DEBOUNCE_MS, SLOW, TIMEOUT_MS, wait_for
from test_messages import IOS, WEB, Dev

ONLINE = pp.USER_ONLINE_STATUS
T = 5.0 * SLOW
# well under TIMEOUT_MS (1.5 s): a leave is not a reap
GONE = 2 * HEARTBEAT_MS / 1000.0 + 0.4 * SLOW


def test_sigterm_leaves_at_once(cluster):
    assert GONE < TIMEOUT_MS / 1000.0 or SLOW > 1
    c = cluster(3)
    n1, n2, n3 = c
    c.users(["alice", "bob"])
    c.api_ok(n1, "/v1/friendship/addFriend", {"toItem": {"toId": "bob"}}, as_user="alice")
    bob = Dev(n1, "bob", WEB, imei="bob-n1")
    bob.c.ignore = frozenset()
    Dev(n3, "alice", IOS, imei="alice-n3")
    bob.take(ONLINE, lambda p: p.data.get("userId") == "alice" and p.data.get("status") == 1,
             timeout=T, what="alice online")
    wait_for(lambda: n1.metric("petrel_cluster_nodes_alive") == 3, 3 * SLOW)

    rc = n3.stop()
    t_exit = time.monotonic()
    assert rc == 0, "node 3 exited with %r after SIGTERM" % rc
    wait_for(lambda: not c.sessions(n1, "alice"), GONE, step=0.05,
             what="alice's device (node 3) gone from the registry after node 3 left")
    wait_for(lambda: n1.metric("petrel_cluster_nodes_alive") == 2
             and n2.metric("petrel_cluster_nodes_alive") == 2, GONE, step=0.05,
             what="nodes 1 and 2 counting 2 live nodes after node 3 left")
    t_gone = time.monotonic() - t_exit
    for u in ("alice", "bob"):
        assert c.discover(n1, u)["port"] != n3.tcp_port
    bob.take(ONLINE, lambda p: p.data.get("userId") == "alice" and p.data.get("status") == 2,
             timeout=PRESENCE_DEBOUNCE_MS / 1000.0 + 1.0 * SLOW,
             what="alice offline after node 3 left")
    print("\nleave: gone from the registry and the live nodes %.2f s after exit; offline 4004 "
          "%.2f s after exit" % (t_gone, time.monotonic() - t_exit))
