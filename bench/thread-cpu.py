#!/usr/bin/env python3
"""Per-thread CPU of running processes over an interval (docs/PERFORMANCE.md,
*Cluster mode*: which petreld thread pays for the bus).

    bench/thread-cpu.py [--seconds 8] [--names] [--per N] PID [PID ...]

Reads utime + stime of every /proc/PID/task/TID/stat, sleeps, reads again
and prints one line per thread that used CPU: pid, tid, name, CPU seconds
(and microseconds per unit with --per N, e.g. the messages delivered in the
interval).  petreld does not name its threads, so --names asks gdb, after
the interval, for each thread's backtrace and names it by the function
just under start_thread (writer_main, dq_main, publisher, subscriber,
uv_run for a worker loop, ...); gdb stops the process for a moment, which
is why it runs only once the interval is over.  Without gdb (or without
--names) the name is the kernel's comm.
"""
import argparse
import os
import re
import subprocess
import sys
import time


def snap(pids):
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    s = f.read()
            except OSError:
                continue
            close = s.rfind(")")
            fields = s[close + 2:].split()
            if close < 0 or len(fields) < 13:
                continue
            out[(pid, int(tid))] = (s[s.find("(") + 1:close], int(fields[11]) + int(fields[12]))
    return out


def gdb_names(pid):
    """tid -> the function under start_thread (or 'main'), from gdb."""
    try:
        bt = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                            capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    names, tid, last = {}, None, None
    for line in bt.splitlines():
        m = re.match(r"Thread \d+ \(.*LWP (\d+)\)", line)
        if m:
            tid, last = int(m.group(1)), None
            continue
        m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(", line)
        if m and tid is not None:
            fn = m.group(1)
            if fn == "start_thread":
                names[tid] = last or "?"
                tid = None
            elif fn == "main":   # the main thread keeps its comm (petreld, redis-server)
                tid = None
            elif fn != "??":
                last = fn
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--names", action="store_true", help="name threads with gdb afterwards")
    ap.add_argument("--per", type=float, default=0, help="also print us per this many units")
    ap.add_argument("pids", nargs="+", type=int)
    a = ap.parse_args()
    hz = os.sysconf("SC_CLK_TCK")
    s0 = snap(a.pids)
    t0 = time.monotonic()
    time.sleep(a.seconds)
    s1 = snap(a.pids)
    dt = time.monotonic() - t0
    names = {}
    if a.names:
        for pid in a.pids:
            names.update(gdb_names(pid))
    print(f"# interval {dt:.2f} s")
    for key in sorted(s1):
        if key not in s0:
            continue
        cpu = (s1[key][1] - s0[key][1]) / hz
        if cpu <= 0:
            continue
        name = names.get(key[1], s1[key][0])
        per = f" {cpu / a.per * 1e6:8.2f} us/unit" if a.per > 0 else ""
        print(f"{key[0]:>8} {key[1]:>8} {name:<20} {cpu:7.2f} s{per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
