#!/usr/bin/env bash
# RTSP latency at the client's decoder, camcast's rtspsink beside a bare gst-rtsp-server serving
# the same encode (bench-latency-server's rtsp mode: 1280x720@30, x264 at 2 Mbit/s, a 2 s GOP),
# both read by GStreamer's rtspsrc into avdec_h264 (bench-rtsp-client), ROUNDS rounds of SECONDS
# each, alternating, over TCP then UDP. Prints each round and the medians of the rounds' p50/p95
# and of when each client's first readable picture came.
#   tests/bench/rtsp/latency.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds="${1:-3}"
seconds="${2:-20}"
ninja -C build >/dev/null
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"
port=18200
build/tests/bench/bench-latency-server $port 1280 720 30 2000 60 rtsp >/dev/null 2>&1 & server=$!
trap 'kill -INT $server; wait $server 2>/dev/null || true' EXIT
sleep 3
results=$(mktemp)
for transport in tcp udp; do
  for _ in $(seq "$rounds"); do
    for who in camcast bare; do
      [ "$who" = camcast ] && url="rtsp://127.0.0.1:$((port + 1))/video"
      [ "$who" = bare ] && url="rtsp://127.0.0.1:$((port + 2))/video"
      line=$(build/tests/bench/bench-rtsp-client "$url" "$seconds" "$transport")
      echo "$transport $who $line"
      echo "$transport $who $line" >>"$results"
    done
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for transport in ("tcp", "udp"):
    med = {}
    for who in ("camcast", "bare"):
        r = [x for x in rows if x[0] == transport and x[1] == who and len(x) > 9]
        med[who] = {k: statistics.median(float(x[x.index(k) + 1]) for x in r)
                    for k in ("p50", "p95", "frames", "first")}
        print(f"{transport} {who}: p50 {med[who]['p50']:.0f} ms, p95 {med[who]['p95']:.0f} ms, "
              f"{med[who]['frames']:.0f} frames a round, first picture {med[who]['first']:.0f} ms "
              f"after starting (the slowest {max(float(x[x.index('first') + 1]) for x in r):.0f})")
    print(f"{transport}: camcast - bare: p50 {med['camcast']['p50'] - med['bare']['p50']:+.0f} ms, "
          f"p95 {med['camcast']['p95'] - med['bare']['p95']:+.0f} ms")
PY
rm -f "$results"
