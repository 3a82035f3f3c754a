// Fan-out benchmark server: a live 30 frames/s stream of fixed-size frames through a real
// pipeline (appsrc ! wssink). Each frame starts with the CLOCK_MONOTONIC time it was produced
// (ns, little endian), so the load client can measure delivery latency on the same clock.
//
//   bench-fanout-server PORT BITRATE_BPS FPS GOP [SINK_PROPERTIES]
//
// All the load comes from one address, so the connection caps are raised unless
// SINK_PROPERTIES says otherwise (a server behind a proxy would do the same).
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include "../bench_source.h"

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 5 && argc != 6) {
    g_printerr("usage: %s PORT BITRATE_BPS FPS GOP [SINK_PROPERTIES]\n", argv[0]);
    return 2;
  }
  const int port = atoi(argv[1]);
  const double bitrate = atof(argv[2]);
  const int fps = atoi(argv[3]), gop = atoi(argv[4]);
  const size_t frame_size = size_t(bitrate / 8 / fps);
  bench::raise_fd_limit();
  bench::stop_on_signals();

  g_autofree char *launch = g_strdup_printf(
      "appsrc name=src is-live=true format=time "
      "caps=application/x-camcast-bench ! wssink name=sink address=127.0.0.1 port=%d path=/bench "
      "keepalive-interval=0 %s",
      port,
      argc == 6 ? argv[5]
                : "max-connections=8000 max-connections-per-address=8000 max-connection-rate=0");
  GstElement *src = nullptr;
  GstElement *pipeline = bench::start_pipeline(launch, &src);
  if (!pipeline)
    return 1;
  g_print("ready port=%d frame=%zu bytes\n", port, frame_size);
  bench::Pacer pacer(fps);
  while (!bench::stop_requested) {
    const uint64_t i = pacer.wait();
    GstBuffer *buf = gst_buffer_new_allocate(nullptr, frame_size, nullptr);
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_WRITE);
    memset(map.data + 16, int(i & 0xFF), frame_size - 16);
    const uint64_t t = bench::mono_ns();
    memcpy(map.data, &t, 8);
    memcpy(map.data + 8, &i, 8);
    gst_buffer_unmap(buf, &map);
    GST_BUFFER_PTS(buf) = i * pacer.interval_ns();
    if (i % gop)
      GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
    gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(pipeline);
  return 0;
}
