// Outputs that fail alone. A pipeline file's `output-NAME = h264. ! queue ! flvmux ! rtmp2sink …`
// is a part of its own: the launcher runs it as a second GStreamer pipeline fed from the launch
// line's elements it names (`h264.`, a tee there), so that a push to a server that is away, a
// muxer that refuses its input or a disk that fails stops that output alone — restarted after
// its own back-off, the reason logged — while the camera and every other output go on.
//
// The camera's line gets a bridge for each element an output names: `h264. ! queue ! appsink`.
// The appsink never refuses a buffer (its streaming thread is the camera's), and hands each one
// to the part's `appsrc` while the part runs, with its running time, on the camera's clock and
// base time: the part's sinks keep the same timing as the camera's own. While the part is down,
// or falls more than a second behind, buffers are dropped up to the next keyframe, which the
// bridge asks the encoder for, so a part always starts and resumes at a clean picture.
//
// A part takes from the launch line, never gives to it (`video.audio` in an output is refused),
// and holds no camcast sink: viewers, idling and on-demand belong to the camera's line.
#pragma once

#include "pipeline_file.h"

#include <gst/gst.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace camcast::launcher {

struct OutputSpec {
  std::string name;                // NAME of output-NAME
  std::string launch;              // as written, variables resolved
  std::string part_launch;         // the part's own line: each named element an appsrc
  std::vector<std::string> takes;  // the launch line's elements it names, in order
};

// Finds what `out->launch` takes from the launch line and fills in part_launch and takes. False
// with `why` in words (it gives to the launch line, takes nothing).
bool prepare_output(OutputSpec *out, std::string *why);

// The bridges `line` (the camera's) needs for `outputs`: " h264. ! queue ! appsink name=…" each,
// for the elements `line` names (without its sound, `sound.` is not there: an output that takes
// it waits, "its input sound. is not in the launch line", until the sound is back).
std::string output_bridges(const std::vector<OutputSpec> &outputs, const std::string &line);

// One output running beside its camera's pipeline.
class OutputPart {
public:
  // How it stands: "starting", "running" (its data reached a sink, and no fault for five
  // seconds) or "down" and why (until it runs again).
  using Report = std::function<void(const char *state, const std::string &why)>;

  // `log_name` prefixes its log lines and names it in reports ("rtmp/rtmp"); `camera` is the
  // built camera pipeline whose bridges (output_bridges) it attaches to at once.
  OutputPart(std::string log_name, OutputSpec spec, Supervise supervise, GstElement *camera,
             Report report);
  ~OutputPart();
  OutputPart(const OutputPart &) = delete;
  OutputPart &operator=(const OutputPart &) = delete;

  // The camera plays: build and play the part (again, if it was stopped).
  void start();
  // The camera stops or idles: stop the part, and forget any restart it waited for.
  void stop();
  // Every tick: restarts it when it has taken less than the camera gives for the stall
  // timeout; says when it runs; the back-off starts over after ten healthy seconds.
  void check(gint64 now);

  const std::string &name() const { return spec_.name; }

private:
  struct Bridge;
  void take_what_the_part_takes();
  void restart_later(const std::string &why);
  void teardown();
  static gboolean on_message(GstBus *, GstMessage *msg, gpointer self);

  std::string log_name_;
  OutputSpec spec_;
  Supervise supervise_;
  GstElement *camera_;  // a reference
  std::vector<std::unique_ptr<Bridge>> bridges_;
  GstElement *part_ = nullptr;
  guint bus_watch_ = 0;
  guint restart_timer_ = 0;
  int backoff_ms_ = 0;
  gint64 running_since_ = 0;  // monotonic µs; 0 while down
  Report report_;
  std::atomic<bool> flowing_{false};  // set from the part's streaming threads
  bool said_running_ = false;
  bool down_ = false;        // failed, and not running since
  gint64 behind_since_ = 0;  // monotonic µs: taking less than the camera gives since
};

}  // namespace camcast::launcher
