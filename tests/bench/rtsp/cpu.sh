#!/usr/bin/env bash
# What RTSP clients cost the camera against WebSocket (MSE) viewers of the same stream: one x264
# encode at 2 Mbit/s (640x480@30) teed to msesink at /video and rtspsink at rtsp://…/video, its
# outputs never idling; the server's CPU share of one core over SECONDS with nobody watching,
# with N msesink viewers (tests/bench/idle/viewer.py, which read every byte), and with N RTSP
# clients over TCP (ffmpeg -c copy: each reads every packet, decodes nothing). Clients run in
# processes of their own; only the server is measured. N is at most 8: every client here comes
# from 127.0.0.1, and an RTSP port takes 8 connections from one address.
#   tests/bench/rtsp/cpu.sh [N] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
viewers="${1:-8}"
seconds="${2:-20}"
ninja -C build >/dev/null
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"
port=18096
rtsp_port=18554
launch="videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,format=I420,width=640,height=480,framerate=30/1
  ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=2000 key-int-max=60 ! h264parse
  ! tee name=t t. ! queue ! msesink port=$port path=/video idle-after=0
  t. ! queue ! rtspsink port=$port rtsp-port=$rtsp_port path=/video idle-after=0"

cpu_share() {  # [mse|rtsp]; prints the server's share of a core over $seconds
  local pid t0 t1 load=()
  gst-launch-1.0 $launch >/dev/null 2>&1 & pid=$!
  sleep 2
  if [ "${1:-}" = mse ]; then
    for _ in $(seq "$viewers"); do
      tests/bench/idle/viewer.py "$port" /video & load+=($!)
    done
  elif [ "${1:-}" = rtsp ]; then
    for _ in $(seq "$viewers"); do
      ffmpeg -v quiet -rtsp_transport tcp -i "rtsp://127.0.0.1:$rtsp_port/video" -c copy \
        -f null - </dev/null & load+=($!)
    done
  fi
  sleep 10
  local clients
  clients=$(curl -s "http://127.0.0.1:$port/api/streams" | python3 -c \
    'import json,sys; print(sum(len(s["clients"]) for s in json.load(sys.stdin)["streams"]))')
  echo "${1:-nobody}: $clients clients connected" >&2
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep "$seconds"
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  for p in "${load[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  kill -INT $pid; wait $pid 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" -v s="$seconds" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f\n", 100 * (b - a) / hz / s }'
}

none=$(cpu_share)
mse=$(cpu_share mse)
rtsp=$(cpu_share rtsp)
echo "nobody watching (the encode): $none % of a core"
echo "$viewers msesink viewers: $mse %"
echo "$viewers RTSP clients: $rtsp %"
awk -v n="$none" -v m="$mse" -v r="$rtsp" -v v="$viewers" 'BEGIN {
  printf "per viewer: msesink %.2f %%, RTSP %.2f %%; RTSP/MSE %.1fx in total, %.1fx per viewer\n",
         (m - n) / v, (r - n) / v, r / m, (r - n) / (m - n) }'
