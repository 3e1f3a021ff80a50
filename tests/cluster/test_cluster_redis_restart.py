"""Cluster test 6: Redis restarts (stopped, started again on the same port,
empty: no persistence) under a running cluster.

alice (node 1), bob (node 2) and carol (node 3) chat.  Redis is stopped:
/healthz on a node says Redis is not reachable (and the store is fine),
/metrics counts Redis errors, a new LOGIN is refused (not acked, not left
hanging).  Redis is started again, empty: within a
few seconds the nodes register again and re-register their live sessions,
so a push from bob on node 2 reaches alice, who logged in before the
restart, on node 1 (bob sends every 0.25 s until one arrives; the first
arrival is timed).  Then the registry lists everyone's devices again,
/healthz is back to ok, all three nodes count 3 live nodes, messages flow
between every pair both ways and no device got any push twice."""
import collections
import time

import petrelproto as pp
from conftest import SLOW, wait_for
from test_messages import IOS, MSG_P2P, WEB, Dev, MSG_ACK, ack_mid, check_msg, mk, send_ok

T = 5.0 * SLOW
COMEBACK = 8.0 * SLOW          # "within a few seconds"


def health(node):
    """(HTTP status, /healthz data or error envelope as a dict)."""
    st, doc = node.healthz()
    assert isinstance(doc, dict), "/healthz on %r: not JSON: %r" % (node, doc)
    data = doc.get("data")
    return st, data if isinstance(data, dict) else doc


def redis_state(node):
    """(HTTP status, the "redis" field of /healthz, its "store" field)."""
    st, d = health(node)
    return st, d.get("redis"), d.get("store")


def test_redis_restart_sessions_come_back(cluster):
    c = cluster(3)
    n1, n2, n3 = c
    c.users(["alice", "bob", "carol", "dave"])
    alice = Dev(n1, "alice", IOS, imei="alice-n1")
    bob = Dev(n2, "bob", WEB, imei="bob-n2")
    carol = Dev(n3, "carol", WEB, imei="carol-n3")
    devs = {"alice": alice, "bob": bob, "carol": carol}
    m, ack = send_ok(bob, "alice")
    check_msg(alice.take(MSG_P2P, timeout=T), MSG_P2P, m, "bob", ack, bob)
    assert redis_state(n1) == (200, "ok", "ok"), \
        "/healthz before the restart: %r" % (n1.healthz(),)
    errs_before = sum(v for k, v in n1.metrics("petrel_redis_").items() if "error" in k)

    c.redis.stop()

    def down():
        st, r, store = redis_state(n1)
        return (st, r, store) if r not in (None, "ok") else None

    st_down, r_down, store_down = wait_for(down, 3 * SLOW, step=0.1,
                                           what="/healthz naming Redis down")
    health_down = n1.healthz()
    assert store_down == "ok", "/healthz while Redis is down: store %r" % (health_down,)
    # a login while Redis is down is answered (refused), not left hanging
    late = n1.tcp()
    t_login = time.monotonic()
    try:
        p = late.login("dave", n1.token("dave"), client_type=WEB, imei="dave-down",
                       timeout=10 * SLOW)
        login_down = (p.command, p.data)
    except pp.ConnectionClosed as e:
        login_down = ("closed", str(e))
    except TimeoutError:
        login_down = None
    assert login_down is not None, "a LOGIN on node 1 while Redis is down had no answer " \
        "within %.0fs" % (10 * SLOW)
    assert login_down[0] != pp.LOGINACK, "LOGIN acked while Redis is down (the registry " \
        "cannot know the device): %r" % (login_down,)
    login_down_s = time.monotonic() - t_login
    late.close()
    errs_down = sum(v for k, v in n1.metrics("petrel_redis_").items() if "error" in k)
    c.redis.start()
    t_up = time.monotonic()

    # bob pushes to alice until one arrives
    sent = {}
    got = None
    deadline = t_up + COMEBACK
    while got is None and time.monotonic() < deadline:
        mm = mk("alice")
        bob.send(MSG_P2P, mm)
        sent[mm["messageId"]] = mm
        try:
            got = alice.take(MSG_P2P, timeout=0.25)
        except AssertionError:
            assert alice.c.closed is None, "node 1 closed alice's connection after the " \
                "Redis restart (%s); packets: %r" % (alice.c.closed, alice.backlog)
    assert got is not None, "no push from node 2 reached alice on node 1 within %.0fs of " \
        "Redis coming back (%d sent)" % (COMEBACK, len(sent))
    t_back = time.monotonic() - t_up
    for mid in sent:
        a = bob.take(MSG_ACK, lambda p, mid=mid: ack_mid(p) == mid, timeout=T)
        assert a.data.get("code") == 200, "send during the come-back refused: %r" % a.data
    alice.drain(1.0 * SLOW)             # what else of the come-back arrives
    pushes = [got] + [p for p in alice.backlog if p.command == MSG_P2P]
    alice.backlog = [p for p in alice.backlog if p.command != MSG_P2P]
    twice = [k for k, n in collections.Counter(p.data["messageKey"] for p in pushes).items()
             if n > 1]
    assert not twice, "alice got pushes twice after the restart: %r" % twice
    assert all(p.data["messageId"] in sent for p in pushes), pushes

    for u, d in devs.items():
        wait_for(lambda u=u: c.sessions(n2, u) == [(d.ct, d.imei)], 3 * SLOW, step=0.1,
                 what="%s's device back in the registry" % u)
    wait_for(lambda: redis_state(n1) == (200, "ok", "ok"), 3 * SLOW, step=0.1,
             what="/healthz ok after the restart")
    for n in c:
        wait_for(lambda n=n: n.metric("petrel_cluster_nodes_alive") == 3, 3 * SLOW, step=0.1,
                 what="3 nodes alive on %r" % n)

    for frm in devs.values():
        for to, rx in devs.items():
            if to == frm.user:
                continue
            m, ack = send_ok(frm, to)
            check_msg(rx.take(MSG_P2P, timeout=T), MSG_P2P, m, frm.user, ack, frm)
    for d in devs.values():
        d.expect_none({MSG_P2P})
    assert alice.c.ping().command == pp.PING
    print("\nredis restart: /healthz while down %r (HTTP %d): %r; redis errors %g -> %g; "
          "a LOGIN while down got %r after %.2f s; first push after %.2f s (%d sends)"
          % (r_down, st_down, health_down, errs_before, errs_down, login_down, login_down_s,
             t_back, len(sent)))
