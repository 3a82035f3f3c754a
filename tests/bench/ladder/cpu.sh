#!/usr/bin/env bash
# What a ladder costs: the h264 preset (1280x720 at 2 Mbit/s, rungs 640x360 at 500 kbit/s and
# 320x180 at 150) with one viewer on the top rung, against the same with the ladder off (a rung
# nobody is on should cost nothing); then with a viewer on every rung, and with one on the lowest
# rung only. CPU share of one core over SECONDS, after a warm-up longer than the rungs' idle-after.
#   tests/bench/ladder/cpu.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
seconds="${1:-20}"
ninja -C build >/dev/null
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"

cpu_share() {  # launch description, then one viewer per rung given; the share of a core
  local launch=$1 pid t0 t1 port viewers=()
  shift
  gst-launch-1.0 $launch >/dev/null 2>&1 & pid=$!
  port=$(grep -o 'port=[0-9]*' <<<"$launch" | head -1 | cut -d= -f2)
  sleep 2
  for rung in "$@"; do
    tests/bench/idle/viewer.py "$port" /video "$rung" & viewers+=($!)
  done
  sleep 15
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep "$seconds"
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  for v in "${viewers[@]}"; do kill "$v"; wait "$v" 2>/dev/null || true; done
  kill -INT $pid; wait $pid 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" -v s="$seconds" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f %%\n", 100 * (b - a) / hz / s }'
}

port=18093
ladder=$(build/launcher/camcast show h264 --port $port)
flat=$(build/launcher/camcast show h264 --port $port --set ladder=off)
echo "ladder off, one viewer: $(cpu_share "$flat" 0)"
echo "ladder on, one viewer on the top rung: $(cpu_share "$ladder" 0)"
echo "ladder on, one viewer on each rung: $(cpu_share "$ladder" 0 1 2)"
echo "ladder on, one viewer on the lowest rung only: $(cpu_share "$ladder" 2)"
