/**
 * SECTION:element-relaysink
 * @title: relaysink
 * @see_also: relaysrc, mpegtsmux
 *
 * relaysink is the camera side of a relay. A camera behind a home router cannot be reached from
 * the internet, but it can reach out: relaysink pushes its input — MPEG-TS from `mpegtsmux`,
 * with H.264 and/or MPEG-1 in it — to a public host as one long HTTP POST with a chunked body,
 * and the host re-serves it to browsers (`relaysrc` on camcast, the JSMpeg project's
 * `websocket-relay.js`, or anything that takes `ffmpeg -f mpegts http://…`). No port
 * forwarding is needed.
 *
 * The secret goes in the path of `location` (`http://relay:8080/publish/SECRET`, the JSMpeg
 * relay's convention) or in `secret`, sent as `Authorization: Bearer`. `https://` locations
 * use TLS (a self-signed relay is trusted with `tls-ca-file`).
 *
 * A network thread of its own does the pushing, so the pipeline never waits for the network.
 * When the connection fails, the relay refuses the stream (wrong secret, another camera
 * publishing) or a write makes no progress for `timeout` seconds, it reconnects with
 * exponential back-off up to `backoff-max`. Meanwhile it drops data — counted in
 * `buffers-dropped`, never queued without bound — and each connection starts with the stream
 * header (PAT/PMT) and then a keyframe, for which it asks the encoder at once. Every connection
 * made or lost posts a `relaysink` element message (`connected`, `reason`, `buffers-dropped`).
 *
 * Over an upload narrower than the stream it sends a lower rendition that fits, where the camera
 * offers some: each on a `rung_%u` pad (rung_1 the next below the sink pad's), each muxed by a
 * `mpegtsmux` of its own. relaysink measures its upload as it sends, moves down at the lower
 * rung's next keyframe as soon as it falls behind, and back up when the link has room (probing
 * it with null packets now and then); the relay's viewers see a smaller picture instead of a
 * broken one. A rung's encoder works only while relaysink sends it. `rung` says which it sends.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 libcamerasrc ! video/x-raw,width=1280,height=720,format=NV12 ! v4l2convert ! \
 *     v4l2h264enc extra-controls="controls,repeat_sequence_header=1" ! \
 *     'video/x-h264,level=(string)4.1' ! h264parse config-interval=-1 ! mpegtsmux ! \
 *     relaysink location=http://relay.example:8080/publish/s3cret
 * ]| Pushes a Raspberry Pi camera to a relay running `camcast relay-serve`.
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720 ! tee name=cam \
 *     cam. ! queue ! x264enc tune=zerolatency bitrate=2000 ! h264parse config-interval=-1 ! \
 *       mpegtsmux latency=0 ! relaysink name=relay
 * location=http://relay.example:8080/publish/s3cret \
 *     cam. ! queue leaky=downstream max-size-buffers=2 ! videoscale !
 * video/x-raw,width=640,height=360 ! \
 *       x264enc tune=zerolatency bitrate=500 vbv-buf-capacity=200 ! h264parse config-interval=-1 !
 * \ mpegtsmux latency=0 ! relay.rung_1
 * ]| The same with a 640x360 rung for a narrow upload.
 */
#include "relaysink.h"

#include "base/connection_report.h"
#include "base/rung_inputs.h"
#include "relay/publisher.h"

#include <gst/video/video.h>

#include <memory>
#include <mutex>

GST_DEBUG_CATEGORY_STATIC(gst_relay_sink_debug);
#define GST_CAT_DEFAULT gst_relay_sink_debug

#define DEFAULT_BACKOFF_MAX 10000
#define DEFAULT_TIMEOUT 10

using namespace camcast;

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_SECRET,
  PROP_TLS_CA_FILE,
  PROP_BACKOFF_MAX,
  PROP_TIMEOUT,
  PROP_CONNECTED,
  PROP_BYTES_SENT,
  PROP_BUFFERS_DROPPED,
  PROP_RUNG,
};

// The C++ side of the element. `lock` protects the settings and `push`.
struct RelaySinkPrivate {
  std::mutex lock;
  RelayPublisher::Settings settings;
  std::unique_ptr<RelayPublisher> push;
  std::vector<GstBuffer *> header;  // streaming thread
  ConnectionReport report;
  std::unique_ptr<RungInputs> rungs;  // the lower renditions (base/rung_inputs.h)
  ~RelaySinkPrivate() { clear_header(); }
  void clear_header() {
    for (GstBuffer *b : header)
      gst_buffer_unref(b);
    header.clear();
  }
};

struct _GstRelaySink {
  GstBaseSink parent;
  RelaySinkPrivate *priv;
};

G_DEFINE_TYPE_WITH_CODE(GstRelaySink, gst_relay_sink, GST_TYPE_BASE_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_relay_sink_debug, "relaysink", 0,
                                                "camcast relay publisher"));
GST_ELEMENT_REGISTER_DEFINE(relaysink, "relaysink", GST_RANK_NONE, GST_TYPE_RELAY_SINK);

// The push thread wants a keyframe of `rung`: its connection is new, or it moves there.
static void on_keyframe_wanted(GstRelaySink *sink, size_t rung) {
  sink->priv->rungs->keyframe(GST_ELEMENT(sink), rung);
}

// The push thread made or lost its connection.
static void on_push_event(GstRelaySink *sink, bool connected, const std::string &why) {
  guint64 dropped = 0;
  size_t rung = 0;
  {
    std::lock_guard<std::mutex> lk(sink->priv->lock);
    if (sink->priv->push) {
      const RelayPublisher::Stats stats = sink->priv->push->stats();
      dropped = stats.units_dropped;
      rung = stats.rung;
    }
  }
  // The relay's viewers start at a keyframe: ask for one now rather than wait a GOP.
  if (connected)
    on_keyframe_wanted(sink, rung);
  sink->priv->report.report(
      GST_ELEMENT(sink), GST_CAT_DEFAULT, connected, why,
      g_str_has_prefix(why.c_str(), "the relay answered"),
      gst_structure_new("relaysink", "buffers-dropped", G_TYPE_UINT64, dropped, nullptr));
}

static gboolean gst_relay_sink_start(GstBaseSink *base) {
  GstRelaySink *sink = GST_RELAY_SINK(base);
  RelaySinkPrivate *priv = sink->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  if (priv->settings.location.empty()) {
    GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS,
                      ("no location: set it to the relay's URL, like "
                       "http://relay.example:8080/publish/SECRET"),
                      (nullptr));
    return FALSE;
  }
  auto push = std::make_unique<RelayPublisher>(
      priv->settings,
      [sink](bool connected, const std::string &why) { on_push_event(sink, connected, why); },
      [sink](size_t rung) { on_keyframe_wanted(sink, rung); });
  push->set_rungs(priv->rungs->count());
  GError *error = nullptr;
  if (!push->start(&error)) {
    GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS, ("%s", error->message), (nullptr));
    g_error_free(error);
    return FALSE;
  }
  push->set_header(priv->header);
  priv->push = std::move(push);
  return TRUE;
}

static gboolean gst_relay_sink_stop(GstBaseSink *base) {
  RelaySinkPrivate *priv = GST_RELAY_SINK(base)->priv;
  std::unique_ptr<RelayPublisher> push;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    push.swap(priv->push);
  }
  push.reset();  // ends the upload cleanly, outside the lock (its events take it)
  return TRUE;
}

static gboolean gst_relay_sink_set_caps(GstBaseSink *base, GstCaps *caps) {
  RelaySinkPrivate *priv = GST_RELAY_SINK(base)->priv;
  priv->clear_header();
  const GValue *sh = gst_structure_get_value(gst_caps_get_structure(caps, 0), "streamheader");
  if (sh && GST_VALUE_HOLDS_ARRAY(sh))
    for (guint i = 0; i < gst_value_array_get_size(sh); i++) {
      const GValue *v = gst_value_array_get_value(sh, i);
      if (G_VALUE_HOLDS(v, GST_TYPE_BUFFER))
        priv->header.push_back(gst_buffer_ref(gst_value_get_buffer(v)));
    }
  std::lock_guard<std::mutex> lk(priv->lock);
  if (priv->push)
    priv->push->set_header(priv->header);
  return TRUE;
}

static void push_rung(GstRelaySink *sink, GstBuffer *buffer, size_t rung) {
  std::lock_guard<std::mutex> lk(sink->priv->lock);
  if (sink->priv->push)
    sink->priv->push->push(buffer, !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT),
                           rung);
}

static GstFlowReturn gst_relay_sink_render(GstBaseSink *base, GstBuffer *buffer) {
  GstRelaySink *sink = GST_RELAY_SINK(base);
  push_rung(sink, buffer, 0);
  sink->priv->rungs->tick(GST_ELEMENT(sink), g_get_monotonic_time());
  return GST_FLOW_OK;
}

static GstFlowReturn gst_relay_sink_render_list(GstBaseSink *base, GstBufferList *list) {
  for (guint i = 0; i < gst_buffer_list_length(list); i++)
    gst_relay_sink_render(base, gst_buffer_list_get(list, i));
  return GST_FLOW_OK;
}

static GstPad *gst_relay_sink_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                              const gchar *name, const GstCaps *) {
  return GST_RELAY_SINK(element)->priv->rungs->request(element, templ, name);
}

static void gst_relay_sink_release_pad(GstElement *element, GstPad *pad) {
  RelaySinkPrivate *priv = GST_RELAY_SINK(element)->priv;
  priv->rungs->release(element, pad);
  std::lock_guard<std::mutex> lk(priv->lock);
  if (priv->push)
    priv->push->set_rungs(priv->rungs->count());
}

static GstStateChangeReturn gst_relay_sink_change_state(GstElement *element,
                                                        GstStateChange transition) {
  return GST_RELAY_SINK(element)->priv->rungs->change_state(
      element, transition, GST_ELEMENT_CLASS(gst_relay_sink_parent_class));
}

static void gst_relay_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                        GParamSpec *pspec) {
  RelaySinkPrivate *priv = GST_RELAY_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  RelayPublisher::Settings &s = priv->settings;
  auto text = [value] {
    return std::string(g_value_get_string(value) ? g_value_get_string(value) : "");
  };
  switch (prop_id) {
  case PROP_LOCATION: s.location = text(); break;
  case PROP_SECRET: s.secret = text(); break;
  case PROP_TLS_CA_FILE: s.ca_file = text(); break;
  case PROP_BACKOFF_MAX: s.backoff_max_ms = int(g_value_get_uint(value)); break;
  case PROP_TIMEOUT: s.timeout_s = int(g_value_get_uint(value)); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_relay_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                        GParamSpec *pspec) {
  RelaySinkPrivate *priv = GST_RELAY_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  const RelayPublisher::Settings &s = priv->settings;
  const RelayPublisher::Stats stats = priv->push ? priv->push->stats() : RelayPublisher::Stats{};
  switch (prop_id) {
  case PROP_LOCATION: g_value_set_string(value, s.location.c_str()); break;
  case PROP_SECRET: g_value_set_string(value, s.secret.c_str()); break;
  case PROP_TLS_CA_FILE: g_value_set_string(value, s.ca_file.c_str()); break;
  case PROP_BACKOFF_MAX: g_value_set_uint(value, guint(s.backoff_max_ms)); break;
  case PROP_TIMEOUT: g_value_set_uint(value, guint(s.timeout_s)); break;
  case PROP_CONNECTED: g_value_set_boolean(value, stats.connected); break;
  case PROP_BYTES_SENT: g_value_set_uint64(value, stats.bytes_sent); break;
  case PROP_BUFFERS_DROPPED: g_value_set_uint64(value, stats.units_dropped); break;
  case PROP_RUNG: g_value_set_uint(value, guint(stats.rung)); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_relay_sink_init(GstRelaySink *sink) {
  sink->priv = new RelaySinkPrivate;
  RungInputs::Owner owner;
  owner.buffer = [sink](size_t rung, GstBuffer *buffer) { push_rung(sink, buffer, rung); };
  owner.uses = [sink](size_t rung) {
    std::lock_guard<std::mutex> lk(sink->priv->lock);
    return sink->priv->push && sink->priv->push->uses(rung);
  };
  sink->priv->rungs = std::make_unique<RungInputs>(owner);
  sink->priv->settings.backoff_max_ms = DEFAULT_BACKOFF_MAX;
  sink->priv->settings.timeout_s = DEFAULT_TIMEOUT;
  gst_base_sink_set_sync(GST_BASE_SINK(sink), FALSE);
}

static void gst_relay_sink_finalize(GObject *object) {
  delete GST_RELAY_SINK(object)->priv;
  G_OBJECT_CLASS(gst_relay_sink_parent_class)->finalize(object);
}

static void gst_relay_sink_class_init(GstRelaySinkClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS(klass);
  gobject_class->set_property = gst_relay_sink_set_property;
  gobject_class->get_property = gst_relay_sink_get_property;
  gobject_class->finalize = gst_relay_sink_finalize;
  basesink_class->start = gst_relay_sink_start;
  basesink_class->stop = gst_relay_sink_stop;
  basesink_class->set_caps = gst_relay_sink_set_caps;
  basesink_class->render = gst_relay_sink_render;
  basesink_class->render_list = gst_relay_sink_render_list;
  element_class->request_new_pad = gst_relay_sink_request_new_pad;
  element_class->release_pad = gst_relay_sink_release_pad;
  element_class->change_state = gst_relay_sink_change_state;

  const auto ready =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      gobject_class, PROP_LOCATION,
      g_param_spec_string(
          "location", "Location",
          "The relay's publish URL, http:// or https://, with the secret in the path where the "
          "relay expects it (http://relay:8080/publish/SECRET)",
          nullptr, ready));
  g_object_class_install_property(
      gobject_class, PROP_SECRET,
      g_param_spec_string("secret", "Secret",
                          "Sent as \"Authorization: Bearer SECRET\" (empty: not sent)", nullptr,
                          ready));
  g_object_class_install_property(
      gobject_class, PROP_TLS_CA_FILE,
      g_param_spec_string(
          "tls-ca-file", "TLS CA file",
          "PEM certificates to trust for an https:// relay besides the system's (a relay with "
          "a self-signed certificate)",
          nullptr, ready));
  g_object_class_install_property(
      gobject_class, PROP_BACKOFF_MAX,
      g_param_spec_uint(
          "backoff-max", "Back-off max",
          "Longest wait between reconnection attempts, in ms (the first is 250 ms, doubled each "
          "time)",
          250, 3600000, DEFAULT_BACKOFF_MAX, ready));
  g_object_class_install_property(
      gobject_class, PROP_TIMEOUT,
      g_param_spec_uint(
          "timeout", "Timeout",
          "Seconds to connect, and without progress sending, before the connection counts as "
          "lost",
          1, 3600, DEFAULT_TIMEOUT, ready));
  g_object_class_install_property(
      gobject_class, PROP_CONNECTED,
      g_param_spec_boolean("connected", "Connected", "Connected to the relay now", FALSE, ro));
  g_object_class_install_property(
      gobject_class, PROP_BYTES_SENT,
      g_param_spec_uint64("bytes-sent", "Bytes sent", "Bytes sent to the relay", 0, G_MAXUINT64, 0,
                          ro));
  g_object_class_install_property(
      gobject_class, PROP_BUFFERS_DROPPED,
      g_param_spec_uint64(
          "buffers-dropped", "Buffers dropped",
          "Buffers dropped while not connected or while the link was slower than the stream", 0,
          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_RUNG,
      g_param_spec_uint("rung", "Rung",
                        "The rendition sent now: 0 the sink pad's, N the rung_N pad's (a lower one "
                        "while the upload is narrower than the stream)",
                        0, 8, 0, ro));

  static GstStaticPadTemplate sink_template =
      GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
                              GST_STATIC_CAPS("video/mpegts, systemstream=(boolean)true"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  static GstStaticPadTemplate rung_template =
      GST_STATIC_PAD_TEMPLATE("rung_%u", GST_PAD_SINK, GST_PAD_REQUEST,
                              GST_STATIC_CAPS("video/mpegts, systemstream=(boolean)true"));
  gst_element_class_add_static_pad_template(element_class, &rung_template);
  gst_element_class_set_static_metadata(
      element_class, "Relay publisher", "Sink/Network",
      "Pushes MPEG-TS to a public relay as one long HTTP POST (camcast's relaysrc, the JSMpeg "
      "relay, anything ffmpeg pushes to), reconnecting with back-off and resuming at a keyframe",
      "camcast developers");
}
