/**
 * SECTION:element-msesink
 * @title: msesink
 * @see_also: wssink, h264parse
 *
 * msesink serves H.264 to web browsers over WebSocket with the least delay it can: each frame
 * leaves as its own message the moment it arrives, and the page at the stream's path plays it
 * with Media Source Extensions (ManagedMediaSource on Safari) or WebCodecs.
 *
 * With `format=fmp4` (the default) each client gets a JSON description of the stream
 * (`{"type":"stream","codec":"avc1.64001f","width":…}`), the fragmented-MP4 init segment, and
 * then one `[prft] moof mdat` per frame. The `prft` box carries the frame's capture wall-clock
 * time, which the player uses to show glass-to-glass latency. With `format=annexb` each message
 * is one Annex-B access unit, with SPS and PPS before every IDR, for pages built on jMuxer.
 *
 * ## Audio
 *
 * The `audio` pad (on request: `msesink name=out … ! out.audio`) takes Opus (`opusenc`) or AAC
 * (`avenc_aac`, `fdkaacenc`) and adds an audio track to the fMP4 stream: the audio frames that
 * arrived since the last video frame travel in that frame's fragment, so audio adds no message and
 * no wait. Link only `audio` for a stream without pictures. Opus plays in Chromium, Firefox and
 * Safari 17 and later, through MSE and WebCodecs, and is the codec WebRTC uses; AAC is for older
 * Safari. The description then gains
 * `"audio":{"codec":"opus","rate":48000,"channels":1}`. With `format=annexb` audio is not sent.
 *
 * When both pads are linked the stream is described once both have caps (or one second after the
 * first did, so a silent microphone does not hold the picture back; the other track joins the
 * description when its caps come).
 *
 * A viewer joins at the newest keyframe, and `keyframe-on-join` asks the encoder for a new one so
 * it does not wait a GOP. Everything else — one server per port, lag limits, statistics — comes
 * from #GstServingSink.
 *
 * ## A ladder
 *
 * Request pads `rung_1`, `rung_2`, `rung_3` (`msesink name=v … ! v.rung_1`) take lower
 * renditions of the same camera — smaller and cheaper encodes, each with its own caps — for
 * viewers whose link is narrower than the stream. Each viewer starts on the sink pad's rendition
 * (the top) and moves by itself: down as soon as it falls behind, to the rung its link carries,
 * and back up when the link has room; a move happens at the new rung's next keyframe (asked for
 * at once), and the player follows it without a break (MSE and WebCodecs). The player's picker,
 * or `?rung=N` in the page's address, pins a rung. A rung's encoder idles while nobody is on it.
 * The sound, if any, goes with every rung.
 *
 * ## Links that lose packets
 *
 * Over TCP a lost packet holds back everything after it until it is resent; WebRTC resends only
 * what was lost and shows the rest (2 % lost and a 40 ms round trip: p95 250 ms over MSE, 98 over
 * WebRTC). When TCP has resent more than 1 % of what it sent a viewer (over 500 segments or 10
 * s), the player is told so (`{"type":"link","lossy":true,…}`), and if `whep-path` names a
 * whepsink of the same camera on the same server, a player that chose its backend by itself
 * moves there.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=640,height=480,framerate=30/1 ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse ! \
 *     msesink port=8080
 * ]| Open http://HOST:8080/video to watch.
 * |[
 * gst-launch-1.0 libcamerasrc ! video/x-raw,width=1280,height=720,format=NV12 ! v4l2convert ! \
 *     v4l2h264enc extra-controls="controls,repeat_sequence_header=1" ! \
 *     'video/x-h264,level=(string)4.1' ! h264parse ! msesink
 * ]| The same from a Raspberry Pi camera with the Pi 4's hardware encoder.
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=I420,framerate=30/1 ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse ! \
 *     msesink name=out  alsasrc device=plughw:1 ! audioconvert ! audioresample ! \
 *     audio/x-raw,channels=1,rate=48000 ! opusenc frame-size=20 ! out.audio
 * ]| With sound from a USB microphone (`arecord -l` lists cards; `plughw` converts what the card
 * cannot); `audiotestsrc is-live=true` instead of `alsasrc` gives a test tone.
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=I420,width=1280,height=720,\
 *     framerate=30/1 ! tee name=t \
 *     t. ! queue ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=2000 ! h264parse ! \
 *     msesink name=v \
 *     t. ! queue ! videoscale ! video/x-raw,width=640,height=360 ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast bitrate=500 ! h264parse ! v.rung_1
 * ]| A ladder of two: 720p at 2 Mbit/s, and 360p at 500 kbit/s for viewers on slower links.
 */
#include "msesink_private.h"

#include "base/fmp4_tracks.h"

#include <gst/pbutils/pbutils.h>

#define GST_CAT_DEFAULT gst_mse_sink_debug

enum { PROP_0, PROP_FORMAT, PROP_PRFT, PROP_WHEP_PATH };

using namespace camcast;

G_DEFINE_TYPE_WITH_CODE(GstMseSink, gst_mse_sink, GST_TYPE_SERVING_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_mse_sink_debug, "msesink", 0,
                                                "camcast H.264 to MSE/WebCodecs sink"));
GST_ELEMENT_REGISTER_DEFINE(msesink, "msesink", GST_RANK_NONE, GST_TYPE_MSE_SINK);

GType gst_mse_sink_format_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_MSE_SINK_FORMAT_FMP4, "Fragmented MP4, one frame per fragment (MSE, WebCodecs)", "fmp4"},
      {GST_MSE_SINK_FORMAT_ANNEXB, "Annex-B access units, one per message (jMuxer pages)",
       "annexb"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstMseSinkFormat", values));
  return type;
}

// New caps of rung `r`'s pictures.
static gboolean video_caps_changed(GstMseSink *sink, guint r, GstCaps *caps) {
  GstServingSink *ws = GST_SERVING_SINK(sink);
  MseSinkPrivate *priv = sink->priv;
  VideoRung &rung = priv->rungs[r];
  h264::AvcConfig config;
  fmp4::VideoTrack track;
  if (!video_track_from_caps(GST_ELEMENT(sink), caps, &track, &config))
    return FALSE;
  if (const char *profile = h264::unplayable_profile(config))
    GST_ELEMENT_WARNING(sink, STREAM, FORMAT,
                        ("H.264 %s: most browsers cannot play this profile", profile),
                        ("only 8-bit 4:2:0 H.264 (Baseline, Main, High) plays everywhere "
                         "(docs/protocols.md 3.6): put video/x-raw,format=I420 in front of the "
                         "encoder (x264enc chooses its profile from the format it gets)"));
  rung.config = config;
  rung.last_dts = GST_CLOCK_TIME_NONE;
  g_autofree char *codec = gst_codec_utils_caps_get_mime_codec(caps);

  std::lock_guard<std::mutex> lk(priv->lock);
  if (priv->format == GST_MSE_SINK_FORMAT_ANNEXB) {
    // jMuxer pages take every message as video: no metadata, no init segment (and no ladder).
    rung.video.reset();
    rung.described = priv->described_audio = false;
    if (r == 0)
      gst_serving_sink_set_stream_header(ws, nullptr, nullptr, 0);
    return TRUE;
  }
  rung.video = std::move(track);
  rung.codec = codec ? codec : h264::codec_string(config);
  if (!priv->first_caps_us)
    priv->first_caps_us = g_get_monotonic_time();
  mse_sink_describe(sink, priv->described());
  return TRUE;
}

static gboolean gst_mse_sink_caps_changed(GstServingSink *ws, GstCaps *caps) {
  return video_caps_changed(GST_MSE_SINK(ws), 0, caps);
}

static gboolean gst_mse_sink_rung_caps_changed(GstServingSink *ws, guint rung, GstCaps *caps) {
  return video_caps_changed(GST_MSE_SINK(ws), rung, caps);
}

// One picture of rung `r`, in `segment` (on that input's streaming thread).
static GstFlowReturn handle_video(GstMseSink *sink, guint r, GstBuffer *buffer,
                                  const GstSegment *segment) {
  GstServingSink *ws = GST_SERVING_SINK(sink);
  MseSinkPrivate *priv = sink->priv;
  VideoRung &rung = priv->rungs[r];
  const bool keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  GstMseSinkFormat format;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    format = priv->format;
    if (format == GST_MSE_SINK_FORMAT_FMP4 && !rung.video)
      return GST_FLOW_NOT_NEGOTIATED;
  }

  if (format == GST_MSE_SINK_FORMAT_ANNEXB) {
    if (r > 0)
      return GST_FLOW_OK;  // jMuxer pages have no ladder
    if (rung.config.sps.empty())
      return GST_FLOW_NOT_NEGOTIATED;
    GstBuffer *au = h264::annexb_from_avc(buffer, rung.config, keyframe);
    if (!au) {
      GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("malformed H.264 access unit"),
                        ("a NAL length runs past the end of the buffer"));
      return GST_FLOW_ERROR;
    }
    gst_serving_sink_push_unit(ws, au, keyframe);
    gst_buffer_unref(au);
    return GST_FLOW_OK;
  }

  // Decode time, composition offset and duration in the 90 kHz timescale, on the running-time
  // line both tracks share. A frame goes out the moment it arrives, so its duration is known only
  // from the buffer or, failing that, from the previous interval (docs/protocols.md §3.3).
  GstClockTime dts =
      GST_BUFFER_DTS_IS_VALID(buffer) ? GST_BUFFER_DTS(buffer) : GST_BUFFER_PTS(buffer);
  if (!GST_CLOCK_TIME_IS_VALID(dts)) {
    GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("H.264 frames without timestamps"), (nullptr));
    return GST_FLOW_ERROR;
  }
  GstClockTime running_dts = gst_segment_to_running_time(segment, GST_FORMAT_TIME, dts);
  if (!GST_CLOCK_TIME_IS_VALID(running_dts))
    running_dts = dts;  // before the segment (or no time segment): as it comes
  fmp4::Sample sample;
  const uint64_t decode_time = mse_sink_to_timescale(running_dts, TIMESCALE);
  sample.size = uint32_t(gst_buffer_get_size(buffer));
  sample.keyframe = keyframe;
  if (GST_BUFFER_PTS_IS_VALID(buffer))
    sample.composition_offset =
        int32_t(int64_t(mse_sink_to_timescale(GST_BUFFER_PTS(buffer), TIMESCALE)) -
                int64_t(mse_sink_to_timescale(dts, TIMESCALE)));
  if (GST_BUFFER_DURATION_IS_VALID(buffer) && GST_BUFFER_DURATION(buffer) > 0)
    rung.last_duration = mse_sink_to_timescale(GST_BUFFER_DURATION(buffer), TIMESCALE);
  else if (GST_CLOCK_TIME_IS_VALID(rung.last_dts) && dts > rung.last_dts)
    rung.last_duration = mse_sink_to_timescale(dts - rung.last_dts, TIMESCALE);
  rung.last_dts = dts;
  sample.duration = uint32_t(MAX(rung.last_duration, 1));
  const gint64 capture_us = gst_serving_sink_capture_time_in(ws, segment, buffer);

  std::lock_guard<std::mutex> lk(priv->lock);
  mse_sink_describe(sink, false);
  if (rung.described)
    mse_sink_push_fragment(sink, r, buffer, &sample, decode_time, capture_us, keyframe);
  return GST_FLOW_OK;
}

static GstFlowReturn gst_mse_sink_handle_buffer(GstServingSink *ws, GstBuffer *buffer) {
  return handle_video(GST_MSE_SINK(ws), 0, buffer, &GST_BASE_SINK(ws)->segment);
}

static GstFlowReturn gst_mse_sink_handle_rung(GstServingSink *ws, guint rung, GstBuffer *buffer,
                                              const GstSegment *segment) {
  const GstFlowReturn ret = handle_video(GST_MSE_SINK(ws), rung, buffer, segment);
  gst_buffer_unref(buffer);
  return ret;
}

static void gst_mse_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                      GParamSpec *pspec) {
  MseSinkPrivate *priv = GST_MSE_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  switch (prop_id) {
  case PROP_FORMAT: priv->format = GstMseSinkFormat(g_value_get_enum(value)); break;
  case PROP_PRFT: priv->prft = g_value_get_boolean(value); break;
  case PROP_WHEP_PATH: {
    const char *path = g_value_get_string(value);
    priv->whep_path = path ? path : "";
    break;
  }
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_mse_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                      GParamSpec *pspec) {
  MseSinkPrivate *priv = GST_MSE_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  switch (prop_id) {
  case PROP_FORMAT: g_value_set_enum(value, priv->format); break;
  case PROP_PRFT: g_value_set_boolean(value, priv->prft); break;
  case PROP_WHEP_PATH: g_value_set_string(value, priv->whep_path.c_str()); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static GstStateChangeReturn gst_mse_sink_change_state(GstElement *element,
                                                      GstStateChange transition) {
  MseSinkPrivate *priv = GST_MSE_SINK(element)->priv;
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_mse_sink_parent_class)->change_state(element, transition);
  // Stopped: the next start describes its stream afresh (the sound was forgotten already,
  // audio_flushed).
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    std::lock_guard<std::mutex> lk(priv->lock);
    for (VideoRung &rung : priv->rungs) {
      rung.video.reset();
      rung.described = false;
    }
    priv->described_audio = false;
    priv->first_caps_us = 0;
  }
  return ret;
}

static void gst_mse_sink_init(GstMseSink *sink) {
  sink->priv = new MseSinkPrivate();
}

static void gst_mse_sink_finalize(GObject *object) {
  MseSinkPrivate *priv = GST_MSE_SINK(object)->priv;
  priv->drop_audio_frames();
  delete priv;
  G_OBJECT_CLASS(gst_mse_sink_parent_class)->finalize(object);
}

static void gst_mse_sink_class_init(GstMseSinkClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstServingSinkClass *ws_class = GST_SERVING_SINK_CLASS(klass);

  gobject_class->set_property = gst_mse_sink_set_property;
  gobject_class->get_property = gst_mse_sink_get_property;
  gobject_class->finalize = gst_mse_sink_finalize;
  element_class->change_state = gst_mse_sink_change_state;
  ws_class->default_path = "/video";
  ws_class->page = "/camcast/web/player.html";
  ws_class->caps_changed = gst_mse_sink_caps_changed;
  ws_class->handle_buffer = gst_mse_sink_handle_buffer;
  ws_class->audio_caps_changed = gst_mse_sink_audio_caps_changed;
  ws_class->handle_audio = gst_mse_sink_handle_audio;
  ws_class->audio_flushed = gst_mse_sink_audio_flushed;
  ws_class->rung_caps_changed = gst_mse_sink_rung_caps_changed;
  ws_class->handle_rung = gst_mse_sink_handle_rung;

  const auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      gobject_class, PROP_FORMAT,
      g_param_spec_enum(
          "format", "Format", "What each WebSocket message holds. Takes effect at the next caps",
          GST_TYPE_MSE_SINK_FORMAT, DEFAULT_FORMAT, GParamFlags(flags | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(
      gobject_class, PROP_PRFT,
      g_param_spec_boolean(
          "prft", "Producer reference time",
          "Put each frame's capture wall-clock time in a prft box, so players can show latency",
          DEFAULT_PRFT, flags));
  g_object_class_install_property(
      gobject_class, PROP_WHEP_PATH,
      g_param_spec_string(
          "whep-path", "WHEP path",
          "The path of a whepsink serving the same camera on this server (like /webrtc): a player "
          "on a link that loses packets moves there. Empty: none",
          "", GParamFlags(flags | GST_PARAM_MUTABLE_READY)));

  static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
      "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
      GST_STATIC_CAPS("video/x-h264, stream-format=(string)avc, alignment=(string)au"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_serving_sink_class_add_audio_input(ws_class, &gst_mse_sink_audio_template);
  static GstStaticPadTemplate rung_template = GST_STATIC_PAD_TEMPLATE(
      "rung_%u", GST_PAD_SINK, GST_PAD_REQUEST,
      GST_STATIC_CAPS("video/x-h264, stream-format=(string)avc, alignment=(string)au"));
  gst_serving_sink_class_add_rung_inputs(ws_class, &rung_template);
  gst_element_class_set_static_metadata(
      element_class, "H.264 and audio to browsers (MSE, WebCodecs)", "Sink/Network",
      "Serves H.264 to web browsers over WebSocket as fragmented MP4 (one frame "
      "per fragment) or Annex-B, with a player page. Takes H.264 as h264parse gives it "
      "(put h264parse in front of it) in a profile browsers play (I420 into the encoder); "
      "its audio pad (on request: msesink name=out ... ! out.audio) takes Opus or AAC for a "
      "sound track in the same fragments; its rung_N pads (on request) take smaller encodes of "
      "the same camera, between which each viewer moves as its link allows",
      "camcast developers");
  gst_type_mark_as_plugin_api(GST_TYPE_MSE_SINK_FORMAT, GstPluginAPIFlags(0));
}
