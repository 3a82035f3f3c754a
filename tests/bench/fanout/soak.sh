#!/usr/bin/env bash
# Soak: 100 viewers of which 10 read at 200 kbit/s, for SECONDS (default 600): camcast's server
# memory must stay flat (the Node relay's grows, since it never drops).
#   tests/bench/fanout/soak.sh [SECONDS] [camcast|node-ws-relay]
set -euo pipefail
cd "$(dirname "$0")/../../.."
seconds="${1:-600}" who="${2:-camcast}"
ninja -C build >/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"
here=tests/bench/fanout port=18081
if [ "$who" = camcast ]; then
  build/tests/bench/bench-fanout-server $port 2000000 30 60 >/dev/null & pid=$!
else
  [ -d "$here/node_modules/ws" ] || (cd "$here" && npm install --no-audit --no-fund --silent)
  node "$here/relay.js" $port 2000000 30 >/dev/null & pid=$!
fi
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
echo "--- soak: $who, 100 clients, 10 slow, ${seconds}s"
build/tests/bench/bench-fanout-client --port $port --clients 100 --slow 10 --slow-rate 200000 \
  --seconds "$seconds" --warmup 5 --server-pid $pid || true
kill $pid; wait $pid 2>/dev/null || true
