/**
 * SECTION:element-rtspsink
 * @title: rtspsink
 * @see_also: msesink, whepsink, rtspsrc
 *
 * rtspsink serves H.264 over RTSP — what Home Assistant, Frigate, VLC, ffmpeg and most NVRs
 * read — at `rtsp://HOST:rtsp-port/path` (default `rtsp://HOST:8554/video`), over RTP on UDP
 * or interleaved in the RTSP connection (TCP), as the client asks. Sinks of one process with
 * the same `address` and `rtsp-port` share one RTSP server (gst-rtsp-server), each at its own
 * path.
 *
 * One encode serves every client: each has a media of its own (`appsrc ! rtph264pay`) fed the
 * sink's access units from a keyframe on, asked of the encoder when the client comes, so its
 * first picture is whole; SPS and PPS go in-band in every keyframe. A client that falls
 * more than 2 MB behind (its TCP connection full) goes on from the next keyframe. An RTSP
 * session a client neither renews nor ends is freed after 60 s. A port takes 32 connections and
 * 32 sessions, 8 connections from one address; one without a session for 10 s is closed, one
 * that sends more than a client should (64 KiB and 16 KiB a second) is cut. An RTSP port another
 * program holds stops this output alone: a warning, the output `rtsp PATH` down in `/api/streams`,
 * and another try every 5 s while the stream goes on.
 *
 * Its `audio` pad (on request: `rtspsink name=rtsp … ! rtsp.audio`) takes the sound as AAC
 * (`voaacenc`, `avenc_aac`: what Home Assistant and Frigate record) or Opus: each client that
 * comes gets it as a second stream of its media, in step with the picture.
 *
 * With `tls-certificate` and `tls-key` the RTSP port speaks RTSPS (`rtsps://`, TLS 1.2 or 1.3)
 * with RTP inside the RTSP connection only (over UDP the picture would go in the clear); every
 * sink of one RTSP port needs the same certificate.
 *
 * The sink also joins the HTTP server of its `port` (8080 by default) as the other camcast
 * sinks do: its clients are counted in `num-clients`, `/api/streams` (as the stream
 * `rtsp://:8554/video`, so a browser stream may have the same path) and `/metrics`, and the
 * branch that feeds it idles while no client watches (`idle-after`).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse ! \
 *     rtspsink
 * ]| Play rtsp://HOST:8554/video (`ffplay`, `vlc`, `gst-play-1.0`).
 */
#include "rtspsink.h"

#include "net/mount_table.h"
#include "rtsp/rtsp_resource.h"

#include <memory>

GST_DEBUG_CATEGORY_STATIC(gst_rtsp_sink_debug);
#define GST_CAT_DEFAULT gst_rtsp_sink_debug

using camcast::RtspResource;

enum { PROP_0, PROP_RTSP_PORT, PROP_CURRENT_RTSP_PORT };

struct _GstRtspSink {
  GstServingSink parent;
  // The stream at the sink's path on its RTSP port (rtsp/rtsp_resource.h): clients and media.
  std::shared_ptr<RtspResource> *resource;
};

static RtspResource &resource_of(gpointer sink) {
  return **GST_RTSP_SINK(sink)->resource;
}

G_DEFINE_TYPE_WITH_CODE(GstRtspSink, gst_rtsp_sink, GST_TYPE_SERVING_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_rtsp_sink_debug, "rtspsink", 0,
                                                "camcast RTSP sink"));
GST_ELEMENT_REGISTER_DEFINE(rtspsink, "rtspsink", GST_RANK_NONE, GST_TYPE_RTSP_SINK);

static gboolean gst_rtsp_sink_caps_changed(GstServingSink *ws, GstCaps *caps) {
  if (resource_of(ws).set_caps(caps))
    return TRUE;
  GST_ELEMENT_ERROR(ws, STREAM, FORMAT, ("the H.264 stream's caps have no usable codec_data"),
                    ("%" GST_PTR_FORMAT, caps));
  return FALSE;
}

static GstFlowReturn gst_rtsp_sink_handle_buffer(GstServingSink *ws, GstBuffer *buffer) {
  const GstSegment *segment = &GST_BASE_SINK(ws)->segment;
  GstBuffer *timed = gst_buffer_copy(buffer);
  GST_BUFFER_PTS(timed) =
      gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
  GST_BUFFER_DTS(timed) =
      gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_DTS(buffer));
  resource_of(ws).push(timed);
  gst_buffer_unref(timed);
  return GST_FLOW_OK;
}

static gboolean gst_rtsp_sink_audio_caps_changed(GstServingSink *ws, GstCaps *caps) {
  resource_of(ws).set_audio_caps(caps);
  return TRUE;
}

static GstFlowReturn gst_rtsp_sink_handle_audio(GstServingSink *ws, GstBuffer *buffer,
                                                const GstSegment *segment) {
  buffer = gst_buffer_make_writable(buffer);
  GST_BUFFER_PTS(buffer) =
      gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
  GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
  resource_of(ws).push_audio(buffer);
  gst_buffer_unref(buffer);
  return GST_FLOW_OK;
}

static void gst_rtsp_sink_audio_flushed(GstServingSink *ws, gboolean gone) {
  if (gone)
    resource_of(ws).set_audio_caps(nullptr);
}

// The RTSP side opens first: the stream's name in the HTTP server's table has its port. A port
// another program holds is this output's fault alone: a warning, and tries again until free.
static gboolean open_rtsp(GstRtspSink *sink) {
  gchar *path = nullptr, *address = nullptr;
  g_object_get(sink, "path", &path, "address", &address, nullptr);
  std::string canonical;
  const bool usable = camcast::normalize_mount_path(path && *path ? path : "/video", &canonical);
  g_free(path);
  RtspResource::Settings settings = resource_of(sink).settings();
  settings.address = address ? address : "0.0.0.0";
  g_free(address);
  settings.policy = gst_serving_sink_access_policy(GST_SERVING_SINK(sink), &settings.is_public);
  settings.tls = gst_serving_sink_tls(GST_SERVING_SINK(sink));
  std::string why;
  if (!settings.policy.load_users(&why))
    return TRUE;  // the base says why, as for every sink
  resource_of(sink).set_settings(settings);
  GError *error = nullptr;
  if (usable && resource_of(sink).open(canonical, &error)) {
    g_object_notify(G_OBJECT(sink), "current-rtsp-port");
    return TRUE;
  }
  if (!usable)
    return TRUE;  // the base says why, as for every sink
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)) {
    // Another program's port: this output waits for it alone, while the stream goes on.
    GST_ELEMENT_WARNING(sink, RESOURCE, OPEN_READ_WRITE,
                        ("%s; trying again every %d s", error->message,
                         int(RtspResource::kRetryUs / G_USEC_PER_SEC)),
                        ("address=%s rtsp-port=%d", settings.address.c_str(), settings.port));
    GstServingSink *ws = GST_SERVING_SINK(sink);
    const std::string name = "rtsp " + canonical;
    resource_of(sink).open_later(canonical, [ws, name](const char *state, const std::string &why) {
      g_signal_emit_by_name(ws, "report-output", name.c_str(), state, why.c_str());
      if (g_str_equal(state, "running")) {
        GST_INFO_OBJECT(ws, "serving RTSP now");
        g_object_notify(G_OBJECT(ws), "current-rtsp-port");
      }
    });
    g_error_free(error);
    return TRUE;
  }
  GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_READ_WRITE, ("%s", error->message),
                    ("address=%s rtsp-port=%d", settings.address.c_str(), settings.port));
  g_error_free(error);
  return FALSE;
}

static GstStateChangeReturn gst_rtsp_sink_change_state(GstElement *element,
                                                       GstStateChange transition) {
  GstRtspSink *sink = GST_RTSP_SINK(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !open_rtsp(sink))
    return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_rtsp_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE))
    resource_of(sink).close();
  return ret;
}

/* ---- GObject ---- */

static void gst_rtsp_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                       GParamSpec *pspec) {
  GST_OBJECT_LOCK(object);
  RtspResource::Settings settings = resource_of(object).settings();
  if (prop_id == PROP_RTSP_PORT)
    settings.port = g_value_get_int(value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  resource_of(object).set_settings(settings);
  GST_OBJECT_UNLOCK(object);
}

static void gst_rtsp_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec) {
  if (prop_id == PROP_RTSP_PORT)
    g_value_set_int(value, resource_of(object).settings().port);
  else if (prop_id == PROP_CURRENT_RTSP_PORT)
    g_value_set_int(value, resource_of(object).port());
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
}

static void gst_rtsp_sink_init(GstRtspSink *sink) {
  GstServingSink *ws = GST_SERVING_SINK(sink);
  sink->resource = new std::shared_ptr<RtspResource>(
      std::make_shared<RtspResource>([ws] { gst_serving_sink_request_keyframe(ws); }));
  gst_serving_sink_set_resource(ws, sink->resource->get());
}

static void gst_rtsp_sink_finalize(GObject *object) {
  delete GST_RTSP_SINK(object)->resource;
  G_OBJECT_CLASS(gst_rtsp_sink_parent_class)->finalize(object);
}

static void gst_rtsp_sink_class_init(GstRtspSinkClass *klass) {
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstServingSinkClass *ws_class = GST_SERVING_SINK_CLASS(klass);
  object_class->set_property = gst_rtsp_sink_set_property;
  object_class->get_property = gst_rtsp_sink_get_property;
  object_class->finalize = gst_rtsp_sink_finalize;
  element_class->change_state = gst_rtsp_sink_change_state;

  g_object_class_install_property(
      object_class, PROP_RTSP_PORT,
      g_param_spec_int(
          "rtsp-port", "RTSP port",
          "TCP port of the RTSP server (0 = any free port, see current-rtsp-port); "
          "sinks with the same address and RTSP port share one RTSP server. Takes "
          "effect on the next NULL to READY",
          0, 65535, RtspResource::kDefaultPort,
          GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(
      object_class, PROP_CURRENT_RTSP_PORT,
      g_param_spec_int("current-rtsp-port", "Current RTSP port",
                       "The RTSP port being listened on (-1 when not listening)", -1, 65535, -1,
                       GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  ws_class->default_path = "/video";
  ws_class->websocket = FALSE;
  ws_class->caps_changed = gst_rtsp_sink_caps_changed;
  ws_class->handle_buffer = gst_rtsp_sink_handle_buffer;
  ws_class->audio_caps_changed = gst_rtsp_sink_audio_caps_changed;
  ws_class->handle_audio = gst_rtsp_sink_handle_audio;
  ws_class->audio_flushed = gst_rtsp_sink_audio_flushed;
  static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
      "audio", GST_PAD_SINK, GST_PAD_REQUEST,
      GST_STATIC_CAPS("audio/mpeg, mpegversion = (int) 4, stream-format = (string) raw; "
                      "audio/x-opus, channel-mapping-family = (int) 0"));
  gst_serving_sink_class_add_audio_input(ws_class, &audio_template);

  static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
      "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
      GST_STATIC_CAPS("video/x-h264, stream-format = (string) avc, alignment = (string) au"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(
      element_class, "H.264 to RTSP clients", "Sink/Network",
      "Serves H.264 over RTSP (RTP over UDP or TCP) to VLC, ffmpeg, Home Assistant, Frigate and "
      "NVRs, each client a media of its own fed one encode from a keyframe on; its audio pad "
      "(on request: rtspsink name=rtsp ... ! rtsp.audio) takes AAC or Opus for the sound",
      "camcast developers");
}
