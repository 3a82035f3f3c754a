// Load for the WebRTC CPU benchmark: N WHEP viewers of GStreamer's own (webrtcbin receiving over
// real ICE and DTLS, no decoding) on one WHEP endpoint, held until killed.
//
//   bench-whep-viewers PORT PATH N
#include "whep_client.h"

#include <glib-unix.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 4) {
    g_printerr("usage: %s PORT PATH N\n", argv[0]);
    return 2;
  }
  std::vector<std::unique_ptr<camcast::test::Client>> viewers;
  for (int i = 0; i < atoi(argv[3]); i++) {
    viewers.push_back(std::make_unique<camcast::test::Client>());
    viewers.back()->connect(atoi(argv[1]), argv[2]);
  }
  printf("connected %zu\n", viewers.size());
  fflush(stdout);
  GMainLoop *loop = g_main_loop_new(nullptr, FALSE);
  g_unix_signal_add(SIGINT, G_SOURCE_FUNC(g_main_loop_quit), loop);
  g_unix_signal_add(SIGTERM, G_SOURCE_FUNC(g_main_loop_quit), loop);
  g_main_loop_run(loop);
  long packets = 0;
  for (auto &v : viewers)
    packets += v->packets();
  printf("packets %ld\n", packets);
  viewers.clear();
  g_main_loop_unref(loop);
  return 0;
}
