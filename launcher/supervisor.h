// The supervisor: runs pipelines and keeps them running. An on-demand pipeline waits in READY —
// pages served, viewers accepted, camera off — until the first viewer, and goes back there
// on-demand-linger seconds after the last one leaves. A pipeline that posts an error, ends
// (EOS) or stalls (no buffer reached its sinks for the stall timeout) is torn down and built
// again after an exponential back-off, and the log says why. camcast sinks get `linger`, so the
// viewers stay connected across the restart and resume at the new pipeline's first keyframe.
// SIGINT/SIGTERM stop everything at once; SIGHUP reloads and restarts only what changed. Under
// systemd (NOTIFY_SOCKET) it reports READY, STOPPING and the watchdog.
#pragma once

#include "access/tls.h"
#include "output_part.h"
#include "pipeline_file.h"

#include <gst/gst.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace camcast::launcher {

// Calls fn for every element in `bin`, however deep: the launcher's one walk of a pipeline.
template <typename F>
void for_each_element(GstBin *bin, F fn) {
  GstIterator *it = gst_bin_iterate_recurse(bin);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    fn(GST_ELEMENT(g_value_get_object(&item)));
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
}

// What every camcast sink of a run is given: its server's access rules, TLS and limits (what the
// core's camcast::ServerSettings holds of them, and the access policy, as sink properties).
struct SinkSettings {
  std::string access_token;  // empty: none
  std::string users_file;    // login with these users; empty: none
  std::string state_dir;     // where sessions are kept across restarts; empty: nowhere
  TlsSettings tls;           // HTTPS on the sinks' port; off without a certificate
  // Other server properties (max-connections, header-timeout, …), as text, for every element
  // that has them.
  std::vector<std::pair<std::string, std::string>> properties;
};

struct RunSpec {
  std::string name;
  std::string launch;  // resolved: no ${variables} left
  // The sound's branches (resolved; empty: no sound), run with `launch` while the microphone
  // works: an error from it restarts the pipeline without them until it is back.
  std::string launch_audio;
  std::string microphone;  // the ${microphone} they use

  // The outputs that fail alone (output_part.h), each run beside `launch`.
  std::vector<OutputSpec> outputs;

  // The whole line, with sound when `with_audio` and there is any, and the outputs' bridges.
  std::string full_launch(bool with_audio = true) const {
    const std::string line = with_audio ? with_audio_line() : launch;
    return line + output_bridges(outputs, line);
  }
  // Everything as one gst-launch-1.0 line (the outputs joined in, without their bridges): what
  // `camcast show` prints, to run by hand (an output then fails with the rest).
  std::string one_line() const {
    std::string line = with_audio_line();
    for (const OutputSpec &o : outputs)
      line += " " + o.launch;
    return line;
  }
  std::string with_audio_line() const {
    return launch_audio.empty() ? launch : launch + " " + launch_audio;
  }
  Supervise supervise;
  std::vector<std::string> directories;  // made before each start (variables named *-dir)
  SinkSettings sinks;                    // set on every camcast sink
};

// Whether `spec`'s lines build: the launch line with its bridges, then each output's. False with
// `output` empty (the launch line) or the output's name, and `why` in words.
bool lines_build(const RunSpec &spec, std::string *output, std::string *why);

// Whether two specs have the same outputs, line for line.
inline bool same_outputs(const RunSpec &a, const RunSpec &b) {
  if (a.outputs.size() != b.outputs.size())
    return false;
  for (size_t i = 0; i < a.outputs.size(); i++)
    if (a.outputs[i].name != b.outputs[i].name || a.outputs[i].launch != b.outputs[i].launch)
      return false;
  return true;
}

class Supervisor {
public:
  // `reload` is called on SIGHUP for the new specs (false: keep running what runs).
  explicit Supervisor(std::function<bool(std::vector<RunSpec> *)> reload = {});
  ~Supervisor();
  Supervisor(const Supervisor &) = delete;
  Supervisor &operator=(const Supervisor &) = delete;

  // Runs `specs` until a signal stops them, or until every pipeline has stopped for good
  // (restart=never/on-failure). Returns the process exit status.
  int run(const std::vector<RunSpec> &specs);

  struct Pipeline;
  // A viewer arrived at or left a pipeline's sinks (main thread).
  void viewers_changed(uint64_t pipeline_id);

private:
  friend struct Pipeline;
  void pipeline_playing();   // READY=1 to systemd once every pipeline plays (or waits on demand)
  void check_all_stopped();  // quits when no pipeline will run again
  // A pipeline refused its configuration before it ever ran: stops everything (exit 2).
  void configuration_mistake();
  void apply(const std::vector<RunSpec> &specs);
  void stop_all();
  static gboolean tick(gpointer self);

  std::function<bool(std::vector<RunSpec> *)> reload_;
  std::vector<std::unique_ptr<Pipeline>> pipelines_;
  GMainLoop *loop_ = nullptr;
  bool failed_ = false;
  bool mistake_ = false;  // a configuration mistake stopped everything: exit 2
  uint64_t next_pipeline_id_ = 1;
  bool ready_sent_ = false;
  gint64 watchdog_interval_us_ = 0;
  gint64 last_watchdog_ = 0;
};

// Tells systemd (when NOTIFY_SOCKET is set) something like "READY=1". No-op otherwise.
void sd_notify_state(const char *state);

}  // namespace camcast::launcher
