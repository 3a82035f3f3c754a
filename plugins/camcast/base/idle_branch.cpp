#include "idle_branch.h"

#include "graph.h"

#include <cstring>
#include <mutex>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(camcast_idle_debug);
#define GST_CAT_DEFAULT camcast_idle_debug

namespace camcast {

namespace {

bool is_encoder(GstElement *element) {
  GstElementFactory *factory = gst_element_get_factory(element);
  const char *klass =
      factory ? gst_element_factory_get_metadata(factory, GST_ELEMENT_METADATA_KLASS) : nullptr;
  return klass && strstr(klass, "Encoder");
}

// Whether everything `pad` feeds ends in sinks that idle (camcast's with idle-after set: a
// recordsink's is 0), through elements of one output each (queues, parsers). A recorder or a
// stream handed on elsewhere must never lose its input to an idle viewer page.
bool feeds_only_idling_sinks(GstPad *pad, int depth = 0) {
  GstElement *element = graph::across(pad);
  if (!element || depth > 32) {
    gst_clear_object(&element);
    return false;
  }
  bool only;
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(element), "idle-after")) {
    guint idle_after = 0;  // a camcast sink: 0 never idles
    g_object_get(element, "idle-after", &idle_after, nullptr);
    only = idle_after > 0;
  } else {
    std::vector<GstPad *> outputs = graph::pads(element, GST_PAD_SRC);
    only = !outputs.empty();
    for (GstPad *output : outputs)
      only = only && feeds_only_idling_sinks(output, depth + 1);
    graph::unref_all(&outputs);
  }
  gst_object_unref(element);
  return only;
}

bool tee_feeds_only_idling_sinks(GstElement *tee) {
  std::vector<GstPad *> in = graph::pads(tee, GST_PAD_SINK);
  GstPad *feeder = in.size() == 1 ? gst_pad_get_peer(in[0]) : nullptr;
  const bool only = feeder && feeds_only_idling_sinks(feeder);
  gst_clear_object(&feeder);
  graph::unref_all(&in);
  return only;
}

// Walks upstream from `pad` (a sink pad; the reference is taken) to where the way that feeds it
// begins: the src pad of the tee before its encoder, or of the source. Adds that pad to `starts`
// and says true if the way has an encoder (`encoder`: one was found below already); else adds
// nothing. A tee before any encoder is passed only if all it feeds idles too. An element of
// several inputs (a muxer: pictures and sound into one MPEG-TS) is passed only if every input's
// way can idle, and those ways pass no tee: a muxer starved on some inputs while others flow
// waits for them and stalls what feeds it. Above a tee a way's start would be shared with other
// outputs, awake while this one sleeps (measured in bench-latency-server: /ts-sound, muxing a
// shared MPEG-1 encode with a tone of its own, unwatched, held /ts's viewer to 3 pictures a
// second; with this rule it does not idle, and /ts shows 30).
bool find_starts(GstPad *pad, bool encoder, std::vector<GstPad *> *starts, bool through_tees = true,
                 int depth = 0) {
  GstPad *start = nullptr;
  while (pad) {
    gst_clear_object(&start);
    GstElement *element = graph::across(pad, &start);
    gst_object_unref(pad);
    pad = nullptr;
    if (!element || depth > 32) {  // not linked, or a ghost pad's bin: no way we understand
      gst_clear_object(&element);
      gst_clear_object(&start);
      return false;
    }
    if (graph::made_by(element, "tee") &&
        (encoder || !through_tees || !tee_feeds_only_idling_sinks(element))) {
      gst_object_unref(element);
      break;
    }
    encoder = encoder || is_encoder(element);
    std::vector<GstPad *> inputs = graph::pads(element, GST_PAD_SINK);
    gst_object_unref(element);
    if (inputs.size() > 1) {
      gst_clear_object(&start);
      std::vector<GstPad *> found;
      bool all = true;
      for (GstPad *input : inputs)
        all = find_starts(input, encoder, &found, false, depth + 1) && all;
      if (!all)
        graph::unref_all(&found);
      starts->insert(starts->end(), found.begin(), found.end());
      return all;
    }
    pad = inputs.empty() ? nullptr : inputs[0];  // none at the source: the way starts there
  }
  if (!start || !encoder) {
    gst_clear_object(&start);
    return false;
  }
  starts->push_back(start);
  return true;
}

// Attaching and detaching, which may share a branch's start (and its probe) between sinks.
std::mutex shared_lock;
constexpr const char *kShared = "camcast-idle-branch";

}  // namespace

// What the sinks after one encoder share (an H.264 encoder feeding both msesink and whepsink
// through a tee): the probe at the branch's start drops buffers while none of them is awake.
struct IdleBranch::Shared {
  std::atomic<int> awake{0};
  int users = 0;  // under shared_lock
  gulong probe = 0;
};

void IdleBranch::attach(GstElement *sink, const std::vector<GstPad *> &inputs) {
  static gsize debug_ready = 0;
  if (g_once_init_enter(&debug_ready)) {
    GST_DEBUG_CATEGORY_INIT(camcast_idle_debug, "camcastidle", 0, "camcast idle branches");
    g_once_init_leave(&debug_ready, 1);
  }
  detach();
  // Each input of the output (an msesink's pictures and its sound) idles on its own way.
  std::vector<GstPad *> pads;
  for (GstPad *input : inputs)
    find_starts(GST_PAD(gst_object_ref(input)), false, &pads);
  idle_ = false;
  unwatched_since_ = 0;
  std::lock_guard<std::mutex> lk(shared_lock);
  for (GstPad *pad : pads) {
    auto *shared = static_cast<Shared *>(g_object_get_data(G_OBJECT(pad), kShared));
    if (!shared) {
      shared = new Shared();
      g_object_set_data(G_OBJECT(pad), kShared, shared);
      // The pad frees it with the probe, once no buffer is in the probe any more (a source
      // may still be streaming while a sink leaves).
      shared->probe = gst_pad_add_probe(
          pad, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          &IdleBranch::drop_while_idle, shared,
          [](gpointer s) { delete static_cast<Shared *>(s); });
    }
    shared->users++;
    shared->awake++;
    starts_.push_back({pad, shared});
    GST_INFO_OBJECT(sink, "idles while unwatched at %s:%s", GST_DEBUG_PAD_NAME(pad));
  }
}

void IdleBranch::detach() {
  std::lock_guard<std::mutex> lk(shared_lock);
  for (Start &start : starts_) {
    if (!idle_)
      start.shared->awake--;
    if (--start.shared->users == 0) {
      g_object_set_data(G_OBJECT(start.pad), kShared, nullptr);
      gst_pad_remove_probe(start.pad, start.shared->probe);  // frees it
    }
    gst_object_unref(start.pad);
  }
  starts_.clear();
  idle_ = false;
}

GstPadProbeReturn IdleBranch::drop_while_idle(GstPad *, GstPadProbeInfo *, gpointer shared) {
  return static_cast<Shared *>(shared)->awake.load() == 0 ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

IdleBranch::Change IdleBranch::update(size_t viewers, gint64 now, gint64 after_us) {
  if (starts_.empty())
    return Change::None;
  if (viewers > 0) {
    unwatched_since_ = 0;
    if (!idle_.exchange(false))
      return Change::None;
    for (Start &start : starts_)
      start.shared->awake++;
    return Change::Woke;
  }
  if (!unwatched_since_)
    unwatched_since_ = now;
  if (after_us > 0 && !idle_.load() && now - unwatched_since_ >= after_us) {
    idle_ = true;
    for (Start &start : starts_)
      start.shared->awake--;
    GST_INFO("nobody watches: idle until the next viewer");
    return Change::Slept;
  }
  return Change::None;
}

}  // namespace camcast
