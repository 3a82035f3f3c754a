/**
 * SECTION:element-jsmpegsink
 * @title: jsmpegsink
 * @see_also: mpeg1enc, mpegtsmux, wssink
 *
 * jsmpegsink serves MPEG-1 video to JSMpeg players over WebSocket. JSMpeg decodes in plain
 * JavaScript, so it plays where Media Source Extensions do not: iPhones before iOS 17.1, old
 * Android browsers, smart TVs. Two protocols are in use and `mode` picks one:
 *
 * - `mpegts` (the default) is modern JSMpeg's: MPEG-TS from mpegtsmux, with MP2 audio if you
 *   like. Every message holds whole 188-byte packets. A new viewer gets PAT and PMT (the caps'
 *   `streamheader`), then starts at a packet whose video begins with a sequence header.
 * - `jsmp` is that of the original `jsmpg.js` used by pistreaming and its forks: a viewer first
 *   gets 8 bytes — `jsmp`, width and height as big-endian 16-bit numbers — and then exactly one
 *   picture per message, starting at a sequence header and I-picture. The header is sent again
 *   when the picture size changes. Input is MPEG-1 video; when its caps say `parsed=true`
 *   (mpeg1enc, mpegvideoparse) each picture leaves as it arrives, otherwise the sink finds the
 *   pictures itself, which holds each one back until the next begins.
 *
 * `GET path` serves a player page: JSMpeg for `mpegts`, the legacy jsmpg.js for `jsmp`. Joins,
 * lag limits, `keyframe-on-join`, one server per port and statistics come from #GstServingSink.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=640,height=480,framerate=30/1 ! \
 *     mpeg1enc bitrate=1000 ! mpegtsmux ! jsmpegsink port=8080
 * ]| Open http://HOST:8080/jsmpeg to watch with JSMpeg.
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=640,height=480,framerate=30/1 ! \
 *     mpeg1enc ! jsmpegsink mode=jsmp path=/legacy port=8080
 * ]| Serves pistreaming-style pages (`new jsmpeg(new WebSocket("ws://HOST:8080/legacy"))`).
 */
#include "jsmpegsink.h"

#include "base/graph.h"
#include "formats/mpeg1.h"
#include "formats/mpegts.h"

#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(gst_jsmpeg_sink_debug);
#define GST_CAT_DEFAULT gst_jsmpeg_sink_debug

#define DEFAULT_MODE GST_JSMPEG_SINK_MODE_MPEGTS
// Unframed MPEG-1 that shows no picture in this many bytes is not MPEG-1: start over.
#define MAX_PENDING_BYTES (4 * 1024 * 1024)

enum { PROP_0, PROP_MODE };

using namespace camcast;

struct JsmpegSinkPrivate {
  std::mutex lock;  // protects mode (set from any thread)
  GstJsmpegSinkMode mode = DEFAULT_MODE;
  // Streaming thread only.
  GstJsmpegSinkMode active = DEFAULT_MODE;  // the mode the current caps were taken in
  bool framed = false;                      // jsmp: every buffer holds whole pictures
  std::vector<uint8_t> pending;             // jsmp, unframed: the picture not yet complete
  mpegts::PacketAligner aligner;            // mpegts
  int width = 0, height = 0;                // jsmp: the size in the header clients have
  bool told_of_parser = false;              // warned of mpeg1enc ! mpegvideoparse

  GstJsmpegSinkMode mode_now() {
    std::lock_guard<std::mutex> lk(lock);
    return mode;
  }
};

struct _GstJsmpegSink {
  GstServingSink parent;
  JsmpegSinkPrivate *priv;
};

G_DEFINE_TYPE_WITH_CODE(GstJsmpegSink, gst_jsmpeg_sink, GST_TYPE_SERVING_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_jsmpeg_sink_debug, "jsmpegsink", 0,
                                                "camcast MPEG-1 to JSMpeg sink"));
GST_ELEMENT_REGISTER_DEFINE(jsmpegsink, "jsmpegsink", GST_RANK_NONE, GST_TYPE_JSMPEG_SINK);

GType gst_jsmpeg_sink_mode_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_JSMPEG_SINK_MODE_MPEGTS, "MPEG-TS, whole packets per message (JSMpeg)", "mpegts"},
      {GST_JSMPEG_SINK_MODE_JSMP,
       "The jsmp header, then one MPEG-1 picture per message (legacy jsmpg.js)", "jsmp"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstJsmpegSinkMode", values));
  return type;
}

// jsmp: the 8-byte header every client gets first, and again when the size changes.
static void set_jsmp_header(GstJsmpegSink *sink, int width, int height) {
  JsmpegSinkPrivate *priv = sink->priv;
  if (width == priv->width && height == priv->height)
    return;
  priv->width = width;
  priv->height = height;
  GST_INFO_OBJECT(sink, "jsmp header for %dx%d", width, height);
  const auto header = mpeg1::jsmp_header(width, height);
  GstBuffer *buffer = gst_buffer_new_memdup(header.data(), header.size());
  gst_serving_sink_set_stream_header(GST_SERVING_SINK(sink), nullptr, &buffer, 1);
  gst_buffer_unref(buffer);
}

// `mpeg1enc ! mpegvideoparse`, a habit from other encoders, costs a frame of latency here: the
// parser holds each picture until the next one begins, though mpeg1enc's are whole already.
static void warn_of_a_held_picture(GstJsmpegSink *sink) {
  auto made_by = [](const char *factory) {
    return [factory](GstElement *element) { return camcast::graph::made_by(element, factory); };
  };
  GstElement *parser =
      camcast::graph::find_upstream(GST_BASE_SINK_PAD(sink), made_by("mpegvideoparse"));
  GstPad *input = parser ? gst_element_get_static_pad(parser, "sink") : nullptr;
  GstElement *encoder = input ? camcast::graph::find_upstream(input, made_by("mpeg1enc")) : nullptr;
  if (input)
    gst_object_unref(input);
  if (encoder)
    GST_ELEMENT_WARNING(
        sink, STREAM, FORMAT,
        ("%s holds each picture from %s until the next one begins: a frame of latency for "
         "nothing, as mpeg1enc's pictures are whole. Remove it.",
         GST_OBJECT_NAME(parser), GST_OBJECT_NAME(encoder)),
        ("mpeg1enc ! mpegtsmux ! jsmpegsink (or mpeg1enc ! jsmpegsink mode=jsmp) needs no parser"));
  if (encoder)
    gst_object_unref(encoder);
  if (parser)
    gst_object_unref(parser);
}

static gboolean gst_jsmpeg_sink_caps_changed(GstServingSink *ws, GstCaps *caps) {
  GstJsmpegSink *sink = GST_JSMPEG_SINK(ws);
  JsmpegSinkPrivate *priv = sink->priv;
  if (!std::exchange(priv->told_of_parser, true))
    warn_of_a_held_picture(sink);
  GstStructure *s = gst_caps_get_structure(caps, 0);
  const bool is_ts = gst_structure_has_name(s, "video/mpegts");
  priv->active = priv->mode_now();
  if (is_ts != (priv->active == GST_JSMPEG_SINK_MODE_MPEGTS)) {
    GST_ELEMENT_ERROR(
        sink, CORE, NEGOTIATION,
        ("jsmpegsink mode=%s cannot take %s", is_ts ? "jsmp" : "mpegts",
         is_ts ? "MPEG-TS" : "MPEG-1 video"),
        (is_ts ? "set mode=mpegts, or feed MPEG-1 video (mpeg1enc) without mpegtsmux"
               : "set mode=jsmp, or put mpegtsmux in front (mpeg1enc ! mpegtsmux ! jsmpegsink)"));
    return FALSE;
  }
  priv->pending.clear();
  priv->aligner.reset();
  if (is_ts)  // PAT and PMT from the muxer's streamheader
    return GST_SERVING_SINK_CLASS(gst_jsmpeg_sink_parent_class)->caps_changed(ws, caps);

  gboolean parsed = FALSE;
  priv->framed = gst_structure_get_boolean(s, "parsed", &parsed) && parsed;
  gint width = 0, height = 0;
  priv->width = priv->height = 0;
  if (gst_structure_get_int(s, "width", &width) && gst_structure_get_int(s, "height", &height))
    set_jsmp_header(sink, width, height);
  else  // from the first sequence header
    gst_serving_sink_set_stream_header(ws, nullptr, nullptr, 0);
  return TRUE;
}

// jsmp: queues the pictures of data[0, end) of `buffer` (offsets from find_pictures), each as
// a region of `buffer` — shared, not copied.
static void push_pictures(GstJsmpegSink *sink, GstBuffer *buffer,
                          const std::vector<mpeg1::PictureStart> &pictures, size_t end) {
  for (size_t i = 0; i < pictures.size(); i++) {
    const mpeg1::PictureStart &p = pictures[i];
    const size_t stop = i + 1 < pictures.size() ? pictures[i + 1].offset : end;
    if (p.sequence_header && p.width > 0 && p.height > 0)
      set_jsmp_header(sink, p.width, p.height);
    GstBuffer *picture = gst_buffer_copy_region(
        buffer, GstBufferCopyFlags(GST_BUFFER_COPY_MEMORY | GST_BUFFER_COPY_TIMESTAMPS), p.offset,
        stop - p.offset);
    gst_serving_sink_push_unit(GST_SERVING_SINK(sink), picture, mpeg1::is_entry_point(p));
    gst_buffer_unref(picture);
  }
}

static GstFlowReturn handle_mpeg1(GstJsmpegSink *sink, GstBuffer *buffer) {
  JsmpegSinkPrivate *priv = sink->priv;
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ))
    return GST_FLOW_ERROR;
  if (priv->framed) {
    const auto pictures = mpeg1::find_pictures(map.data, map.size);
    if (pictures.empty() || pictures.front().offset > 0)
      GST_DEBUG_OBJECT(sink, "%zu bytes outside any picture dropped",
                       pictures.empty() ? map.size : pictures.front().offset);
    gst_buffer_unmap(buffer, &map);
    push_pictures(sink, buffer, pictures, map.size);
    return GST_FLOW_OK;
  }
  // Unframed: a picture is whole only when the next one begins.
  priv->pending.insert(priv->pending.end(), map.data, map.data + map.size);
  gst_buffer_unmap(buffer, &map);
  auto pictures = mpeg1::find_pictures(priv->pending.data(), priv->pending.size());
  if (pictures.empty()) {
    if (priv->pending.size() > MAX_PENDING_BYTES) {
      GST_WARNING_OBJECT(sink, "no MPEG-1 picture in %zu bytes; dropping them",
                         priv->pending.size());
      priv->pending.clear();
    }
    return GST_FLOW_OK;
  }
  const size_t keep_from = pictures.back().offset;
  pictures.pop_back();
  if (!pictures.empty()) {
    GstBuffer *whole = gst_buffer_new_memdup(priv->pending.data(), keep_from);
    GST_BUFFER_PTS(whole) = GST_BUFFER_PTS(buffer);
    push_pictures(sink, whole, pictures, keep_from);
    gst_buffer_unref(whole);
  }
  priv->pending.erase(priv->pending.begin(), priv->pending.begin() + ptrdiff_t(keep_from));
  return GST_FLOW_OK;
}

// mpegts: queues whole packets, cut so that every video entry point starts a message. `ts`
// timestamps the messages.
static void push_packets(GstJsmpegSink *sink, const std::vector<uint8_t> &packets,
                         GstClockTime ts) {
  size_t begin = 0;
  auto push = [&](size_t end) {
    if (end == begin)
      return;
    GstBuffer *unit = gst_buffer_new_memdup(packets.data() + begin, end - begin);
    GST_BUFFER_PTS(unit) = ts;
    gst_serving_sink_push_unit(GST_SERVING_SINK(sink), unit,
                               mpegts::starts_video_entry_point(packets.data() + begin));
    gst_buffer_unref(unit);
    begin = end;
  };
  for (size_t pos = 0; pos < packets.size(); pos += mpegts::kPacketSize)
    if (pos > begin && mpegts::starts_video_entry_point(packets.data() + pos))
      push(pos);
  push(packets.size());
}

static GstFlowReturn handle_ts(GstJsmpegSink *sink, GstBuffer **buffers, guint n) {
  JsmpegSinkPrivate *priv = sink->priv;
  std::vector<uint8_t> packets;
  for (guint i = 0; i < n; i++) {
    GstMapInfo map;
    if (!gst_buffer_map(buffers[i], &map, GST_MAP_READ))
      return GST_FLOW_ERROR;
    priv->aligner.push(map.data, map.size, &packets);
    gst_buffer_unmap(buffers[i], &map);
  }
  push_packets(sink, packets, n ? GST_BUFFER_PTS(buffers[0]) : GST_CLOCK_TIME_NONE);
  return GST_FLOW_OK;
}

static GstFlowReturn gst_jsmpeg_sink_handle_buffer(GstServingSink *ws, GstBuffer *buffer) {
  GstJsmpegSink *sink = GST_JSMPEG_SINK(ws);
  if (sink->priv->active == GST_JSMPEG_SINK_MODE_MPEGTS)
    return handle_ts(sink, &buffer, 1);
  return handle_mpeg1(sink, buffer);
}

// A list from mpegtsmux holds one packet per buffer: send them as one message, not 188-byte
// messages.
static GstFlowReturn gst_jsmpeg_sink_render_list(GstBaseSink *bsink, GstBufferList *list) {
  GstJsmpegSink *sink = GST_JSMPEG_SINK(bsink);
  if (sink->priv->active != GST_JSMPEG_SINK_MODE_MPEGTS)
    return GST_BASE_SINK_CLASS(gst_jsmpeg_sink_parent_class)->render_list(bsink, list);
  std::vector<GstBuffer *> buffers(gst_buffer_list_length(list));
  for (guint i = 0; i < buffers.size(); i++)
    buffers[i] = gst_buffer_list_get(list, i);
  return handle_ts(sink, buffers.data(), guint(buffers.size()));
}

// GET <path>: one page for both modes, told which player to load.
static gboolean gst_jsmpeg_sink_serve_http(GstServingSink *ws, SoupServerMessage *msg,
                                           const char *rest) {
  if (rest[0])
    return GST_SERVING_SINK_CLASS(gst_jsmpeg_sink_parent_class)->serve_http(ws, msg, rest);
  g_autoptr(GBytes) page =
      g_resources_lookup_data("/camcast/web/jsmpeg.html", G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
  if (!page)
    return FALSE;
  const bool jsmp = GST_JSMPEG_SINK(ws)->priv->mode_now() == GST_JSMPEG_SINK_MODE_JSMP;
  g_autofree char *text =
      g_strndup(static_cast<const char *>(g_bytes_get_data(page, nullptr)), g_bytes_get_size(page));
  g_auto(GStrv) parts = g_strsplit(text, "@MODE@", -1);
  g_autofree char *html = g_strjoinv(jsmp ? "jsmp" : "mpegts", parts);
  gst_serving_sink_respond(msg, SOUP_STATUS_OK, "text/html; charset=utf-8", html, strlen(html));
  return TRUE;
}

static void gst_jsmpeg_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                         GParamSpec *pspec) {
  JsmpegSinkPrivate *priv = GST_JSMPEG_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  switch (prop_id) {
  case PROP_MODE: priv->mode = GstJsmpegSinkMode(g_value_get_enum(value)); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_jsmpeg_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                         GParamSpec *pspec) {
  JsmpegSinkPrivate *priv = GST_JSMPEG_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  switch (prop_id) {
  case PROP_MODE: g_value_set_enum(value, priv->mode); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_jsmpeg_sink_init(GstJsmpegSink *sink) {
  sink->priv = new JsmpegSinkPrivate();
}

static void gst_jsmpeg_sink_finalize(GObject *object) {
  delete GST_JSMPEG_SINK(object)->priv;
  G_OBJECT_CLASS(gst_jsmpeg_sink_parent_class)->finalize(object);
}

static void gst_jsmpeg_sink_class_init(GstJsmpegSinkClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS(klass);
  GstServingSinkClass *ws_class = GST_SERVING_SINK_CLASS(klass);

  gobject_class->set_property = gst_jsmpeg_sink_set_property;
  gobject_class->get_property = gst_jsmpeg_sink_get_property;
  gobject_class->finalize = gst_jsmpeg_sink_finalize;
  basesink_class->render_list = gst_jsmpeg_sink_render_list;
  ws_class->default_path = "/jsmpeg";
  ws_class->caps_changed = gst_jsmpeg_sink_caps_changed;
  ws_class->handle_buffer = gst_jsmpeg_sink_handle_buffer;
  ws_class->serve_http = gst_jsmpeg_sink_serve_http;

  g_object_class_install_property(
      gobject_class, PROP_MODE,
      g_param_spec_enum(
          "mode", "Mode",
          "The protocol: MPEG-TS for JSMpeg, or the jsmp header and raw pictures for the legacy "
          "jsmpg.js. Takes effect at the next caps",
          GST_TYPE_JSMPEG_SINK_MODE, DEFAULT_MODE,
          GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
      "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
      GST_STATIC_CAPS("video/mpegts, systemstream=(boolean)true, packetsize=(int)188; "
                      "video/mpeg, mpegversion=(int)1, systemstream=(boolean)false"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  // The JSMpeg players come from npm at build time (web/meson.build); a build without them
  // serves the stream but its page cannot play it, and says so — here too.
  g_autoptr(GBytes) player =
      g_resources_lookup_data("/camcast/web/jsmpeg.min.js", G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
  gst_element_class_set_static_metadata(
      element_class, "MPEG-1 to JSMpeg players", "Sink/Network",
      player ? "Serves MPEG-1 video to JSMpeg players over WebSocket, as MPEG-TS or in "
               "the legacy jsmp protocol, with a player page"
             : "Serves MPEG-1 video to JSMpeg players over WebSocket, as MPEG-TS or in "
               "the legacy jsmp protocol. This build has no JSMpeg players (they come from "
               "npm when it is built: npm install in web/, then rebuild), so its player page "
               "cannot play; players of your own can",
      "camcast developers");
  gst_type_mark_as_plugin_api(GST_TYPE_JSMPEG_SINK_MODE, GstPluginAPIFlags(0));
}
