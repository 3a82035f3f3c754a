// GstServingSink's sound input: an "audio" pad on request, for subclasses that add one
// (gst_serving_sink_class_add_audio_input). The base keeps the pad, its segment and its end; the
// subclass gets caps and buffers (audio_caps_changed, handle_audio, audio_flushed).
#include "serving_sink_private.h"

#define GST_CAT_DEFAULT gst_serving_sink_debug

static gboolean audio_event(GstPad *, GstObject *parent, GstEvent *event) {
  GstServingSink *sink = serving_sink_of(parent);
  GstServingSinkClass *klass = serving_sink_class_of(sink);
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
  gboolean ok = TRUE;
  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_CAPS: {
    GstCaps *caps;
    gst_event_parse_caps(event, &caps);
    ok = klass->audio_caps_changed(sink, caps);
    break;
  }
  case GST_EVENT_SEGMENT: gst_event_copy_segment(event, &priv->audio_segment); break;
  case GST_EVENT_FLUSH_STOP: klass->audio_flushed(sink, FALSE); break;
  case GST_EVENT_EOS:
    // The picture's end is the element's (GstBaseSink posts it); alone, the sound's is.
    if (!gst_pad_is_linked(GST_BASE_SINK_PAD(sink)))
      gst_element_post_message(GST_ELEMENT(sink), gst_message_new_eos(GST_OBJECT(sink)));
    break;
  default: break;
  }
  gst_event_unref(event);
  return ok;
}

static GstFlowReturn audio_chain(GstPad *, GstObject *parent, GstBuffer *buffer) {
  GstServingSink *sink = serving_sink_of(parent);
  return serving_sink_class_of(sink)->handle_audio(sink, buffer,
                                                   &gst_serving_sink_priv(sink)->audio_segment);
}

// The audio input, on request (one): an always pad would be the unlinked sink pad that
// gst_parse_bin_from_description() and GstHarness pick for the bin's input.
GstPad *gst_serving_sink_request_audio_pad(GstElement *element, GstPadTemplate *templ) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(element);
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    if (priv->audio_pad || g_strcmp0(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "audio") != 0)
      return nullptr;
  }
  GstPad *pad = gst_pad_new_from_template(templ, "audio");
  gst_pad_set_chain_function(pad, audio_chain);
  gst_pad_set_event_function(pad, audio_event);
  GST_PAD_SET_ACCEPT_TEMPLATE(pad);
  gst_segment_init(&priv->audio_segment, GST_FORMAT_UNDEFINED);
  if (GST_STATE(element) >= GST_STATE_PAUSED)
    gst_pad_set_active(pad, TRUE);
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    priv->audio_pad = pad;
  }
  gst_element_add_pad(element, pad);
  return pad;
}

void gst_serving_sink_release_audio_pad(GstElement *element, GstPad *pad) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(element);
  gst_pad_set_active(pad, FALSE);
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    priv->audio_pad = nullptr;
  }
  serving_sink_class_of(element)->audio_flushed(serving_sink_of(element), TRUE);
  gst_element_remove_pad(element, pad);
}

gboolean gst_serving_sink_audio_linked(GstServingSink *sink) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
  std::lock_guard<std::mutex> lk(priv->lock);
  return priv->audio_pad && gst_pad_is_linked(priv->audio_pad);
}

void ServingSinkPrivate::audio_starting() {
  // Sound alone: the picture's input will never preroll, so the element must not wait for it.
  GstBaseSink *base = GST_BASE_SINK(sink);
  if (gst_serving_sink_audio_linked(sink) && !gst_pad_is_linked(base->sinkpad) &&
      gst_base_sink_is_async_enabled(base)) {
    gst_base_sink_set_async_enabled(base, FALSE);
    async_turned_off = true;
  }
}

void ServingSinkPrivate::audio_stopped() {
  if (async_turned_off)
    gst_base_sink_set_async_enabled(GST_BASE_SINK(sink), TRUE);
  async_turned_off = false;
  gst_segment_init(&audio_segment, GST_FORMAT_UNDEFINED);
  if (serving_sink_class_of(sink)->audio_flushed)
    serving_sink_class_of(sink)->audio_flushed(sink, TRUE);
}
