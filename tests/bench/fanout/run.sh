#!/usr/bin/env bash
# Fan-out benchmark: camcast's wssink against the JSMpeg relay model (Node `ws` broadcast), same
# stream (2 Mbit/s, 30 frames/s, 2 s GOP), same load client, same machine, one after the other.
#   tests/bench/fanout/run.sh [SECONDS] [CLIENT_COUNTS...]
# With OLD_PLUGIN_DIR set (an older commit's build/plugins/camcast), each count also runs
# "camcast-old": the same server program with that plugin (OLD_SERVER_ARGS: its sink properties).
set -euo pipefail
cd "$(dirname "$0")/../../.."
seconds="${1:-20}"
shift || true
counts=("${@:-10 100 300 1000}")
counts=(${counts[@]})
bench=build/tests/bench
ninja -C build >/dev/null
here=tests/bench/fanout
[ -d "$here/node_modules/ws" ] || (cd "$here" && npm install --no-audit --no-fund --silent >/dev/null)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # 1000 clients need more than 1024 descriptors
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"
bitrate=2000000 fps=30 gop=60 port=18080

run() {  # name clients slow
  local name=$1 clients=$2 slow=$3 pid
  if [ "$name" = camcast ]; then
    GST_REGISTRY_1_0=/tmp/camcast-bench-fanout-ours.bin \
      "$bench/bench-fanout-server" $port $bitrate $fps $gop >/dev/null & pid=$!
  elif [ "$name" = camcast-old ]; then
    # A plugin older than the connection caps has none to set: OLD_SERVER_ARGS (by default
    # keepalive-interval=0, a property every version has); set it empty for one that has them.
    GST_PLUGIN_PATH="$OLD_PLUGIN_DIR" GST_REGISTRY_1_0=/tmp/camcast-bench-fanout-old.bin \
      "$bench/bench-fanout-server" $port $bitrate $fps $gop ${OLD_SERVER_ARGS-keepalive-interval=0} \
      >/dev/null &
    pid=$!
  else
    node "$here/relay.js" $port $bitrate $fps >/dev/null & pid=$!
  fi
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.05
  done
  echo "--- $name, $clients clients, $slow slow at 200 kbit/s"
  "$bench/bench-fanout-client" --port $port --path /bench --clients "$clients" --slow "$slow" \
    --slow-rate 200000 --seconds "$seconds" --warmup 3 --server-pid $pid || true
  kill $pid; wait $pid 2>/dev/null || true
}

for n in "${counts[@]}"; do
  run camcast "$n" 0
  [ -z "${OLD_PLUGIN_DIR:-}" ] || run camcast-old "$n" 0
  run node-ws-relay "$n" 0
done
run camcast 100 10
run node-ws-relay 100 10
