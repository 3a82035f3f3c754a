// What the wssink tests share: a harness around one sink, frames that carry their index, a
// caps header, waiting with a deadline.
#pragma once

#include "access/users.h"
#include "wait.h"
#include "ws_test_client.h"

#include <glib/gstdio.h>

#include <gst/check/gstharness.h>
#include <gst/gst.h>

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace wssink_test {

using camcast::test::Frame;
using camcast::test::wait_for;
using camcast::test::WsTestClient;
using namespace std::chrono_literals;

constexpr GstClockTime kFrame = GST_SECOND / 30;

struct Harness {
  GstHarness *h;
  explicit Harness(const char *launch) {
    GstElement *element = gst_parse_launch(launch, nullptr);
    h = gst_harness_new_with_element(element, "sink", nullptr);
    gst_object_unref(element);
  }
  ~Harness() { gst_harness_teardown(h); }
  GstElement *sink() { return h->element; }
  int port() {
    int port = -1;
    g_object_get(sink(), "current-port", &port, nullptr);
    return port;
  }
  guint clients() {
    guint n = 0;
    g_object_get(sink(), "num-clients", &n, nullptr);
    return n;
  }
};

// Frame i: its index in the first 4 bytes, then a pattern; keyframe every `gop`.
inline GstBuffer *make_frame(uint32_t i, uint32_t gop, size_t size) {
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, size, nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (size_t k = 0; k < size; k++)
    map.data[k] = uint8_t(i * 31 + k);
  memcpy(map.data, &i, sizeof i);
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = i * kFrame;
  GST_BUFFER_DURATION(buf) = kFrame;
  if (i % gop != 0)
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  return buf;
}

inline uint32_t frame_index(const Frame &f) {
  uint32_t i = UINT32_MAX;
  if (f.payload.size() >= 4)
    memcpy(&i, f.payload.data(), 4);
  return i;
}

inline void set_caps_with_header(Harness &h, const std::string &header) {
  GstCaps *caps = gst_caps_new_empty_simple("application/x-camcast-test");
  GValue array = G_VALUE_INIT, value = G_VALUE_INIT;
  g_value_init(&array, GST_TYPE_ARRAY);
  g_value_init(&value, GST_TYPE_BUFFER);
  GstBuffer *hb = gst_buffer_new_memdup(header.data(), header.size());
  GST_BUFFER_FLAG_SET(hb, GST_BUFFER_FLAG_HEADER);
  gst_value_set_buffer(&value, hb);
  gst_value_array_append_value(&array, &value);
  gst_structure_set_value(gst_caps_get_structure(caps, 0), "streamheader", &array);
  g_value_unset(&value);
  g_value_unset(&array);
  gst_harness_set_src_caps(h.h, caps);
  // The header buffer also flows in-band, as muxers send it: it must not be sent twice.
  g_assert_cmpint(gst_harness_push(h.h, hb), ==, GST_FLOW_OK);
}

// Takes a pipeline to READY, which must fail, and returns the error it posted ("" if none).
inline std::string ready_error(const std::string &launch) {
  GstElement *e = gst_parse_launch(launch.c_str(), nullptr);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(e, bus);
  std::string message;
  if (gst_element_set_state(e, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE) {
    if (GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError *err = nullptr;
      gst_message_parse_error(msg, &err, nullptr);
      message = err->message;
      g_error_free(err);
      gst_message_unref(msg);
    }
  }
  gst_element_set_state(e, GST_STATE_NULL);
  gst_element_set_bus(e, nullptr);
  gst_object_unref(bus);
  gst_object_unref(e);
  g_test_message("%s: %s", launch.c_str(), message.c_str());
  return message;
}

// The server-side tests (test_wssink_server.cpp): shared servers, restarts, access, TLS.
void add_server_tests();

}  // namespace wssink_test
