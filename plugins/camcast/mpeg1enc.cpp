/**
 * SECTION:element-mpeg1enc
 * @title: mpeg1enc
 * @see_also: jsmpegsink, mpegtsmux, videorate
 *
 * mpeg1enc encodes raw video to MPEG-1 video for JSMpeg players, with no added delay: each frame
 * leaves the encoder as one whole picture the moment it is encoded. There are no B-frames and no
 * lookahead, every GOP starts with a sequence header (a JSMpeg client can start at any GOP), and
 * a GstForceKeyUnit request (jsmpegsink sends one when a viewer joins) starts a new GOP at once.
 *
 * It uses libavcodec's MPEG-1 encoder. GStreamer's own `avenc_mpeg1video` would do the same, but
 * the version in Debian 12 (gst-libav 1.22.0) cannot negotiate any frame rate, and `mpeg2enc`
 * holds back half a second or more.
 *
 * MPEG-1 knows only eight frame rates: 23.976, 24, 25, 29.97, 30, 50, 59.94 and 60 per second.
 * Any other rate (15 frames/s, a common camera setting) is taken all the same: the sequence header
 * names the nearest of those eight at or above it, every picture keeps its own timestamp, and the
 * rate control aims at the bitrate over the real rate. JSMpeg shows each picture as it arrives,
 * so it plays such a stream at the camera's pace. The width and height must be even and at most
 * 4094.
 *
 * Output buffers are whole pictures (`parsed=true`), so mpegtsmux and jsmpegsink take them
 * directly. Put no `mpegvideoparse` after it: the parser holds each picture until the next one
 * begins, a frame of latency (jsmpegsink warns when it sees one).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=640,height=480,framerate=30/1 ! \
 *     mpeg1enc bitrate=1000 ! mpegtsmux ! jsmpegsink port=8080
 * ]| Open http://HOST:8080/jsmpeg to watch.
 */
#include "mpeg1enc.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
}

#include <mutex>

GST_DEBUG_CATEGORY_STATIC(gst_mpeg1_enc_debug);
#define GST_CAT_DEFAULT gst_mpeg1_enc_debug

#define DEFAULT_BITRATE 1000
#define DEFAULT_KEY_INT_MAX 30
#define DEFAULT_QUANTIZER 0
#define DEFAULT_QUANTIZER_MIN 2
#define DEFAULT_QUANTIZER_MAX 31

enum {
  PROP_0,
  PROP_BITRATE,
  PROP_KEY_INT_MAX,
  PROP_QUANTIZER,
  PROP_QUANTIZER_MIN,
  PROP_QUANTIZER_MAX
};

// The frame rates MPEG-1 can signal (ISO/IEC 11172-2 §2.4.3.2, frame_rate codes 1 to 8).
#define MPEG1_FRAMERATES "{ 24000/1001, 24/1, 25/1, 30000/1001, 30/1, 50/1, 60000/1001, 60/1 }"

namespace {

struct Settings {
  int bitrate = DEFAULT_BITRATE;  // kbit/s
  int key_int_max = DEFAULT_KEY_INT_MAX;
  int quantizer = DEFAULT_QUANTIZER;  // 0: rate control by bitrate
  int quantizer_min = DEFAULT_QUANTIZER_MIN;
  int quantizer_max = DEFAULT_QUANTIZER_MAX;
};

// The rate the sequence header names for `num`/`den` frames per second: the lowest of MPEG-1's
// eight at or above it (60 above them all; 30 for a variable rate, 0/1).
AVRational mpeg1_framerate(int num, int den) {
  static const AVRational rates[] = {{24000, 1001}, {24, 1}, {25, 1},       {30000, 1001},
                                     {30, 1},       {50, 1}, {60000, 1001}, {60, 1}};
  if (num <= 0 || den <= 0)
    return AVRational{30, 1};
  for (const AVRational &r : rates)
    if (int64_t(num) * r.den <= int64_t(den) * r.num)
      return r;
  return rates[G_N_ELEMENTS(rates) - 1];
}

// libavcodec's messages ("clipping dct coefficients", …) go to GStreamer's debug log instead of
// stderr. The callback is process-wide; gst-libav installs an equivalent one of its own.
void log_to_gst(void *avcl, int level, const char *fmt, va_list args) {
  if (level > av_log_get_level())
    return;
  const GstDebugLevel gst_level = level <= AV_LOG_ERROR     ? GST_LEVEL_ERROR
                                  : level <= AV_LOG_WARNING ? GST_LEVEL_WARNING
                                  : level <= AV_LOG_INFO    ? GST_LEVEL_INFO
                                                            : GST_LEVEL_DEBUG;
  if (gst_level > gst_debug_category_get_threshold(GST_CAT_DEFAULT))
    return;
  g_autofree char *text = g_strdup_vprintf(fmt, args);
  g_strchomp(text);
  const AVClass *cls = avcl ? *static_cast<const AVClass *const *>(avcl) : nullptr;
  gst_debug_log(GST_CAT_DEFAULT, gst_level, __FILE__, cls ? cls->item_name(avcl) : "libav",
                __LINE__, nullptr, "%s", text);
}

}  // namespace

struct Mpeg1EncPrivate {
  std::mutex lock;  // protects settings (properties are set from any thread)
  Settings settings;
  // Streaming thread only.
  AVCodecContext *ctx = nullptr;
  AVFrame *frame = nullptr;
  AVPacket *packet = nullptr;
  int quantizer = 0;  // the fixed quantizer of the open context, 0 for none
  GstVideoInfo info;  // of the input

  ~Mpeg1EncPrivate() { close(); }
  void close() {
    avcodec_free_context(&ctx);
    av_frame_free(&frame);
    av_packet_free(&packet);
  }
};

struct _GstMpeg1Enc {
  GstVideoEncoder parent;
  Mpeg1EncPrivate *priv;
};

G_DEFINE_TYPE_WITH_CODE(GstMpeg1Enc, gst_mpeg1_enc, GST_TYPE_VIDEO_ENCODER,
                        GST_DEBUG_CATEGORY_INIT(gst_mpeg1_enc_debug, "mpeg1enc", 0,
                                                "camcast MPEG-1 video encoder"));
GST_ELEMENT_REGISTER_DEFINE(mpeg1enc, "mpeg1enc", GST_RANK_NONE, GST_TYPE_MPEG1_ENC);

// Opens libavcodec's encoder for priv->info with the current settings.
static bool open_codec(GstMpeg1Enc *enc) {
  Mpeg1EncPrivate *priv = enc->priv;
  const GstVideoInfo *info = &priv->info;
  Settings s;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    s = priv->settings;
  }
  priv->close();
  const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MPEG1VIDEO);
  if (!codec) {
    GST_ELEMENT_ERROR(enc, LIBRARY, INIT, ("this libavcodec has no MPEG-1 video encoder"),
                      (nullptr));
    return false;
  }
  const int fps_n = GST_VIDEO_INFO_FPS_N(info), fps_d = GST_VIDEO_INFO_FPS_D(info);
  // libavcodec counts one picture per tick of the rate it is told, and gives each picture
  // bitrate / rate bits: told 24000/1001 for a 15 frames/s camera it would make 15/23.976 of the
  // bitrate, so it is asked for that much more.
  const AVRational named = mpeg1_framerate(fps_n, fps_d);
  const double real_over_named =
      fps_n > 0 && fps_d > 0 ? double(fps_n) * named.den / (double(fps_d) * named.num) : 1.0;
  AVCodecContext *ctx = avcodec_alloc_context3(codec);
  ctx->width = GST_VIDEO_INFO_WIDTH(info);
  ctx->height = GST_VIDEO_INFO_HEIGHT(info);
  ctx->pix_fmt = AV_PIX_FMT_YUV420P;
  ctx->time_base = AVRational{named.den, named.num};
  ctx->framerate = named;
  ctx->sample_aspect_ratio = AVRational{GST_VIDEO_INFO_PAR_N(info), GST_VIDEO_INFO_PAR_D(info)};
  ctx->gop_size = s.key_int_max;
  ctx->max_b_frames = 0;  // JSMpeg skips B-pictures, and they would add a frame of delay
  // Without B-pictures libavcodec still holds one frame back unless told "low delay", which it
  // calls unofficial for MPEG-1 only because MPEG-1 has no bit to signal it; the pictures are
  // ordinary I- and P-pictures either way.
  ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
  ctx->strict_std_compliance = FF_COMPLIANCE_UNOFFICIAL;
  ctx->thread_count = 1;  // frame threads would add delay; one core is plenty for MPEG-1
  ctx->qmin = s.quantizer_min;
  ctx->qmax = MAX(s.quantizer_max, s.quantizer_min);
  if (s.quantizer > 0) {
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * s.quantizer;
  } else {
    ctx->bit_rate = int64_t(s.bitrate * 1000 / real_over_named);
    // Hold the rate over one second, as a live link needs (libavcodec's default tolerance lets
    // it drift by megabits).
    ctx->bit_rate_tolerance = int(ctx->bit_rate);
    ctx->rc_max_rate = ctx->bit_rate;
    ctx->rc_buffer_size = int(ctx->bit_rate);
  }
  const int ret = avcodec_open2(ctx, codec, nullptr);
  if (ret < 0) {
    char why[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(ret, why, sizeof why);
    GST_ELEMENT_ERROR(
        enc, LIBRARY, INIT, ("could not open the MPEG-1 encoder"),
        ("libavcodec: %s (%dx%d at %d/%d fps)", why, ctx->width, ctx->height, fps_n, fps_d));
    avcodec_free_context(&ctx);
    return false;
  }
  priv->ctx = ctx;
  priv->frame = av_frame_alloc();
  priv->packet = av_packet_alloc();
  priv->quantizer = s.quantizer;
  GST_INFO_OBJECT(enc, "encoding %dx%d at %d/%d fps (named %d/%d), %s, GOP %d", ctx->width,
                  ctx->height, fps_n, fps_d, named.num, named.den,
                  s.quantizer > 0 ? "fixed quantizer" : "rate by bitrate", s.key_int_max);
  return true;
}

static gboolean gst_mpeg1_enc_set_format(GstVideoEncoder *encoder, GstVideoCodecState *input) {
  GstMpeg1Enc *enc = GST_MPEG1_ENC(encoder);
  const GstVideoInfo *info = &input->info;
  const int width = GST_VIDEO_INFO_WIDTH(info), height = GST_VIDEO_INFO_HEIGHT(info);
  if (width % 2 || height % 2 || width > 4094 || height > 4094) {
    GST_ELEMENT_ERROR(enc, STREAM, FORMAT, ("MPEG-1 cannot carry a %dx%d picture", width, height),
                      ("the width and height must be even and at most 4094; put 'videoscale ! "
                       "video/x-raw,width=640,height=480' in front of mpeg1enc"));
    return FALSE;
  }
  enc->priv->info = *info;
  if (!open_codec(enc))
    return FALSE;
  GstCaps *caps =
      gst_caps_new_simple("video/mpeg", "mpegversion", G_TYPE_INT, 1, "systemstream",
                          G_TYPE_BOOLEAN, FALSE, "parsed", G_TYPE_BOOLEAN, TRUE, nullptr);
  GstVideoCodecState *out = gst_video_encoder_set_output_state(encoder, caps, input);
  gst_video_codec_state_unref(out);
  return gst_video_encoder_negotiate(encoder);
}

// Hands every packet libavcodec has ready to GstVideoEncoder. Without B-frames each frame
// comes out as soon as it goes in, so this finishes the frame just given.
static GstFlowReturn drain_packets(GstMpeg1Enc *enc) {
  Mpeg1EncPrivate *priv = enc->priv;
  GstVideoEncoder *encoder = GST_VIDEO_ENCODER(enc);
  GstFlowReturn flow = GST_FLOW_OK;
  while (flow == GST_FLOW_OK) {
    const int ret = avcodec_receive_packet(priv->ctx, priv->packet);
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
      break;
    if (ret < 0) {
      GST_ELEMENT_ERROR(enc, STREAM, ENCODE, ("MPEG-1 encoding failed"), ("libavcodec: %d", ret));
      return GST_FLOW_ERROR;
    }
    GstVideoCodecFrame *frame = gst_video_encoder_get_frame(encoder, int(priv->packet->pts));
    if (!frame) {
      GST_WARNING_OBJECT(enc, "a packet for unknown frame %" G_GINT64_FORMAT,
                         int64_t(priv->packet->pts));
      av_packet_unref(priv->packet);
      continue;
    }
    frame->output_buffer = gst_buffer_new_memdup(priv->packet->data, priv->packet->size);
    if (priv->packet->flags & AV_PKT_FLAG_KEY)
      GST_VIDEO_CODEC_FRAME_SET_SYNC_POINT(frame);
    av_packet_unref(priv->packet);
    flow = gst_video_encoder_finish_frame(encoder, frame);
  }
  return flow;
}

static GstFlowReturn gst_mpeg1_enc_handle_frame(GstVideoEncoder *encoder,
                                                GstVideoCodecFrame *frame) {
  GstMpeg1Enc *enc = GST_MPEG1_ENC(encoder);
  Mpeg1EncPrivate *priv = enc->priv;
  // No context: not negotiated yet, or drained at the end of a stream and more comes.
  if (!priv->ctx &&
      (GST_VIDEO_INFO_FORMAT(&priv->info) == GST_VIDEO_FORMAT_UNKNOWN || !open_codec(enc))) {
    gst_video_codec_frame_unref(frame);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstVideoFrame vframe;
  if (!gst_video_frame_map(&vframe, &priv->info, frame->input_buffer, GST_MAP_READ)) {
    gst_video_codec_frame_unref(frame);
    GST_ELEMENT_ERROR(enc, STREAM, ENCODE, ("could not read an input frame"), (nullptr));
    return GST_FLOW_ERROR;
  }
  // libavcodec reads the planes where they are (it copies what it must keep).
  AVFrame *pic = priv->frame;
  pic->format = AV_PIX_FMT_YUV420P;
  pic->width = priv->ctx->width;
  pic->height = priv->ctx->height;
  for (int i = 0; i < 3; i++) {
    pic->data[i] = static_cast<uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&vframe, i));
    pic->linesize[i] = GST_VIDEO_FRAME_PLANE_STRIDE(&vframe, i);
  }
  pic->pts = frame->system_frame_number;
  pic->pict_type =
      GST_VIDEO_CODEC_FRAME_IS_FORCE_KEYFRAME(frame) ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
  pic->quality = priv->quantizer > 0 ? FF_QP2LAMBDA * priv->quantizer : 0;
  const int ret = avcodec_send_frame(priv->ctx, pic);
  gst_video_frame_unmap(&vframe);
  for (int i = 0; i < 3; i++)
    pic->data[i] = nullptr;
  gst_video_codec_frame_unref(frame);
  if (ret < 0) {
    GST_ELEMENT_ERROR(enc, STREAM, ENCODE, ("MPEG-1 encoding failed"), ("libavcodec: %d", ret));
    return GST_FLOW_ERROR;
  }
  return drain_packets(enc);
}

static GstFlowReturn gst_mpeg1_enc_finish(GstVideoEncoder *encoder) {
  GstMpeg1Enc *enc = GST_MPEG1_ENC(encoder);
  if (!enc->priv->ctx)
    return GST_FLOW_OK;
  avcodec_send_frame(enc->priv->ctx, nullptr);
  GstFlowReturn flow = drain_packets(enc);
  // A drained encoder takes no more frames; the next frame opens a fresh one.
  enc->priv->close();
  return flow;
}

static gboolean gst_mpeg1_enc_stop(GstVideoEncoder *encoder) {
  Mpeg1EncPrivate *priv = GST_MPEG1_ENC(encoder)->priv;
  priv->close();
  gst_video_info_init(&priv->info);
  return TRUE;
}

static gboolean gst_mpeg1_enc_propose_allocation(GstVideoEncoder *encoder, GstQuery *query) {
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  return GST_VIDEO_ENCODER_CLASS(gst_mpeg1_enc_parent_class)->propose_allocation(encoder, query);
}

static void gst_mpeg1_enc_set_property(GObject *object, guint prop_id, const GValue *value,
                                       GParamSpec *pspec) {
  Mpeg1EncPrivate *priv = GST_MPEG1_ENC(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  switch (prop_id) {
  case PROP_BITRATE: priv->settings.bitrate = int(g_value_get_uint(value)); break;
  case PROP_KEY_INT_MAX: priv->settings.key_int_max = int(g_value_get_uint(value)); break;
  case PROP_QUANTIZER: priv->settings.quantizer = int(g_value_get_uint(value)); break;
  case PROP_QUANTIZER_MIN: priv->settings.quantizer_min = int(g_value_get_uint(value)); break;
  case PROP_QUANTIZER_MAX: priv->settings.quantizer_max = int(g_value_get_uint(value)); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_mpeg1_enc_get_property(GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec) {
  Mpeg1EncPrivate *priv = GST_MPEG1_ENC(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  switch (prop_id) {
  case PROP_BITRATE: g_value_set_uint(value, guint(priv->settings.bitrate)); break;
  case PROP_KEY_INT_MAX: g_value_set_uint(value, guint(priv->settings.key_int_max)); break;
  case PROP_QUANTIZER: g_value_set_uint(value, guint(priv->settings.quantizer)); break;
  case PROP_QUANTIZER_MIN: g_value_set_uint(value, guint(priv->settings.quantizer_min)); break;
  case PROP_QUANTIZER_MAX: g_value_set_uint(value, guint(priv->settings.quantizer_max)); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_mpeg1_enc_init(GstMpeg1Enc *enc) {
  enc->priv = new Mpeg1EncPrivate();
  gst_video_info_init(&enc->priv->info);
}

static void gst_mpeg1_enc_finalize(GObject *object) {
  delete GST_MPEG1_ENC(object)->priv;
  G_OBJECT_CLASS(gst_mpeg1_enc_parent_class)->finalize(object);
}

static void gst_mpeg1_enc_class_init(GstMpeg1EncClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstVideoEncoderClass *encoder_class = GST_VIDEO_ENCODER_CLASS(klass);

  gobject_class->set_property = gst_mpeg1_enc_set_property;
  gobject_class->get_property = gst_mpeg1_enc_get_property;
  gobject_class->finalize = gst_mpeg1_enc_finalize;
  encoder_class->set_format = gst_mpeg1_enc_set_format;
  encoder_class->handle_frame = gst_mpeg1_enc_handle_frame;
  encoder_class->finish = gst_mpeg1_enc_finish;
  encoder_class->stop = gst_mpeg1_enc_stop;
  encoder_class->propose_allocation = gst_mpeg1_enc_propose_allocation;
  av_log_set_callback(log_to_gst);

  const auto flags =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      gobject_class, PROP_BITRATE,
      g_param_spec_uint("bitrate", "Bitrate", "Target bitrate in kbit/s (unless quantizer is set)",
                        16, 100000, DEFAULT_BITRATE, flags));
  g_object_class_install_property(
      gobject_class, PROP_KEY_INT_MAX,
      g_param_spec_uint(
          "key-int-max", "Maximum keyframe interval",
          "Frames from one I-picture (with its sequence header) to the next. A new viewer of a "
          "jsmpegsink gets a keyframe at once anyway (keyframe-on-join)",
          1, 600, DEFAULT_KEY_INT_MAX, flags));
  g_object_class_install_property(
      gobject_class, PROP_QUANTIZER,
      g_param_spec_uint(
          "quantizer", "Constant quantizer",
          "Encode every picture with this quantizer (2 = best, 31 = smallest) instead of aiming "
          "at bitrate; 0 aims at bitrate",
          0, 31, DEFAULT_QUANTIZER, flags));
  g_object_class_install_property(
      gobject_class, PROP_QUANTIZER_MIN,
      g_param_spec_uint("quantizer-min", "Minimum quantizer",
                        "Best quality rate control may use; raise it to save bits on still scenes",
                        1, 31, DEFAULT_QUANTIZER_MIN, flags));
  g_object_class_install_property(
      gobject_class, PROP_QUANTIZER_MAX,
      g_param_spec_uint(
          "quantizer-max", "Maximum quantizer",
          "Worst quality rate control may use; lower it to keep detail when bitrate allows "
          "overshooting",
          1, 31, DEFAULT_QUANTIZER_MAX, flags));

  // The first structure lists the rates MPEG-1 can carry, so negotiation picks one of them when
  // upstream can choose; the second takes any other rate (open_codec says how).
  static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
      "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
      GST_STATIC_CAPS("video/x-raw, format=(string)I420, width=(int)[16, 4094], "
                      "height=(int)[16, 4094], framerate=(fraction)" MPEG1_FRAMERATES "; "
                      "video/x-raw, format=(string)I420, width=(int)[16, 4094], "
                      "height=(int)[16, 4094], framerate=(fraction)[0/1, 2147483647/1]"));
  static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
      "src", GST_PAD_SRC, GST_PAD_ALWAYS,
      GST_STATIC_CAPS("video/mpeg, mpegversion=(int)1, systemstream=(boolean)false, "
                      "parsed=(boolean)true"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "MPEG-1 video encoder for JSMpeg", "Codec/Encoder/Video",
      "Encodes MPEG-1 video with no added delay: no B-frames, a sequence "
      "header on every GOP, keyframes on request",
      "camcast developers");
}
