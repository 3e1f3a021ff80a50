"""Cluster test 7: a reconnect storm.  5,000 clients (one user each) are
logged in on node 3, which is then killed with SIGKILL; every client sees
its connection end and reconnects at once (with up to 0.5 s of jitter, as
clients do) to node 1 or 2; a third of them as another phone (a new imei:
the policy replaces their device on the dead node), the others as the
same device.  Every LOGIN must be acked (9001): no error
packet, no connection closed by a node, no refused connection; all within
STORM_LIMIT seconds of the kill.  Then, once node 3 is reaped: the nodes'
/healthz count all 5,000 devices, a sample of users each has exactly their
new device in the registry (the reaper removed node 3's entries, not the
new ones), and a message from a storm client on node 2 reaches one on
node 1.

The clients are asyncio streams in this one process (no threads)."""
import asyncio
import json
import random
import struct
import time

import petrelproto as pp
from conftest import HEARTBEAT_MS, SLOW, TIMEOUT_MS, wait_for

CLIENTS = 5000
CONCURRENCY = 1000           # logins in flight at the start
STORM_LIMIT = 20.0 * SLOW    # kill -> last LOGINACK
JITTER = 0.5
SAMPLE = 100
CT = pp.CT_IOS


def user(i):
    return "st%05d" % i


class Conn:
    def __init__(self, i):
        self.i = i
        self.r = self.w = None
        self.node = None
        self.imei = "storm-%05d" % i


async def read_packet(r, timeout):
    hdr = await asyncio.wait_for(r.readexactly(8), timeout)
    cmd, ln = struct.unpack(">ii", hdr)
    body = await asyncio.wait_for(r.readexactly(ln), timeout) if ln else b""
    return cmd, body


async def login(conn, node, token, errors, retries):
    """Connect to node and LOGIN; records what went wrong in errors."""
    frame = pp.encode_up(pp.LOGIN, {"userId": user(conn.i), "userSign": token},
                         client_type=CT, imei=conn.imei)
    for attempt in range(5):
        try:
            conn.r, conn.w = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", node.tcp_port), 10 * SLOW)
            break
        except (OSError, asyncio.TimeoutError) as e:
            retries.append((conn.i, node.node_id, repr(e)))
            await asyncio.sleep(0.2 * (attempt + 1))
    else:
        errors.append((conn.i, node.node_id, "cannot connect"))
        return False
    conn.node = node
    conn.w.write(frame)
    try:
        while True:
            cmd, body = await read_packet(conn.r, 15 * SLOW)
            if cmd == pp.LOGINACK:
                return True
            if cmd in pp.PRESENCE_PUSHES or cmd == pp.PING:
                continue
            errors.append((conn.i, node.node_id, "got %d %r" % (cmd, body[:200])))
            return False
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        errors.append((conn.i, node.node_id, "closed before the LOGINACK: %r" % e))
    except asyncio.TimeoutError:
        errors.append((conn.i, node.node_id, "no LOGINACK within %.0fs" % (15 * SLOW)))
    return False


async def wait_eof(conn, timeout):
    try:
        while True:
            await read_packet(conn.r, timeout)
    except (asyncio.IncompleteReadError, ConnectionError):
        return True
    except asyncio.TimeoutError:
        return False


def close(conn):
    if conn.w is not None:
        conn.w.transport.abort()
        conn.w = conn.r = None


async def storm(c, tokens):
    n1, n2, n3 = c
    conns = [Conn(i) for i in range(CLIENTS)]
    errors, retries = [], []
    sem = asyncio.Semaphore(CONCURRENCY)

    async def first(conn):
        async with sem:
            return await login(conn, n3, tokens[conn.i], errors, retries)

    t0 = time.monotonic()
    ok = await asyncio.gather(*(first(k) for k in conns))
    t_login = time.monotonic() - t0
    assert all(ok) and not errors, "initial logins on node 3: %d failed, e.g. %r" % (
        ok.count(False), errors[:5])
    st, doc = n3.healthz()
    assert doc["data"]["onlineDevices"] == CLIENTS, doc

    # the kill; every client reconnects as soon as it sees its connection end
    done_at = {}
    eof_at = {}
    t_kill = [None]

    async def survive(conn):
        dead = await wait_eof(conn, 30 * SLOW)
        close(conn)
        if not dead:
            errors.append((conn.i, 3, "no EOF within %.0fs of the kill" % (30 * SLOW)))
            return False
        eof_at[conn.i] = time.monotonic() - t_kill[0]
        await asyncio.sleep(random.random() * JITTER)
        node = (n1, n2)[conn.i % 2]
        if conn.i % 3 == 0:     # another phone: the policy replaces the dead one
            conn.imei += "-b"
        if await login(conn, node, tokens[conn.i], errors, retries):
            done_at[conn.i] = time.monotonic() - t_kill[0]
            return True
        return False

    tasks = [asyncio.ensure_future(survive(k)) for k in conns]
    await asyncio.sleep(0.2)
    t_kill[0] = time.monotonic()
    c.kill(n3)
    ok = await asyncio.gather(*tasks)
    t_all = time.monotonic() - t_kill[0]
    # stats before the asserts: they go into the failure message too
    lat = sorted(done_at.values())
    stats = ("initial logins %.1fs; after the kill: last EOF %.2fs, reconnected %d/%d, "
             "p50 %.2fs p99 %.2fs last %.2fs; connect retries %d"
             % (t_login, max(eof_at.values() or [0]), len(lat), CLIENTS,
                lat[len(lat) // 2] if lat else -1, lat[int(len(lat) * 0.99)] if lat else -1,
                t_all, len(retries)))
    print("\nstorm: " + stats)
    assert all(ok) and not errors, "%s\n%d reconnects failed, e.g. %r" % (
        stats, ok.count(False), errors[:10])
    assert not retries, "%s\nconnections refused during the storm, e.g. %r" % (stats, retries[:5])
    assert t_all <= STORM_LIMIT, "%s\nthe storm took %.1fs (limit %.0fs)" % (
        stats, t_all, STORM_LIMIT)

    # a storm client on node 2 -> one on node 1
    a, b = conns[1], conns[0]
    assert a.node is n2 and b.node is n1
    m = {"messageId": "storm-msg", "toId": user(b.i), "messageBody": '{"type":1}',
         "messageTime": int(time.time() * 1000), "messageRandom": 1}
    a.w.write(pp.encode_up(pp.MSG_P2P, m, client_type=CT, imei=a.imei))
    got = None
    deadline = time.monotonic() + 5 * SLOW
    while got is None and time.monotonic() < deadline:
        try:
            cmd, body = await read_packet(b.r, max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if cmd == pp.MSG_P2P:
            got = json.loads(body)
    assert got and got["messageId"] == "storm-msg", "the message from %s (node 2) did not " \
        "reach %s (node 1): %r" % (user(a.i), user(b.i), got)
    return conns, stats


def test_reconnect_storm(cluster):
    c = cluster(3, "--max-pending-per-ip=0", "--max-connections-per-ip=0",
                "--heartbeat-interval-ms=120000", "--login-timeout-ms=60000")
    n1, n2, n3 = c
    users = [user(i) for i in range(CLIENTS)]
    c.users(users)
    tokens = [c.token(u) for u in users]
    loop = asyncio.new_event_loop()
    try:
        conns, stats = loop.run_until_complete(storm(c, tokens))
        # node 3 reaped: the survivors hold every device, each user exactly
        # the new one
        time.sleep((TIMEOUT_MS + 2 * HEARTBEAT_MS) / 1000.0)

        def counted():
            return sum(n.healthz()[1]["data"]["onlineDevices"] for n in (n1, n2))
        assert counted() == CLIENTS, "%s\nonlineDevices of nodes 1 and 2: %d, %d" % (
            stats, n1.healthz()[1]["data"]["onlineDevices"], n2.healthz()[1]["data"]["onlineDevices"])
        wait_for(lambda: n1.metric("petrel_cluster_nodes_alive") == 2, 3 * SLOW, step=0.1,
                 what="node 3 reaped")
        for i in random.Random(7).sample(range(CLIENTS), SAMPLE):
            got = c.sessions((n1, n2)[i % 3 % 2], user(i))
            assert got == [(CT, conns[i].imei)], \
                "%s after node 3 was reaped: %r (want its one new device)" % (user(i), got)
    finally:
        for k in locals().get("conns", []):
            close(k)
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
