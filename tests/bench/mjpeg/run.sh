#!/usr/bin/env bash
# MJPEG benchmark (issue: mjpegsink). One live 1280x720 stream at 15 fps, jpegenc quality 80,
# into mjpegsink; every client is bench-mjpeg-client on the same machine and clock.
#  1. Per protocol (pull WebSocket, then MJPEG), a fast viewer and one throttled to a quarter of
#     the stream's bitrate, at the same time: frames/s, frame age and transfer time.
#  2. Server CPU with no viewer (the JPEG encoder alone) and with 100 MJPEG viewers.
#
#   tests/bench/mjpeg/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
seconds="${1:-20}"
ninja -C build >/dev/null
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"
bench=build/tests/bench
port=18120
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

"$bench/bench-mjpeg-server" $port 1280 720 15 80 >/dev/null & server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.05
done
bytes_in() {
  curl -s "http://127.0.0.1:$port/api/streams" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["streams"][0]["bytes_in"])'
}
sleep 1
a=$(bytes_in); sleep 3; b=$(bytes_in)
stream=$(( (b - a) / 3 ))
quarter=$(( stream / 4 ))
echo "stream: $(( stream / 1000 )) kB/s ($(( stream / 15 / 1000 )) kB a frame); throttled viewer: $(( quarter / 1000 )) kB/s"

for mode in pull multipart; do
  "$bench/bench-mjpeg-client" --port $port --mode $mode --seconds "$seconds" &
  fast=$!
  "$bench/bench-mjpeg-client" --port $port --mode $mode --rate $quarter --seconds "$seconds"
  wait $fast
done

"$bench/bench-mjpeg-client" --port $port --mode multipart --clients 0 --seconds "$seconds" \
  --server-pid $server
"$bench/bench-mjpeg-client" --port $port --mode multipart --clients 100 --seconds "$seconds" \
  --server-pid $server
