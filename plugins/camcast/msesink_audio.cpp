// msesink's sound (GstServingSink's audio input): Opus or AAC caps read into the fMP4 audio track,
// and audio frames held for the next video frame's fragment (or sent alone without a picture).
#include "msesink_private.h"

#include <gst/pbutils/pbutils.h>

#define GST_CAT_DEFAULT gst_mse_sink_debug

using namespace camcast;

// Opus (RFC 7845: always 48 kHz on the wire) or AAC from the audio pad's caps.
static bool audio_track_from_caps(GstMseSink *sink, GstCaps *caps, fmp4::AudioTrack *track) {
  GstStructure *s = gst_caps_get_structure(caps, 0);
  gint rate = 0, channels = 0;
  gst_structure_get_int(s, "rate", &rate);
  gst_structure_get_int(s, "channels", &channels);
  if (gst_structure_has_name(s, "audio/x-opus")) {
    fmp4::OpusConfig &o = track->opus;
    guint32 input_rate = 0;
    guint8 ch = 0, family = 0, streams = 0, coupled = 0;
    guint16 pre_skip = 0;
    gint16 gain = 0;
    const GValue *sh = gst_structure_get_value(s, "streamheader");
    GstBuffer *head = sh && GST_VALUE_HOLDS_ARRAY(sh) && gst_value_array_get_size(sh) > 0
                          ? gst_value_get_buffer(gst_value_array_get_value(sh, 0))
                          : nullptr;
    bool ok = head ? gst_codec_utils_opus_parse_header(head, &input_rate, &ch, &family, &streams,
                                                       &coupled, o.mapping, &pre_skip, &gain)
                   : gst_codec_utils_opus_parse_caps(caps, &input_rate, &ch, &family, &streams,
                                                     &coupled, o.mapping);
    if (!ok || ch == 0) {
      GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("Opus caps msesink cannot read"),
                        ("%" GST_PTR_FORMAT, caps));
      return false;
    }
    track->codec = fmp4::AudioTrack::Codec::Opus;
    track->rate = 48000;
    track->channels = ch;
    o.channels = ch;
    o.pre_skip = pre_skip;
    o.input_rate = input_rate ? input_rate : 48000;
    o.output_gain = gain;
    o.mapping_family = family;
    o.stream_count = streams;
    o.coupled_count = coupled;
    return true;
  }
  const GValue *codec_data = gst_structure_get_value(s, "codec_data");
  GstBuffer *asc = codec_data ? gst_value_get_buffer(codec_data) : nullptr;
  if (!asc || rate <= 0 || channels <= 0 || gst_buffer_get_size(asc) < 2) {
    GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("AAC without codec_data, rate or channels"),
                      ("put aacparse in front of msesink's audio pad"));
    return false;
  }
  track->codec = fmp4::AudioTrack::Codec::Aac;
  track->rate = uint32_t(rate);
  track->channels = uint8_t(channels);
  track->aac_config.resize(gst_buffer_get_size(asc));
  gst_buffer_extract(asc, 0, track->aac_config.data(), track->aac_config.size());
  return true;
}

gboolean gst_mse_sink_audio_caps_changed(GstServingSink *ws, GstCaps *caps) {
  GstMseSink *sink = mse_sink_of(ws);
  MseSinkPrivate *priv = sink->priv;
  fmp4::AudioTrack track;
  if (!audio_track_from_caps(sink, caps, &track))
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
    "audio", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("audio/x-opus, channel-mapping-family=(int)[0,1]; "
                    "audio/mpeg, mpegversion=(int)4, stream-format=(string)raw"));
