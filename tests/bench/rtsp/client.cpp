// RTSP latency at the client's decoder: GStreamer's rtspsrc (latency=0, over TCP or UDP) into
// avdec_h264, the time code of bench-latency-server's frames (40 blocks across the top, and their
// inverse below) read from each decoded picture against the wall clock. Prints the frames decoded
// and the latency's p50, p95, p99 and max in ms, and when the first readable picture came (ms
// after the client started: its DESCRIBE, SETUP and PLAY, the wait for a keyframe, the decode).
//   bench-rtsp-client URL SECONDS [tcp|udp]
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

namespace {

constexpr int kBits = 40;

uint64_t wall_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

// The time code of a decoded picture, or false when it does not read (a damaged picture).
bool read_code(const GstVideoFrame &frame, uint64_t *ms) {
  const int width = GST_VIDEO_FRAME_WIDTH(&frame);
  const int block = width / kBits;
  const auto *luma = static_cast<const guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
  uint64_t code = 0;
  for (int b = 0; b < kBits; b++) {
    const int x = b * block + block / 2;
    const bool one = luma[(block / 2) * stride + x] > 128;
    const bool inverse = luma[(block + block / 2) * stride + x] > 128;
    if (one == inverse)
      return false;
    code = code << 1 | (one ? 1 : 0);
  }
  *ms = code;
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 3 && argc != 4) {
    g_printerr("usage: %s URL SECONDS [tcp|udp]\n", argv[0]);
    return 2;
  }
  const int seconds = atoi(argv[2]);
  g_autofree char *launch = g_strdup_printf(
      "rtspsrc location=%s protocols=%s latency=0 ! rtph264depay ! avdec_h264 ! videoconvert ! "
      "video/x-raw,format=I420 ! appsink name=out sync=false max-buffers=2 drop=false",
      argv[1], argc == 4 ? argv[3] : "tcp");
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(launch, &error);
  if (!pipeline) {
    g_printerr("%s\n", error->message);
    return 1;
  }
  GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  const gint64 started = g_get_monotonic_time();
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  double first_ms = -1;
  std::vector<double> latencies;
  int unreadable = 0;
  const gint64 until = g_get_monotonic_time() + gint64(seconds) * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < until) {
    GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(out), GST_SECOND);
    if (!sample)
      continue;
    const uint64_t now = wall_ms() & ((1ull << kBits) - 1);
    GstVideoInfo info;
    GstVideoFrame frame;
    if (gst_video_info_from_caps(&info, gst_sample_get_caps(sample)) &&
        gst_video_frame_map(&frame, &info, gst_sample_get_buffer(sample), GST_MAP_READ)) {
      uint64_t made;
      if (read_code(frame, &made)) {
        latencies.push_back(double(now - made));
        if (first_ms < 0)
          first_ms = double(g_get_monotonic_time() - started) / 1000;
      } else
        unreadable++;
      gst_video_frame_unmap(&frame);
    }
    gst_sample_unref(sample);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(out);
  gst_object_unref(pipeline);
  if (latencies.empty()) {
    g_print("frames 0\n");
    return 1;
  }
  std::sort(latencies.begin(), latencies.end());
  auto at = [&](double q) { return latencies[size_t(q * (latencies.size() - 1))]; };
  g_print("frames %zu unreadable %d p50 %.0f p95 %.0f p99 %.0f max %.0f first %.0f\n",
          latencies.size(), unreadable, at(0.5), at(0.95), at(0.99), latencies.back(), first_ms);
  return 0;
}
