#!/usr/bin/env bash
# Soak under attack: 100 viewers of a 2 Mbit/s, 30 frames/s stream for SECONDS (default 600)
# with nobody else on the port, then SECONDS more on a fresh server of the same setup while
# bench-hostile-load attacks it (junk requests at 50/s, 200 half-open requests, a ping flooder,
# a slow login body). Compare the two runs' lost frames, delivery latency, RSS and descriptors.
#   tests/bench/hostile/soak.sh [SECONDS [--reconnect-at-once]]
# With --reconnect-at-once the flooder comes back the moment it is closed (a connection flood
# from one address, beyond the mix above).
set -euo pipefail
cd "$(dirname "$0")/../../.."
seconds="${1:-600}" flood="${2:-}"
ninja -C build >/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"
bench=build/tests/bench port=18090
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# A login page for the slow body to aim at; the stream itself is public, as for 100 viewers.
printf 'correct horse battery\n' | build/launcher/camcast passwd alice --users "$dir/users" >/dev/null
# Viewers all come from 127.0.0.1 (128 connections at most, 100 of them at once: a burst of twice 60 a second);
# attackers from other addresses.
props="max-connections=600 max-connections-per-address=128 max-connection-rate=60 users-file=$dir/users public=true"

run() {  # name attacked
  local name=$1 attacked=$2 pid load=""
  "$bench/bench-fanout-server" $port 2000000 30 60 "$props" >/dev/null & pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  if [ "$attacked" = 1 ]; then
    "$bench/bench-hostile-load" $port $((seconds + 8)) $flood >"$dir/load.txt" & load=$!
  fi
  echo "--- $name: 100 viewers, ${seconds}s"
  "$bench/bench-fanout-client" --port $port --path /bench --clients 100 --seconds "$seconds" \
    --warmup 5 --server-pid $pid || true
  if [ -n "$load" ]; then wait "$load"; cat "$dir/load.txt"; fi
  kill $pid; wait $pid 2>/dev/null || true
}

run quiet 0
run attacked 1
