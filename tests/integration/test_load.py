"""1,000 concurrent TCP logins against petreld --workers=2 (asyncio client)."""
import asyncio
import time

import petrelproto as pp
from conftest import SLOW

N = 1000


async def _read_packet(reader):
    hdr = await reader.readexactly(pp.DOWN_HDR_LEN)
    cmd, ln = pp.DOWN_HDR.unpack(hdr)
    assert 0 <= ln < (1 << 20), (cmd, ln)
    body = await reader.readexactly(ln)
    return pp.Packet(cmd, body)


async def _connect(port, retries=5):
    for i in range(retries):
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if i == retries - 1:
                raise
            await asyncio.sleep(0.05 * (i + 1))


async def _run(port, tokens, timeout):
    start = asyncio.Event()
    conns = [None] * N
    results = {"ack": 0, "pong": 0, "bad": []}

    async def one(i):
        r, w = await _connect(port)
        conns[i] = (r, w)
        await start.wait()
        w.write(pp.encode_up(pp.LOGIN, {"userId": "load%d" % i, "userSign": tokens[i]},
                             client_type=1 + i % 5, imei="dev-%d" % i))
        await w.drain()
        p = await _read_packet(r)
        if p.command == pp.LOGINACK and p.data.get("userId") == "load%d" % i:
            results["ack"] += 1
        else:
            results["bad"].append((i, p))

    async def pinger(i):
        r, w = conns[i]
        w.write(pp.encode_up(pp.PING, {}, client_type=1 + i % 5))
        await w.drain()
        p = await _read_packet(r)
        if p.command == pp.PING:
            results["pong"] += 1
        else:
            results["bad"].append((i, p))

    async def phase1():
        # connect everybody first, then fire all LOGINs at once
        tasks = [asyncio.create_task(one(i)) for i in range(N)]
        while sum(c is not None for c in conns) < N:
            if any(t.done() and t.exception() for t in tasks):
                break
            await asyncio.sleep(0.01)
        start.set()
        await asyncio.gather(*tasks)

    t0 = time.monotonic()
    try:
        await asyncio.wait_for(phase1(), timeout)
        t_login = time.monotonic() - t0
        await asyncio.wait_for(asyncio.gather(*(pinger(i) for i in range(N))), timeout)
    finally:
        for c in conns:
            if c:
                c[1].close()
    return results, t_login


def test_thousand_concurrent_logins(server):
    s = server("--workers=2", "--login-policy=3")
    s.ensure_users(["load%d" % i for i in range(N)])
    tokens = [s.token("load%d" % i) for i in range(N)]
    results, t_login = asyncio.run(_run(s.tcp_port, tokens, 60 * SLOW))
    assert not results["bad"], "unexpected packets: %r" % results["bad"][:10]
    assert results["ack"] == N, "%d/%d logins acked" % (results["ack"], N)
    assert results["pong"] == N, "%d/%d pings answered" % (results["pong"], N)
    assert s.alive()
    # still fine afterwards
    c = s.login("after-load")
    assert c.ping().command == pp.PING


def test_thousand_logins_same_user_mode4(server):
    """1,000 devices of one user (policy 4: nobody kicked) — stresses the
    per-user session list (the device cap, 32 by default, is raised)."""
    s = server("--workers=2", "--login-policy=4", "--max-devices-per-user=%d" % N)
    tok = s.token("crowd")

    async def run():
        conns = []
        try:
            for i in range(N):
                conns.append(await _connect(s.tcp_port))
            for i, (r, w) in enumerate(conns):
                w.write(pp.encode_up(pp.LOGIN, {"userId": "crowd", "userSign": tok},
                                     client_type=1 + i % 5, imei="d%d" % i))

            async def ack(r):
                return (await _read_packet(r)).command
            cmds = await asyncio.wait_for(
                asyncio.gather(*(ack(r) for r, _ in conns)), 60 * SLOW)
            return cmds
        finally:
            for _, w in conns:
                w.close()
    cmds = asyncio.run(run())
    bad = [c for c in cmds if c != pp.LOGINACK]
    assert not bad, "%d of %d logins not acked: %r" % (len(bad), N, bad[:10])
    assert s.alive()
