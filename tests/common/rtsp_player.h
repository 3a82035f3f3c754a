// An RTSP client for tests: GStreamer's rtspsrc, counting what it gets and reading its first
// access unit on the wire (before any parser, h264_wire.h).
#pragma once

#include "h264_wire.h"

#include <gst/gst.h>

#include <atomic>
#include <chrono>
#include <string>

namespace camcast::test {

// GStreamer's RTSP client over `protocol` (tcp or udp): the first access unit out of the
// depayloader (before any parser), when it came, and how many came. The depayloader gives Annex
// B access units: in AVC it would hold back whatever comes before the first SPS and PPS, and a
// stream that starts mid-GOP would look as if it started at a keyframe.
struct RtspPlayer {
  GstElement *pipeline = nullptr;
  std::atomic<int> idr{-1};
  std::atomic<int> units{0};
  std::atomic<gint64> first_us{0};
  gint64 started_us = 0;
  RtspPlayer(const std::string &url, const char *protocol, const std::string &props = "") {
    GError *error = nullptr;
    pipeline = gst_parse_launch(
        ("rtspsrc location=" + url + " protocols=" + protocol + " latency=0 " + props +
         " ! rtph264depay name=depay ! "
         "video/x-h264,stream-format=byte-stream,alignment=au ! fakesink name=out")
            .c_str(),
        &error);
    g_assert_no_error(error);
    GstElement *depay = gst_bin_get_by_name(GST_BIN(pipeline), "depay");
    GstPad *pad = gst_element_get_static_pad(depay, "src");
    camcast::test::watch_first_access_unit(pad, &idr);
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        +[](GstPad *, GstPadProbeInfo *, gpointer data) {
          auto *self = static_cast<RtspPlayer *>(data);
          if (self->units++ == 0)
            self->first_us = g_get_monotonic_time();
          return GST_PAD_PROBE_OK;
        },
        this, nullptr);
    gst_object_unref(pad);
    gst_object_unref(depay);
    started_us = g_get_monotonic_time();
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
  }
  ~RtspPlayer() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }
  // Milliseconds from PLAYING to the first access unit.
  double first_after_ms() const { return double(first_us - started_us) / 1000; }
  // An error or the end of the stream on its bus within `timeout`.
  bool ended(std::chrono::milliseconds timeout) {
    GstBus *bus = gst_element_get_bus(pipeline);
    GstMessage *m = gst_bus_timed_pop_filtered(bus, std::chrono::nanoseconds(timeout).count(),
                                               GstMessageType(GST_MESSAGE_ERROR | GST_MESSAGE_EOS));
    gst_object_unref(bus);
    if (m)
      gst_message_unref(m);
    return m != nullptr;
  }
};

}  // namespace camcast::test
