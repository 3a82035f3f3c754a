// For element tests: the error an element posts when it refuses its caps, as a user would read
// it (message and debug text).
#pragma once

#include <gst/check/gstharness.h>
#include <gst/gst.h>

#include <cstring>

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

}  // namespace camcast::test
