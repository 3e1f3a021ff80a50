"""Two petreld processes on one PostgreSQL database (issue 16: the storage
half of cluster mode).

Two nodes (--node-id 1 and 2) share the session's database for one data
directory.  Every user has a device on each node; all devices at once
send many one-to-one messages in the same conversations (alice-bob,
carol-dave, both directions) and many messages in the same two groups,
pipelined.  Each node numbers what it commits through the database, so
in the end, whichever node took a message: every send is acked; per pair
and per group the sequences are exactly 1..n (no duplicate, no hole) and
follow the message keys (both in commit order); keys are unique; both
owners' history rows and the group rows in the database say the same,
and each node serves the same history over REST.  Delivery between the
nodes is not part of this (no bus yet): pushes are not checked."""
import collections
import json
import threading
import time

import pytest

from conftest import SLOW, STORE
from test_crash import NO_RATE_LIMIT
from test_messages import MSG_ACK, MSG_P2P, IOS, WEB, Dev, ack_mid, mk, msg_range

pytestmark = pytest.mark.postgres_only

MSG_GROUP, GROUP_MSG_ACK = 2104, 2047
E_SYSTEM = 90000
PAIRS = {"alice": "bob", "bob": "alice", "carol": "dave", "dave": "carol"}
USERS = sorted(PAIRS)
PER_DEV = 150          # one-to-one messages per device (4 devices per pair)
PER_DEV_GROUP = 60     # group messages per device, over the two groups
WINDOW = 50


def burst(dev, items, window=WINDOW):
    """Send (cmd, body) items with up to `window` unanswered; the answers
    {messageId: ack data} (1046 for one-to-one, 2047 for group messages)."""
    acks, sent, n = {}, 0, len(items)
    t = 60 * SLOW
    while len(acks) < n:
        if sent < n and sent - len(acks) < window:
            k = min(n - sent, window - (sent - len(acks)))
            dev.send_many(items[sent:sent + k])
            sent += k
            continue
        p = dev.c.recv(t)
        if p.command in (MSG_ACK, GROUP_MSG_ACK):
            mid = ack_mid(p)
            assert mid not in acks, "%s: two answers for %r" % (dev.name, mid)
            acks[mid] = p.data
    return acks


def dense(seqs, what):
    seqs = sorted(seqs)
    n = len(seqs)
    assert seqs == list(range(1, n + 1)), "%s: sequences are not 1..%d: dups %r, holes %r" % (
        what, n, [q for q, c in collections.Counter(seqs).items() if c > 1][:10],
        sorted(set(range(1, n + 1)) - set(seqs))[:10])


def test_two_nodes_write_the_same_conversations(server):
    s1 = server("--node-id=1", *NO_RATE_LIMIT)
    db = STORE.url(s1.data_dir)
    s2 = server("--node-id=2", "--store=" + db, *NO_RATE_LIMIT, app_secret=s1.secret)
    s1.ensure_users(USERS)
    s2.imported.update(USERS)          # one database: node 2 sees them
    gids = []
    for i in range(2):
        st, doc = s1.api("/v1/group/createGroup",
                         {"groupType": 2, "groupName": "g%d" % i,
                          "member": [{"memberId": u} for u in USERS if u != "alice"]},
                         as_user="alice")
        assert st == 200 and doc["code"] == 200, doc
        gids.append(doc["data"]["groupId"])

    devs = [Dev(s, u, ct, imei="%s-n%d" % (u, n))
            for n, (s, ct) in enumerate(((s1, WEB), (s2, IOS)), 1) for u in USERS]
    plans = {}
    for d in devs:
        items = [(MSG_P2P, mk(PAIRS[d.user], mid="p-%s-%d" % (d.imei, i)))
                 for i in range(PER_DEV)]
        for i in range(PER_DEV_GROUP):
            g = {"groupId": gids[i % 2], "messageId": "g-%s-%d" % (d.imei, i),
                 "messageBody": json.dumps({"type": 1, "content": "g %d" % i}),
                 "messageTime": int(time.time() * 1000), "messageRandom": i}
            items.insert(i * PER_DEV // PER_DEV_GROUP, (MSG_GROUP, g))
        plans[d.imei] = items

    results, errors = {}, []
    go = threading.Barrier(len(devs))

    def run(d):
        try:
            go.wait()
            results[d.imei] = burst(d, plans[d.imei])
        except BaseException as e:  # noqa: B902 - reported below
            errors.append((d.name, e))

    threads = [threading.Thread(target=run, args=(d,)) for d in devs]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300 * SLOW)
    took = time.monotonic() - t0
    assert not errors, errors
    assert len(results) == len(devs), "a sender hung"
    # A refused send (90000, "resend later") is resent, as a client does,
    # so that the end state can be checked whatever happened; refusals
    # themselves fail the test at the end.
    refused = collections.Counter()
    for d in devs:
        for cmd, body in plans[d.imei]:
            for _ in range(20):
                if results[d.imei][body["messageId"]].get("code") == 200:
                    break
                assert results[d.imei][body["messageId"]].get("code") == E_SYSTEM, \
                    results[d.imei][body["messageId"]]
                refused[cmd] += 1
                results[d.imei].update(burst(d, [(cmd, body)]))

    pair_of = lambda a, b: tuple(sorted((a, b)))  # noqa: E731
    by_pair = collections.defaultdict(list)    # (a, b) -> [(seq, key, mid)]
    by_group = collections.defaultdict(list)   # gid -> [(seq, key, mid)]
    for d in devs:
        for cmd, body in plans[d.imei]:
            a = results[d.imei][body["messageId"]]
            assert a.get("code") == 200, "%s: %r refused: %r" % (d.name, body["messageId"], a)
            row = (a["data"]["messageSequence"], a["data"]["messageKey"], body["messageId"])
            if cmd == MSG_P2P:
                by_pair[pair_of(d.user, body["toId"])].append(row)
            else:
                by_group[body["groupId"]].append(row)
    keys = [k for rows in list(by_pair.values()) + list(by_group.values()) for _, k, _ in rows]
    assert len(set(keys)) == len(keys), "message keys used twice"
    for what, rows in list(by_pair.items()) + list(by_group.items()):
        dense([q for q, _, _ in rows], what)
        by_seq = [k for _, k, _ in sorted(rows)]
        assert by_seq == sorted(by_seq), "%s: keys do not follow sequences" % (what,)
    assert all(len(r) == 4 * PER_DEV for r in by_pair.values()), \
        {p: len(r) for p, r in by_pair.items()}

    # the database: both owners' rows, and the groups' rows
    got = STORE.query(s1.data_dir,
                      "SELECT owner_id, peer_id, count(*), count(DISTINCT sequence), "
                      "min(sequence), max(sequence) FROM im_message_history "
                      "GROUP BY owner_id, peer_id ORDER BY owner_id, peer_id")
    n = str(4 * PER_DEV)
    assert got == [(u, PAIRS[u], n, n, "1", n) for u in USERS], got
    got = STORE.query(s1.data_dir,
                      "SELECT group_id, count(*), count(DISTINCT sequence), max(sequence), "
                      "count(DISTINCT message_key) FROM im_group_message "
                      "GROUP BY group_id ORDER BY group_id")
    want = sorted((g, str(len(by_group[g]))) for g in gids)
    assert [(r[0], r[1]) for r in got] == want and all(len(set(r[1:])) == 1 for r in got), got
    got = STORE.query(s1.data_dir, "SELECT group_id, msg_seq FROM im_group ORDER BY group_id")
    assert got == want, got

    # each node serves the same history
    for s, (owner, peer) in ((s1, ("alice", "bob")), (s2, ("bob", "alice")),
                             (s2, ("carol", "dave")), (s1, ("dave", "carol"))):
        rows = []
        for frm in range(1, 4 * PER_DEV + 1, 200):
            rows += msg_range(s, owner, peer, frm, frm + 199, limit=200)
        want_rows = sorted((q, mid) for q, _, mid in by_pair[pair_of(owner, peer)])
        assert [(r["messageSequence"], r["messageId"]) for r in rows] == want_rows, \
            "node %d: %s's history with %s" % (s.idx + 1, owner, peer)
    print("\ntwo nodes: %d one-to-one and %d group messages in %.1fs"
          % (sum(len(r) for r in by_pair.values()), sum(len(r) for r in by_group.values()),
             took))
    assert not refused, ("sends refused while both nodes wrote (%d one-to-one, %d group; "
                         "deadlocks between the nodes' transactions? see the stderr)"
                         % (refused[MSG_P2P], refused[MSG_GROUP]))
