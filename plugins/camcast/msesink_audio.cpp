// msesink's sound (GstServingSink's audio input): Opus or AAC caps read into the fMP4 audio track,
// and audio frames held for the next video frame's fragment (or sent alone without a picture).
#include "msesink_private.h"

#include "base/fmp4_tracks.h"

#define GST_CAT_DEFAULT gst_mse_sink_debug

using namespace camcast;

gboolean gst_mse_sink_audio_caps_changed(GstServingSink *ws, GstCaps *caps) {
  GstMseSink *sink = mse_sink_of(ws);
  MseSinkPrivate *priv = sink->priv;
  fmp4::AudioTrack track;
  if (!audio_track_from_caps(GST_ELEMENT(sink), caps, &track))
    return FALSE;
  std::lock_guard<std::mutex> lk(priv->lock);
  priv->audio = std::move(track);
  if (!priv->first_caps_us)
    priv->first_caps_us = g_get_monotonic_time();
  if (priv->format == GST_MSE_SINK_FORMAT_FMP4)
    mse_sink_describe(sink, priv->described());
  return TRUE;
}

void gst_mse_sink_audio_flushed(GstServingSink *ws, gboolean gone) {
  MseSinkPrivate *priv = mse_sink_of(ws)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  priv->drop_audio_frames();
  if (gone)
    priv->audio.reset();
}

GstFlowReturn gst_mse_sink_handle_audio(GstServingSink *ws, GstBuffer *buffer,
                                        const GstSegment *segment) {
  GstMseSink *sink = mse_sink_of(ws);
  MseSinkPrivate *priv = sink->priv;
  const GstClockTime running =
      GST_BUFFER_PTS_IS_VALID(buffer)
          ? gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer))
          : GST_CLOCK_TIME_NONE;
  std::unique_lock<std::mutex> lk(priv->lock);
  if (!priv->audio) {
    gst_buffer_unref(buffer);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  const uint32_t rate = priv->audio->rate;
  if (!GST_CLOCK_TIME_IS_VALID(running) || priv->format != GST_MSE_SINK_FORMAT_FMP4) {
    gst_buffer_unref(buffer);  // outside the segment, or a format without audio
    return GST_FLOW_OK;
  }
  if (GST_BUFFER_DURATION_IS_VALID(buffer) && GST_BUFFER_DURATION(buffer) > 0)
    priv->last_audio_duration = uint32_t(mse_sink_to_timescale(GST_BUFFER_DURATION(buffer), rate));
  else if (!priv->last_audio_duration)
    priv->last_audio_duration = rate / 50;  // 20 ms, the usual Opus and close to AAC's 1024
  const gint64 capture_us = gst_serving_sink_capture_time_in(ws, segment, buffer);
  mse_sink_describe(sink, false);
  if (!priv->described_audio) {
    gst_buffer_unref(buffer);
    return GST_FLOW_OK;
  }
  const AudioFrame frame{buffer, mse_sink_to_timescale(running, rate), priv->last_audio_duration,
                         capture_us};
  // Every rendition carries the sound: the frame waits for each rung's next picture (a
  // reference each, never a copy).
  for (size_t r = 0; r < priv->rungs.size(); r++) {
    VideoRung &rung = priv->rungs[r];
    if (r > 0 && !rung.described)
      continue;
    rung.audio_frames.push_back(frame);
    gst_buffer_ref(frame.buffer);
    // With pictures the frames ride in the next video fragment; alone, or when the pictures
    // have stopped (an idle rung's encoder), they go in a fragment of their own (a place to
    // join only when there is no video).
    const gint64 held_us = g_get_real_time() - rung.audio_frames.front().capture_us;
    if (!rung.described)
      mse_sink_push_fragment(sink, guint(r), nullptr, nullptr, 0, 0, true);
    else if (held_us > AUDIO_HOLD_US)
      mse_sink_push_fragment(sink, guint(r), nullptr, nullptr, 0, 0, false);
  }
  gst_buffer_unref(buffer);
  return GST_FLOW_OK;
}

GstStaticPadTemplate gst_mse_sink_audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS(CAMCAST_FMP4_AUDIO_CAPS));
