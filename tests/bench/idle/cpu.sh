#!/usr/bin/env bash
# What the default preset costs with nobody watching, its outputs idling (idle-after, the
# default) against the same pipeline with idle-after=0 on every sink, and the test pattern alone
# (what a camera would cost the Pi anyway); then with one viewer on /video against the h264
# preset with the same viewer. CPU share of one core over SECONDS after a warm-up longer than
# idle-after.
#   tests/bench/idle/cpu.sh [SECONDS [CAMCAST-OPTIONS...]]
# e.g. `cpu.sh 20 --set audio=test`: the presets with sound (a test tone for the microphone).
set -euo pipefail
cd "$(dirname "$0")/../../.."
seconds="${1:-20}"
ninja -C build >/dev/null
export GST_PLUGIN_PATH="$PWD/build/plugins/camcast"
options=("${@:2}")
launch=$(build/launcher/camcast show default --port 0 "${options[@]}")

cpu_share() {  # launch description [viewer path]; prints the share of a core over $seconds
  local pid t0 t1 viewer=""
  gst-launch-1.0 $1 >/dev/null 2>&1 & pid=$!
  if [ -n "${2:-}" ]; then
    sleep 2
    tests/bench/idle/viewer.py "$(grep -o 'port=[0-9]*' <<<"$1" | head -1 | cut -d= -f2)" "$2" &
    viewer=$!
  fi
  sleep 15
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep "$seconds"
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  [ -z "$viewer" ] || { kill $viewer; wait $viewer 2>/dev/null || true; }
  kill -INT $pid; wait $pid 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" -v s="$seconds" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f %%\n", 100 * (b - a) / hz / s }'
}

echo "default preset, outputs idle (idle-after=10): $(cpu_share "$launch")"
always=$(sed -E 's/(msesink|jsmpegsink|mjpegsink|whepsink) /\1 idle-after=0 /g' <<<"$launch")
echo "default preset, outputs always encoding (idle-after=0): $(cpu_share "$always")"
echo "the test pattern alone (I420): $(cpu_share "${launch%% ! tee name=camera*} ! video/x-raw,format=I420 ! fakesink")"
echo "default preset, one viewer on /video: $(cpu_share "$launch" /video)"
echo "h264 preset, one viewer on /video: $(cpu_share "$(build/launcher/camcast show h264 --port 0 "${options[@]}")" /video)"
