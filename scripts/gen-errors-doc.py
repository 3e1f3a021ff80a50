#!/usr/bin/env python3
"""
Write the error code table of include/petrel/errors.h into the docs.

docs/PROTOCOL.md and docs/API.md each hold the table between the lines
`<!-- errors:begin ... -->` and `<!-- errors:end -->`; this script
rewrites what is between them from the PETREL_ERRORS rows, sorted by code.
tests/unit/common/test_errors.c renders the same table from the C table
and fails when a doc differs, so run this after adding or changing a row.

Usage: scripts/gen-errors-doc.py [--check]   (--check: exit 1 if a doc
would change, write nothing)
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
HEADER = os.path.join(ROOT, "include", "petrel", "errors.h")
DOCS = [os.path.join(ROOT, "docs", "PROTOCOL.md"), os.path.join(ROOT, "docs", "API.md")]
BEGIN = ("<!-- errors:begin (generated from include/petrel/errors.h by "
         "scripts/gen-errors-doc.py: do not edit by hand) -->")
END = "<!-- errors:end -->"
ROW_RE = re.compile(r'X\(\s*(\w+),\s*(\d+),\s*(\d+),\s*(SEED|PETREL),\s*"((?:[^"\\]|\\.)*)"\s*\)')


def rows():
    text = open(HEADER, encoding="utf-8").read()
    body = text[text.index("#define PETREL_ERRORS(X)"):text.index("enum petrel_error {")]
    out = [(int(c), n, int(h), o.lower(), t.replace('\\"', '"'))
           for n, c, h, o, t in ROW_RE.findall(body)]
    assert len(out) > 50, "cannot parse the PETREL_ERRORS rows of errors.h"
    return sorted(out)


def table():
    lines = [BEGIN, "| code | name | HTTP | origin | message |", "|---|---|---|---|---|"]
    for code, name, http, origin, text in rows():
        lines.append(f"| {code} | `PETREL_ERR_{name}` | {http} | {origin} | {text} |")
    lines.append(END)
    return "\n".join(lines) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    new_table = table()
    stale = []
    for path in DOCS:
        text = open(path, encoding="utf-8").read()
        b = text.find("<!-- errors:begin")
        e = text.find(END)
        if b < 0 or e < b:
            sys.exit(f"{path}: no <!-- errors:begin --> ... {END} block")
        new = text[:b] + new_table + text[e + len(END) + 1:]
        if new != text:
            stale.append(path)
            if not check:
                open(path, "w", encoding="utf-8").write(new)
    for path in stale:
        print(("stale: " if check else "wrote: ") + os.path.relpath(path, ROOT))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
