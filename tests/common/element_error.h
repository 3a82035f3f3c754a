// For element tests: the errors and warnings an element posts, as a user would read them.
#pragma once

#include <gst/check/gstharness.h>
#include <gst/gst.h>

#include <cstring>
#include <string>

namespace camcast::test {

// Builds `launch` in a harness, gives it `caps` and one buffer, and checks that the buffer is
// refused as not negotiated and that the error's message holds `message` and its debug text
// holds `advice` (what the user should do).
inline void expect_caps_refused(const char *launch, const char *caps, const char *message,
                                const char *advice) {
  GstHarness *h = gst_harness_new_parse(launch);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);
  gst_harness_set_src_caps_str(h, caps);
  g_assert_cmpint(gst_harness_push(h, gst_buffer_new_allocate(nullptr, 188, nullptr)), ==,
                  GST_FLOW_NOT_NEGOTIATED);
  GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  g_assert_nonnull(m);
  GError *error = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error(m, &error, &debug);
  g_assert_nonnull(strstr(error->message, message));
  g_assert_nonnull(strstr(debug, advice));
  g_error_free(error);
  g_free(debug);
  gst_message_unref(m);
  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}

// The warnings a short pipeline posts on its way to the end of its stream, as "WARNING: text"
// lines; an error fails the test.
inline std::string warnings_of(const std::string &launch) {
  GstElement *pipeline = gst_parse_launch(launch.c_str(), nullptr);
  g_assert_nonnull(pipeline);
  g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus(pipeline);
  std::string out;
  while (GstMessage *msg = gst_bus_timed_pop_filtered(
             bus, 10 * GST_SECOND,
             GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING))) {
    const GstMessageType type = GST_MESSAGE_TYPE(msg);
    if (type == GST_MESSAGE_WARNING) {
      GError *error = nullptr;
      gst_message_parse_warning(msg, &error, nullptr);
      out += std::string("WARNING: ") + error->message + "\n";
      g_error_free(error);
    }
    gst_message_unref(msg);
    g_assert_true(type != GST_MESSAGE_ERROR);
    if (type == GST_MESSAGE_EOS)
      break;
  }
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  return out;
}

}  // namespace camcast::test
