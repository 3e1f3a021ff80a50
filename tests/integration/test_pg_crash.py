"""Crash tests on PostgreSQL (issue 16).

1. test_crash.py's kill -9 test (10,000 messages in flight, petreld killed
   with SIGKILL after 3,000 acks, restarted on the same database; every
   acked message stored exactly once with its acked key and sequence, the
   resend of all 10,000 stores each once, no sequence twice, the receiver
   never gets a key twice) ten times in a row (PETREL_PG_CRASH_RUNS).
2. The database server crashes instead (immediate shutdown mid-burst, then
   started again) while petreld keeps running: what was acked before the
   crash survives it (an ack follows COMMIT, synchronous_commit is on),
   the sends meanwhile are refused, never acked; petreld reconnects by
   itself, and resending everything stores each message exactly once with
   sequences 1..N, no hole and no duplicate."""
import collections
import os
import time

import pytest

from conftest import SLOW
from test_crash import NO_RATE_LIMIT, stored
from test_crash import test_kill_9_mid_burst as kill_9_mid_burst
from test_messages import IOS, WEB, Dev, mk, pipeline

pytestmark = pytest.mark.postgres_only

RUNS = int(os.environ.get("PETREL_PG_CRASH_RUNS") or "10")
E_SYSTEM = 90000


@pytest.mark.parametrize("run", range(RUNS))
def test_kill_9_ten_times(server, run):
    kill_9_mid_burst(server, 100 + run, "default")


N = 4000
CRASH_AFTER = 1500


def test_postgres_crash_mid_burst(private_pg, server):
    s = server("--store=" + private_pg.database("petrel"), *NO_RATE_LIMIT)
    s.ensure_users(["alice", "bob"])
    Dev(s, "bob", IOS)
    alice = Dev(s, "alice", WEB)
    msgs = [mk("bob", mid="pgcrash-%05d" % i) for i in range(N)]
    crashed = []

    def on_ack(n):
        if n == CRASH_AFTER and not crashed:
            private_pg.stop()          # immediate: the backends die mid-transaction
            crashed.append(time.monotonic())

    acks, _, _ = pipeline(alice, msgs, window=400, chunk=100, on_ack=on_ack, timeout=60)
    assert crashed, "the burst finished before the crash"
    first = {}
    refused = 0
    for mid, a in acks.items():
        if a.get("code") == 200:
            first[mid] = (a["data"]["messageKey"], a["data"]["messageSequence"])
        else:
            assert a.get("code") == E_SYSTEM, "unexpected refusal: %r" % a
            refused += 1
    assert refused > 0, "no send was refused while PostgreSQL was down"
    assert len(first) >= CRASH_AFTER - 400

    private_pg.start()                 # crash recovery
    by_mid, rows = stored(s)           # reads reconnect by themselves
    lost = [m for m in first if m not in by_mid]
    assert not lost, "%d acked messages lost by the crash, e.g. %r" % (len(lost), lost[:5])
    twice = [m for m, v in by_mid.items() if len(v) > 1]
    assert not twice, "stored twice: %r" % twice[:5]
    wrong = [(m, first[m], by_mid[m][0]) for m in first if by_mid[m][0] != first[m]]
    assert not wrong, "acked (key, seq) differs from the stored one: %r" % wrong[:5]
    n_after_crash = len(rows)

    # resend everything, acked or not: the writer is back without a restart
    deadline = time.monotonic() + 30 * SLOW
    while True:
        acks2, _, _ = pipeline(alice, msgs, window=400, chunk=100, timeout=60)
        if all(a.get("code") == 200 for a in acks2.values()):
            break
        assert time.monotonic() < deadline, "sends still refused after PostgreSQL came back"
        time.sleep(0.5)
    second = {m: (a["data"]["messageKey"], a["data"]["messageSequence"]) for m, a in acks2.items()}
    changed = [(m, first[m], second[m]) for m in first if second[m] != first[m]]
    assert not changed, "resend of an acked message acked differently: %r" % changed[:5]
    by_mid, rows = stored(s)
    assert len(rows) == N and set(by_mid) == set(m["messageId"] for m in msgs)
    seqs = sorted(v[0][1] for v in by_mid.values())
    assert seqs == list(range(1, N + 1)), "sequences are not 1..%d: dups %r, holes %r" % (
        N, [q for q, c in collections.Counter(seqs).items() if c > 1][:10],
        sorted(set(range(1, N + 1)) - set(seqs))[:10])
    keys = collections.Counter(v[0][0] for v in by_mid.values())
    assert not [k for k, c in keys.items() if c > 1], "messageKeys used twice"
    print("\nPostgreSQL crash: %d acked before it, %d refused, %d stored after it"
          % (len(first), refused, n_after_crash))
