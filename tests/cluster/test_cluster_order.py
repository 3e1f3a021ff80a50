"""Push order across nodes.  docs/PROTOCOL.md: "the pushes run on one
ordered thread, so every device sees a group's messages in sequence
order, whichever workers the senders use".

Three members of one group send at once from nodes 1, 2 and 3 (pipelined,
250 each); a fourth member's devices on each node record the 2104 pushes.
  - each sender's sequences follow its sending order (acks);
  - every device gets every message once;
  - what one node committed reaches every device in sequence order (that
    node's one ordered thread, one bus channel per node): required.  The
    same three nodes without Redis (each pushing its own commits to its
    own devices) keep that order;
  - the order across nodes (sequences committed by different nodes
    interleaved) is measured and printed, not required: a node cannot
    order its pushes after another node's commits."""
import threading
import time

from conftest import SLOW
from test_groups import GROUP_MSG_ACK, MSG_GROUP, create, gmk
from test_messages import IOS, WEB, Dev, ack_mid

PER = 250


# which node committed a message: its sender's (s1 on node 1, ...).  Not
# the message key's node bits: on PostgreSQL a key is max(proposal, the
# app's largest + 1), so a node's key may carry another node's bits.
NODE_OF_SENDER = {"s1": 1, "s2": 2, "s3": 3}


def test_group_push_order_across_nodes(cluster):
    c = cluster(3)
    senders = ["s1", "s2", "s3"]
    c.users(senders + ["r"])
    gid = create(c[0], "r", senders)
    rx = [Dev(n, "r", (WEB, IOS, WEB)[i], imei="r-n%d" % (i + 1)) for i, n in enumerate(c)]
    tx = [Dev(n, s, WEB, imei="tx-%s" % s) for n, s in zip(c, senders)]
    go = threading.Barrier(len(tx))
    errors = []
    acked = {}                 # messageId -> sequence

    def run(d):
        try:
            items = [(MSG_GROUP, gmk(gid, mid="o-%s-%d" % (d.user, j))) for j in range(PER)]
            go.wait()
            acks, sent = set(), 0
            while len(acks) < PER:
                if sent < PER and sent - len(acks) < 50:
                    d.send_many(items[sent:sent + 25])
                    sent = min(PER, sent + 25)
                    continue
                p = d.c.recv(30 * SLOW)
                if p.command == GROUP_MSG_ACK:
                    assert p.data.get("code") == 200, p.data
                    acks.add(ack_mid(p))
                    acked[ack_mid(p)] = p.data["data"]["messageSequence"]
        except BaseException as e:  # noqa: B902 - reported below
            errors.append((d.name, e))

    ts = [threading.Thread(target=run, args=(d,)) for d in tx]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120 * SLOW)
    assert not errors, errors
    total = PER * len(senders)
    # each sender's messages got increasing sequences in the order it sent them
    for snd in senders:
        seq_by_j = [acked["o-%s-%d" % (snd, j)] for j in range(PER)]
        bad = [(j, a, b) for j, (a, b) in enumerate(zip(seq_by_j, seq_by_j[1:])) if b < a]
        assert not bad, "%s: sequences do not follow the sending order: %r" % (snd, bad[:5])
    report, wrong = [], []
    for d in rx:
        got = []
        deadline = time.monotonic() + 10 * SLOW
        while len(got) < total and time.monotonic() < deadline:
            try:
                p = d.recv(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            if p.command == MSG_GROUP:
                got.append((p.data["messageSequence"], NODE_OF_SENDER[p.data["fromId"]]))
        seqs = [q for q, _ in got]
        assert sorted(seqs) == list(range(1, total + 1)), \
            "%s: %d of %d group pushes (dups or holes)" % (d.name, len(seqs), total)
        for node in (1, 2, 3):
            mine = [q for q, n in got if n == node]
            bad = [(a, b) for a, b in zip(mine, mine[1:]) if b < a]
            if bad:
                wrong.append("%s (on node %s): %d descents in what node %d committed, e.g. %r"
                             % (d.imei, d.imei[-1], len(bad), node, bad[:4]))
        inversions = sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)
        report.append((d.imei, inversions))
    print("\ngroup push order: descents in the arrival order across nodes, by device: %r"
          % report)
    assert not wrong, "group pushes out of sequence order:\n" + "\n".join(wrong)
