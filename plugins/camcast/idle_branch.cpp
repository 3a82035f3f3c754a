#include "idle_branch.h"

#include <cstring>
#include <mutex>

GST_DEBUG_CATEGORY_EXTERN(gst_ws_sink_debug);
#define GST_CAT_DEFAULT gst_ws_sink_debug

namespace camcast {

namespace {

bool is_encoder(GstElement *element) {
  GstElementFactory *factory = gst_element_get_factory(element);
  const char *klass =
      factory ? gst_element_factory_get_metadata(factory, GST_ELEMENT_METADATA_KLASS) : nullptr;
  return klass && strstr(klass, "Encoder");
}

bool is_tee(GstElement *element) {
  GstElementFactory *factory = gst_element_get_factory(element);
  return factory && strcmp(GST_OBJECT_NAME(factory), "tee") == 0;
}

// The one sink pad of `element`, or null (none, or more than one: a muxer's join is not ours).
GstPad *only_sink_pad(GstElement *element) {
  GstPad *found = nullptr;
  int n = 0;
  GstIterator *it = gst_element_iterate_sink_pads(element);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    if (n++ == 0)
      found = GST_PAD(g_value_dup_object(&item));
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  if (n != 1 && found)
    gst_clear_object(&found);
  return found;
}

// Whether everything `pad` feeds ends in sinks that idle (camcast's: they have idle-after),
// through elements of one output each (queues, parsers). A recorder or a stream handed on
// elsewhere must never lose its input to an idle viewer page.
bool feeds_only_idling_sinks(GstPad *pad, int depth = 0) {
  GstPad *peer = gst_pad_get_peer(pad);
  GstElement *element = peer ? gst_pad_get_parent_element(peer) : nullptr;
  gst_clear_object(&peer);
  if (!element || depth > 32) {
    gst_clear_object(&element);
    return false;
  }
  bool only = true;
  if (!g_object_class_find_property(G_OBJECT_GET_CLASS(element), "idle-after")) {
    int outputs = 0;
    GstIterator *it = gst_element_iterate_src_pads(element);
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
      outputs++;
      only = only && feeds_only_idling_sinks(GST_PAD(g_value_get_object(&item)), depth + 1);
      g_value_reset(&item);
    }
    g_value_unset(&item);
    gst_iterator_free(it);
    only = only && outputs > 0;
  }
  gst_object_unref(element);
  return only;
}

bool tee_feeds_only_idling_sinks(GstElement *tee) {
  GstPad *in = only_sink_pad(tee);
  GstPad *feeder = in ? gst_pad_get_peer(in) : nullptr;
  const bool only = feeder && feeds_only_idling_sinks(feeder);
  gst_clear_object(&feeder);
  gst_clear_object(&in);
  return only;
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

void IdleBranch::attach(GstElement *sink) {
  detach();
  GstPad *pad = gst_element_get_static_pad(sink, "sink");
  bool encoder = false;
  GstPad *start = nullptr;  // the upstream src pad where the branch begins
  while (pad) {
    GstPad *peer = gst_pad_get_peer(pad);
    gst_object_unref(pad);
    pad = nullptr;
    GstElement *element = peer ? gst_pad_get_parent_element(peer) : nullptr;
    if (!element) {  // not linked, or a ghost pad's bin: no branch we understand
      gst_clear_object(&peer);
      gst_clear_object(&start);
      break;
    }
    gst_clear_object(&start);
    start = peer;
    // A tee before any encoder shares an encoder's output: the branch goes on above it if every
    // output of the tee ends in a sink that idles too, else nothing idles.
    if (is_tee(element) && (encoder || !tee_feeds_only_idling_sinks(element))) {
      gst_object_unref(element);
      if (!encoder)
        gst_clear_object(&start);
      break;
    }
    encoder = encoder || is_encoder(element);
    pad = only_sink_pad(element);  // null at the source: the branch starts at its src pad
    gst_object_unref(element);
  }
  if (!start || !encoder) {
    gst_clear_object(&start);
    return;
  }
  pad_ = start;
  idle_ = false;
  unwatched_since_ = 0;
  {
    std::lock_guard<std::mutex> lk(shared_lock);
    shared_ = static_cast<Shared *>(g_object_get_data(G_OBJECT(pad_), kShared));
    if (!shared_) {
      shared_ = new Shared();
      g_object_set_data(G_OBJECT(pad_), kShared, shared_);
      // The pad frees it with the probe, once no buffer is in the probe any more (a source
      // may still be streaming while a sink leaves).
      shared_->probe = gst_pad_add_probe(
          pad_, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          &IdleBranch::drop_while_idle, shared_,
          [](gpointer s) { delete static_cast<Shared *>(s); });
    }
    shared_->users++;
    shared_->awake++;
  }
  GST_INFO_OBJECT(sink, "idles while unwatched at %s:%s", GST_DEBUG_PAD_NAME(pad_));
}

void IdleBranch::detach() {
  if (shared_) {
    std::lock_guard<std::mutex> lk(shared_lock);
    if (!idle_)
      shared_->awake--;
    if (--shared_->users == 0) {
      g_object_set_data(G_OBJECT(pad_), kShared, nullptr);
      gst_pad_remove_probe(pad_, shared_->probe);  // frees it
    }
    shared_ = nullptr;
  }
  gst_clear_object(&pad_);
  idle_ = false;
}

GstPadProbeReturn IdleBranch::drop_while_idle(GstPad *, GstPadProbeInfo *, gpointer shared) {
  return static_cast<Shared *>(shared)->awake.load() == 0 ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

IdleBranch::Change IdleBranch::update(size_t viewers, gint64 now, gint64 after_us) {
  if (!shared_)
    return Change::None;
  if (viewers > 0) {
    unwatched_since_ = 0;
    if (!idle_.exchange(false))
      return Change::None;
    shared_->awake++;
    return Change::Woke;
  }
  if (!unwatched_since_)
    unwatched_since_ = now;
  if (after_us > 0 && !idle_.load() && now - unwatched_since_ >= after_us) {
    idle_ = true;
    shared_->awake--;
    GST_INFO("nobody watches: idle until the next viewer");
    return Change::Slept;
  }
  return Change::None;
}

}  // namespace camcast
