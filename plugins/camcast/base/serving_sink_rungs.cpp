// GstServingSink's lower renditions: "rung_%u" pads on request, for subclasses that serve a ladder
// (gst_serving_sink_class_add_rung_inputs). The base keeps the pads, their segments, their keyframe
// requests and their idle branches; the mount moves each viewer between rungs
// (fanout/rung_policy.h); the subclass gets caps and buffers (rung_caps_changed, handle_rung).
#include "rung_inputs.h"
#include "serving_sink_private.h"

#define GST_CAT_DEFAULT gst_serving_sink_debug

using camcast::Mount;
using camcast::requested_rung;
using camcast::rung_of;

static gboolean rung_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  GstServingSink *sink = serving_sink_of(parent);
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
  const guint rung = rung_of(pad);
  gboolean ok = TRUE;
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps(event, &caps);
    ok = serving_sink_class_of(sink)->rung_caps_changed(sink, rung, caps);
  } else if (GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT) {
    std::lock_guard<std::mutex> lk(priv->lock);
    if (auto it = priv->rung_inputs.find(rung); it != priv->rung_inputs.end())
      gst_event_copy_segment(event, &it->second->segment);
  }
  // A rung's end is not the element's: the picture's (the sink pad) is.
  gst_event_unref(event);
  return ok;
}

static GstFlowReturn rung_chain(GstPad *pad, GstObject *parent, GstBuffer *buffer) {
  GstServingSink *sink = serving_sink_of(parent);
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
  const guint rung = rung_of(pad);
  GstSegment segment;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    auto it = priv->rung_inputs.find(rung);
    if (it == priv->rung_inputs.end()) {
      gst_buffer_unref(buffer);
      return GST_FLOW_FLUSHING;
    }
    segment = it->second->segment;
    if (!GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT))
      it->second->keyframes.seen(g_get_monotonic_time());
  }
  return serving_sink_class_of(sink)->handle_rung(sink, rung, buffer, &segment);
}

GstPad *gst_serving_sink_request_rung_pad(GstElement *element, GstPadTemplate *templ,
                                          const gchar *name) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(element);
  guint rung = 0;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    rung = requested_rung(name, [priv](guint r) { return priv->rung_inputs.count(r) > 0; });
    if (rung < 1 || rung >= Mount::kMaxRungs || priv->rung_inputs.count(rung))
      return nullptr;
  }
  g_autofree char *pad_name = g_strdup_printf("rung_%u", rung);
  GstPad *pad = gst_pad_new_from_template(templ, pad_name);
  gst_pad_set_chain_function(pad, rung_chain);
  gst_pad_set_event_function(pad, rung_event);
  GST_PAD_SET_ACCEPT_TEMPLATE(pad);
  auto input = std::make_unique<ServingSinkPrivate::RungInput>();
  input->pad = pad;
  gst_segment_init(&input->segment, GST_FORMAT_UNDEFINED);
  if (GST_STATE(element) >= GST_STATE_PAUSED)
    gst_pad_set_active(pad, TRUE);
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    priv->rung_inputs[rung] = std::move(input);
  }
  gst_element_add_pad(element, pad);
  return pad;
}

void gst_serving_sink_release_rung_pad(GstElement *element, GstPad *pad) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(element);
  gst_pad_set_active(pad, FALSE);
  std::unique_ptr<ServingSinkPrivate::RungInput> gone;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    auto it = priv->rung_inputs.find(rung_of(pad));
    if (it != priv->rung_inputs.end()) {
      gone = std::move(it->second);
      priv->rung_inputs.erase(it);
    }
  }
  gst_element_remove_pad(element, pad);
}

guint gst_serving_sink_n_rungs(GstServingSink *sink) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
  std::lock_guard<std::mutex> lk(priv->lock);
  guint n = 1;
  for (auto &[rung, input] : priv->rung_inputs)
    if (gst_pad_is_linked(input->pad))
      n = std::max(n, rung + 1);
  return n;
}
