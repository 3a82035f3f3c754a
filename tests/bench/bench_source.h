// What the benchmark sources share: starting their pipeline, clocks, pacing at a fixed frame
// rate, and stopping cleanly on SIGINT/SIGTERM.
#pragma once

#include "bench_process.h"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>

namespace bench {

inline volatile sig_atomic_t stop_requested = 0;

inline void stop_on_signals() {
  signal(SIGTERM, [](int) { stop_requested = 1; });
  signal(SIGINT, [](int) { stop_requested = 1; });
}

inline uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t wall_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

// Sleeps until the next tick of a fps clock started at the first call; returns the tick number.
class Pacer {
public:
  explicit Pacer(int fps) : interval_(1000000000ull / uint64_t(fps)), next_(mono_ns()) {}
  uint64_t wait() {
    next_ += interval_;
    timespec until{time_t(next_ / 1000000000ull), long(next_ % 1000000000ull)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr);
    return tick_++;
  }
  uint64_t interval_ns() const { return interval_; }

private:
  uint64_t interval_, next_, tick_ = 0;
};

// Starts `launch` (which has an appsrc named "src") playing; returns the pipeline and the appsrc,
// or null after printing why.
inline GstElement *start_pipeline(const char *launch, GstElement **src) {
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(launch, &error);
  if (!pipeline) {
    g_printerr("%s\n", error->message);
    g_error_free(error);
    return nullptr;
  }
  *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_printerr("cannot start the pipeline\n");
    return nullptr;
  }
  return pipeline;
}

// Plays `launch` (whose appsrc "src" takes I420 at width x height) and feeds it fps frames a
// second until SIGINT/SIGTERM: draw(luma, i) paints frame i's luma plane, chroma stays grey.
// Prints "ready port=PORT" once playing. Returns the exit status.
// `started(pipeline)`, if given, runs once it plays.
template <typename Draw>
int run_i420_source(const char *launch, int port, int width, int height, int fps, Draw draw,
                    void (*started)(GstElement *) = nullptr) {
  GstElement *src = nullptr;
  GstElement *pipeline = start_pipeline(launch, &src);
  if (!pipeline)
    return 1;
  if (started)
    started(pipeline);
  g_print("ready port=%d\n", port);
  const size_t y_size = size_t(width) * height, c_size = y_size / 4;
  Pacer pacer(fps);
  while (!stop_requested) {
    const uint64_t i = pacer.wait();
    GstBuffer *buf = gst_buffer_new_allocate(nullptr, y_size + 2 * c_size, nullptr);
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_WRITE);
    memset(map.data + y_size, 128, 2 * c_size);
    draw(map.data, i);
    gst_buffer_unmap(buf, &map);
    gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(pipeline);
  return 0;
}

}  // namespace bench
