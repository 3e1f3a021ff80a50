#!/usr/bin/env bash
# make bench: every petrel-bench workload against a fresh petreld each, in
# well under 5 minutes.  Each workload gets its own server (release build,
# empty data directory, durable storage as shipped) on free loopback ports,
# stopped afterwards; the RESULT lines and the markdown rows are collected
# in $OUT (default build/bench-results.md).  Exit status: 0 when every
# workload reported "ok": true, 1 otherwise.
#
# Workloads: idle login p2p rate fanout over TCP, then idle-ws login-ws
# p2p-ws (the same over WebSocket).
#
# Usage: scripts/bench-all.sh [BUILD_DIR]   (env: BENCH_ONLY="p2p rate" to
# run a subset, BENCH_SCALE=0.2 to shrink connection counts and durations,
# BENCH_STORE=postgres to run every workload on PostgreSQL instead of
# SQLite: a server of its own (scripts/pg-test-server.sh: durable commits,
# shared_buffers 128MB), a fresh database per workload, and PostgreSQL's
# CPU counted as server CPU through petrel-bench --db-pid)
set -u

BUILD=${1:-build}
PETRELD=$BUILD/petreld
BENCH=$BUILD/petrel-bench
OUT=${OUT:-$BUILD/bench-results.md}
ONLY=${BENCH_ONLY:-idle login p2p rate fanout idle-ws login-ws p2p-ws}
SCALE=${BENCH_SCALE:-1}
SECRET=benchsecret
WORK=$(mktemp -d /tmp/petrel-bench.XXXXXX)
SERVER_PID=
STORE=${BENCH_STORE:-sqlite}
PG_URL=
DB_ARGS=()

for f in "$PETRELD" "$BENCH"; do
    [ -x "$f" ] || { echo "bench-all: $f missing (make build)" >&2; exit 2; }
done

cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [ -n "$PG_URL" ] && "$(dirname "$0")/pg-test-server.sh" stop "$WORK/pg"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# scaled integer: n * SCALE, at least min
scaled() { awk -v n="$1" -v s="$SCALE" -v m="${2:-1}" 'BEGIN { v = int(n * s); print (v < m ? m : v) }'; }

free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}

if [ "$STORE" = postgres ]; then
    chmod 711 "$WORK" # run as root, the server runs as postgres and must reach $WORK/pg
    PG_URL=$("$(dirname "$0")/pg-test-server.sh" start "$WORK/pg" "$(free_port)") || exit 2
    DB_ARGS=(--db-pid "$(head -n 1 "$WORK/pg/data/postmaster.pid")")
fi

start_server() {
    TCP=$(free_port)
    HTTP=$(free_port)
    local data=$WORK/data-$1 store=()
    rm -rf "$data" && mkdir -p "$data"
    if [ -n "$PG_URL" ]; then
        psql "$PG_URL/postgres" -qAtc "CREATE DATABASE bench_${1//-/_}" >/dev/null || return 1
        store=(--store="$PG_URL/bench_${1//-/_}")
    fi
    "$PETRELD" --data-dir="$data" --tcp-listen=127.0.0.1:"$TCP" --http-listen=127.0.0.1:"$HTTP" \
        "${store[@]}" --app-secret=$SECRET --workers=2 --login-policy=4 --log-level=warn \
        >"$WORK/server-$1.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "bench-all: petreld did not start for $1:" >&2
    cat "$WORK/server-$1.log" >&2
    return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

run() { # name, then petrel-bench arguments
    local name=$1
    shift
    start_server "$name" || return 1
    echo "== $name: petrel-bench $* (server pid $SERVER_PID)" >&2
    "$BENCH" "$@" --tcp 127.0.0.1:"$TCP" --http 127.0.0.1:"$HTTP" --secret $SECRET \
        --pid "$SERVER_PID" "${DB_ARGS[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err"
    local rc=$?
    stop_server
    tail -n 4 "$WORK/$name.err" >&2
    {
        echo
        echo "### $name"
        echo
        echo '```'
        echo "petrel-bench $*"
        echo '```'
        echo
        grep '^| workload' "$WORK/$name.err" | head -n 1
        grep '^| workload' "$WORK/$name.err" | head -n 1 | sed -E 's/[^|]+/---/g'
        grep '^|' "$WORK/$name.out"
        echo
        grep '^RESULT' "$WORK/$name.out"
    } >>"$OUT"
    [ $rc -eq 0 ] || echo "bench-all: $name FAILED (exit $rc)" >&2
    return $rc
}

has() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

{
    echo "# petrel-bench results"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')," \
        "$(nproc) cores, scale $SCALE; durable storage (store_sync_full=1), store $STORE."
} >"$OUT"

fail=0
start=$(date +%s)
if has idle; then
    run idle idle --conns "$(scaled 10000 100)" --hold "$(scaled 20 3)" || fail=1
fi
if has login; then
    run login login --conns "$(scaled 5000 100)" --storm || fail=1
fi
if has p2p; then
    run p2p p2p --clients "$(scaled 1000 10)" --window 8 --size 64 --warmup "$(scaled 3 1)" \
        --duration "$(scaled 10 2)" || fail=1
fi
if has rate; then
    # --drain 10: when the rate is not met, the backlog takes seconds to
    # deliver, and a 2 s drain would report late deliveries as lost
    run rate rate --clients "$(scaled 1000 10)" --rate "$(scaled 10000 100)" --size 64 \
        --warmup "$(scaled 3 1)" --duration "$(scaled 10 2)" --drain 10 || fail=1
fi
if has fanout; then
    # one group of 2,000 members, all online, plus 4 PING probes; 5 one-shot
    # fan-outs, then one sender with one message in flight
    run fanout fanout --members "$(scaled 2000 10)" --senders 1 --window 1 --probes 4 \
        --singles 5 --warmup "$(scaled 3 1)" --duration "$(scaled 10 2)" || fail=1
fi
# The same protocol over WebSocket (GET /ws on the HTTP port, wslay frames).
if has idle-ws; then
    run idle-ws idle --ws --conns "$(scaled 10000 100)" --hold "$(scaled 10 3)" || fail=1
fi
if has login-ws; then
    run login-ws login --ws --conns "$(scaled 5000 100)" --storm || fail=1
fi
if has p2p-ws; then
    run p2p-ws p2p --ws --clients "$(scaled 1000 10)" --window 8 --size 64 --warmup "$(scaled 3 1)" \
        --duration "$(scaled 10 2)" || fail=1
fi
echo "bench-all: $(( $(date +%s) - start )) s in all; results in $OUT" >&2
exit $fail
