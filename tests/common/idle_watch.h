// Watching an output idle: how many buffers leave the encoders on its branch, and whether its
// /api/streams entry says idle.
#pragma once

#include "wait.h"
#include "ws_test_client.h"

#include <gst/gst.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace camcast::test {

// Counts the buffers out of each named element of `pipeline` (into it, for a sink).
class BufferCounts {
public:
  BufferCounts(GstElement *pipeline, std::vector<std::string> names) {
    for (const std::string &name : names) {
      auto counter = std::make_unique<Counter>();
      GstElement *element = gst_bin_get_by_name(GST_BIN(pipeline), name.c_str());
      g_assert_nonnull(element);
      counter->pad = gst_element_get_static_pad(element, "src");
      if (!counter->pad)  // a sink: what reaches it
        counter->pad = gst_element_get_static_pad(element, "sink");
      gst_object_unref(element);
      counter->probe =
          gst_pad_add_probe(counter->pad, GST_PAD_PROBE_TYPE_BUFFER, count, &counter->n, nullptr);
      counters_.push_back(std::move(counter));
    }
  }
  ~BufferCounts() {
    for (auto &c : counters_) {
      gst_pad_remove_probe(c->pad, c->probe);
      gst_object_unref(c->pad);
    }
  }
  // Buffers through the i-th element so far.
  int operator[](size_t i) const { return counters_[i]->n.load(); }
  // How many buffers each element gave during `span`, after `settle` for those on their way.
  std::vector<int> during(std::chrono::milliseconds span,
                          std::chrono::milliseconds settle = std::chrono::milliseconds(300)) {
    std::this_thread::sleep_for(settle);
    std::vector<int> before;
    for (auto &c : counters_)
      before.push_back(c->n.load());
    std::this_thread::sleep_for(span);
    for (size_t i = 0; i < counters_.size(); i++)
      before[i] = counters_[i]->n.load() - before[i];
    return before;
  }

private:
  struct Counter {
    GstPad *pad = nullptr;
    gulong probe = 0;
    std::atomic<int> n{0};
  };
  static GstPadProbeReturn count(GstPad *, GstPadProbeInfo *, gpointer n) {
    ++*static_cast<std::atomic<int> *>(n);
    return GST_PAD_PROBE_OK;
  }
  std::vector<std::unique_ptr<Counter>> counters_;
};

// Whether a stream of the server on `port` says idle in /api/streams now.
inline bool api_says_idle(int port) {
  std::string streams;
  http_get(port, "/api/streams", &streams);
  return streams.find("\"idle\":true") != std::string::npos;
}

}  // namespace camcast::test
