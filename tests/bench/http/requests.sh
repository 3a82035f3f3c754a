#!/usr/bin/env bash
# What answering every request on a connection of its own costs (camcast closes each HTTP
# connection after its answer: docs/protocols.md §1.3), beside an older build that kept
# connections alive. curl fetches the player page N times in one process (default 1000): it
# reuses the connection where the server allows, and opens a new one where it does not.
#   tests/bench/http/requests.sh OLD_PLUGIN_DIR [N]
# OLD_PLUGIN_DIR holds libgstcamcast.so of the older build, e.g.
#   git worktree add /tmp/old 4cc6cb5 && (cd /tmp/old && meson setup build && ninja -C build)
#   tests/bench/http/requests.sh /tmp/old/build/plugins/camcast
# The certificate is RSA-2048; for ECDSA P-256 (as README "TLS" makes one):
#   KEY=ec KEY_OPT="-pkeyopt ec_paramgen_curve:prime256v1" tests/bench/http/requests.sh ...
set -euo pipefail
cd "$(dirname "$0")/../../.."
old="${1:?usage: requests.sh OLD_PLUGIN_DIR [N]}" n="${2:-1000}"
ninja -C build >/dev/null
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
openssl req -x509 -newkey "${KEY:-rsa:2048}" ${KEY_OPT:-} -nodes -days 1 -subj /CN=localhost \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
port=18190
for scheme in http https; do
  for _ in $(seq "$n"); do printf 'url = %s\noutput = /dev/null\n' "$scheme://127.0.0.1:$port/cam"; done \
    >"$dir/$scheme.curl"
done

run() {  # name plugin-dir scheme [properties]
  local name=$1 plugins=$2 scheme=$3 tls="${4:-}" start end
  [ "$scheme" = https ] && tls="$tls tls-certificate=$dir/cert.pem tls-key=$dir/key.pem http-port=-1"
  GST_PLUGIN_PATH_1_0="$plugins" GST_REGISTRY_1_0="$dir/$name.bin" gst-launch-1.0 -q \
    videotestsrc is-live=true ! video/x-raw,width=160,height=120 ! x264enc tune=zerolatency ! \
    msesink port=$port path=/cam public=true $tls >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  sleep 0.5
  local fds_before; fds_before=$(ls /proc/$pid/fd | wc -l)
  start=$(date +%s%N)
  curl -sk -K "$dir/$scheme.curl" --fail-early -w '%{num_connects}\n' >"$dir/connects"
  end=$(date +%s%N)
  sleep 0.5
  printf '%-8s %-5s %4d requests  %4d connections  %7.1f µs/request  descriptors %d -> %d\n' \
    "$name" "$scheme" "$n" "$(paste -sd+ "$dir/connects" | bc)" \
    "$(echo "($end - $start) / 1000 / $n" | bc -l)" "$fds_before" "$(ls /proc/$pid/fd | wc -l)"
  kill $pid; wait $pid 2>/dev/null || true
  pid=""
}

for scheme in http https; do
  run old "$old" $scheme
  # The new build caps connections a second per address; this one address is the test.
  run new "$PWD/build/plugins/camcast" $scheme max-connection-rate=0
done
