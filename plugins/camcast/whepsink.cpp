/**
 * SECTION:element-whepsink
 * @title: whepsink
 * @see_also: msesink, webrtcbin
 *
 * whepsink serves H.264 to viewers over WebRTC, by WHEP (the IETF WISH working group's
 * WebRTC-HTTP Egress Protocol): a viewer POSTs its SDP offer to `path` and gets `201 Created`
 * with the answer and a `Location` for its session, which a `DELETE` ends. ICE candidates are
 * all in the answer (trickle ICE by `PATCH` is answered 405), host candidates always, STUN and
 * TURN ones with `stun-server` and `turn-server`. `OPTIONS` answers CORS preflights, so WHEP
 * players on other sites can connect with the access token as `Authorization: Bearer`.
 *
 * One encode serves every viewer: each has a pipeline of its own (appsrc ! rtph264pay !
 * webrtcbin) fed the sink's access units, starting at a keyframe requested when it connects.
 * A viewer's picture-loss and full-intra requests become keyframe requests upstream (at most
 * two a second). A viewer whose connection fails, that does not connect within 15 s, or that
 * sends nothing back (RTCP) for 10 s — its machine or its link gone, no DELETE said — is freed.
 * `max-viewers` counts connected viewers and offers still connecting; past it, a new offer takes
 * the place of the oldest that has not connected, and one address has at most three offers
 * connecting at once, so offers that never connect cannot shut WebRTC for everyone.
 * Over UDP a viewer on lossy Wi-Fi loses a frame, not the whole stream's timing; NACK and RTX
 * resend what was lost when the viewer offers them.
 *
 * Its `audio` pad (on request: `whepsink name=rtc … ! rtc.audio`) takes Opus (`opusenc`): a
 * viewer whose offer takes Opus gets the sound on the same session, in step with the picture.
 *
 * Its `rung_%u` pads (on request: `… ! rtc.rung_1`) take smaller encodes of the same camera, a
 * ladder (rung 0 is the sink pad): each viewer is sent one rung and moves between them by itself
 * on its receiver reports — down when a tenth of its packets are lost or its round trip grows,
 * to the rung that what arrived fits, up when a probe (resends the viewer already has, now and
 * then) finds room or after a long calm spell — at the new rung's next keyframe,
 * asked for at once. `?rung=N` on the offer's URL holds rung N. A rung's encoder works only
 * while a viewer (of this sink or another on the same encode) is on it. Resends are kept to 15 %
 * of what is sent, so a link narrower than the stream is not flooded with them.
 *
 * `GET path` serves camcast's player with its WebRTC backend. Access control, `public`,
 * `client-added`/`client-removed`, `/api/streams` and one server per port come from
 * #GstServingSink.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse ! \
 *     whepsink port=8080
 * ]| Open http://HOST:8080/webrtc, or point a WHEP player at it.
 */
#include "whepsink.h"

#include "base/ice_properties.h"
#include "webrtc/whep_resource.h"

#include <memory>

GST_DEBUG_CATEGORY_STATIC(gst_whep_sink_debug);
#define GST_CAT_DEFAULT gst_whep_sink_debug

using camcast::WhepResource;

enum { PROP_0, PROP_MAX_VIEWERS, PROP_ICE };

struct _GstWhepSink {
  GstServingSink parent;
  // The WHEP resource at the sink's path (webrtc/whep_resource.h): its sessions and viewers.
  std::shared_ptr<WhepResource> *resource;
};

static WhepResource &resource_of(gpointer sink) {
  return **GST_WHEP_SINK(sink)->resource;
}

G_DEFINE_TYPE_WITH_CODE(GstWhepSink, gst_whep_sink, GST_TYPE_SERVING_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_whep_sink_debug, "whepsink", 0,
                                                "camcast WebRTC (WHEP) sink"));
GST_ELEMENT_REGISTER_DEFINE(whepsink, "whepsink", GST_RANK_NONE, GST_TYPE_WHEP_SINK);

/* ---- the stream, to the resource ---- */

static gboolean gst_whep_sink_caps_changed(GstServingSink *ws, GstCaps *caps) {
  resource_of(ws).set_caps(caps);
  return TRUE;
}

static GstFlowReturn gst_whep_sink_handle_buffer(GstServingSink *ws, GstBuffer *buffer) {
  resource_of(ws).push(buffer);
  return GST_FLOW_OK;
}

static gboolean gst_whep_sink_rung_caps_changed(GstServingSink *ws, guint rung, GstCaps *caps) {
  if (rung >= WhepResource::kMaxRungs)
    return FALSE;
  resource_of(ws).set_caps(caps, rung);
  return TRUE;
}

static GstFlowReturn gst_whep_sink_handle_rung(GstServingSink *ws, guint rung, GstBuffer *buffer,
                                               const GstSegment *) {
  resource_of(ws).push(buffer, rung);
  gst_buffer_unref(buffer);
  return GST_FLOW_OK;
}

static gboolean gst_whep_sink_audio_caps_changed(GstServingSink *ws, GstCaps *caps) {
  resource_of(ws).set_audio_caps(caps);
  return TRUE;
}

static GstFlowReturn gst_whep_sink_handle_audio(GstServingSink *ws, GstBuffer *buffer,
                                                const GstSegment *) {
  resource_of(ws).push_audio(buffer);
  gst_buffer_unref(buffer);
  return GST_FLOW_OK;
}

static void gst_whep_sink_audio_flushed(GstServingSink *ws, gboolean gone) {
  if (gone)
    resource_of(ws).set_audio_caps(nullptr);
}

// GET serves the player page (the resource answers WHEP's methods), with its WebRTC backend
// unless another is asked for.
static gboolean gst_whep_sink_serve_http(GstServingSink *ws, SoupServerMessage *msg,
                                         const char *rest) {
  GUri *uri = soup_server_message_get_uri(msg);
  const char *query = g_uri_get_query(uri);
  if (!*rest && (!query || !strstr(query, "backend="))) {
    const std::string to = std::string(g_uri_get_path(uri)) + "?backend=webrtc" +
                           (query ? std::string("&") + query : "");
    soup_server_message_set_redirect(msg, SOUP_STATUS_FOUND, to.c_str());
    return TRUE;
  }
  return GST_SERVING_SINK_CLASS(gst_whep_sink_parent_class)->serve_http(ws, msg, rest);
}

static GstStateChangeReturn gst_whep_sink_change_state(GstElement *element,
                                                       GstStateChange transition) {
  if (transition == GST_STATE_CHANGE_NULL_TO_READY)
    camcast::WebRtcPeer::prepare();  // the first viewer should not wait for the DTLS certificate
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_whep_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    resource_of(element).end_all();
  return ret;
}

/* ---- GObject ---- */

static void gst_whep_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                       GParamSpec *pspec) {
  GST_OBJECT_LOCK(object);  // one setting at a time: each reads the others back
  WhepResource::Settings settings = resource_of(object).settings();
  if (prop_id == PROP_MAX_VIEWERS)
    settings.max_viewers = g_value_get_uint(value);
  else if (!camcast::set_ice_property(&settings.peer, prop_id, PROP_ICE, value))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  resource_of(object).set_settings(settings);
  GST_OBJECT_UNLOCK(object);
}

static void gst_whep_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec) {
  const WhepResource::Settings settings = resource_of(object).settings();
  if (prop_id == PROP_MAX_VIEWERS)
    g_value_set_uint(value, settings.max_viewers);
  else if (!camcast::get_ice_property(settings.peer, prop_id, PROP_ICE, value))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
}

static void gst_whep_sink_init(GstWhepSink *sink) {
  GstServingSink *ws = GST_SERVING_SINK(sink);
  sink->resource = new std::shared_ptr<WhepResource>(std::make_shared<WhepResource>(
      [ws](size_t rung) { gst_serving_sink_request_rung_keyframe(ws, guint(rung)); }));
  gst_serving_sink_set_resource(ws, sink->resource->get());
}

static void gst_whep_sink_finalize(GObject *object) {
  delete GST_WHEP_SINK(object)->resource;
  G_OBJECT_CLASS(gst_whep_sink_parent_class)->finalize(object);
}

static void install_properties(GObjectClass *object_class) {
  const auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      object_class, PROP_MAX_VIEWERS,
      g_param_spec_uint("max-viewers", "Max viewers",
                        "WebRTC viewers at once, offers still connecting included (each costs "
                        "its own encryption and packetizing); past it a new offer takes the "
                        "place of the oldest one not connected, or is answered 503",
                        1, 1000, WhepResource::kDefaultMaxViewers, flags));
  camcast::install_ice_properties(object_class, PROP_ICE);
}

static void gst_whep_sink_class_init(GstWhepSinkClass *klass) {
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstServingSinkClass *ws_class = GST_SERVING_SINK_CLASS(klass);
  object_class->set_property = gst_whep_sink_set_property;
  object_class->get_property = gst_whep_sink_get_property;
  object_class->finalize = gst_whep_sink_finalize;
  element_class->change_state = gst_whep_sink_change_state;
  install_properties(object_class);

  ws_class->default_path = "/webrtc";
  ws_class->page = "/camcast/web/player.html";
  ws_class->websocket = FALSE;
  ws_class->caps_changed = gst_whep_sink_caps_changed;
  ws_class->handle_buffer = gst_whep_sink_handle_buffer;
  ws_class->serve_http = gst_whep_sink_serve_http;
  ws_class->audio_caps_changed = gst_whep_sink_audio_caps_changed;
  ws_class->handle_audio = gst_whep_sink_handle_audio;
  ws_class->audio_flushed = gst_whep_sink_audio_flushed;
  static GstStaticPadTemplate audio_template =
      GST_STATIC_PAD_TEMPLATE("audio", GST_PAD_SINK, GST_PAD_REQUEST,
                              GST_STATIC_CAPS("audio/x-opus, channel-mapping-family=(int)0"));
  gst_serving_sink_class_add_audio_input(ws_class, &audio_template);
  ws_class->rung_caps_changed = gst_whep_sink_rung_caps_changed;
  ws_class->handle_rung = gst_whep_sink_handle_rung;
  static GstStaticPadTemplate rung_template = GST_STATIC_PAD_TEMPLATE(
      "rung_%u", GST_PAD_SINK, GST_PAD_REQUEST,
      GST_STATIC_CAPS("video/x-h264, stream-format = (string) { avc, byte-stream }, "
                      "alignment = (string) au"));
  gst_serving_sink_class_add_rung_inputs(ws_class, &rung_template);

  static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
      "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
      GST_STATIC_CAPS("video/x-h264, stream-format = (string) { avc, byte-stream }, "
                      "alignment = (string) au"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(
      element_class, "H.264 and Opus to WebRTC viewers (WHEP)", "Sink/Network",
      "Serves H.264 over WebRTC to browsers and WHEP players, each viewer a webrtcbin of its "
      "own fed one encode, with a player page; its audio pad (on request: whepsink name=rtc "
      "... ! rtc.audio) takes Opus for the sound on the same session; its rung_N pads (on "
      "request) smaller encodes, a ladder each viewer moves along as its link allows",
      "camcast developers");
}
