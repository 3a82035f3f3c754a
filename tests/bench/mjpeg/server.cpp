// MJPEG benchmark source: live frames (moving gradients and bars, about as much detail as a
// camera's picture) encoded by jpegenc into mjpegsink at /mjpeg.
//
//   bench-mjpeg-server PORT WIDTH HEIGHT FPS QUALITY
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include "../bench_source.h"

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 6) {
    g_printerr("usage: %s PORT WIDTH HEIGHT FPS QUALITY\n", argv[0]);
    return 2;
  }
  const int port = atoi(argv[1]), width = atoi(argv[2]), height = atoi(argv[3]);
  const int fps = atoi(argv[4]), quality = atoi(argv[5]);
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  bench::stop_on_signals();
  g_autofree char *launch = g_strdup_printf(
      "appsrc name=src is-live=true do-timestamp=true format=time "
      "caps=video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! jpegenc quality=%d ! "
      "mjpegsink address=127.0.0.1 port=%d path=/mjpeg keepalive-interval=0",
      width, height, fps, quality, port);
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
    for (int y = 0; y < height; y++)
      for (int x = 0; x < width; x++)
        map.data[size_t(y) * width + x] =
            uint8_t(x / 2 + y / 3 + i * 4 + (((x + i * 8) / 40 + y / 40) % 2) * 60);
    memset(map.data + y_size, 128, 2 * c_size);
    gst_buffer_unmap(buf, &map);
    gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(pipeline);
  return 0;
}
