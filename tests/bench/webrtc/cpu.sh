#!/usr/bin/env bash
# What WebRTC viewers cost the camera against WebSocket (MSE) viewers of the same stream: one x264
# encode at 2 Mbit/s (640x480@30) teed to msesink at /video and whepsink at /webrtc, its outputs
# never idling; the server's CPU share of one core over SECONDS with nobody watching, with N
# msesink viewers (tests/bench/idle/viewer.py, which read every byte), and with N WHEP viewers
# (bench-whep-viewers: webrtcbin receiving over real ICE and DTLS). Viewers run in processes of
# their own; only the server is measured.
#   tests/bench/webrtc/cpu.sh [N] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
viewers="${1:-20}"
seconds="${2:-20}"
ninja -C build >/dev/null
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"
port=18095
launch="videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,format=I420,width=640,height=480,framerate=30/1
  ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=2000 key-int-max=60 ! h264parse
  ! tee name=t t. ! queue ! msesink port=$port path=/video idle-after=0
  t. ! queue ! whepsink port=$port path=/webrtc idle-after=0 max-viewers=$viewers"

bytes_in() {  # what msesink has taken in so far (/api/streams)
  curl -s "http://127.0.0.1:$port/api/streams" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["streams"][0]["bytes_in"])'
}

cpu_share() {  # [mse|webrtc]; prints the server's share of a core over $seconds
  local pid t0 t1 load=()
  gst-launch-1.0 $launch >/dev/null 2>&1 & pid=$!
  sleep 2
  if [ "${1:-}" = mse ]; then
    for _ in $(seq "$viewers"); do
      tests/bench/idle/viewer.py "$port" /video & load+=($!)
    done
  elif [ "${1:-}" = webrtc ]; then
    build/tests/bench/bench-whep-viewers "$port" /webrtc "$viewers" >/dev/null & load+=($!)
  fi
  sleep 10
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  b0=$(bytes_in)
  sleep "$seconds"
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  echo "the stream: $(( ($(bytes_in) - b0) * 8 / seconds / 1000 )) kbit/s" >&2
  for p in "${load[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  kill -INT $pid; wait $pid 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" -v s="$seconds" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f\n", 100 * (b - a) / hz / s }'
}

none=$(cpu_share)
mse=$(cpu_share mse)
webrtc=$(cpu_share webrtc)
echo "nobody watching (the encode): $none % of a core"
echo "$viewers msesink viewers: $mse %"
echo "$viewers WHEP viewers: $webrtc %"
awk -v n="$none" -v m="$mse" -v w="$webrtc" -v v="$viewers" 'BEGIN {
  printf "per viewer: msesink %.2f %%, WHEP %.2f %%; WebRTC/MSE %.1fx in total, %.1fx per viewer\n",
         (m - n) / v, (w - n) / v, w / m, (w - n) / (m - n) }'
