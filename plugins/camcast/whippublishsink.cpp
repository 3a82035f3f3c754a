/**
 * SECTION:element-whippublishsink
 * @title: whippublishsink
 * @see_also: whepsink, relaysink, webrtcbin
 *
 * whippublishsink publishes the camera's H.264 over WebRTC to a server that takes WHIP (RFC
 * 9725): Janus, MediaMTX, LiveKit, Cloudflare Stream, OBS and many more. From there the stream
 * reaches as many viewers as that server serves, while the camera sends it once.
 *
 * It POSTs an SDP offer — every ICE candidate in it, host ones always, STUN and TURN ones with
 * `stun-server` and `turn-server` — to `location`, with `token` as `Authorization: Bearer`, and
 * takes the answer from the `201 Created`. When the session's connection fails, or the server
 * sends nothing back (RTCP) for `timeout` seconds, it ends the session with a `DELETE` on its
 * `Location` and makes a new one, with exponential back-off up to `backoff-max`; meanwhile the
 * stream is dropped, never queued. Each session starts at a keyframe asked of the encoder, and
 * the server's picture-loss requests become keyframe requests (at most two a second). Every
 * session made or lost posts a `whippublishsink` element message (`connected`, `reason`); a
 * refusal (a wrong token, no such endpoint) is also a warning.
 *
 * Over an upload narrower than the stream it sends a lower rendition that fits, where the camera
 * offers some: each on a `rung_%u` pad (rung_1 the next below the sink pad's). The session moves
 * down on the server's receiver reports (packets lost, the round trip growing) at the lower
 * rung's next keyframe, and back up when the link has room; a rung's encoder works only while
 * the session sends it. `rung` says which it sends.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! \
 *     video/x-h264,profile=constrained-baseline ! h264parse ! \
 *     whippublishsink location=https://whip.example/whip/endpoint/camera1 token=s3cret
 * ]| Publishes a test pattern to a WHIP endpoint.
 */
#include "whippublishsink.h"

#include "base/connection_report.h"
#include "base/ice_properties.h"
#include "base/rung_inputs.h"
#include "webrtc/whip_publisher.h"

#include <gst/video/video.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>

GST_DEBUG_CATEGORY_STATIC(gst_whip_publish_sink_debug);
#define GST_CAT_DEFAULT gst_whip_publish_sink_debug

using camcast::RungInputs;
using camcast::WhipPublisher;

namespace {

constexpr guint kDefaultBackoffMax = 10000;
constexpr guint kDefaultTimeout = 10;
// Keyframe requests upstream at most this often (a server may ask for pictures in bursts).
constexpr gint64 kKeyframeIntervalUs = G_USEC_PER_SEC / 2;

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_TOKEN,
  PROP_TLS_CA_FILE,
  PROP_BACKOFF_MAX,
  PROP_TIMEOUT,
  PROP_CONNECTED,
  PROP_SESSIONS,
  PROP_RUNG,
  PROP_ICE,
};

}  // namespace

// The C++ side of the element. `lock` protects the settings and `publisher`.
struct WhipPublishSinkPrivate {
  std::mutex lock;
  WhipPublisher::Settings settings;
  std::unique_ptr<WhipPublisher> publisher;
  camcast::ConnectionReport report;
  std::unique_ptr<RungInputs> rungs;  // the lower renditions (base/rung_inputs.h)
  std::array<std::atomic<gint64>, RungInputs::kMax + 1> last_keyframe_request{};  // by rung
};

struct _GstWhipPublishSink {
  GstBaseSink parent;
  WhipPublishSinkPrivate *priv;
};

G_DEFINE_TYPE_WITH_CODE(GstWhipPublishSink, gst_whip_publish_sink, GST_TYPE_BASE_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_whip_publish_sink_debug, "whippublishsink", 0,
                                                "camcast WHIP publisher"));
GST_ELEMENT_REGISTER_DEFINE(whippublishsink, "whippublishsink", GST_RANK_NONE,
                            GST_TYPE_WHIP_PUBLISH_SINK);

// Asks rung `rung`'s encoder for a keyframe, at most every kKeyframeIntervalUs. Any thread.
static void request_keyframe(GstWhipPublishSink *sink, size_t rung) {
  if (rung > RungInputs::kMax)
    return;
  const gint64 now = g_get_monotonic_time();
  std::atomic<gint64> &last_request = sink->priv->last_keyframe_request[rung];
  gint64 last = last_request.load();
  if (now - last < kKeyframeIntervalUs || !last_request.compare_exchange_strong(last, now))
    return;
  sink->priv->rungs->keyframe(GST_ELEMENT(sink), rung);
}

// The publishing thread made or lost a session.
static void on_session_event(GstWhipPublishSink *sink, bool connected, const std::string &why) {
  sink->priv->report.report(GST_ELEMENT(sink), GST_CAT_DEFAULT, connected, why,
                            g_str_has_prefix(why.c_str(), "the WHIP server answered 4"),
                            gst_structure_new_empty("whippublishsink"));
}

static gboolean gst_whip_publish_sink_start(GstBaseSink *base) {
  GstWhipPublishSink *sink = GST_WHIP_PUBLISH_SINK(base);
  WhipPublishSinkPrivate *priv = sink->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  if (priv->settings.location.empty()) {
    GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS,
                      ("no location: set it to the WHIP endpoint's URL, like "
                       "https://whip.example/whip/endpoint/camera1"),
                      (nullptr));
    return FALSE;
  }
  auto publisher = std::make_unique<WhipPublisher>(
      priv->settings,
      [sink](bool connected, const std::string &why) { on_session_event(sink, connected, why); },
      [sink](size_t rung) { request_keyframe(sink, rung); });
  publisher->set_rungs(priv->rungs->count());
  GError *error = nullptr;
  if (!publisher->start(&error)) {
    GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS, ("%s", error->message), (nullptr));
    g_error_free(error);
    return FALSE;
  }
  priv->publisher = std::move(publisher);
  return TRUE;
}

static gboolean gst_whip_publish_sink_stop(GstBaseSink *base) {
  WhipPublishSinkPrivate *priv = GST_WHIP_PUBLISH_SINK(base)->priv;
  std::unique_ptr<WhipPublisher> publisher;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    publisher.swap(priv->publisher);
  }
  publisher.reset();  // ends the session, outside the lock (its events take it)
  return TRUE;
}

static gboolean gst_whip_publish_sink_set_caps(GstBaseSink *base, GstCaps *caps) {
  WhipPublishSinkPrivate *priv = GST_WHIP_PUBLISH_SINK(base)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  if (priv->publisher)
    priv->publisher->set_caps(caps);
  return TRUE;
}

static void push_rung(GstWhipPublishSink *sink, GstBuffer *buffer, size_t rung) {
  std::lock_guard<std::mutex> lk(sink->priv->lock);
  if (sink->priv->publisher)
    sink->priv->publisher->push(buffer, !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT),
                                rung);
}

static GstFlowReturn gst_whip_publish_sink_render(GstBaseSink *base, GstBuffer *buffer) {
  GstWhipPublishSink *sink = GST_WHIP_PUBLISH_SINK(base);
  push_rung(sink, buffer, 0);
  sink->priv->rungs->tick(GST_ELEMENT(sink), g_get_monotonic_time());
  return GST_FLOW_OK;
}

static GstPad *gst_whip_publish_sink_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                                     const gchar *name, const GstCaps *) {
  return GST_WHIP_PUBLISH_SINK(element)->priv->rungs->request(element, templ, name);
}

static void gst_whip_publish_sink_release_pad(GstElement *element, GstPad *pad) {
  WhipPublishSinkPrivate *priv = GST_WHIP_PUBLISH_SINK(element)->priv;
  priv->rungs->release(element, pad);
  std::lock_guard<std::mutex> lk(priv->lock);
  if (priv->publisher)
    priv->publisher->set_rungs(priv->rungs->count());
}

static GstStateChangeReturn gst_whip_publish_sink_change_state(GstElement *element,
                                                               GstStateChange transition) {
  return GST_WHIP_PUBLISH_SINK(element)->priv->rungs->change_state(
      element, transition, GST_ELEMENT_CLASS(gst_whip_publish_sink_parent_class));
}

static void gst_whip_publish_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                               GParamSpec *pspec) {
  WhipPublishSinkPrivate *priv = GST_WHIP_PUBLISH_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  WhipPublisher::Settings &s = priv->settings;
  auto text = [value] {
    return std::string(g_value_get_string(value) ? g_value_get_string(value) : "");
  };
  switch (prop_id) {
  case PROP_LOCATION: s.location = text(); break;
  case PROP_TOKEN: s.token = text(); break;
  case PROP_TLS_CA_FILE: s.ca_file = text(); break;
  case PROP_BACKOFF_MAX: s.backoff_max_ms = int(g_value_get_uint(value)); break;
  case PROP_TIMEOUT: s.timeout_s = int(g_value_get_uint(value)); break;
  default:
    if (!camcast::set_ice_property(&s.peer, prop_id, PROP_ICE, value))
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void gst_whip_publish_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                               GParamSpec *pspec) {
  WhipPublishSinkPrivate *priv = GST_WHIP_PUBLISH_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  const WhipPublisher::Settings &s = priv->settings;
  switch (prop_id) {
  case PROP_LOCATION: g_value_set_string(value, s.location.c_str()); break;
  case PROP_TOKEN: g_value_set_string(value, s.token.c_str()); break;
  case PROP_TLS_CA_FILE: g_value_set_string(value, s.ca_file.c_str()); break;
  case PROP_BACKOFF_MAX: g_value_set_uint(value, guint(s.backoff_max_ms)); break;
  case PROP_TIMEOUT: g_value_set_uint(value, guint(s.timeout_s)); break;
  case PROP_CONNECTED:
    g_value_set_boolean(value, priv->publisher && priv->publisher->connected());
    break;
  case PROP_SESSIONS:
    g_value_set_uint64(value, priv->publisher ? priv->publisher->sessions() : 0);
    break;
  case PROP_RUNG:
    g_value_set_uint(value, priv->publisher ? guint(priv->publisher->rung()) : 0);
    break;
  default:
    if (!camcast::get_ice_property(s.peer, prop_id, PROP_ICE, value))
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void gst_whip_publish_sink_init(GstWhipPublishSink *sink) {
  sink->priv = new WhipPublishSinkPrivate;
  RungInputs::Owner owner;
  owner.buffer = [sink](size_t rung, GstBuffer *buffer) { push_rung(sink, buffer, rung); };
  owner.caps = [sink](size_t rung, GstCaps *caps) {
    std::lock_guard<std::mutex> lk(sink->priv->lock);
    if (sink->priv->publisher)
      sink->priv->publisher->set_caps(caps, rung);
  };
  owner.uses = [sink](size_t rung) {
    std::lock_guard<std::mutex> lk(sink->priv->lock);
    return sink->priv->publisher && sink->priv->publisher->uses(rung);
  };
  sink->priv->rungs = std::make_unique<RungInputs>(owner);
  sink->priv->settings.backoff_max_ms = int(kDefaultBackoffMax);
  sink->priv->settings.timeout_s = int(kDefaultTimeout);
  gst_base_sink_set_sync(GST_BASE_SINK(sink), FALSE);
}

static void gst_whip_publish_sink_finalize(GObject *object) {
  delete GST_WHIP_PUBLISH_SINK(object)->priv;
  G_OBJECT_CLASS(gst_whip_publish_sink_parent_class)->finalize(object);
}

static void install_properties(GObjectClass *klass) {
  const auto ready =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      klass, PROP_LOCATION,
      g_param_spec_string("location", "Location",
                          "The WHIP endpoint's URL, http:// or https:// (the server's docs say "
                          "where: https://whip.example/whip/endpoint/camera1)",
                          nullptr, ready));
  g_object_class_install_property(
      klass, PROP_TOKEN,
      g_param_spec_string("token", "Token",
                          "Sent as \"Authorization: Bearer TOKEN\" to the endpoint's own "
                          "scheme, host and port only (empty: not sent)",
                          nullptr, ready));
  g_object_class_install_property(
      klass, PROP_TLS_CA_FILE,
      g_param_spec_string("tls-ca-file", "TLS CA file",
                          "PEM certificates to trust for an https:// endpoint besides the "
                          "system's (a server with a self-signed certificate)",
                          nullptr, ready));
  g_object_class_install_property(
      klass, PROP_BACKOFF_MAX,
      g_param_spec_uint("backoff-max", "Back-off max",
                        "Longest wait between attempts to publish, in ms (the first is 250 ms, "
                        "doubled each time)",
                        250, 3600000, kDefaultBackoffMax, ready));
  g_object_class_install_property(
      klass, PROP_TIMEOUT,
      g_param_spec_uint("timeout", "Timeout",
                        "Seconds to wait for the server's answer and for ICE to connect, and of "
                        "silence from the server before the session counts as lost",
                        1, 3600, kDefaultTimeout, ready));
  g_object_class_install_property(
      klass, PROP_CONNECTED,
      g_param_spec_boolean("connected", "Connected", "Publishing to the server now", FALSE, ro));
  g_object_class_install_property(
      klass, PROP_SESSIONS,
      g_param_spec_uint64("sessions", "Sessions", "Sessions that connected so far", 0, G_MAXUINT64,
                          0, ro));
  g_object_class_install_property(
      klass, PROP_RUNG,
      g_param_spec_uint("rung", "Rung",
                        "The rendition sent now: 0 the sink pad's, N the rung_N pad's (a lower one "
                        "while the upload is narrower than the stream)",
                        0, RungInputs::kMax, 0, ro));
  camcast::install_ice_properties(klass, PROP_ICE);
}

static void gst_whip_publish_sink_class_init(GstWhipPublishSinkClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS(klass);
  gobject_class->set_property = gst_whip_publish_sink_set_property;
  gobject_class->get_property = gst_whip_publish_sink_get_property;
  gobject_class->finalize = gst_whip_publish_sink_finalize;
  basesink_class->start = gst_whip_publish_sink_start;
  basesink_class->stop = gst_whip_publish_sink_stop;
  basesink_class->set_caps = gst_whip_publish_sink_set_caps;
  basesink_class->render = gst_whip_publish_sink_render;
  element_class->request_new_pad = gst_whip_publish_sink_request_new_pad;
  element_class->release_pad = gst_whip_publish_sink_release_pad;
  element_class->change_state = gst_whip_publish_sink_change_state;
  install_properties(gobject_class);

  static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
      "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
      GST_STATIC_CAPS("video/x-h264, stream-format = (string) avc, alignment = (string) au"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  static GstStaticPadTemplate rung_template = GST_STATIC_PAD_TEMPLATE(
      "rung_%u", GST_PAD_SINK, GST_PAD_REQUEST,
      GST_STATIC_CAPS("video/x-h264, stream-format = (string) avc, alignment = (string) au"));
  gst_element_class_add_static_pad_template(element_class, &rung_template);
  gst_element_class_set_static_metadata(
      element_class, "H.264 to a WHIP server", "Sink/Network",
      "Publishes H.264 over WebRTC to a WHIP endpoint (Janus, MediaMTX, LiveKit, Cloudflare "
      "Stream, …), reconnecting with back-off",
      "camcast developers");
}
