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
# BENCH_RATE=5000 for another rate than 10,000 msgs/s in the rate workload,
# BENCH_STORE=postgres to run every workload on PostgreSQL instead of
# SQLite: a server of its own (scripts/pg-test-server.sh: durable commits,
# shared_buffers 128MB), a fresh database per workload, and PostgreSQL's
# CPU counted as server CPU through petrel-bench --db-pid; BENCH_STORE=cluster
# for cluster mode: the same PostgreSQL plus a Redis
# (scripts/redis-test-server.sh, emptied between workloads) and two petreld
# nodes per workload (--node-id 1 and 2, the same database); p2p, rate and
# p2p-ws put their receivers on node 2 (--tcp-peer / --http-peer), fanout
# half its members, and they read
# both nodes' /metrics (--metrics); both petreld, PostgreSQL and Redis
# counted as server CPU)
set -u

BUILD=${1:-build}
PETRELD=$BUILD/petreld
BENCH=$BUILD/petrel-bench
OUT=${OUT:-$BUILD/bench-results.md}
ONLY=${BENCH_ONLY:-idle login p2p rate fanout idle-ws login-ws p2p-ws}
SCALE=${BENCH_SCALE:-1}
RATE=${BENCH_RATE:-10000}   # the rate workload's msgs/s (before BENCH_SCALE)
SECRET=benchsecret
WORK=$(mktemp -d /tmp/petrel-bench.XXXXXX)
SERVER_PID=      # every petreld of the current workload, comma-separated
SERVER_PIDS=()
STORE=${BENCH_STORE:-sqlite}
PG_URL=
REDIS_URL=
DB_ARGS=()
NODES=1
case "$STORE" in
sqlite | postgres) ;;
cluster) NODES=2 ;;
*) echo "bench-all: BENCH_STORE=$STORE: want sqlite, postgres or cluster" >&2; exit 2 ;;
esac

for f in "$PETRELD" "$BENCH"; do
    [ -x "$f" ] || { echo "bench-all: $f missing (make build)" >&2; exit 2; }
done

cleanup() {
    declare -F stop_server >/dev/null && stop_server
    [ -n "$REDIS_URL" ] && "$(dirname "$0")/redis-test-server.sh" stop "$WORK/redis"
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

if [ "$STORE" != sqlite ]; then
    chmod 711 "$WORK" # run as root, the server runs as postgres and must reach $WORK/pg
    PG_URL=$("$(dirname "$0")/pg-test-server.sh" start "$WORK/pg" "$(free_port)") || exit 2
    DB_PIDS=$(head -n 1 "$WORK/pg/data/postmaster.pid")
    if [ "$STORE" = cluster ]; then
        REDIS_URL=$("$(dirname "$0")/redis-test-server.sh" start "$WORK/redis" "$(free_port)") || exit 2
        DB_PIDS=$DB_PIDS,$(cat "$WORK/redis/redis.pid")
    fi
    DB_ARGS=(--db-pid "$DB_PIDS")
fi

# One petreld (node i of the workload): TCP_i / HTTP_i are its ports.
start_node() { # workload name, node number, petreld arguments of the store
    local name=$1 i=$2 data=$WORK/data-$1-$2 tcp http
    shift 2
    tcp=$(free_port)
    http=$(free_port)
    rm -rf "$data" && mkdir -p "$data"
    "$PETRELD" --data-dir="$data" --tcp-listen=127.0.0.1:"$tcp" --http-listen=127.0.0.1:"$http" \
        "$@" --app-secret=$SECRET --workers=2 --login-policy=4 --log-level=warn \
        >"$WORK/server-$name-$i.log" 2>&1 &
    SERVER_PIDS+=($!)
    SERVER_PID=$(IFS=,; echo "${SERVER_PIDS[*]}")
    eval "TCP_$i=$tcp HTTP_$i=$http"
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$http/healthz" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "bench-all: petreld (node $i) did not start for $name:" >&2
    cat "$WORK/server-$name-$i.log" >&2
    return 1
}

start_server() {
    local store=() db=bench_${1//-/_}
    if [ -n "$PG_URL" ]; then
        psql "$PG_URL/postgres" -qAtc "CREATE DATABASE $db" >/dev/null || return 1
        store=(--store="$PG_URL/$db")
    fi
    if [ -n "$REDIS_URL" ]; then
        # a clean Redis per workload: no node, session or subscription of the last one
        redis-cli -u "$REDIS_URL" flushall >/dev/null || return 1
        store+=(--redis="$REDIS_URL")
        # node 1 first: it creates the default app in the new database
        start_node "$1" 1 "${store[@]}" --node-id=1 || return 1
        start_node "$1" 2 "${store[@]}" --node-id=2 || return 1
    else
        start_node "$1" 1 "${store[@]}" || return 1
    fi
    TCP=$TCP_1
    HTTP=$HTTP_1
}

stop_server() {
    local p
    for p in "${SERVER_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${SERVER_PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    SERVER_PIDS=()
    SERVER_PID=
}

run() { # name, then petrel-bench arguments
    local name=$1 peer=()
    shift
    start_server "$name" || { stop_server; return 1; }
    if [ "$NODES" = 2 ]; then
        case "$name" in
        # the receivers on node 2 (fanout: half the members): every
        # message crosses the bus
        p2p | rate | p2p-ws | fanout)
            peer=(--tcp-peer 127.0.0.1:"$TCP_2" --http-peer 127.0.0.1:"$HTTP_2"
                --metrics 127.0.0.1:"$HTTP_1",127.0.0.1:"$HTTP_2") ;;
        esac
    fi
    echo "== $name: petrel-bench $*${peer[*]:+ ${peer[*]}} (server pid $SERVER_PID${DB_ARGS[*]:+, db pid ${DB_ARGS[1]}})" >&2
    "$BENCH" "$@" --tcp 127.0.0.1:"$TCP" --http 127.0.0.1:"$HTTP" --secret $SECRET \
        "${peer[@]}" --pid "$SERVER_PID" "${DB_ARGS[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err"
    local rc=$?
    stop_server
    tail -n 4 "$WORK/$name.err" >&2
    {
        echo
        echo "### $name"
        echo
        echo '```'
        echo "petrel-bench $*${peer[*]:+ ${peer[*]}}"
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
    run rate rate --clients "$(scaled 1000 10)" --rate "$(scaled "$RATE" 100)" --size 64 \
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
