// GstWsSink's lower renditions: "rung_%u" pads on request, for subclasses that serve a ladder
// (gst_ws_sink_class_add_rung_inputs). The base keeps the pads, their segments, their keyframe
// requests and their idle branches; the mount moves each viewer between rungs
// (fanout/rung_policy.h); the subclass gets caps and buffers (rung_caps_changed, handle_rung).
#include "wssink_private.h"

#include <gst/video/video.h>

#define GST_CAT_DEFAULT gst_ws_sink_debug

// However many viewers move to a rung at once, ask its encoder for a keyframe at most this often.
constexpr gint64 kRungKeyframeIntervalUs = 500 * G_TIME_SPAN_MILLISECOND;

using camcast::Mount;

static guint rung_of(GstPad *pad) {
  return guint(g_ascii_strtoull(GST_PAD_NAME(pad) + strlen("rung_"), nullptr, 10));
}

static gboolean rung_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  GstWsSink *sink = GST_WS_SINK(parent);
  WsSinkPrivate *priv = gst_ws_sink_priv(sink);
  const guint rung = rung_of(pad);
  gboolean ok = TRUE;
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps(event, &caps);
    ok = GST_WS_SINK_GET_CLASS(sink)->rung_caps_changed(sink, rung, caps);
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
  GstWsSink *sink = GST_WS_SINK(parent);
  WsSinkPrivate *priv = gst_ws_sink_priv(sink);
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
  return GST_WS_SINK_GET_CLASS(sink)->handle_rung(sink, rung, buffer, &segment);
}

static GstPad *request_rung_pad(GstElement *element, GstPadTemplate *templ, const gchar *name) {
  WsSinkPrivate *priv = gst_ws_sink_priv(element);
  guint rung = 0;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    if (name && g_str_has_prefix(name, "rung_"))
      rung = guint(g_ascii_strtoull(name + 5, nullptr, 10));
    else  // the next free
      for (rung = 1; priv->rung_inputs.count(rung); rung++) {
      }
    if (rung < 1 || rung >= Mount::kMaxRungs || priv->rung_inputs.count(rung))
      return nullptr;
  }
  g_autofree char *pad_name = g_strdup_printf("rung_%u", rung);
  GstPad *pad = gst_pad_new_from_template(templ, pad_name);
  gst_pad_set_chain_function(pad, rung_chain);
  gst_pad_set_event_function(pad, rung_event);
  GST_PAD_SET_ACCEPT_TEMPLATE(pad);
  auto input = std::make_unique<WsSinkPrivate::RungInput>();
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

GstPad *gst_ws_sink_request_pad(GstElement *element, GstPadTemplate *templ, const gchar *name,
                                const GstCaps *) {
  if (g_str_equal(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "audio"))
    return gst_ws_sink_request_audio_pad(element, templ);
  if (g_str_equal(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "rung_%u"))
    return request_rung_pad(element, templ, name);
  return nullptr;
}

void gst_ws_sink_release_pad(GstElement *element, GstPad *pad) {
  if (!g_str_has_prefix(GST_PAD_NAME(pad), "rung_")) {
    gst_ws_sink_release_audio_pad(element, pad);
    return;
  }
  WsSinkPrivate *priv = gst_ws_sink_priv(element);
  gst_pad_set_active(pad, FALSE);
  std::unique_ptr<WsSinkPrivate::RungInput> gone;
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

void gst_ws_sink_class_add_rung_inputs(GstWsSinkClass *klass, GstStaticPadTemplate *templ) {
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  gst_element_class_add_static_pad_template(element_class, templ);
  element_class->request_new_pad = gst_ws_sink_request_pad;
  element_class->release_pad = gst_ws_sink_release_pad;
}

guint gst_ws_sink_n_rungs(GstWsSink *sink) {
  WsSinkPrivate *priv = gst_ws_sink_priv(sink);
  std::lock_guard<std::mutex> lk(priv->lock);
  guint n = 1;
  for (auto &[rung, input] : priv->rung_inputs)
    if (gst_pad_is_linked(input->pad))
      n = std::max(n, rung + 1);
  return n;
}

void WsSinkPrivate::attach_idle_branches() {
  std::lock_guard<std::mutex> lk(lock);
  // The output's branch: the picture (rung 0) and the sound, awake while anyone watches any rung.
  std::vector<GstPad *> inputs = {GST_BASE_SINK_PAD(sink)};
  if (audio_pad)
    inputs.push_back(audio_pad);
  idle.attach(GST_ELEMENT(sink), inputs);
  for (auto &[rung, input] : rung_inputs)
    input->idle.attach(GST_ELEMENT(sink), {input->pad});
}

void WsSinkPrivate::detach_idle_branches() {
  std::lock_guard<std::mutex> lk(lock);
  idle.detach();
  for (auto &[rung, input] : rung_inputs)
    input->idle.detach();
}

void WsSinkPrivate::update_rung_branches(const std::shared_ptr<Mount> &serving, gint64 now) {
  std::vector<GstPad *> woke;
  {
    std::lock_guard<std::mutex> lk(lock);
    for (auto &[rung, input] : rung_inputs) {
      const size_t on = serving ? serving->n_viewers_on(rung) : 0;
      const auto change = input->idle.update(on, now, gint64(idle_after) * G_USEC_PER_SEC);
      // Woken, or a keyframe asked too soon after the last is due now.
      if (change == camcast::IdleBranch::Change::Woke ||
          input->keyframes.due(now, kRungKeyframeIntervalUs))
        woke.push_back(GST_PAD(gst_object_ref(input->pad)));
    }
  }
  for (GstPad *pad : woke) {  // outside the lock: the event goes upstream now
    gst_pad_push_event(pad,
                       gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
    gst_object_unref(pad);
  }
}

void WsSinkPrivate::keyframe_wanted(size_t rung) {
  if (rung == 0) {
    if (!wake())
      request_keyframe();
    return;
  }
  GstPad *pad = nullptr;
  bool now = false;
  {
    std::lock_guard<std::mutex> lk(lock);
    auto it = rung_inputs.find(guint(rung));
    if (it == rung_inputs.end())
      return;
    RungInput *input = it->second.get();
    // A viewer on its way: the rung works from now, and its encoder starts with a keyframe.
    now = input->idle.update(1, g_get_monotonic_time(), 0) == camcast::IdleBranch::Change::Woke;
    if (input->keyframes.ask(g_get_monotonic_time(), kRungKeyframeIntervalUs, now))
      pad = GST_PAD(gst_object_ref(input->pad));
  }
  GST_DEBUG("rung %zu: a keyframe wanted (%s)", rung, pad ? "asked" : "asked lately");
  if (pad) {
    gst_pad_push_event(pad,
                       gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
    gst_object_unref(pad);
  }
}

void gst_ws_sink_push_rung_unit(GstWsSink *sink, guint rung, GstBuffer *buffer, gboolean keyframe,
                                gint64 capture_us) {
  WsSinkPrivate *priv = gst_ws_sink_priv(sink);
  std::shared_ptr<Mount> mount;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    // An idle branch keeps nothing: what it still lets through after it went idle (a frame the
    // encoder was working on, one a videorate held) would be hours old when a viewer comes.
    if (rung == 0 ? priv->idle.idle()
                  : !priv->rung_inputs.count(rung) || priv->rung_inputs[rung]->idle.idle())
      return;
    mount = priv->mount;
  }
  if (!mount)
    return;
  const GstClockTime ts = GST_BUFFER_PTS_IS_VALID(buffer) ? GST_BUFFER_PTS(buffer)
                          : GST_BUFFER_DTS_IS_VALID(buffer)
                              ? GST_BUFFER_DTS(buffer)
                              : GstClockTime(g_get_monotonic_time() * GST_USECOND);
  mount->push(buffer, keyframe, ts, capture_us, rung);
}

void gst_ws_sink_set_rung_stream_header(GstWsSink *sink, guint rung, const char *text,
                                        GstBuffer **buffers, guint n_buffers) {
  if (auto mount = gst_ws_sink_priv(sink)->current_mount())
    mount->set_stream_header(std::vector<GstBuffer *>(buffers, buffers + n_buffers),
                             text ? text : "", rung);
}
