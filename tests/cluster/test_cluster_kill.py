"""Cluster test 3: kill -9 of a node during a burst.

Four senders on node 3 stream one-to-one messages (unique messageIds,
pipelined) to four receivers on nodes 1 and 2; each sender has a second
device on node 1 or 2 (the 1108 sync copies); node 3 is SIGKILLed after a
given number of acks (different in each round).  The senders reconnect to
node 1 or 2 (same device) and send again every message they have no ack
for, with the same messageId, as a client does.  Then:
  - every message is acked (200), the acks before the kill are what is
    stored (key, sequence);
  - the database holds each messageId exactly once (im_message_body) and
    both owners' history rows; per pair the sequences are exactly 1..N
    (unique, gap-free) on both sides; the REST history (node 1) agrees;
  - no receiver got a messageKey pushed twice; every push is a stored
    message with its stored sequence; every message committed by a live
    node (its key names node 1 or 2, i.e. committed after the reconnect)
    was pushed; what is missing from the pushes (committed by node 3,
    its push lost with it) is found by the receiver's sync
    (syncOfflineMessage), where every message appears once;
  - the same for the senders' other devices and their 1108 copies.
Runs PETREL_CLUSTER_ROUNDS (default 5) rounds, each on a fresh cluster."""
import collections
import os
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW
from test_messages import MSG_P2P, MSG_P2P_SYNC, WEB, IOS, Dev, mk, msg_range, pipeline, sync_all

ROUNDS = int(os.environ.get("PETREL_CLUSTER_ROUNDS") or "5")
SENDERS = 4
N = 500                     # messages per sender
WINDOW = 100
KILL_AT = [300, 600, 900, 1200, 1500]   # total acks (of 2,000) before the kill, by round


def node_of_key(k):
    return (k >> 12) & 1023


class Receiver(threading.Thread):
    """Records every 1103 (or 1108) of one device until stopped."""

    def __init__(self, dev, cmd=MSG_P2P):
        super().__init__(daemon=True)
        self.dev = dev
        self.cmd = cmd
        self.got = []                 # (messageKey, messageSequence, messageId, fromId)
        self.error = None
        self.stop = threading.Event()
        self.last_rx = time.monotonic()

    def run(self):
        try:
            while not self.stop.is_set():
                try:
                    p = self.dev.c.recv(0.2)
                except TimeoutError:
                    continue
                self.last_rx = time.monotonic()
                if p.command == self.cmd:
                    d = p.data
                    self.got.append((d.get("messageKey"), d.get("messageSequence"),
                                     d.get("messageId"), d.get("fromId")))
        except BaseException as e:  # noqa: B902 - reported by the test
            self.error = e


@pytest.mark.parametrize("rnd", range(ROUNDS))
def test_kill_9_during_burst(cluster, rnd):
    c = cluster(3)
    n1, n2, n3 = c
    senders = ["s%d" % i for i in range(SENDERS)]
    receivers = ["r%d" % i for i in range(SENDERS)]
    c.users(senders + receivers)
    rx = [Receiver(Dev((n1, n2)[i % 2], r, IOS, imei="rx-%s" % r)) for i, r in enumerate(receivers)]
    # each sender's other device, on the node its sending device will not
    # move to: the 1108 sync copies
    sx = [Receiver(Dev((n2, n1)[i % 2], s, IOS, imei="sx-%s" % s), MSG_P2P_SYNC)
          for i, s in enumerate(senders)]
    for r in rx + sx:
        r.start()
    msgs = {s: [mk(r, mid="k%d-%s-%04d" % (rnd, s, j), body='{"type":1,"content":"%d"}' % j)
                for j in range(N)]
            for s, r in zip(senders, receivers)}
    devs = {s: Dev(n3, s, WEB, imei="tx-%s" % s) for s in senders}

    lock = threading.Lock()
    total = [0]
    kill_at = KILL_AT[rnd % len(KILL_AT)]
    killed = threading.Event()

    def on_ack(_n):
        with lock:
            total[0] += 1
            if total[0] == kill_at:
                c.kill(n3)
                killed.set()

    first = {}                 # sender -> {mid: ack data} before the kill
    errors = []

    def burst(s):
        try:
            acks, _, closed = pipeline(devs[s], msgs[s], window=WINDOW, chunk=25,
                                       on_ack=on_ack, until_closed=True, timeout=30)
            first[s] = acks
            if closed is None:
                errors.append("%s: the burst ended (%d acks) without the kill" % (s, len(acks)))
        except BaseException as e:  # noqa: B902 - reported below
            errors.append("%s: %r" % (s, e))

    threads = [threading.Thread(target=burst, args=(s,)) for s in senders]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120 * SLOW)
    assert killed.is_set(), "the bursts finished (%d acks) before the kill" % total[0]
    assert not errors, errors
    t_kill = time.monotonic()

    acked = {}                 # mid -> (key, seq), first ack seen
    for s in senders:
        for mid, a in first[s].items():
            assert a.get("code") == 200, "%s: refused before the kill: %r" % (s, a)
            acked[mid] = (a["data"]["messageKey"], a["data"]["messageSequence"])
    n_before = len(acked)

    # reconnect to node 1 or 2 and send again whatever has no ack
    refused = collections.Counter()
    for i, s in enumerate(senders):
        devs[s].close()
        devs[s] = Dev((n1, n2)[i % 2], s, WEB, imei="tx-%s" % s)
        todo = [m for m in msgs[s] if m["messageId"] not in acked]
        for _ in range(10):
            if not todo:
                break
            acks, _, _ = pipeline(devs[s], todo, window=WINDOW, chunk=25, timeout=30)
            again = []
            for m in todo:
                a = acks[m["messageId"]]
                if a.get("code") == 200:
                    acked[m["messageId"]] = (a["data"]["messageKey"], a["data"]["messageSequence"])
                else:
                    refused[a.get("code")] += 1
                    again.append(m)
            todo = again
        assert not todo, "%s: %d messages still refused after 10 resends: %r" % (
            s, len(todo), refused)
    t_resent = time.monotonic()
    assert len(acked) == SENDERS * N

    # ---- the database: each messageId once, both owners' rows, 1..N
    for s, r in zip(senders, receivers):
        rows = c.query("SELECT message_id, message_key, sequence FROM im_message_body "
                       "WHERE from_id = '%s' ORDER BY sequence" % s)
        ids = collections.Counter(mid for mid, _, _ in rows)
        assert len(rows) == N and len(ids) == N, \
            "%s: %d rows for %d messageIds (twice: %r)" % (
                s, len(rows), len(ids), [m for m, k in ids.items() if k > 1][:5])
        wrong = [(mid, acked[mid], (int(k), int(q))) for mid, k, q in rows
                 if acked[mid] != (int(k), int(q))]
        assert not wrong, "%s: acked (key, seq) differs from the stored: %r" % (s, wrong[:5])
        for owner, peer in ((s, r), (r, s)):
            h = c.query("SELECT sequence, message_key FROM im_message_history "
                        "WHERE owner_id = '%s' AND peer_id = '%s' ORDER BY sequence"
                        % (owner, peer))
            seqs = [int(q) for q, _ in h]
            assert seqs == list(range(1, N + 1)), \
                "%s's history with %s: %d rows, not 1..%d: dups %r holes %r" % (
                    owner, peer, len(seqs), N,
                    [q for q, k in collections.Counter(seqs).items() if k > 1][:10],
                    sorted(set(range(1, N + 1)) - set(seqs))[:10])
            assert sorted(int(k) for _, k in h) == sorted(int(k) for _, k, _ in rows), \
                "%s's history keys are not the stored messages'" % owner
        hist = []
        for frm in range(1, N + 1, 100):
            hist += msg_range(n1, r, s, frm, frm + 99, limit=100)
        assert sorted((x["messageSequence"], x["messageId"]) for x in hist) == \
            sorted((acked[mid][1], mid) for mid in ids), "%s's REST history with %s" % (r, s)

    # ---- deliveries: pushes without duplicates, the rest found by a sync
    deadline = time.monotonic() + 10 * SLOW
    while time.monotonic() < deadline and \
            any(time.monotonic() - x.last_rx < 1.0 * SLOW for x in rx + sx):
        time.sleep(0.1)
    for x in rx + sx:
        x.stop.set()
    for x in rx + sx:
        x.join(10 * SLOW)
        assert x.error is None, "%s's reader failed: %r" % (x.dev.name, x.error)
    by_mid = {mid: ks for mid, ks in acked.items()}
    lost_pushes = 0
    lost_copies = 0
    for x, s in zip(sx, senders):          # the sync copies
        keys = collections.Counter(k for k, _, _, _ in x.got)
        dups = [k for k, n in keys.items() if n > 1]
        assert not dups, "%s got %d 1108 copies twice, e.g. %r" % (x.dev.name, len(dups), dups[:5])
        for k, q, mid, frm in x.got:
            assert frm == s and by_mid.get(mid) == (k, q), \
                "%s got 1108 %r/%r/%r: not what is stored (%r)" % (x.dev.name, mid, k, q,
                                                                  by_mid.get(mid))
        copied = {mid for _, _, mid, _ in x.got}
        mine = [mid for mid in acked if mid.startswith("k%d-%s-" % (rnd, s))]
        late = [mid for mid in mine if mid not in copied and node_of_key(acked[mid][0]) != 3]
        assert not late, "%s: %d messages committed by a live node never came as 1108, e.g. %r" \
            % (x.dev.name, len(late), late[:5])
        lost_copies += sum(1 for mid in mine if mid not in copied)
    for x, s in zip(rx, senders):
        keys = collections.Counter(k for k, _, _, _ in x.got)
        dups = [k for k, n in keys.items() if n > 1]
        assert not dups, "%s got %d messageKeys pushed twice, e.g. %r" % (
            x.dev.name, len(dups), dups[:5])
        for k, q, mid, frm in x.got:
            assert frm == s and by_mid.get(mid) == (k, q), \
                "%s got %r/%r/%r from %r: not what is stored (%r)" % (
                    x.dev.name, mid, k, q, frm, by_mid.get(mid))
        mine = {mid: ks for mid, ks in acked.items() if mid.startswith("k%d-%s-" % (rnd, s))}
        pushed = {mid for _, _, mid, _ in x.got}
        unpushed = sorted(mid for mid in mine if mid not in pushed)
        late = [mid for mid in unpushed if node_of_key(mine[mid][0]) != 3]
        assert not late, "%s: %d messages committed by a live node were never pushed, e.g. %r" \
            % (x.dev.name, len(late), late[:5])
        lost_pushes += len(unpushed)
        synced = sync_all(n2, x.dev.user, limit=200)
        sk = collections.Counter(row["messageKey"] for row in synced)
        assert not [k for k, n in sk.items() if n > 1], "%s: a message twice in the sync" % x.dev.user
        assert set(sk) == {k for k, _ in mine.values()}, \
            "%s: the sync does not hold exactly the stored messages (%d vs %d)" % (
                x.dev.user, len(sk), len(mine))
    by_node = collections.Counter(node_of_key(k) for k, _ in acked.values())
    print("\nround %d: %d acked before the kill at %d, committed by node %r, %d pushes and %d "
          "sync copies lost with node 3 (pushes found by sync), %.1fs to the kill, %.1fs to "
          "resend" % (rnd, n_before, kill_at, dict(by_node), lost_pushes, lost_copies,
                      t_kill - t0, t_resent - t_kill))
    for d in devs.values():
        assert d.c.ping().command == pp.PING
