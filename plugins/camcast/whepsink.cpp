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
 * `client-added`/`client-removed`, `/api/streams` and one server per port come from #GstWsSink.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse ! \
 *     whepsink port=8080
 * ]| Open http://HOST:8080/webrtc, or point a WHEP player at it.
 */
#include "whepsink_private.h"

#include "ice_properties.h"

GST_DEBUG_CATEGORY(gst_whep_sink_debug);
#define GST_CAT_DEFAULT gst_whep_sink_debug

using camcast::ClientStatus;
using camcast::WebRtcPeer;

enum { PROP_0, PROP_MAX_VIEWERS, PROP_ICE };

namespace {

// An SDP offer is a few kB; one with many candidates and codecs stays well under this.
constexpr guint kMaxOfferBytes = 32 * 1024;
// The answer waits this long for ICE candidates (STUN and TURN ones) before going with those it
// has; a viewer that has not connected this long after its offer is freed.
constexpr gint64 kAnswerDeadlineUs = 5 * G_USEC_PER_SEC;
// Browsers connect within a second or two on a LAN, a few through TURN.
constexpr gint64 kConnectDeadlineUs = 15 * G_USEC_PER_SEC;
// A connected viewer that sends no RTCP this long has gone (browsers report every second or so):
// its machine died or its link did, and nobody said DELETE.
constexpr gint64 kSilenceUs = 10 * G_USEC_PER_SEC;

}  // namespace

G_DEFINE_TYPE_WITH_CODE(GstWhepSink, gst_whep_sink, GST_TYPE_WS_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_whep_sink_debug, "whepsink", 0,
                                                "camcast WebRTC (WHEP) sink"));
GST_ELEMENT_REGISTER_DEFINE(whepsink, "whepsink", GST_RANK_NONE, GST_TYPE_WHEP_SINK);

/* ---- the stream ---- */

static gboolean gst_whep_sink_caps_changed(GstWsSink *ws, GstCaps *caps) {
  WhepSinkPrivate *priv = GST_WHEP_SINK(ws)->priv;
  const char *profile = gst_structure_get_string(gst_caps_get_structure(caps, 0), "profile");
  std::vector<std::shared_ptr<WebRtcPeer>> peers;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    gst_caps_replace(&priv->caps, caps);
    priv->profile = profile ? profile : "";
    peers = peers_locked(priv);
  }
  for (auto &peer : peers)
    peer->set_caps(caps);
  return TRUE;
}

// One access unit of rung `rung` to every viewer (each takes the rung it is on).
static void push_rung(GstWhepSink *sink, guint rung, GstBuffer *buffer) {
  WhepSinkPrivate *priv = sink->priv;
  std::vector<std::shared_ptr<WebRtcPeer>> peers;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    peers = peers_locked(priv);
  }
  if (rung < WhepSinkPrivate::kMaxRungs)
    priv->rung_bytes[rung] += gst_buffer_get_size(buffer);
  const bool keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  for (auto &peer : peers)
    peer->push(buffer, keyframe, rung);
}

static GstFlowReturn gst_whep_sink_handle_buffer(GstWsSink *ws, GstBuffer *buffer) {
  push_rung(GST_WHEP_SINK(ws), 0, buffer);
  return GST_FLOW_OK;
}

static gboolean gst_whep_sink_rung_caps_changed(GstWsSink *ws, guint rung, GstCaps *caps) {
  WhepSinkPrivate *priv = GST_WHEP_SINK(ws)->priv;
  if (rung >= WhepSinkPrivate::kMaxRungs)
    return FALSE;
  std::vector<std::shared_ptr<WebRtcPeer>> peers;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    gst_caps_replace(&priv->rung_caps[rung], caps);
    peers = peers_locked(priv);
  }
  for (auto &peer : peers)
    peer->set_caps(caps, rung);
  return TRUE;
}

static GstFlowReturn gst_whep_sink_handle_rung(GstWsSink *ws, guint rung, GstBuffer *buffer,
                                               const GstSegment *) {
  push_rung(GST_WHEP_SINK(ws), rung, buffer);
  gst_buffer_unref(buffer);
  return GST_FLOW_OK;
}

static gboolean gst_whep_sink_audio_caps_changed(GstWsSink *ws, GstCaps *caps) {
  WhepSinkPrivate *priv = GST_WHEP_SINK(ws)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  gst_caps_replace(&priv->audio_caps, caps);
  return TRUE;
}

static GstFlowReturn gst_whep_sink_handle_audio(GstWsSink *ws, GstBuffer *buffer,
                                                const GstSegment *) {
  WhepSinkPrivate *priv = GST_WHEP_SINK(ws)->priv;
  std::vector<std::shared_ptr<WebRtcPeer>> peers;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    peers = peers_locked(priv);
  }
  for (auto &peer : peers)
    peer->push_audio(buffer);
  gst_buffer_unref(buffer);
  return GST_FLOW_OK;
}

static void gst_whep_sink_audio_flushed(GstWsSink *ws, gboolean gone) {
  WhepSinkPrivate *priv = GST_WHEP_SINK(ws)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  if (gone)
    gst_clear_caps(&priv->audio_caps);
}

// WHEP's methods go to the resource; GET serves the player page, with its WebRTC backend unless
// another is asked for.
static gboolean gst_whep_sink_serve_http(GstWsSink *ws, SoupServerMessage *msg, const char *rest) {
  if (whep_serve(GST_WHEP_SINK(ws), msg, rest))
    return TRUE;
  GUri *uri = soup_server_message_get_uri(msg);
  const char *query = g_uri_get_query(uri);
  if (!*rest && (!query || !strstr(query, "backend="))) {
    const std::string to = std::string(g_uri_get_path(uri)) + "?backend=webrtc" +
                           (query ? std::string("&") + query : "");
    soup_server_message_set_redirect(msg, SOUP_STATUS_FOUND, to.c_str());
    return TRUE;
  }
  return GST_WS_SINK_CLASS(gst_whep_sink_parent_class)->serve_http(ws, msg, rest);
}

// Counts viewers once connected (a keyframe is asked for then: one sent before would be lost),
// frees those whose connection failed, never came or fell silent, and answers offers still
// gathering candidates at their deadline. The server's tick, and at once whenever a peer connects
// or fails.
void gst_whep_sink_tick(GstWsSink *ws, gint64 now) {
  GstWhepSink *sink = GST_WHEP_SINK(ws);
  WhepSinkPrivate *priv = sink->priv;
  std::vector<std::pair<std::string, ClientStatus>> ended;
  std::vector<std::shared_ptr<WebRtcPeer>> late;
  std::vector<std::pair<guint64, std::shared_ptr<WebRtcPeer>>> connected, counted;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    for (auto &[key, s] : priv->sessions) {
      const auto state = s.peer->state();
      if (state == WebRtcPeer::State::Connected && !s.counted) {
        s.counted = true;
        connected.emplace_back(s.id, s.peer);
      }
      if (s.counted)
        counted.emplace_back(s.id, s.peer);
      if (state == WebRtcPeer::State::Failed)
        ended.emplace_back(key, ClientStatus::Error);
      else if (state != WebRtcPeer::State::Connected && now - s.started > kConnectDeadlineUs)
        ended.emplace_back(key, ClientStatus::Timeout);
      else if (state == WebRtcPeer::State::Connected && now - s.peer->last_heard() > kSilenceUs)
        ended.emplace_back(key, ClientStatus::Timeout);
      else if (state == WebRtcPeer::State::Describing && now - s.started > kAnswerDeadlineUs)
        late.push_back(s.peer);
    }
  }
  for (auto &[id, peer] : connected) {
    gst_ws_sink_viewer_added(ws, id);  // (a keyframe of the top rung)
    if (peer->rung() != 0)             // one pinned lower from the start
      gst_ws_sink_request_rung_keyframe(ws, guint(peer->rung()));
  }
  // The ladder: each rung's bitrate; each viewer moves by itself, on its receiver reports.
  const guint n_rungs = gst_ws_sink_n_rungs(ws);
  std::vector<uint64_t> bitrates(n_rungs);
  for (guint r = 0; r < n_rungs; r++)
    bitrates[r] = priv->meters[r].measure(now, priv->rung_bytes[r]);
  if (n_rungs > 1)
    gst_ws_sink_set_rung_bitrates(ws, bitrates);
  for (auto &[id, peer] : counted) {
    const int to = peer->choose_rung(bitrates, now);
    if (to >= 0)
      gst_ws_sink_request_rung_keyframe(ws, guint(to));
    camcast::ClientStats stats;
    stats.id = id;
    peer->fill_stats(&stats);
    gst_ws_sink_viewer_update(ws, stats, peer->next_rung());
  }
  for (auto &peer : late)
    peer->describe_now();
  for (auto &[key, status] : ended)
    whep_end_session(sink, key, status);
}

static GstStateChangeReturn gst_whep_sink_change_state(GstElement *element,
                                                       GstStateChange transition) {
  if (transition == GST_STATE_CHANGE_NULL_TO_READY)
    WebRtcPeer::prepare();  // the first viewer should not wait for the DTLS certificate (once)
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_whep_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    GstWhepSink *sink = GST_WHEP_SINK(element);
    std::vector<std::string> keys;
    {
      std::lock_guard<std::mutex> lk(sink->priv->lock);
      for (auto &[key, s] : sink->priv->sessions)
        keys.push_back(key);
    }
    for (const std::string &key : keys)
      whep_end_session(sink, key, ClientStatus::Removed);
  }
  return ret;
}

/* ---- GObject ---- */

static void gst_whep_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                       GParamSpec *pspec) {
  WhepSinkPrivate *priv = GST_WHEP_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  if (prop_id == PROP_MAX_VIEWERS)
    priv->max_viewers = g_value_get_uint(value);
  else if (!camcast::set_ice_property(&priv->settings, prop_id, PROP_ICE, value))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
}

static void gst_whep_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec) {
  WhepSinkPrivate *priv = GST_WHEP_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  if (prop_id == PROP_MAX_VIEWERS)
    g_value_set_uint(value, priv->max_viewers);
  else if (!camcast::get_ice_property(priv->settings, prop_id, PROP_ICE, value))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
}

static void gst_whep_sink_init(GstWhepSink *sink) {
  sink->priv = new WhepSinkPrivate();
}

static void gst_whep_sink_finalize(GObject *object) {
  WhepSinkPrivate *priv = GST_WHEP_SINK(object)->priv;
  gst_clear_caps(&priv->caps);
  gst_clear_caps(&priv->audio_caps);
  for (GstCaps *&caps : priv->rung_caps)
    gst_clear_caps(&caps);
  delete priv;
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
                        1, 1000, kDefaultMaxViewers, flags));
  camcast::install_ice_properties(object_class, PROP_ICE);
}

static void gst_whep_sink_class_init(GstWhepSinkClass *klass) {
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstWsSinkClass *ws_class = GST_WS_SINK_CLASS(klass);
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
  ws_class->methods = "POST, PATCH, DELETE, OPTIONS";
  ws_class->max_request_body = kMaxOfferBytes;
  ws_class->tick = gst_whep_sink_tick;
  ws_class->audio_caps_changed = gst_whep_sink_audio_caps_changed;
  ws_class->handle_audio = gst_whep_sink_handle_audio;
  ws_class->audio_flushed = gst_whep_sink_audio_flushed;
  static GstStaticPadTemplate audio_template =
      GST_STATIC_PAD_TEMPLATE("audio", GST_PAD_SINK, GST_PAD_REQUEST,
                              GST_STATIC_CAPS("audio/x-opus, channel-mapping-family=(int)0"));
  gst_ws_sink_class_add_audio_input(ws_class, &audio_template);
  ws_class->rung_caps_changed = gst_whep_sink_rung_caps_changed;
  ws_class->handle_rung = gst_whep_sink_handle_rung;
  static GstStaticPadTemplate rung_template = GST_STATIC_PAD_TEMPLATE(
      "rung_%u", GST_PAD_SINK, GST_PAD_REQUEST,
      GST_STATIC_CAPS("video/x-h264, stream-format = (string) { avc, byte-stream }, "
                      "alignment = (string) au"));
  gst_ws_sink_class_add_rung_inputs(ws_class, &rung_template);

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
