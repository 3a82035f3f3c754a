// What msesink's tests share (test_msesink.cpp: video; test_msesink_audio.cpp: sound): frames
// pulled from an appsink, box headers, the encode that feeds the sink, a watched start.
#pragma once

#include "isobmff.h"
#include "ws_test_client.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <string>
#include <vector>

namespace msesink_test {

using camcast::test::Frame;
using camcast::test::WsTestClient;
namespace isobmff = camcast::test::isobmff;

struct Sample {
  std::string bytes;
  GstClockTime pts, dts;
  bool keyframe;
};

// running: times on the running-time line (which msesink's tracks share); else as they come.
inline std::vector<Sample> pull_all(GstElement *appsink, bool running = false) {
  std::vector<Sample> out;
  while (GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(appsink), 5 * GST_SECOND)) {
    GstBuffer *b = gst_sample_get_buffer(s);
    Sample x;
    x.bytes.resize(gst_buffer_get_size(b));
    gst_buffer_extract(b, 0, x.bytes.data(), x.bytes.size());
    x.pts = GST_BUFFER_PTS(b);
    x.dts = GST_BUFFER_DTS(b);
    if (running) {
      const GstSegment *segment = gst_sample_get_segment(s);
      x.pts = gst_segment_to_running_time(segment, GST_FORMAT_TIME, x.pts);
      x.dts = gst_segment_to_running_time(segment, GST_FORMAT_TIME, x.dts);
    }
    x.keyframe = !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
    out.push_back(std::move(x));
    gst_sample_unref(s);
  }
  return out;
}

inline std::string box_type(const std::string &msg, size_t at = 0) {
  return msg.size() >= at + 8 ? msg.substr(at + 4, 4) : "";
}

inline uint32_t be32(const std::string &s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 |
         uint32_t(uint8_t(s[at + 2])) << 8 | uint8_t(s[at + 3]);
}

inline const char *const kEncode =
    "videotestsrc is-live=true num-buffers=%d ! "
    "video/x-raw,format=I420,width=%d,height=%d,framerate=30/1 ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! tee name=t ! "
    "queue ! msesink name=sink port=0 path=/v %s t. ! queue ! appsink name=ref sync=false";

// Builds `launch` and holds it in READY, where the mount exists: `client` connects to `path` on
// the sink named "sink" before the first frame; then it plays.
inline GstElement *play_watched(const std::string &launch, WsTestClient *client, const char *path) {
  GstElement *pipeline = gst_parse_launch(launch.c_str(), nullptr);
  g_assert_nonnull(pipeline);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_READY), ==, GST_STATE_CHANGE_SUCCESS);
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  gst_object_unref(sink);
  g_assert_true(client->connect(port, path));
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  return pipeline;
}

// test_msesink_audio.cpp's tests.
void add_audio_tests();

}  // namespace msesink_test
