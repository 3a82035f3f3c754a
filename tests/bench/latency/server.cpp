// Glass-to-glass latency benchmark source: live I420 frames whose top rows encode the
// wall-clock time (ms) at which each frame was made, in 16x16 black/white blocks that survive
// lossy encoding (a second row holds the inverted bits, so a damaged read is detected). One
// x264 encode feeds camcast's msesink (/video, fMP4) and, for the peer, msesink format=annexb
// (/h264), so both paths carry exactly the same H.264.
//
//   bench-latency-server PORT WIDTH HEIGHT FPS BITRATE_KBPS GOP
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <cstdlib>
#include <cstring>

#include "../bench_source.h"

constexpr int kBits = 40, kBlock = 16;

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 7) {
    g_printerr("usage: %s PORT WIDTH HEIGHT FPS BITRATE_KBPS GOP\n", argv[0]);
    return 2;
  }
  const int port = atoi(argv[1]), width = atoi(argv[2]), height = atoi(argv[3]);
  const int fps = atoi(argv[4]), kbps = atoi(argv[5]), gop = atoi(argv[6]);
  if (width < kBits * kBlock || height < 4 * kBlock) {
    g_printerr("the picture must be at least %dx%d\n", kBits * kBlock, 4 * kBlock);
    return 2;
  }
  bench::stop_on_signals();
  g_autofree char *launch = g_strdup_printf(
      "appsrc name=src is-live=true do-timestamp=true format=time "
      "caps=video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! "
      "x264enc tune=zerolatency speed-preset=ultrafast bitrate=%d key-int-max=%d ! h264parse ! "
      "tee name=t ! queue ! msesink address=127.0.0.1 port=%d path=/video "
      "t. ! queue ! msesink address=127.0.0.1 port=%d path=/h264 format=annexb",
      width, height, fps, kbps, gop, port, port);
  GstElement *src = nullptr;
  GstElement *pipeline = bench::start_pipeline(launch, &src);
  if (!pipeline)
    return 1;
  g_print("ready port=%d\n", port);
  const size_t y_size = size_t(width) * height, c_size = y_size / 4;
  bench::Pacer pacer(fps);
  while (!bench::stop_requested) {
    const uint64_t i = pacer.wait();
    GstBuffer *buf = gst_buffer_new_allocate(nullptr, y_size + 2 * c_size, nullptr);
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_WRITE);
    // A moving gradient below the code, so the encoder has real work to do.
    for (int y = 2 * kBlock; y < height; y++)
      memset(map.data + size_t(y) * width, int((y + i * 4) & 0xFF), size_t(width));
    memset(map.data + y_size, 128, 2 * c_size);
    const uint64_t ms = bench::wall_ms() & ((1ull << kBits) - 1);
    for (int b = 0; b < kBits; b++) {
      const bool one = (ms >> (kBits - 1 - b)) & 1;
      for (int y = 0; y < 2 * kBlock; y++) {
        const bool white = (y < kBlock) ? one : !one;
        memset(map.data + size_t(y) * width + size_t(b) * kBlock, white ? 235 : 16, kBlock);
      }
    }
    gst_buffer_unmap(buf, &map);
    gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(pipeline);
  return 0;
}
