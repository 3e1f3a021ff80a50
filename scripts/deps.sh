#!/usr/bin/env bash
# Installs the Debian packages petrel needs, only the missing ones.
#   scripts/deps.sh build   - libraries and tools to build petreld, libpetrel and petrel
#   scripts/deps.sh test    - build deps plus what the tests need (cmocka, pytest,
#                             chromium and a CJK font for the browser tests, node/npm,
#                             clang and libFuzzer for the fuzz corpus regression)
#   scripts/deps.sh fuzz    - build deps plus clang and libFuzzer (make fuzz)
set -euo pipefail
want=(build-essential cmake pkg-config libuv1-dev libwslay-dev libhttp-parser-dev
      libjansson-dev libsqlite3-dev libpq-dev libhiredis-dev libssl-dev zlib1g-dev)
if [ "${1:-build}" = test ]; then
  want+=(libcmocka-dev python3 python3-pytest python3-prometheus-client sqlite3 postgresql redis-server
         chromium fonts-wqy-microhei fonts-noto-color-emoji)
fi
if [ "${1:-build}" = test ] || [ "${1:-build}" = fuzz ]; then
  # clang with -fsanitize=fuzzer: libFuzzer and the sanitizer runtimes are
  # in libclang-rt-dev (Debian 12: clang 14)
  want+=(clang libclang-rt-dev)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${1:-build}" = test ]; then
  # node and npm by command: a NodeSource nodejs already ships npm, and
  # Debian's npm package would conflict with it
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
