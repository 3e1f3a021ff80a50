#!/usr/bin/env python3
"""
The layer rules of src/server/ (docs/ARCHITECTURE.md "Layers"), checked.

Each folder of src/server/ is one layer or concern, with a rank; a file may
depend only on its own folder or on folders of a lower rank:

  1. includes: every `#include "server/<folder>/..."` points down or sideways
     within its folder;
  2. calls: every symbol a compiled object of the server takes from another
     object (nm) is defined in its own folder or a lower one -- this catches
     a call upward through a declaration in a low header, which the include
     rule alone would not;
  3. SQLite stays in store/sqlite/ (`#include <sqlite3.h>` nowhere else),
     libpq in store/pg/ (`#include <libpq-fe.h>` nowhere else), hiredis in
     cluster/;
  4. no source file of src/ is longer than MAX_LINES lines.

Usage: scripts/check-layers.py [BUILD_DIR]   (default: build; the object
check is skipped with a note when the build tree has no objects).
Exit status 1 with one line per violation.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SERVER = os.path.join(ROOT, "src", "server")
MAX_LINES = 1500

# Lowest first.  Folders of equal rank may not depend on each other.
RANKS = {
    "core": 0,
    "net": 1,
    "model": 2,
    "store": 3,
    "store/sqlite": 3,   # a part of store/: store/ may open it, nothing above
    "store/pg": 3,       # the PostgreSQL backend, the same
    "seam": 4,
    "cluster": 4.5,      # seam/ implementations on Redis (cluster mode)
    "deliver": 5,
    "im": 6,
    "notify": 7,
    "gateway": 8,
    "api": 9,
    "app": 10,
}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"server/([a-z_/]+)/[A-Za-z0-9_]+\.h"', re.M)


def folder_of(path):
    rel = os.path.relpath(os.path.dirname(path), SERVER)
    return rel.replace(os.sep, "/")


def may_depend(src, dst):
    if src == dst:
        return True
    if dst in ("store/sqlite", "store/pg"):
        return src in ("store", dst)
    if src not in RANKS or dst not in RANKS:
        return False
    return RANKS[dst] < RANKS[src] or (src in ("store/sqlite", "store/pg") and dst == "store")


def sources(top, exts=(".c", ".h")):
    for d, _, files in os.walk(top):
        for f in sorted(files):
            if f.endswith(exts):
                yield os.path.join(d, f)


def check_includes(errors):
    for path in sources(SERVER):
        src = folder_of(path)
        rel = os.path.relpath(path, ROOT)
        if src not in RANKS:
            errors.append(f"{rel}: folder {src!r} has no rank in scripts/check-layers.py")
            continue
        text = open(path, encoding="utf-8").read()
        for m in INCLUDE_RE.finditer(text):
            dst = m.group(1)
            if not may_depend(src, dst):
                line = text.count("\n", 0, m.start()) + 1
                errors.append(f"{rel}:{line}: {src}/ includes {dst}/ (upward or sideways)")
        if src != "store/sqlite" and re.search(r'#\s*include\s+<sqlite3\.h>', text):
            errors.append(f"{rel}: includes <sqlite3.h> outside store/sqlite/")
        if src != "store/pg" and re.search(r'#\s*include\s+<libpq-fe\.h>', text):
            errors.append(f"{rel}: includes <libpq-fe.h> outside store/pg/")
        if src != "cluster" and re.search(r'#\s*include\s+<hiredis/', text):
            errors.append(f"{rel}: includes <hiredis/...> outside cluster/")


def check_lengths(errors):
    for path in sources(os.path.join(ROOT, "src")):
        n = sum(1 for _ in open(path, encoding="utf-8"))
        if n > MAX_LINES:
            errors.append(f"{os.path.relpath(path, ROOT)}: {n} lines (at most {MAX_LINES})")


def nm(obj):
    out = subprocess.run(["nm", "--defined-only", "-g", obj], capture_output=True, text=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3}
    out = subprocess.run(["nm", "-u", obj], capture_output=True, text=True).stdout
    undefined = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, undefined


def check_symbols(errors, build):
    objdir = os.path.join(build, "CMakeFiles", "petrel_server.dir", "src", "server")
    if not os.path.isdir(objdir):
        print(f"check-layers: no objects under {objdir}; call check skipped")
        return
    owner, needs = {}, {}
    for d, _, files in os.walk(objdir):
        for f in files:
            if not f.endswith(".c.o"):
                continue
            obj = os.path.join(d, f)
            src = os.path.relpath(d, objdir).replace(os.sep, "/")
            name = os.path.join(src, f[:-2])
            if not os.path.exists(os.path.join(SERVER, name)):
                continue   # a stale object of a file that moved
            defined, undefined = nm(obj)
            for s in defined:
                owner[s] = (src, name)
            needs[name] = (src, undefined)
    for name, (src, undefined) in sorted(needs.items()):
        for s in sorted(undefined):
            if s not in owner:
                continue
            dst, dname = owner[s]
            if not may_depend(src, dst):
                errors.append(f"src/server/{name}: calls {s} of src/server/{dname} ({src}/ -> {dst}/)")


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    errors = []
    check_includes(errors)
    check_lengths(errors)
    check_symbols(errors, build)
    for e in errors:
        print(e)
    if errors:
        print(f"check-layers: {len(errors)} violation(s)")
        return 1
    print("check-layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
