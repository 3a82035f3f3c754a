// msesink's output: the description and init segment of each rung, and its fragments (the
// picture and the sound waiting for it), for msesink.cpp (pictures) and msesink_audio.cpp (sound).
#include "msesink_private.h"

#include "formats/json.h"

#define GST_CAT_DEFAULT gst_mse_sink_debug

using namespace camcast;

uint64_t mse_sink_to_timescale(GstClockTime t, uint32_t timescale) {
  return gst_util_uint64_scale(t, timescale, GST_SECOND);
}

// The description of rung `r` for the player: its codec and size, the sound, and the ladder.
static std::string describe_rung(MseSinkPrivate *priv, size_t r) {
  camcast::StreamDescription d;
  d.format = "fmp4";
  if (const auto &v = priv->rungs[r].video) {
    d.codec = priv->rungs[r].codec;
    d.width = v->width;
    d.height = v->height;
    d.timescale = TIMESCALE;
  }
  if (priv->audio) {
    d.has_audio = true;
    d.audio = {fmp4::codec_string(*priv->audio), int(priv->audio->rate),
               int(priv->audio->channels)};
  }
  // A ladder: which rung this is, and every rung's size (the player offers them to pin).
  if (priv->rungs[1].video || priv->rungs[2].video || priv->rungs[3].video) {
    d.rung = int(r);
    for (size_t i = 0; i < priv->rungs.size(); i++)
      if (const auto &v = priv->rungs[i].video)
        d.ladder.push_back({int(i), int(v->width), int(v->height)});
  }
  d.whep = priv->whep_path;
  return d.json();
}

// Sends the description and init segment of the tracks known, once every linked input of the
// top rung has caps or DESCRIBE_WAIT_US after the first did; again when a track comes later.
// Lower rungs follow the top one, each with its own picture and the same sound. Under the lock.
void mse_sink_describe(GstMseSink *sink, bool force) {
  MseSinkPrivate *priv = sink->priv;
  VideoRung &top = priv->top();
  // Every buffer asks (a wait can end only when one comes): the usual answer is quick.
  bool fresh = top.described == bool(top.video) && priv->described_audio == bool(priv->audio);
  for (size_t r = 1; r < priv->rungs.size(); r++)
    fresh = fresh && priv->rungs[r].described == bool(priv->rungs[r].video);
  if (!force && fresh)
    return;
  const bool video_linked = gst_pad_is_linked(GST_BASE_SINK_PAD(sink));
  const bool audio_linked = gst_serving_sink_audio_linked(GST_SERVING_SINK(sink));
  const bool all = (!video_linked || top.video) && (!audio_linked || priv->audio);
  const bool waited = g_get_monotonic_time() - priv->first_caps_us >= DESCRIBE_WAIT_US;
  if (!force && !(all || (waited && (top.video || priv->audio))))
    return;
  for (size_t r = 0; r < priv->rungs.size(); r++) {
    VideoRung &rung = priv->rungs[r];
    if (r > 0 && !rung.video)
      continue;
    const std::string json = describe_rung(priv, r);
    std::vector<uint8_t> init = fmp4::init_segment(rung.video ? &*rung.video : nullptr,
                                                   priv->audio ? &*priv->audio : nullptr);
    GstBuffer *init_buffer = gst_buffer_new_memdup(init.data(), init.size());
    GST_INFO_OBJECT(sink, "stream %s, init segment of %zu bytes", json.c_str(), init.size());
    gst_serving_sink_set_rung_stream_header(GST_SERVING_SINK(sink), guint(r), json.c_str(),
                                            &init_buffer, 1);
    gst_buffer_unref(init_buffer);
    rung.described = bool(rung.video);
  }
  priv->described_audio = bool(priv->audio);
  priv->drop_audio_frames();
  // Players start over with the new description: give them a keyframe to start from.
  gst_serving_sink_request_keyframe(GST_SERVING_SINK(sink));
}

// Queues one fragment of rung `r`: `video` (or null) and the audio frames waiting for it,
// numbered under the lock.
void mse_sink_push_fragment(GstMseSink *sink, guint r, GstBuffer *video,
                            const fmp4::Sample *video_sample, uint64_t video_time,
                            gint64 capture_us, bool keyframe) {
  MseSinkPrivate *priv = sink->priv;
  fmp4::Fragment fragment;
  fragment.sequence = ++priv->rungs[r].sequence;
  if (video)
    fragment.runs.push_back({fmp4::kVideoTrackId, video_time, {*video_sample}});
  std::vector<AudioFrame> frames;
  frames.swap(priv->rungs[r].audio_frames);
  if (!frames.empty()) {
    fmp4::Run run{fmp4::kAudioTrackId, frames[0].time, {}};
    // Audio samples follow each other: a gap or overlap between two frames goes into the
    // earlier one's duration, so every later sample stays at its own time.
    for (size_t i = 0; i < frames.size(); i++) {
      fmp4::Sample sample;
      sample.size = uint32_t(gst_buffer_get_size(frames[i].buffer));
      sample.duration = frames[i].duration;
      if (i + 1 < frames.size() && frames[i + 1].time > frames[i].time)
        sample.duration = uint32_t(frames[i + 1].time - frames[i].time);
      run.samples.push_back(sample);
    }
    fragment.runs.push_back(std::move(run));
  }
  if (!video && frames.empty())
    return;
  if (!video)
    capture_us = frames[0].capture_us;
  if (priv->prft)
    fragment.ntp_time = fmp4::ntp_from_unix_us(capture_us);
  std::vector<uint8_t> header = fmp4::fragment_header(fragment);
  // One message: the fragment header, then the frames' own memory (referenced, not copied). The
  // message keeps the first frame's timestamps (gst_buffer_append() keeps the first buffer's).
  GstBuffer *unit = gst_buffer_new_memdup(header.data(), header.size());
  gst_buffer_copy_into(unit, video ? video : frames[0].buffer, GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  if (video)
    unit = gst_buffer_append(unit, gst_buffer_ref(video));
  for (AudioFrame &f : frames)
    unit = gst_buffer_append(unit, f.buffer);  // takes the frame's reference
  gst_serving_sink_push_rung_unit(GST_SERVING_SINK(sink), r, unit, keyframe, capture_us);
  gst_buffer_unref(unit);
}
