#!/usr/bin/env python3
"""Where a write workload's pages go: count the frames of a SQLite WAL file
by the table or index (b-tree) each page belongs to.

Usage: wal-frames.py DATA_DIR

DATA_DIR holds petrel.db and petrel.db-wal from a petreld that was killed
(SIGKILL) under load, so that the WAL was not checkpointed away; start it
with --store-wal-checkpoint-pages=1000000 so the WAL holds every frame of
the run.  Both files are copied to a temporary directory; the copy is
opened with Python's sqlite3 (applying the WAL) and the dbstat virtual
table maps page numbers to b-tree names.  A page written by several
commits counts once per commit, as it does in the WAL.  See
docs/PERFORMANCE.md (Performance pass, second steps)."""
import collections
import os
import shutil
import sqlite3
import struct
import sys
import tempfile


def frames(path):
    """-> (page size, [(page number, is_commit_frame)]) of the valid frames."""
    with open(path, "rb") as f:
        wal = f.read()
    if len(wal) < 32:
        return 0, []
    _, _, psz, _, salt1, salt2, _, _ = struct.unpack(">IIIIIIII", wal[:32])
    out, off = [], 32
    while off + 24 + psz <= len(wal):
        pg, commit, s1, s2 = struct.unpack(">IIII", wal[off:off + 16])
        if (s1, s2) != (salt1, salt2):
            break
        out.append((pg, commit != 0))
        off += 24 + psz
    return psz, out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = sys.argv[1]
    psz, fr = frames(os.path.join(src, "petrel.db-wal"))
    if not fr:
        sys.exit("no frames in %s/petrel.db-wal" % src)
    tmp = tempfile.mkdtemp(prefix="wal-frames.")
    try:
        for f in ("petrel.db", "petrel.db-wal"):
            shutil.copy(os.path.join(src, f), os.path.join(tmp, f))
        db = sqlite3.connect(os.path.join(tmp, "petrel.db"))
        owner = dict((p, n) for n, p in db.execute("SELECT name, pageno FROM dbstat"))
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    commits = sum(1 for _, c in fr if c)
    print("page size %d, %d frames, %d commits, %.1f frames per commit"
          % (psz, len(fr), commits, len(fr) / max(commits, 1)))
    count = collections.Counter(owner.get(p, "(free or new)") for p, _ in fr)
    for name, n in count.most_common():
        if 100.0 * n / len(fr) >= 0.1:
            print("%-40s %8d  %5.1f%%" % (name, n, 100.0 * n / len(fr)))


if __name__ == "__main__":
    main()
