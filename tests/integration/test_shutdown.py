"""Graceful shutdown on SIGTERM / SIGINT while clients are active."""
import signal
import socket
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW


def _pinger(c, stop_seen, out, idx):
    """Ping in a loop until the server says 61016 or closes."""
    deadline = None
    while True:
        if stop_seen.is_set() and deadline is None:
            deadline = time.monotonic() + 5.0 * SLOW
        if deadline is not None and time.monotonic() > deadline:
            out[idx] = ("still-open", None)
            return
        try:
            c.send(pp.PING, {})
        except OSError:
            pass   # the server may already be gone: read what is left
        try:
            p = c.recv(timeout=1.0 * SLOW)
        except pp.ConnectionClosed as e:
            out[idx] = ("closed", time.monotonic(), e.how)
            return
        except TimeoutError:
            if stop_seen.is_set():
                continue
            out[idx] = ("ping-timeout", None)   # unanswered ping before SIGTERM
            return
        if p.command == pp.ERROR:
            out[idx] = ("error", time.monotonic(), p.code)
            if p.code == pp.E_SHUTDOWN:
                try:
                    c.expect_closed(timeout=5 * SLOW)
                except AssertionError:
                    out[idx] = ("open-after-61016", None)
            return
        if p.command != pp.PING:
            out[idx] = ("unexpected", p)
            return
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_during_traffic(server, sig):
    s = server("--workers=2")
    clients = []
    for i in range(6):
        clients.append(s.login("u%d" % i, client_type=1 + i % 5, imei="d%d" % i))
    for i in range(2):
        w = s.login("w%d" % i, transport="ws")
        w.require_close_frame = False   # "61016 or EOF"
        clients.append(w)
    idle = s.tcp()   # a connection that never logged in
    out = [None] * len(clients)
    stop_seen = threading.Event()
    ts = [threading.Thread(target=_pinger, args=(c, stop_seen, out, i))
          for i, c in enumerate(clients)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    assert all(o is None for o in out), "clients failed before the signal: %r" % out
    t_sig = time.monotonic()
    stop_seen.set()
    s.send_signal(sig)
    for t in ts:
        t.join(15 * SLOW)
    for i, o in enumerate(out):
        assert o is not None and o[0] in ("closed", "error"), "client %d: %r" % (i, o)
        if o[0] == "error":
            assert o[2] == pp.E_SHUTDOWN, "client %d got error %r instead of 61016" % (i, o)
        assert o[1] - t_sig <= 5.0 * SLOW, "client %d: notified %.1fs after signal" % (
            i, o[1] - t_sig)
    # the never-logged-in connection is closed as well
    pkts, _ = idle.expect_closed(timeout=5 * SLOW)
    assert all(p.command == pp.ERROR and p.code == pp.E_SHUTDOWN for p in pkts), pkts
    rc = s.stop(timeout=10 * SLOW)     # already signalled: just waits
    assert rc == 0, "petreld exit code %r after %s" % (rc, sig.name)
    # the listeners are gone
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.tcp_port), timeout=1).close()


def test_shutdown_idle_is_fast(server):
    s = server()
    s.login("alice")
    t0 = time.monotonic()
    rc = s.stop()
    assert rc == 0, rc
    assert time.monotonic() - t0 < 5 * SLOW, "shutdown took %.1fs" % (time.monotonic() - t0)


def test_shutdown_with_unread_backlog(server):
    """A client that stops reading (its socket buffers fill with pongs) must
    not block shutdown forever, nor delay the notice to the other clients."""
    s = server()
    c = s.login("alice")
    other = s.login("bob")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    frame = pp.encode_up(pp.PING, {}) * 500
    c.sock.settimeout(0.2)
    try:
        for _ in range(200):
            c.sock.send(frame)
    except (socket.timeout, BlockingIOError, OSError):
        pass
    time.sleep(0.2)
    t0 = time.monotonic()
    s.send_signal(signal.SIGTERM)
    pkts, _ = other.expect_closed(timeout=5 * SLOW)
    assert all(p.command == pp.ERROR and p.code == pp.E_SHUTDOWN for p in pkts), pkts
    assert time.monotonic() - t0 <= 5 * SLOW
    rc = s.stop(timeout=15 * SLOW)
    assert rc == 0, "petreld exit code %r" % rc
    assert time.monotonic() - t0 < 7 * SLOW, "shutdown took %.1fs" % (time.monotonic() - t0)


def test_second_sigterm_during_shutdown(server):
    """SIGTERM while a graceful shutdown is already under way (kept busy by
    a client that does not read) still ends with exit code 0."""
    s = server()
    c = s.login("alice")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.sock.settimeout(0.2)
    frame = pp.encode_up(pp.PING, {}) * 500
    try:
        for _ in range(200):
            c.sock.send(frame)
    except OSError:
        pass
    time.sleep(0.2)
    s.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    if s.alive():
        s.send_signal(signal.SIGTERM)
    rc = s.stop(timeout=15 * SLOW)
    assert rc == 0, "exit code %r after a second SIGTERM during shutdown" % rc
