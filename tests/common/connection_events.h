// For tests of camcast's publishers (relaysink, whippublishsink): a pipeline that publishes, and
// the element messages its sink posts each time a connection is made or lost.
#pragma once

#include <gst/gst.h>

#include <string>

namespace camcast::test {

// The next `name` element message on `bus` within the timeout: whether connected, and the
// reason when not. False when none came.
inline bool next_connection_event(GstBus *bus, const char *name, bool *connected,
                                  std::string *reason, int timeout_ms = 5000) {
  const gint64 until = g_get_monotonic_time() + gint64(timeout_ms) * 1000;
  while (g_get_monotonic_time() < until) {
    GstMessage *m = gst_bus_timed_pop_filtered(
        bus, GstClockTime(until - g_get_monotonic_time()) * 1000, GST_MESSAGE_ELEMENT);
    if (!m)
      break;
    const GstStructure *s = gst_message_get_structure(m);
    gboolean up = FALSE;
    const bool ours =
        gst_structure_has_name(s, name) && gst_structure_get_boolean(s, "connected", &up);
    if (ours) {
      *connected = up;
      *reason = gst_structure_get_string(s, "reason");
    }
    gst_message_unref(m);
    if (ours)
      return true;
  }
  return false;
}

// A pipeline that publishes with the sink that posts `name` messages, playing from construction
// to destruction.
struct PublishingPipeline {
  GstElement *pipeline;
  GstBus *bus;
  const char *name;
  PublishingPipeline(const std::string &launch, const char *sink_name) : name(sink_name) {
    pipeline = gst_parse_launch(launch.c_str(), nullptr);
    bus = gst_element_get_bus(pipeline);
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
  }
  ~PublishingPipeline() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(bus);
    gst_object_unref(pipeline);
  }
  PublishingPipeline(const PublishingPipeline &) = delete;
  PublishingPipeline &operator=(const PublishingPipeline &) = delete;
  bool next_event(bool *connected, std::string *reason, int timeout_ms = 10000) {
    return next_connection_event(bus, name, connected, reason, timeout_ms);
  }
};

}  // namespace camcast::test
