#include "connection_report.h"

namespace camcast {

void ConnectionReport::report(GstElement *sink, GstDebugCategory *category, bool connected,
                              const std::string &why, bool refused, GstStructure *message) {
  bool warn;
  {
    std::lock_guard<std::mutex> lk(lock_);
    warn = refused && why != refusal_;
    if (connected || refused)
      refusal_ = connected ? "" : why;
  }
  const char *name = gst_structure_get_name(message);
  if (connected)
    GST_CAT_INFO_OBJECT(category, sink, "connected");
  else
    GST_CAT_WARNING_OBJECT(category, sink, "not connected: %s", why.c_str());
  gst_structure_set(message, "connected", G_TYPE_BOOLEAN, connected, "reason", G_TYPE_STRING,
                    why.c_str(), nullptr);
  gst_element_post_message(sink, gst_message_new_element(GST_OBJECT(sink), message));
  if (warn)
    GST_ELEMENT_WARNING(sink, RESOURCE, OPEN_WRITE, ("%s", why.c_str()),
                        ("%s keeps retrying with back-off", name));
}

}  // namespace camcast
