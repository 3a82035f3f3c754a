#!/usr/bin/env bash
# CPU that mpeg1enc needs for 640x480 at 30 fps and 1 Mbit/s, beside Debian's ffmpeg encoding the
# same frames with the seeds' flags (-codec:v mpeg1video -bf 0). Both read the same raw video
# from a file made first, and the cost of reading it is measured alone and taken off, so only the
# encoders are compared. The figure is CPU seconds per second of video: the share of one core.
#
#   tests/bench/mpeg1enc/cpu.sh [SECONDS]      (needs a build in build/ and ffmpeg)
set -euo pipefail
cd "$(dirname "$0")/../../.."
export GST_PLUGIN_PATH=$PWD/build/plugins/camcast
seconds=${1:-20}
frames=$((seconds * 30))
raw=$(mktemp --suffix=.yuv)
trap 'rm -f "$raw"' EXIT

# CPU seconds (user + system) of a command.
cpu() {
  local t
  t=$( { TIMEFORMAT='%U %S'; time "$@" >/dev/null 2>&1; } 2>&1 )
  awk '{ print $1 + $2 }' <<<"$t"
}

# Moving colour bars (edges and motion, like a camera), then a moving zone plate (dense detail
# everywhere: the hard case).
for pattern in "smpte horizontal-speed=2" "zone-plate kt=2 kx2=20 ky2=20"; do
  # shellcheck disable=SC2086
  gst-launch-1.0 -q videotestsrc num-buffers=$frames pattern=$pattern ! \
    video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! filesink location="$raw"
  read_raw=(filesrc location="$raw" blocksize=460800 ! rawvideoparse width=640 height=480
            format=i420 framerate=30/1)
  gst_base=$(cpu gst-launch-1.0 -q "${read_raw[@]}" ! fakesink)
  gst_enc=$(cpu gst-launch-1.0 -q "${read_raw[@]}" ! mpeg1enc bitrate=1000 key-int-max=60 ! \
            fakesink)
  ff_in=(-f rawvideo -pix_fmt yuv420p -s 640x480 -r 30 -i "$raw")
  ff_base=$(cpu ffmpeg -nostdin "${ff_in[@]}" -f null -)
  ff_enc=$(cpu ffmpeg -nostdin "${ff_in[@]}" -codec:v mpeg1video -b:v 1000k -bf 0 -g 60 \
           -f mpeg1video -y /dev/null)
  awk -v p="$pattern" -v s="$seconds" -v gb="$gst_base" -v ge="$gst_enc" -v fb="$ff_base" \
      -v fe="$ff_enc" 'BEGIN {
    ours = (ge - gb) / s * 100; peer = (fe - fb) / s * 100
    printf "%s:\n", p
    printf "  mpeg1enc:            %5.1f %% of one core (%.2f s CPU for %d s of video)\n", ours, ge - gb, s
    printf "  ffmpeg mpeg1video:   %5.1f %% of one core (%.2f s CPU)\n", peer, fe - fb
    printf "  ratio (ours/ffmpeg): %.2f\n", ours / peer
  }'
done
