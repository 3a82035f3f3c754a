// MJPEG benchmark source: live frames (moving gradients and bars, about as much detail as a
// camera's picture) encoded by jpegenc into mjpegsink at /mjpeg.
//
//   bench-mjpeg-server PORT WIDTH HEIGHT FPS QUALITY
#include <gst/gst.h>

#include <cstdlib>

#include "../bench_source.h"

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 6) {
    g_printerr("usage: %s PORT WIDTH HEIGHT FPS QUALITY\n", argv[0]);
    return 2;
  }
  const int port = atoi(argv[1]), width = atoi(argv[2]), height = atoi(argv[3]);
  const int fps = atoi(argv[4]), quality = atoi(argv[5]);
  bench::raise_fd_limit();
  bench::stop_on_signals();
  g_autofree char *launch = g_strdup_printf(
      "appsrc name=src is-live=true do-timestamp=true format=time "
      "caps=video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! jpegenc quality=%d ! "
      "mjpegsink address=127.0.0.1 port=%d path=/mjpeg keepalive-interval=0 "
      "max-connections=8000 max-connections-per-address=8000 max-connection-rate=0",  // one address
      width, height, fps, quality, port);
  return bench::run_i420_source(launch, port, width, height, fps, [&](uint8_t *y, uint64_t i) {
    for (int row = 0; row < height; row++)
      for (int x = 0; x < width; x++)
        y[size_t(row) * width + x] =
            uint8_t(x / 2 + row / 3 + i * 4 + (((x + i * 8) / 40 + row / 40) % 2) * 60);
  });
}
