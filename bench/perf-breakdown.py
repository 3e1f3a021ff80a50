#!/usr/bin/env python3
"""Break a petreld `perf record -g` profile down by stage of the message path.

    perf script -i perf.data -F tid,comm,ip,sym --inline > perf.script
    bench/perf-breakdown.py perf.script

Each sample goes to the first category below whose function names appear
anywhere in its call stack (so "COMMIT" only holds what the earlier ones did
not claim, e.g. a checkpoint inside COMMIT counts as checkpoint).  Prints the
share of all samples and how much of it was in the kernel (leaf frame in
kernel space).  Used for the profile in docs/PERFORMANCE.md; the function
names are petreld's (src/server/) and SQLite's exported ones.
"""
import collections
import sys

CATEGORIES = [
    ("WAL checkpoints (checkpointer thread, writer tail)", ["sqlite3WalCheckpoint", "sqlite3_wal_checkpoint_v2"]),
    ("writer: fdatasync", ["fdatasync", "__x64_sys_fdatasync"]),
    ("writer: COMMIT (WAL frame writes)", ["sqlite_tx_commit"]),
    ("writer: page cache full: recycle or spill a page", ["sqlite3PcacheFetchStress"]),
    ("writer: fan-out 1103/1108 + idem_put (send_done)", ["send_done"]),
    ("writer: 2 history rows (history_insert)", ["history_insert"]),
    ("writer: body row (body_insert)", ["body_insert"]),
    ("writer: 2 conversations (conv_on_message)", ["conv_on_message"]),
    ("writer: pair sequence (next_pair_seq)", ["next_pair_seq"]),
    ("writer: 2 user checks (user_check)", ["user_check"]),
    ("writer: dedup lookup, rest of sqlite_msg_p2p", ["sqlite_msg_p2p"]),
    ("writer: SAVEPOINT/RELEASE per op", ["sqlite_op_begin", "sqlite_op_end"]),
    ("writer: BEGIN", ["sqlite_tx_begin"]),
    ("writer: other (queue, op_free, stats)", ["writer_main"]),
    ("workers: flush to sockets (writev)", ["flush_conn", "conn_flush_all"]),
    ("workers: ack 1046 (send_committed)", ["send_committed"]),
    ("workers: deliver 1103 (push_on_loop)", ["push_on_loop"]),
    ("workers: JSON parse of the uplink (json_loadb)", ["json_loadb"]),
    ("workers: MSG_P2P checks, idem_get, submit", ["msg_on_packet"]),
    ("workers: frame decode, dispatch", ["dispatch_frames", "sockframe_input", "gw_on_packet"]),
    ("workers: other async callbacks", ["on_async"]),
    ("workers: socket read", ["read", "__GI___libc_read"]),
    ("workers: epoll_wait", ["epoll_wait"]),
    ("workers: other loop", ["uv_run"]),
]


def clean(name):
    return name.replace(" (inlined)", "").split(".isra")[0].split(".constprop")[0].split(".part")[0]


def samples(path):
    cur = None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if cur:
                    yield cur
                cur = None
            elif line[0] not in " \t":
                cur = []
            elif cur is not None:
                p = line.split(None, 1)
                cur.append((p[0], clean(p[1].strip()) if len(p) > 1 else "?"))
    if cur:
        yield cur


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: perf-breakdown.py PERF_SCRIPT_OUTPUT")
    total = collections.Counter()
    kernel = collections.Counter()
    n = 0
    for frames in samples(sys.argv[1]):
        n += 1
        names = {name for _, name in frames}
        cat = "other"
        for c, keys in CATEGORIES:
            if any(k in names for k in keys):
                cat = c
                break
        total[cat] += 1
        if frames and frames[0][0].startswith("ffffffff"):
            kernel[cat] += 1
    if n == 0:
        sys.exit("no samples")
    for cat, v in total.most_common():
        print(f"{100 * v / n:5.1f}%  (kernel {100 * kernel[cat] / v:3.0f}%)  {cat}")
    print(f"{n} samples, {100 * sum(kernel.values()) / n:.1f}% in the kernel")


if __name__ == "__main__":
    main()
