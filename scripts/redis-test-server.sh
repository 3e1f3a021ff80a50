#!/usr/bin/env bash
# A throw-away Redis server for the tests and benches: no persistence, on
# 127.0.0.1:PORT, its pid file and log in DIR.  No system service is used.
#   scripts/redis-test-server.sh start DIR PORT   - prints redis://127.0.0.1:PORT
#   scripts/redis-test-server.sh stop DIR         - SIGKILL-free shutdown (no save)
set -euo pipefail
BIN=$(command -v redis-server || true)
[ -n "$BIN" ] || { echo "redis-test-server: redis-server not installed (scripts/deps.sh test)" >&2; exit 1; }
cmd=${1:?start|stop}; dir=${2:?DIR}
case "$cmd" in
start)
  port=${3:?PORT}
  mkdir -p "$dir"
  "$BIN" --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --dir "$dir" --save "" --appendonly no \
    --protected-mode no --maxclients 20000 \
    --client-output-buffer-limit "pubsub 256mb 64mb 60" >/dev/null
  want=$(cd "$dir" && pwd -P)
  for _ in $(seq 1 100); do
    # ours, not another test's server that took the port first: its dir is DIR
    if [ "$(redis-cli -p "$port" config get dir 2>/dev/null | sed -n 2p)" = "$want" ]; then
      echo "redis://127.0.0.1:$port"; exit 0
    fi
    sleep 0.05
  done
  echo "redis-test-server: no answer on port $port (see $dir/redis.log)" >&2; exit 1
  ;;
stop)
  [ -f "$dir/redis.pid" ] || exit 0
  pid=$(cat "$dir/redis.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  ;;
*) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
