#include "serving_sink_private.h"

#define GST_CAT_DEFAULT gst_serving_sink_debug

using namespace camcast;

void ServingSinkPrivate::clear_header() {
  for (GstBuffer *b : header)
    gst_buffer_unref(b);
  header.clear();
}

gint64 gst_serving_sink_capture_time(GstServingSink *sink, GstBuffer *buffer) {
  return gst_serving_sink_capture_time_in(sink, &GST_BASE_SINK(sink)->segment, buffer);
}

gint64 gst_serving_sink_capture_time_in(GstServingSink *sink, const GstSegment *segment,
                                        GstBuffer *buffer) {
  GstClock *clock = GST_ELEMENT_CLOCK(sink);
  // A byte stream (a file, a pipe) has no running time to map.
  if (!clock || !GST_BUFFER_PTS_IS_VALID(buffer) || segment->format != GST_FORMAT_TIME)
    return g_get_real_time();
  GstClockTime running =
      gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
  GstClockTime now = gst_clock_get_time(clock);
  GstClockTime base_time = GST_ELEMENT_CAST(sink)->base_time;
  if (!GST_CLOCK_TIME_IS_VALID(running) || now < base_time)
    return g_get_real_time();
  const int64_t age_us = (int64_t(now - base_time) - int64_t(running)) / 1000;
  return g_get_real_time() - age_us;
}

void gst_serving_sink_push_unit(GstServingSink *sink, GstBuffer *buffer, gboolean keyframe) {
  gst_serving_sink_push_unit_at(sink, buffer, keyframe,
                                gst_serving_sink_capture_time(sink, buffer));
}

void gst_serving_sink_push_unit_at(GstServingSink *sink, GstBuffer *buffer, gboolean keyframe,
                                   gint64 capture_us) {
  gst_serving_sink_push_rung_unit(sink, 0, buffer, keyframe, capture_us);
}

void gst_serving_sink_request_keyframe(GstServingSink *sink) {
  gst_serving_sink_priv(sink)->request_keyframe();
}

void gst_serving_sink_request_rung_keyframe(GstServingSink *sink, guint rung) {
  gst_serving_sink_priv(sink)->keyframe_wanted(rung);
}

void gst_serving_sink_set_stream_header(GstServingSink *sink, const char *text, GstBuffer **buffers,
                                        guint n_buffers) {
  gst_serving_sink_set_rung_stream_header(sink, 0, text, buffers, n_buffers);
}

gboolean gst_serving_sink_default_caps_changed(GstServingSink *sink, GstCaps *caps) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
  priv->clear_header();
  const GValue *sh = gst_structure_get_value(gst_caps_get_structure(caps, 0), "streamheader");
  if (sh && GST_VALUE_HOLDS_ARRAY(sh)) {
    for (guint i = 0; i < gst_value_array_get_size(sh); i++) {
      const GValue *v = gst_value_array_get_value(sh, i);
      if (G_VALUE_HOLDS(v, GST_TYPE_BUFFER))
        priv->header.push_back(gst_buffer_ref(gst_value_get_buffer(v)));
    }
  }
  if (!priv->header.empty())
    gst_serving_sink_set_stream_header(sink, nullptr, priv->header.data(), priv->header.size());
  return TRUE;
}

GstFlowReturn gst_serving_sink_default_handle_buffer(GstServingSink *sink, GstBuffer *buffer) {
  // Buffers of the streamheader are already sent to each client on join (multihandlesink rule).
  if (GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_HEADER))
    for (GstBuffer *h : gst_serving_sink_priv(sink)->header) {
      GstMapInfo map;
      if (gst_buffer_get_size(h) != gst_buffer_get_size(buffer) ||
          !gst_buffer_map(h, &map, GST_MAP_READ))
        continue;
      const bool same = gst_buffer_memcmp(buffer, 0, map.data, map.size) == 0;
      gst_buffer_unmap(h, &map);
      if (same)
        return GST_FLOW_OK;
    }
  gst_serving_sink_push_unit(sink, buffer,
                             !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT));
  return GST_FLOW_OK;
}

void gst_serving_sink_push_rung_unit(GstServingSink *sink, guint rung, GstBuffer *buffer,
                                     gboolean keyframe, gint64 capture_us) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
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

void gst_serving_sink_set_rung_stream_header(GstServingSink *sink, guint rung, const char *text,
                                             GstBuffer **buffers, guint n_buffers) {
  if (auto mount = gst_serving_sink_priv(sink)->current_mount())
    mount->set_stream_header(std::vector<GstBuffer *>(buffers, buffers + n_buffers),
                             text ? text : "", rung);
}
