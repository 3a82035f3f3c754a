// For tests of camcast's publishers (relaysink, whippublishsink): the element messages they post
// each time a connection is made or lost.
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

}  // namespace camcast::test
