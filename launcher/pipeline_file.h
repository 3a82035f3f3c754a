// Pipeline files (*.pipeline): what the launcher runs. GLib key-file syntax —
//
//   [pipeline]
//   description = Camera to H.264 for browsers
//   launch = ${camera} ! ${h264enc} ! h264parse ! msesink name=video port=${port}
//   launch-audio = ${microphone} ! ${opusenc} ! video.audio
//   launch-rung = camera. ! ${rung-scaler} ! video/x-raw,width=${rung-width},… ! video.rung_${rung}
//   output-rtmp = h264. ! queue ! flvmux ! rtmp2sink location=${rtmp-url}
//   [variables]
//   port = 8080
//   [supervise]
//   restart = always
//
// — plus one extension for readable launch lines: a line ending in a backslash continues on the
// next. Every error names the file and line and says what is wrong.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace camcast::launcher {

enum class Restart { Always, OnFailure, Never };

struct Supervise {
  Restart restart = Restart::Always;  // on error, end of stream or stall
  int backoff_initial_ms = 250;       // the first restart's delay, doubled each time after
  int backoff_max_ms = 30000;
  int stall_timeout_s = 5;      // no buffer at the sinks for this long is a stall; 0 = off
  int linger_s = 10;            // viewers stay connected this long across a restart
  bool on_demand = false;       // READY (camera off, pages served) until a viewer comes
  int on_demand_linger_s = 10;  // on-demand: keep playing this long after the last leaves
};

struct Value {
  std::string text;
  int line = 0;
};

struct PipelineFile {
  std::string path;  // as given or found
  std::string name;  // the file name without .pipeline
  std::string description;
  Value launch;
  // The sound's branches, added to `launch` when there is sound: ${microphone} is defined (a
  // microphone was found, or audio=test) and the microphone works (supervisor.h).
  Value launch_audio;
  // One lower rendition of a ladder, added to `launch` once for each rung of ${ladder}
  // ("640x360@500,320x180@150", "off": none), with ${rung} (1, 2, …), ${rung-width},
  // ${rung-height} and ${bitrate} (the rung's, kbit/s) set for it.
  Value launch_rung;
  // Parts of the launch line that can be left out, by name: `launch-NAME = …` (any NAME but
  // audio and rung) joins the launch line unless ${NAME} is "off" (`--set rtsp=off`).
  std::map<std::string, Value> parts;
  // A part's sound, by the part's name: `launch-audio-NAME = …` joins the sound's branches when
  // both are in (the sound, and part NAME), as `rtsp.audio` needs both the microphone's encode
  // and the part's sink.
  std::map<std::string, Value> part_audio;
  // Outputs that fail alone (output_part.h), by name: `output-NAME = h264. ! …` takes from the
  // launch line's elements (here `tee name=h264`) and runs as a pipeline of its own.
  std::map<std::string, Value> outputs;
  std::map<std::string, Value> variables;  // [variables] defaults
  Supervise supervise;
};

// Parses `text` (the contents of `path`). On failure returns false and sets `error` to
// "PATH:LINE: what is wrong".
bool parse_pipeline_file(const std::string &path, const std::string &text, PipelineFile *out,
                         std::string *error);
// Reads and parses a file.
bool load_pipeline_file(const std::string &path, PipelineFile *out, std::string *error);

// The launch line with every ${name} replaced: from `overrides` (--set), then the file's
// [variables], then `probed` (camera, encoders). Values may use variables themselves. On failure
// (an unknown variable, a cycle) returns false with "PATH:LINE: …". `used`, if given, gets
// every variable the line used, with its final value.
bool resolve_launch(const PipelineFile &file, const std::map<std::string, std::string> &overrides,
                    const std::map<std::string, std::string> &probed, std::string *launch,
                    std::string *error, std::map<std::string, std::string> *used = nullptr);
// Every variable `file` defines under [variables] or uses as ${name} in its lines and values.
std::set<std::string> variable_names(const PipelineFile &file);

// The lower rungs of a ladder as ${ladder} gives them: "640x360@500,320x180@150" (width x height
// @ kbit/s, each smaller than the one before and than the top, `top_width` wide; at most three),
// "off" or nothing for none. Rungs as wide as the top or wider are left out (a small camera).
// False with `why` in words.
struct LadderRung {
  int width = 0, height = 0, kbps = 0;
};
bool parse_ladder(const std::string &text, int top_width, std::vector<LadderRung> *rungs,
                  std::string *why);
// launch-rung once for each rung of ${ladder}, resolved with that rung's variables, each after a
// space; "" for a file without launch-rung or a ladder that is off. Errors as resolve_launch's,
// a bad ladder named where it was set.
bool resolve_rungs(const PipelineFile &file, const std::map<std::string, std::string> &overrides,
                   const std::map<std::string, std::string> &probed, std::string *out,
                   std::string *error);
// The same for any value of the file (launch-audio).
bool resolve_value(const PipelineFile &file, const Value &text,
                   const std::map<std::string, std::string> &overrides,
                   const std::map<std::string, std::string> &probed, std::string *out,
                   std::string *error, std::map<std::string, std::string> *used = nullptr);

}  // namespace camcast::launcher
