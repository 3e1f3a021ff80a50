"""PostgreSQL going away under a running petreld (issue 16).

The database server of the test's own is stopped the hard way (immediate
shutdown: what a crash or a lost network looks like to petreld) while
devices are logged in.  Meanwhile a send is answered with a refusal that
says what happened, never with an ack, and nobody receives it; /healthz
answers 503 and names the store; the sockets keep working (pings, the
devices stay logged in).  Once the server is back, petreld reconnects by
itself (no restart): /healthz is 200 again, sends are acked and delivered,
the conversation's sequences go on without a hole, and everything acked
before the outage is still there, once."""
import json
import time

import pytest

import petrelproto as pp
from conftest import SLOW
from test_messages import MSG_P2P, WEB, IOS, Dev, check_msg, mk, msg_range, send_ok

pytestmark = pytest.mark.postgres_only

T = 10 * SLOW
E_SYSTEM = 90000


def healthz(srv):
    st, _, data = pp.http_get(srv.http_port, "/healthz", timeout=T)
    return st, json.loads(data)


def wait_healthy(srv, limit):
    """Poll /healthz until 200; the seconds it took."""
    t0 = time.monotonic()
    while True:
        st, doc = healthz(srv)
        if st == 200:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < limit, "/healthz still %d after %.0fs: %r" % (st, limit, doc)
        time.sleep(0.2)


def test_postgres_down_then_back(private_pg, server):
    s = server("--store=" + private_pg.database("petrel"))
    s.ensure_users(["alice", "bob"])
    alice = Dev(s, "alice", WEB)
    bob = Dev(s, "bob", IOS)
    acked = []
    for _ in range(5):
        m, ack = send_ok(alice, "bob")
        check_msg(bob.take(MSG_P2P), MSG_P2P, m, "alice", ack)
        acked.append((m["messageId"], ack["messageSequence"]))
    assert [q for _, q in acked] == [1, 2, 3, 4, 5]
    st, doc = healthz(s)
    assert st == 200 and doc["data"]["store"] == "ok", doc

    private_pg.stop()

    # every send is refused with a clear answer, none is acked or delivered
    for _ in range(3):
        m = mk("bob")
        alice.send(MSG_P2P, m)
        p = alice.take_ack(m["messageId"], timeout=T)
        assert p.data.get("code") == E_SYSTEM, "send while PostgreSQL is down: %r" % (p,)
        assert "storage" in p.data.get("msg", ""), p
    bob.expect_none({MSG_P2P})
    # /healthz says the store is the problem
    st, doc = healthz(s)
    assert st == 503 and doc["data"]["store"] == "unreachable", (st, doc)
    assert "unreachable" in doc["msg"] and doc["data"]["writeFailures"] >= 3, doc
    # REST writes are refused too (not 200), and the sockets live on
    st, doc = s.api("/v1/user/importUser", {"userData": [{"userId": "newbie"}]})
    assert st >= 500 and doc["code"] != 200, (st, doc)
    for d in (alice, bob):
        assert d.c.ping().command == pp.PING

    private_pg.start()

    # back by itself: the writer reconnects on the next writes (back-off:
    # at most 5 s between attempts), no health check needed
    t0 = time.monotonic()
    refused = 0
    while True:
        m = mk("bob")
        alice.send(MSG_P2P, m)
        p = alice.take_ack(m["messageId"], timeout=T)
        if p.data.get("code") == 200:
            break
        assert p.data.get("code") == E_SYSTEM, p
        refused += 1
        assert time.monotonic() - t0 < 30 * SLOW, "sends still refused after PostgreSQL came back"
        time.sleep(0.2)
    took = time.monotonic() - t0
    ack = p.data["data"]
    assert ack["messageSequence"] == 6, "the refused sends left a hole or a duplicate: %r" % ack
    check_msg(bob.take(MSG_P2P), MSG_P2P, m, "alice", ack)
    acked.append((m["messageId"], 6))
    wait_healthy(s, 10 * SLOW)
    s.ensure_users(["newbie"])
    # everything acked is there once, nothing else
    for owner, peer in (("alice", "bob"), ("bob", "alice")):
        rows = msg_range(s, owner, peer, 1)
        assert [(r["messageId"], r["messageSequence"]) for r in rows] == acked, rows
    print("\nsends acked again %.1fs after PostgreSQL was back (%d refused meanwhile)"
          % (took, refused))
