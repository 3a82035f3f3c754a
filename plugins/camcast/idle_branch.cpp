#include "idle_branch.h"

#include <cstring>

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

}  // namespace

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
    if (is_tee(element)) {
      gst_object_unref(element);
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
  probe_ = gst_pad_add_probe(
      pad_, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
      &IdleBranch::drop_while_idle, this, nullptr);
  GST_INFO_OBJECT(sink, "idles while unwatched at %s:%s", GST_DEBUG_PAD_NAME(pad_));
}

void IdleBranch::detach() {
  if (pad_ && probe_)
    gst_pad_remove_probe(pad_, probe_);
  probe_ = 0;
  gst_clear_object(&pad_);
  idle_ = false;
}

GstPadProbeReturn IdleBranch::drop_while_idle(GstPad *, GstPadProbeInfo *, gpointer self) {
  return static_cast<IdleBranch *>(self)->idle_.load() ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

IdleBranch::Change IdleBranch::update(size_t viewers, gint64 now, gint64 after_us) {
  if (!probe_)
    return Change::None;
  if (viewers > 0) {
    unwatched_since_ = 0;
    return idle_.exchange(false) ? Change::Woke : Change::None;
  }
  if (!unwatched_since_)
    unwatched_since_ = now;
  if (after_us > 0 && !idle_.load() && now - unwatched_since_ >= after_us) {
    idle_ = true;
    GST_INFO("nobody watches: idle until the next viewer");
    return Change::Slept;
  }
  return Change::None;
}

}  // namespace camcast
