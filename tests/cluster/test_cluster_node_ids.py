"""Node ids (part of every message key) are unique among live nodes.

  - a node started with the node id of a live node refuses to start (non-
    zero exit, a log line naming the id), and the live node is untouched;
  - after kill -9 of node 2, a new node 2 (same --node-id, as a supervisor
    restarts it) starts - waiting out the dead incarnation if need be - and
    is a full member: a user logs in on it and chats with node 1."""
import re
import time

import pytest

import petrelproto as pp
from conftest import SLOW, TIMEOUT_MS, wait_for
from test_messages import IOS, MSG_P2P, WEB, Dev, check_msg, send_ok

T = 5.0 * SLOW


def test_duplicate_node_id_refused_and_restart_after_kill(cluster):
    c = cluster(2)
    n1, n2 = c
    c.users(["alice", "bob"])
    bob = Dev(n2, "bob", WEB, imei="bob-n2")

    dup = c.add(2, start=False)
    c.nodes.remove(dup)
    with pytest.raises(pytest.fail.Exception):
        dup.start(attempts=1)
    assert dup.proc.returncode not in (None, 0), "a second live node 2 started"
    assert re.search(r"node_id\W+2\b", dup.stderr_text()), \
        "the refusal does not name node_id 2:\n" + dup.stderr_tail()
    dup.stopped_by_test = True
    assert bob.c.ping().command == pp.PING, "the live node 2 was disturbed"
    assert wait_for(lambda: n1.metric("petrel_cluster_nodes_alive") == 2, 3 * SLOW)

    c.kill(n2)
    c.nodes.remove(n2)
    t0 = time.monotonic()
    n2b = c.add(2)                      # starts (Server.start waits for its ports)
    took = time.monotonic() - t0
    assert took < (TIMEOUT_MS / 1000.0) * 2 + 5 * SLOW, took
    alice = Dev(n1, "alice", IOS, imei="alice-n1")
    bob = Dev(n2b, "bob", WEB, imei="bob-n2b")
    m, ack = send_ok(bob, "alice")
    check_msg(alice.take(MSG_P2P, timeout=T), MSG_P2P, m, "bob", ack, bob)
    m, ack = send_ok(alice, "bob")
    check_msg(bob.take(MSG_P2P, timeout=T), MSG_P2P, m, "alice", ack, alice)
    wait_for(lambda: n1.metric("petrel_cluster_nodes_alive") == 2, 3 * SLOW, step=0.1,
             what="2 nodes alive after the restart")
    print("\nnode 2 restarted after kill -9 in %.2f s; duplicate refused with: %s"
          % (took, [ln for ln in dup.stderr_tail().splitlines() if "level=error" in ln][:1]))
