#include "output_part.h"

#include "supervised_pipeline.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

#include <algorithm>
#include <mutex>
#include <set>

namespace camcast::launcher {

namespace {

constexpr const char *kFrom = "camcast-from-";  // the part's appsrc for an element it takes
constexpr const char *kTo = "camcast-output-";  // the camera line's appsink for one output
// A part this far behind (data queued in its appsrc) is dropped up to the next keyframe.
constexpr GstClockTime kMaxBehind = GST_SECOND;
constexpr gint64 kKeyframeEveryUs = G_USEC_PER_SEC;  // asked no more often than this

struct Token {
  size_t at, size;
};

// A launch description's words: split at blanks and '!' (a word of its own) outside double
// quotes.
std::vector<Token> words(const std::string &s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
      i++;
      continue;
    }
    const size_t start = i;
    if (s[i] == '!') {
      out.push_back({i++, 1});
      continue;
    }
    bool quoted = false;
    for (; i < s.size(); i++) {
      if (s[i] == '"' && (i == start || s[i - 1] != '\\'))
        quoted = !quoted;
      else if (!quoted && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '!'))
        break;
    }
    out.push_back({start, i - start});
  }
  return out;
}

bool is_name_char(char c) {
  return g_ascii_isalnum(c) || c == '_' || c == '-';
}

// "h264." -> "h264" with pad ""; "video.audio" -> "video", "audio"; false for anything else
// (an element, a property, caps).
bool is_reference(const std::string &word, std::string *name, std::string *pad) {
  const size_t dot = word.find('.');
  if (dot == 0 || dot == std::string::npos ||
      !std::all_of(word.begin(), word.begin() + long(dot), is_name_char) ||
      !std::all_of(word.begin() + long(dot) + 1, word.end(),
                   [](char c) { return is_name_char(c) || c == '%'; }) ||
      g_ascii_isdigit(word[0]))
    return false;
  *name = word.substr(0, dot);
  *pad = word.substr(dot + 1);
  return true;
}

std::string unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"')
    return s.substr(1, s.size() - 2);
  return s;
}

// The names a launch description gives its elements (name=…).
std::set<std::string> names_given(const std::string &line) {
  std::set<std::string> names;
  for (const Token &t : words(line))
    if (line.compare(t.at, 5, "name=") == 0)
      names.insert(unquote(line.substr(t.at + 5, t.size - 5)));
  return names;
}

}  // namespace

bool prepare_output(OutputSpec *out, std::string *why) {
  const std::string &text = out->launch;
  const std::vector<Token> all = words(text);
  const std::set<std::string> own = names_given(text);  // the output's own elements
  out->part_launch.clear();
  out->takes.clear();
  size_t copied = 0;
  for (size_t i = 0; i < all.size(); i++) {
    std::string name, pad;
    if (!is_reference(text.substr(all[i].at, all[i].size), &name, &pad) || own.count(name))
      continue;
    const bool linked_into = i > 0 && text.compare(all[i - 1].at, 1, "!") == 0;
    if (!pad.empty() || linked_into) {
      *why = "output-" + out->name + " gives to " + name + "." + pad +
             " of the launch line; an output only takes from it (begin with " + name + ".)";
      return false;
    }
    out->part_launch += text.substr(copied, all[i].at - copied);
    out->part_launch += std::string("appsrc name=") + kFrom + name +
                        " is-live=true format=time do-timestamp=false max-bytes=0";
    copied = all[i].at + all[i].size;
    if (std::find(out->takes.begin(), out->takes.end(), name) != out->takes.end()) {
      *why = "output-" + out->name + " takes from " + name + ". twice; put a tee in it";
      return false;
    }
    out->takes.push_back(name);
  }
  out->part_launch += text.substr(copied);
  if (out->takes.empty()) {
    *why = "output-" + out->name +
           " takes nothing from the launch line: begin it with the element it takes from, such "
           "as h264. (a tee named h264 there)";
    return false;
  }
  return true;
}

std::string output_bridges(const std::vector<OutputSpec> &outputs, const std::string &line) {
  const std::set<std::string> named = names_given(line);
  std::string text;
  for (const OutputSpec &o : outputs)
    for (const std::string &name : o.takes)
      if (named.count(name))
        text += " " + name + ". ! queue leaky=downstream ! appsink name=" + kTo + o.name + "-" +
                name +
                " sync=false async=false emit-signals=false enable-last-sample=false "
                "max-buffers=1";
  return text;
}

// One element the part takes from: the camera line's appsink and, while the part runs, its
// appsrc. The appsink's callback runs on the camera's streaming thread.
struct OutputPart::Bridge {
  std::string takes;
  GstElement *appsink = nullptr;  // a reference
  std::mutex lock;                // guards what follows
  GstElement *appsrc = nullptr;   // a reference, while the part runs
  bool wait_keyframe = true;
  gint64 keyframe_asked = 0;
  GstCaps *caps = nullptr;  // what the appsrc was told last

  ~Bridge() {
    gst_clear_caps(&caps);
    gst_clear_object(&appsrc);
    gst_clear_object(&appsink);
  }

  // Whether the part is more than kMaxBehind behind (it takes less than the camera gives).
  bool behind() {
    std::lock_guard<std::mutex> lk(lock);
    guint64 level = 0;
    if (appsrc)
      g_object_get(appsrc, "current-level-time", &level, nullptr);
    return level > kMaxBehind;
  }

  // The part (re)starts with `src`, or stops (nullptr).
  void feed(GstElement *src) {
    std::lock_guard<std::mutex> lk(lock);
    gst_clear_object(&appsrc);
    appsrc = src ? GST_ELEMENT(gst_object_ref(src)) : nullptr;
    wait_keyframe = true;
    gst_clear_caps(&caps);
  }

  static GstFlowReturn on_sample(GstAppSink *sink, gpointer self) {
    if (GstSample *sample = gst_app_sink_pull_sample(sink)) {
      static_cast<Bridge *>(self)->pass(sample);
      gst_sample_unref(sample);
    }
    return GST_FLOW_OK;  // whatever the part does, the camera goes on
  }

  void pass(GstSample *sample) {
    GstBuffer *in = gst_sample_get_buffer(sample);
    const GstSegment *segment = gst_sample_get_segment(sample);
    bool ask_keyframe = false;
    {
      std::lock_guard<std::mutex> lk(lock);
      if (!appsrc || !in) {
        wait_keyframe = true;
        return;
      }
      guint64 behind = 0;
      g_object_get(appsrc, "current-level-time", &behind, nullptr);
      if (behind > kMaxBehind)
        wait_keyframe = true;
      const bool delta = GST_BUFFER_FLAG_IS_SET(in, GST_BUFFER_FLAG_DELTA_UNIT);
      if (wait_keyframe && (delta || behind > kMaxBehind)) {
        const gint64 now = g_get_monotonic_time();
        ask_keyframe = now - keyframe_asked >= kKeyframeEveryUs;
        if (ask_keyframe)
          keyframe_asked = now;
      } else {
        wait_keyframe = false;
        GstCaps *now_caps = gst_sample_get_caps(sample);
        if (now_caps && (!caps || !gst_caps_is_equal(caps, now_caps))) {
          gst_caps_replace(&caps, now_caps);
          gst_app_src_set_caps(GST_APP_SRC(appsrc), caps);
        }
        // On the part's clock and base time (the camera's), a buffer's time is its running
        // time in the camera's line.
        GstBuffer *out = gst_buffer_copy(in);
        if (segment && segment->format == GST_FORMAT_TIME) {
          GST_BUFFER_PTS(out) =
              gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(in));
          GST_BUFFER_DTS(out) =
              gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_DTS(in));
        }
        gst_app_src_push_buffer(GST_APP_SRC(appsrc), out);
      }
    }
    if (ask_keyframe) {
      GstPad *pad = gst_element_get_static_pad(appsink, "sink");
      gst_pad_push_event(pad,
                         gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
      gst_object_unref(pad);
    }
  }
};

OutputPart::OutputPart(std::string log_name, OutputSpec spec, Supervise supervise,
                       GstElement *camera, Report report)
    : log_name_(std::move(log_name)),
      spec_(std::move(spec)),
      supervise_(supervise),
      camera_(GST_ELEMENT(gst_object_ref(camera))),
      report_(std::move(report)) {
  backoff_ms_ = supervise_.backoff_initial_ms;
  for (const std::string &takes : spec_.takes) {
    auto bridge = std::make_unique<Bridge>();
    bridge->takes = takes;
    const std::string name = kTo + spec_.name + "-" + takes;
    bridge->appsink = gst_bin_get_by_name(GST_BIN(camera_), name.c_str());
    if (bridge->appsink) {
      GstAppSinkCallbacks callbacks = {};
      callbacks.new_sample = &Bridge::on_sample;
      gst_app_sink_set_callbacks(GST_APP_SINK(bridge->appsink), &callbacks, bridge.get(), nullptr);
    }
    bridges_.push_back(std::move(bridge));
  }
  take_what_the_part_takes();
}

// The camera's line negotiates its bridges before the part runs, and an appsink takes any
// format: a parser before it would choose one the part cannot take (h264parse gives avc; an
// MPEG-TS muxer takes byte-stream). So each appsink takes only what its part's first element
// does, asked of a copy of the part built for the purpose.
void OutputPart::take_what_the_part_takes() {
  GstElement *part = gst_parse_launch(spec_.part_launch.c_str(), nullptr);
  if (!part)
    return;  // start() will say why
  for (auto &bridge : bridges_) {
    const std::string name = kFrom + bridge->takes;
    GstElement *src = gst_bin_get_by_name(GST_BIN(part), name.c_str());
    GstPad *pad = src ? gst_element_get_static_pad(src, "src") : nullptr;
    GstCaps *caps = pad ? gst_pad_peer_query_caps(pad, nullptr) : nullptr;
    if (caps && bridge->appsink && !gst_caps_is_any(caps) && !gst_caps_is_empty(caps))
      g_object_set(bridge->appsink, "caps", caps, nullptr);
    gst_clear_caps(&caps);
    gst_clear_object(&pad);
    gst_clear_object(&src);
  }
  gst_object_unref(part);
}

// The camera's pipeline has stopped (NULL) before this: no callback runs any more.
OutputPart::~OutputPart() {
  stop();
  GstAppSinkCallbacks none = {};
  for (auto &bridge : bridges_)
    if (bridge->appsink)
      gst_app_sink_set_callbacks(GST_APP_SINK(bridge->appsink), &none, nullptr, nullptr);
  gst_object_unref(camera_);
}

void OutputPart::start() {
  if (part_ || restart_timer_)
    return;
  GError *error = nullptr;
  GstElement *p = gst_parse_launch(spec_.part_launch.c_str(), &error);
  if (!p || error) {
    const std::string why =
        std::string("cannot build it: ") + (error ? error->message : "unknown error");
    g_clear_error(&error);
    if (p)
      gst_object_unref(p);
    restart_later(why);
    return;
  }
  part_ = p;
  if (const std::string why = camcast_sink_in_output(GST_BIN(part_)); !why.empty()) {
    log(log_name_, "%s; this output stays off", why.c_str());
    teardown();
    report_("down", why);
    return;
  }
  // Its data reaching any of its sinks: the output runs.
  for_each_element(GST_BIN(part_), [this](GstElement *e) {
    GstPad *pad = GST_OBJECT_FLAG_IS_SET(e, GST_ELEMENT_FLAG_SINK)
                      ? gst_element_get_static_pad(e, "sink")
                      : nullptr;
    if (pad)
      gst_pad_add_probe(
          pad, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          [](GstPad *, GstPadProbeInfo *, gpointer self) {
            static_cast<OutputPart *>(self)->flowing_ = true;
            return GST_PAD_PROBE_REMOVE;
          },
          this, nullptr);
    gst_clear_object(&pad);
  });
  // The camera's clock and base time: running times mean the same in both.
  GstClock *clock = gst_pipeline_get_clock(GST_PIPELINE(camera_));
  gst_pipeline_use_clock(GST_PIPELINE(part_), clock);
  gst_object_unref(clock);
  gst_element_set_start_time(part_, GST_CLOCK_TIME_NONE);
  gst_element_set_base_time(part_, gst_element_get_base_time(camera_));
  GstBus *bus = gst_element_get_bus(part_);
  bus_watch_ = gst_bus_add_watch(bus, &OutputPart::on_message, this);
  gst_object_unref(bus);
  for (auto &bridge : bridges_) {
    const std::string name = kFrom + bridge->takes;
    GstElement *src = gst_bin_get_by_name(GST_BIN(part_), name.c_str());
    if (!src || !bridge->appsink) {
      gst_clear_object(&src);
      restart_later("its input " + bridge->takes + ". is not in the launch line");
      return;
    }
    // The latency of the camera's line up to the bridge: the part's sinks wait as long.
    GstQuery *latency = gst_query_new_latency();
    GstPad *pad = gst_element_get_static_pad(bridge->appsink, "sink");
    if (gst_pad_peer_query(pad, latency)) {
      GstClockTime min = 0;
      gst_query_parse_latency(latency, nullptr, &min, nullptr);
      g_object_set(src, "min-latency", gint64(min), nullptr);
    }
    gst_object_unref(pad);
    gst_query_unref(latency);
    bridge->feed(src);
    gst_object_unref(src);
  }
  running_since_ = g_get_monotonic_time();
  flowing_ = false;
  said_running_ = false;
  if (!down_)  // a retry stays "down", since the first failure
    report_("starting", "");
  if (gst_element_set_state(part_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    log(log_name_, "could not start (the error follows)");
}

void OutputPart::teardown() {
  for (auto &bridge : bridges_)
    bridge->feed(nullptr);
  if (bus_watch_)
    g_source_remove(bus_watch_);
  bus_watch_ = 0;
  running_since_ = 0;
  if (part_) {
    gst_element_set_state(part_, GST_STATE_NULL);
    gst_object_unref(part_);
    part_ = nullptr;
  }
}

void OutputPart::stop() {
  if (restart_timer_)
    g_source_remove(restart_timer_);
  restart_timer_ = 0;
  teardown();
}

void OutputPart::restart_later(const std::string &why) {
  teardown();
  log(log_name_, "%s; this output restarts in %d ms, the others go on", why.c_str(), backoff_ms_);
  down_ = true;
  report_("down", why);
  restart_timer_ = g_timeout_add(
      guint(backoff_ms_),
      [](gpointer self) {
        auto *o = static_cast<OutputPart *>(self);
        o->restart_timer_ = 0;
        o->start();
        return G_SOURCE_REMOVE;
      },
      this);
  backoff_ms_ = std::min(std::max(backoff_ms_ * 2, 1), supervise_.backoff_max_ms);
}

void OutputPart::check(gint64 now) {
  // Stalled: a part that has taken less than the camera gives for the stall timeout (a sink
  // waiting on a server that swallows its packets and never answers) starts again, as the
  // camera's line does.
  bool behind = false;
  for (auto &bridge : bridges_)
    behind = behind || bridge->behind();
  behind_since_ = !part_ || !behind ? 0 : behind_since_ ? behind_since_ : now;
  const gint64 stall = gint64(supervise_.stall_timeout_s) * G_USEC_PER_SEC;
  if (stall > 0 && behind_since_ && now - behind_since_ > stall) {
    behind_since_ = 0;
    restart_later("it took nothing for " + std::to_string(supervise_.stall_timeout_s) +
                  " s (stalled)");
    return;
  }
  // Running: its data has reached a sink and five seconds passed without a fault, and it keeps
  // up. A sink takes buffers before it finds out that its far end is away: srtsink drops them
  // while it tries to connect, for three seconds.
  if (part_ && flowing_ && !behind && !said_running_ && now - running_since_ > 5 * G_USEC_PER_SEC) {
    said_running_ = true;
    down_ = false;
    report_("running", "");
  }
  if (running_since_ && now - running_since_ > 10 * G_USEC_PER_SEC)
    backoff_ms_ = supervise_.backoff_initial_ms;
}

gboolean OutputPart::on_message(GstBus *, GstMessage *msg, gpointer self) {
  auto *o = static_cast<OutputPart *>(self);
  switch (GST_MESSAGE_TYPE(msg)) {
  case GST_MESSAGE_ERROR: {
    GError *error = nullptr;
    gchar *debug = nullptr;
    gst_message_parse_error(msg, &error, &debug);
    // (without the debug text: an output that retries says it again and again)
    g_autofree char *why =
        g_strdup_printf("error from %s: %s", GST_OBJECT_NAME(msg->src), error->message);
    g_error_free(error);
    g_free(debug);
    o->bus_watch_ = 0;
    o->restart_later(why);
    return G_SOURCE_REMOVE;
  }
  case GST_MESSAGE_EOS:
    o->bus_watch_ = 0;
    o->restart_later("it ended (EOS)");
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_ELEMENT: log_connection(o->log_name_, msg); return G_SOURCE_CONTINUE;
  default: return G_SOURCE_CONTINUE;
  }
}

}  // namespace camcast::launcher
