// One pipeline under the supervisor (supervisor.h): built, started, watched, restarted; on
// demand, held in READY while nobody watches. Private to the supervisor.
#pragma once

#include "supervisor.h"

#include <atomic>
#include <memory>
#include <vector>

namespace camcast::launcher {

// "camcast: NAME: what happened" on standard error.
void log(const std::string &name, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
// The publishers and the relay's ends say who is connected and why not: a line in the log for
// such an element message.
void log_connection(const std::string &name, GstMessage *msg);
// Why `part` (an output's pipeline) may not run: it holds one of camcast's sinks; "" if not.
std::string camcast_sink_in_output(GstBin *part);

struct Supervisor::Pipeline {
  RunSpec spec;
  Supervisor *owner;
  const uint64_t id;
  GstElement *pipeline = nullptr;
  guint idle_timer = 0;  // on-demand: going back to READY when it fires
  bool idle = false;     // on-demand: held in READY, nobody watching
  guint bus_watch = 0;
  guint restart_timer = 0;
  int backoff_ms = 0;
  bool playing = false;
  bool announced = false;
  bool stopped = false;                // for good (restart policy said so)
  bool without_audio = false;          // the microphone failed: running without sound
  gint64 microphone_checked = 0;       // monotonic µs: when we last looked for it
  gint64 playing_since = 0;            // monotonic µs
  bool ran_well = false;               // ten healthy seconds once: its settings can work
  std::atomic<gint64> last_buffer{0};  // monotonic µs, from the sinks' streaming threads
  // The outputs that fail alone (output_part.h): made with the pipeline, started when it plays.
  std::vector<std::unique_ptr<OutputPart>> outputs;

  Pipeline(RunSpec s, Supervisor *o, uint64_t pid);
  ~Pipeline();

  // Viewers connected to this pipeline's camcast sinks now.
  guint viewers();

  // On-demand: the camera runs while anyone watches, and on-demand-linger seconds after.
  void viewers_changed();

  void go_idle();

  // Builds the pipeline (its outputs, its camcast elements configured, its liveness watched)
  // and starts it: PLAYING, or READY when on demand with nobody watching.
  void start();
  void make_outputs();
  void configure(GstElement *e);
  void watch_liveness(GstElement *e);

  // Stops the pipeline; with `keep_viewers`, camcast sinks keep their viewers for `linger`.
  void teardown(bool keep_viewers);

  void schedule_restart(const char *why, bool failure);

  // Prints where to watch: every camcast sink's page, then the list of all streams.
  void announce();

  // Called every tick: stall detection, back-off reset, and whether a lost microphone is back.
  void check(gint64 now);

  static gboolean on_message(GstBus *, GstMessage *msg, gpointer self);
  void on_error(GstMessage *msg);
};

}  // namespace camcast::launcher
