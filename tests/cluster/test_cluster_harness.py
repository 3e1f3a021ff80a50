"""The harness itself: a PostgreSQL database, a Redis and three petreld on
them, single-node behaviour only (what works without the bus).  Users
imported through node 1 log in on node 3 (one database); a message between
two devices on node 3 is acked, pushed and stored, and node 2 serves it
over REST; Redis answers and comes back empty after
a restart on the same port.  Runs with cluster mode (--redis ...) when the
build has it, else on the database alone, so that the harness can be
checked before the cluster code lands."""
import petrelproto as pp
from conftest import cluster_missing
from test_messages import IOS, MSG_P2P, WEB, Dev, check_ack, check_msg, mk, msg_range


def test_harness_three_nodes_one_database(cluster):
    c = cluster(3, redis=not cluster_missing())
    n1, n2, n3 = c
    assert [n.node_id for n in c] == [1, 2, 3]
    c.users(["alice", "bob"], via=n1)
    a = Dev(n3, "alice", WEB)
    b = Dev(n3, "bob", IOS)
    m = mk("bob")
    a.send(MSG_P2P, m)
    ack = check_ack(a.take_ack(m["messageId"]), m["messageId"], "bob")
    check_msg(b.take(MSG_P2P), MSG_P2P, m, "alice", ack, a)
    rows = msg_range(n2, "bob", "alice", 1)
    assert [(r["messageId"], r["messageKey"]) for r in rows] == \
        [(m["messageId"], ack["messageKey"])], rows
    assert c.query("SELECT count(*) FROM im_message_body") == [("1",)]
    for n in c:
        st, doc = n.healthz()
        assert st == 200, (n, st, doc)
    assert c.redis.cli("ping") == ["PONG"]
    c.redis.cli("set", "pt:harness", "1")
    c.redis.restart()
    assert c.redis.cli("ping") == ["PONG"]
    assert c.redis.cli("exists", "pt:harness") == ["0"], "Redis kept data over a restart"
    assert a.c.ping().command == pp.PING
