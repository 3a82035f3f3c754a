#!/usr/bin/env bash
# What recording costs: the h264 preset with one viewer on /video, against the same preset
# recording (--set record=on, segments of segment-seconds into a temporary folder on the disk the
# repository is on), and the record preset of before (splitmuxsink into Matroska, same encode)
# as the comparison a user of the old preset has. For each: the share of a core over SECONDS
# after a 10 s warm-up, and for the recordings the bytes written to the folder, the write calls
# the process made beyond the run without recording (from /proc/PID/io's syscw: the viewer's
# socket writes are in both), and so the mean size of a write.
#   tests/bench/record/cost.sh [SECONDS [CAMCAST-OPTIONS...]]
set -euo pipefail
cd "$(dirname "$0")/../../.."
seconds="${1:-30}"
ninja -C build >/dev/null
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"
options=("${@:2}")
work=$(mktemp -d "$PWD/build/bench-record-XXXXXX")
trap 'rm -rf "$work"' EXIT

# Runs a launch description with a viewer on /video; prints "CPU% SYSCW BYTES" (BYTES: what the
# folder `dir` grew by over the window; 0 without one).
measure() {  # launch dir
  local pid viewer t0 t1 w0 w1 b0=0 b1=0
  gst-launch-1.0 $1 >/dev/null 2>&1 & pid=$!
  sleep 2
  tests/bench/idle/viewer.py "$(grep -o 'port=[0-9]*' <<<"$1" | head -1 | cut -d= -f2)" /video &
  viewer=$!
  sleep 10
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); w0=$(awk '/^syscw/ {print $2}' "/proc/$pid/io")
  [ -z "$2" ] || b0=$(du -sb "$2" | cut -f1)
  sleep "$seconds"
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat"); w1=$(awk '/^syscw/ {print $2}' "/proc/$pid/io")
  [ -z "$2" ] || b1=$(du -sb "$2" | cut -f1)
  kill $viewer; wait $viewer 2>/dev/null || true
  kill -INT $pid; wait $pid 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" -v s="$seconds" -v hz="$(getconf CLK_TCK)" -v w=$((w1 - w0)) \
    -v bytes=$((b1 - b0)) 'BEGIN { printf "%.1f %d %d\n", 100 * (b - a) / hz / s, w, bytes }'
}

plain=$(build/launcher/camcast show h264 --port 0 --set rtsp=off "${options[@]}")
mkdir -p "$work/new" "$work/old"
recording=$(build/launcher/camcast show h264 --port 0 --set rtsp=off --set record=on \
  --set record-dir="$work/new" --set segment-seconds=10 "${options[@]}")
old="${plain} h264. ! queue ! splitmuxsink location=$work/old/camcast-%05d.mkv \
muxer-factory=matroskamux max-size-time=10000000000"

read -r cpu0 w0 _ <<<"$(measure "$plain" "")"
read -r cpu1 w1 b1 <<<"$(measure "$recording" "$work/new")"
read -r cpu2 w2 b2 <<<"$(measure "$old" "$work/old")"
report() {  # name cpu syscw bytes
  local writes=$(($3 - w0))
  awk -v n="$1" -v c="$2" -v w="$writes" -v b="$4" -v s="$seconds" -v c0="$cpu0" 'BEGIN {
    printf "%-44s %5.1f %% (+%.1f)  %6.0f kB/s  %5.1f writes/s  %7.0f bytes/write\n",
      n, c, c - c0, b / s / 1000, w / s, (w > 0 ? b / w : 0) }'
}
printf "%-44s %5.1f %%\n" "h264 preset, one viewer on /video" "$cpu0"
report "the same recording (recordsink, fMP4)" "$cpu1" "$w1" "$b1"
report "the same, the old record preset (Matroska)" "$cpu2" "$w2" "$b2"
