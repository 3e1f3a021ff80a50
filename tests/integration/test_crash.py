"""Crash test: alice streams 10,000 messages (unique messageIds, several
hundred in flight over TCP), petreld is killed with SIGKILL after ~3,000
acks and restarted on the same data directory.  Every acked message must
be stored exactly once with its acked key and sequence; resending all
10,000 messageIds stores each exactly once; no sequence is used twice;
bob, logged in throughout (reconnecting after the restart), never gets the
same messageKey twice.

It runs three times: with the default settings; with
--store-wal-checkpoint-pages=64, where checkpoints on the checkpointer
thread and WAL restarts by the writer happen all through the burst, so
the kill lands in or between them; and with --store-history-batch=500,
where the history rows are written in cycles all through the burst, so
the kill lands in or between a cycle's transactions (with the default,
8192, every message of the first 10,000 still waits at the kill, and the
restart writes their rows).

PETREL_CRASH_RUNS=N repeats the test N times (default 1)."""
import collections
import os
import queue
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW
from test_messages import IOS, MSG_P2P, WEB, Dev, mk, pipeline, sync_all

N = 10000
KILL_AFTER = 3000
WINDOW = 400
RUNS = int(os.environ.get("PETREL_CRASH_RUNS") or "1")


class Receiver(threading.Thread):
    """bob's device: records every 1103, pings every 3 s, and after its
    connection dies waits for a new Dev on self.next."""

    def __init__(self, dev):
        super().__init__(daemon=True)
        self.dev = dev
        self.next = queue.Queue()
        self.stop = threading.Event()
        self.got = []          # (messageKey, messageSequence, messageId)
        self.closed = 0
        self.error = None
        self.last_rx = time.monotonic()

    def run(self):
        try:
            last_ping = time.monotonic()
            while not self.stop.is_set():
                if time.monotonic() - last_ping > 3:
                    last_ping = time.monotonic()
                    try:
                        self.dev.c.send(pp.PING, {}, client_type=self.dev.ct)
                    except OSError:
                        pass
                try:
                    p = self.dev.c.recv(0.2)
                except TimeoutError:
                    continue
                except (pp.ConnectionClosed, pp.ProtocolViolation, OSError):
                    self.closed += 1
                    self.dev.close()
                    nxt = self.next.get(timeout=120 * SLOW)
                    if nxt is None:
                        return
                    self.dev = nxt
                    last_ping = time.monotonic()
                    continue
                self.last_rx = time.monotonic()
                if p.command == MSG_P2P:
                    d = p.data
                    self.got.append((d.get("messageKey"), d.get("messageSequence"),
                                     d.get("messageId")))
        except BaseException as e:  # noqa: B902 - reported by the test
            self.error = e

    def quiesce(self, idle=0.5 * SLOW, limit=30 * SLOW):
        """Wait until nothing arrived for `idle` seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and time.monotonic() - self.last_rx < idle:
            time.sleep(0.05)


def stored(srv):
    """alice's messages: {messageId: [(key, seq), ...]} and all rows."""
    rows = sync_all(srv, "alice", limit=200)
    by_mid = collections.defaultdict(list)
    for r in rows:
        assert r.get("fromId") == "alice" and r.get("toId") == "bob", r
        by_mid[r["messageId"]].append((r["messageKey"], r["messageSequence"]))
    return by_mid, rows


def scrape(srv, name):
    """Sum of a /metrics family's samples by label text, e.g. {'by="writer"': 3}."""
    st, _, body = pp.http_get(srv.http_port, "/metrics", timeout=10 * SLOW)
    assert st == 200
    out = {}
    for ln in body.decode().splitlines():
        if ln.startswith(name):
            key, _, v = ln.rpartition(" ")
            out[key[len(name):].strip("{}")] = float(v)
    return out


MODES = {"default": [], "wal64": ["--store-wal-checkpoint-pages=64"],
         "hist500": ["--store-history-batch=500"]}
# one sender bursts thousands of messages: the per-user send rate limit
# (200/s by default, test_security_abuse.py) would refuse most of them
NO_RATE_LIMIT = ["--send-rate-user=0", "--send-kbytes-user=0"]


SQLITE_MODES = {"wal64": "WAL checkpoints are SQLite's", "hist500": "history batches are SQLite's "
                 "(PostgreSQL writes history rows with their message)"}


@pytest.mark.parametrize("mode", [pytest.param(m, marks=pytest.mark.sqlite_only(SQLITE_MODES[m]))
                                  if m in SQLITE_MODES else m for m in sorted(MODES)])
@pytest.mark.parametrize("run", range(RUNS))
def test_kill_9_mid_burst(server, run, mode):
    t_start = time.monotonic()
    flags = MODES[mode]
    s1 = server(*flags, *NO_RATE_LIMIT)
    s1.ensure_users(["alice", "bob"])
    bob = Receiver(Dev(s1, "bob", IOS, "tcp"))
    bob.start()
    alice = Dev(s1, "alice", WEB, "tcp")
    msgs = [mk("bob", mid="crash-%d-%05d" % (run, i), body='{"type":1,"content":"n%d"}' % i)
            for i in range(N)]

    killed_at = []

    def on_ack(n):
        if n == KILL_AFTER and not killed_at:
            killed_at.append(n)
            s1.kill()      # SIGKILL

    acks, _, closed = pipeline(alice, msgs, window=WINDOW, chunk=100, on_ack=on_ack,
                               until_closed=True, timeout=60)
    assert killed_at, "the burst finished (%d acks) before the kill" % len(acks)
    assert closed is not None, "alice's connection survived the kill"
    alice.close()
    first = {}
    for mid, a in acks.items():
        assert a.get("code") == 200, "refused before the crash: %r" % a
        first[mid] = (a["data"]["messageKey"], a["data"]["messageSequence"])
    assert len(first) >= KILL_AFTER
    seqs = [s for _, s in first.values()]
    assert len(set(seqs)) == len(seqs), "two acks with the same sequence before the crash"
    t_crash = time.monotonic()

    # restart on the same data directory
    s2 = server(*flags, *NO_RATE_LIMIT, data_dir=s1.data_dir, app_secret=s1.secret)
    s2.ensure_users(["alice", "bob"])
    bob.next.put(Dev(s2, "bob", IOS, "tcp"))

    by_mid, rows = stored(s2)
    lost = [m for m in first if m not in by_mid]
    assert not lost, "%d acked messages lost by the crash, e.g. %r" % (len(lost), lost[:5])
    twice = [m for m, v in by_mid.items() if len(v) > 1]
    assert not twice, "stored twice after the crash: %r" % twice[:5]
    wrong = [(m, first[m], by_mid[m][0]) for m in first if by_mid[m][0] != first[m]]
    assert not wrong, "acked (key, seq) differs from the stored one: %r" % wrong[:5]
    n_after_crash = len(rows)

    # resend everything, acked or not
    alice = Dev(s2, "alice", WEB, "tcp")
    acks2, others, _ = pipeline(alice, msgs, window=WINDOW, chunk=100, timeout=60)
    second = {}
    for mid, a in acks2.items():
        assert a.get("code") == 200, "resend refused: %r" % a
        second[mid] = (a["data"]["messageKey"], a["data"]["messageSequence"])
    assert len(second) == N
    changed = [(m, first[m], second[m]) for m in first if second[m] != first[m]]
    assert not changed, "resend of an acked message acked differently: %r" % changed[:5]

    by_mid, rows = stored(s2)
    assert len(rows) == N, "%d rows stored for %d messageIds" % (len(rows), N)
    assert set(by_mid) == set(m["messageId"] for m in msgs)
    twice = [m for m, v in by_mid.items() if len(v) > 1]
    assert not twice, "stored twice: %r" % twice[:5]
    seqs = collections.Counter(v[0][1] for v in by_mid.values())
    dup = [s for s, c in seqs.items() if c > 1]
    assert not dup, "sequences used twice: %r" % dup[:10]
    keys = collections.Counter(v[0][0] for v in by_mid.values())
    assert not [k for k, c in keys.items() if c > 1], "messageKeys used twice"
    wrong = [(m, second[m], by_mid[m][0]) for m in second if by_mid[m][0] != second[m]]
    assert not wrong, "ack differs from the stored message: %r" % wrong[:5]
    gaps = sorted(set(range(1, max(seqs) + 1)) - set(seqs))

    # bob: never the same messageKey twice, and what he got is what is stored
    bob.quiesce()
    bob.stop.set()
    bob.next.put(None)
    bob.join(10 * SLOW)
    assert bob.error is None, "bob's reader failed: %r" % bob.error
    assert bob.closed >= 1, "bob's connection survived the kill"
    got = collections.Counter(k for k, _, _ in bob.got)
    dups = [k for k, c in got.items() if c > 1]
    assert not dups, "bob received %d messageKeys more than once, e.g. %r" % (len(dups), dups[:5])
    for k, s, mid in bob.got:
        assert by_mid.get(mid) == [(k, s)], "bob got %r/%r/%r, stored %r" % (mid, k, s, by_mid.get(mid))
    print("\ncrash run %d: %d acked before kill, %d stored after restart, %d received by bob, "
          "%d sequence gaps, %.1fs to the kill, %.1fs total"
          % (run, len(first), n_after_crash, len(bob.got), len(gaps),
             t_crash - t_start, time.monotonic() - t_start))
    assert alice.c.ping().command == pp.PING
    if mode == "hist500":
        assert scrape(s2, "petrel_store_history_rows_total").get("", 0) > 0
    if mode == "wal64":
        ck = scrape(s2, "petrel_store_checkpoints_total")
        assert ck.get('by="checkpointer"', 0) > 0 and ck.get('by="writer"', 0) > 0, ck
        assert scrape(s2, "petrel_store_wal_restarts_total").get("", 0) > 0
