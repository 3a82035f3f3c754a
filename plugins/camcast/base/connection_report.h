// What camcast's publishing sinks (relaysink, whippublishsink) say each time their connection
// is made or lost, written once: a log line, an element message named after the sink
// (`connected`, `reason`, and the sink's own counters), and a warning — which gst-launch-1.0
// prints — once for each new refusal, which retrying does not fix (a wrong secret or token, no
// such endpoint, another camera publishing there).
#pragma once

#include <gst/gst.h>

#include <mutex>
#include <string>

namespace camcast {

class ConnectionReport {
public:
  // `refused`: `why` is the server's refusal. `message` (taken) is the element message, its
  // `connected` and `reason` set here. The log line goes to the sink's own `category`.
  void report(GstElement *sink, GstDebugCategory *category, bool connected, const std::string &why,
              bool refused, GstStructure *message);

private:
  std::mutex lock_;
  std::string refusal_;  // the last refusal said
};

}  // namespace camcast
