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
 * two a second). A viewer whose connection fails, that does not connect within 30 s, or that
 * sends nothing back (RTCP) for 10 s — its machine or its link gone, no DELETE said — is freed.
 * Over UDP a viewer on lossy Wi-Fi loses a frame, not the whole stream's timing; NACK and RTX
 * resend what was lost when the viewer offers them.
 *
 * Its `audio` pad (on request: `whepsink name=rtc … ! rtc.audio`) takes Opus (`opusenc`): a
 * viewer whose offer takes Opus gets the sound on the same session, in step with the picture.
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
#include "whepsink.h"

#include "formats/sdp_offer.h"
#include "ice_properties.h"
#include "net/client.h"
#include "webrtc/peer.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(gst_whep_sink_debug);
#define GST_CAT_DEFAULT gst_whep_sink_debug

using camcast::ClientStatus;
using camcast::PeerSettings;
using camcast::WebRtcPeer;

namespace {

constexpr guint kDefaultMaxViewers = 10;
// An SDP offer is a few kB; one with many candidates and codecs stays well under this.
constexpr guint kMaxOfferBytes = 32 * 1024;
// The answer waits this long for ICE candidates (STUN and TURN ones) before going with those it
// has; a viewer that has not connected this long after its offer is freed.
constexpr gint64 kAnswerDeadlineUs = 5 * G_USEC_PER_SEC;
constexpr gint64 kConnectDeadlineUs = 30 * G_USEC_PER_SEC;
// A connected viewer that sends no RTCP this long has gone (browsers report every second or so):
// its machine died or its link did, and nobody said DELETE.
constexpr gint64 kSilenceUs = 10 * G_USEC_PER_SEC;

enum { PROP_0, PROP_MAX_VIEWERS, PROP_ICE };

struct Session {
  guint64 id;
  std::shared_ptr<WebRtcPeer> peer;
  gint64 started;        // monotonic µs
  bool counted = false;  // connected, and counted as a viewer (client-added)
};

// A POST waiting for its answer (server thread).
struct Pending {
  GstWhepSink *sink;       // a reference
  SoupServerMessage *msg;  // a reference
  std::string key;
  std::string location;
  WebRtcPeer::Outcome outcome = WebRtcPeer::Outcome::Failed;
  std::string sdp_or_why;
  bool finished = false;  // the client went away meanwhile
};

}  // namespace

struct WhepSinkPrivate {
  std::mutex lock;  // everything below
  GstCaps *caps = nullptr;
  GstCaps *audio_caps = nullptr;  // Opus from the audio pad, if any
  std::string profile;  // of the stream ("constrained-baseline"): the offer's format must say it
  PeerSettings settings;
  guint max_viewers = kDefaultMaxViewers;
  std::map<std::string, Session> sessions;  // by the secret key in its Location
  guint64 next_id = 1;
};

struct _GstWhepSink {
  GstWsSink parent;
  WhepSinkPrivate *priv;
};

// The viewers' peers now, to feed outside the lock. Under the lock.
static std::vector<std::shared_ptr<WebRtcPeer>> peers_locked(WhepSinkPrivate *priv) {
  std::vector<std::shared_ptr<WebRtcPeer>> peers;
  for (auto &[key, session] : priv->sessions)
    peers.push_back(session.peer);
  return peers;
}

G_DEFINE_TYPE_WITH_CODE(GstWhepSink, gst_whep_sink, GST_TYPE_WS_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_whep_sink_debug, "whepsink", 0,
                                                "camcast WebRTC (WHEP) sink"));
GST_ELEMENT_REGISTER_DEFINE(whepsink, "whepsink", GST_RANK_NONE, GST_TYPE_WHEP_SINK);

static void respond(SoupServerMessage *msg, guint status, const std::string &text,
                    const char *type = "text/plain; charset=utf-8") {
  // WHEP players on other sites read the answer and its Location (their credential is a bearer
  // token, never a cookie, so any origin may).
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
  soup_message_headers_replace(h, "Access-Control-Expose-Headers", "Location");
  gst_ws_sink_respond(msg, status, type, text.data(), text.size());
}

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

static GstFlowReturn gst_whep_sink_handle_buffer(GstWsSink *ws, GstBuffer *buffer) {
  WhepSinkPrivate *priv = GST_WHEP_SINK(ws)->priv;
  std::vector<std::shared_ptr<WebRtcPeer>> peers;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    peers = peers_locked(priv);
  }
  const bool keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  for (auto &peer : peers)
    peer->push(buffer, keyframe);
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

/* ---- WHEP ---- */

// Ends a session (server thread), its viewer told as `status`.
static bool end_session(GstWhepSink *sink, const std::string &key, ClientStatus status) {
  WhepSinkPrivate *priv = sink->priv;
  Session session;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    auto it = priv->sessions.find(key);
    if (it == priv->sessions.end())
      return false;
    session = it->second;
    priv->sessions.erase(it);
  }
  GST_INFO_OBJECT(sink, "viewer %" G_GUINT64_FORMAT " ends (%s)", session.id,
                  camcast::client_status_nick(status));
  if (session.counted)
    gst_ws_sink_viewer_removed(GST_WS_SINK(sink), session.id, gint(status));
  session.peer.reset();  // its pipeline stops here
  return true;
}

// The answer, or why there is none, back on the server thread.
static gboolean deliver_answer(gpointer data) {
  auto *p = static_cast<Pending *>(data);
  GstWhepSink *sink = p->sink;
  const bool ok = p->outcome == WebRtcPeer::Outcome::Described;
  bool known;
  {
    std::lock_guard<std::mutex> lk(sink->priv->lock);
    auto it = sink->priv->sessions.find(p->key);
    known = it != sink->priv->sessions.end();
  }
  if (!p->finished) {
    if (ok && known) {
      soup_message_headers_replace(soup_server_message_get_response_headers(p->msg), "Location",
                                   p->location.c_str());
      respond(p->msg, SOUP_STATUS_CREATED, p->sdp_or_why, "application/sdp");
    } else if (p->outcome == WebRtcPeer::Outcome::NoCodec) {
      respond(p->msg, SOUP_STATUS_NOT_ACCEPTABLE, p->sdp_or_why + "\n");
    } else {
      respond(p->msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
              (known ? p->sdp_or_why : std::string("the session ended")) + "\n");
    }
    soup_server_message_unpause(p->msg);
  }
  if (known && (!ok || p->finished))
    end_session(sink, p->key, ClientStatus::Error);
  return G_SOURCE_REMOVE;
}

static void free_pending(gpointer data) {
  auto *p = static_cast<Pending *>(data);
  g_signal_handlers_disconnect_by_data(p->msg, p);
  g_object_unref(p->msg);
  gst_object_unref(p->sink);
  delete p;
}

// A session's name in its Location: 128 random bits, so that nobody ends another's session.
static std::string random_key() {
  char key[33];
  for (int i = 0; i < 4; i++)
    g_snprintf(key + 8 * i, 9, "%08x", g_random_int());
  return key;
}

static void gst_whep_sink_tick(GstWsSink *ws, gint64 now);

static void offer(GstWhepSink *sink, SoupServerMessage *msg) {
  WhepSinkPrivate *priv = sink->priv;
  const char *type =
      soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr);
  if (!type || g_ascii_strcasecmp(type, "application/sdp") != 0) {
    respond(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "a WHEP offer is application/sdp\n");
    return;
  }
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  const std::string sdp(body->data ? body->data : "", size_t(body->length));
  std::string profile;
  GstCaps *caps = nullptr, *audio_caps = nullptr;
  PeerSettings settings;
  guint full = 0;  // the viewer limit, when it is reached
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    profile = priv->profile;
    if (priv->caps)
      caps = gst_caps_ref(priv->caps);
    if (priv->audio_caps)
      audio_caps = gst_caps_ref(priv->audio_caps);
    settings = priv->settings;
    if (priv->sessions.size() >= priv->max_viewers)
      full = priv->max_viewers;
  }
  int pt = -1;
  std::string why;
  const auto check = camcast::sdp::choose_h264(sdp, profile, &pt, &why);
  if (check != camcast::sdp::Offer::Ok || full || !caps) {
    if (check == camcast::sdp::Offer::Malformed) {
      respond(msg, SOUP_STATUS_BAD_REQUEST, why + "\n");
    } else if (check == camcast::sdp::Offer::NoH264) {
      respond(msg, SOUP_STATUS_NOT_ACCEPTABLE, why + "\n");
    } else {
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After",
                                   "5");
      respond(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
              full ? "this camera has its " + std::to_string(full) + " WebRTC viewers\n"
                   : std::string("the video has not started yet\n"));
    }
    gst_clear_caps(&caps);
    gst_clear_caps(&audio_caps);
    return;
  }
  GstWsSink *ws = GST_WS_SINK(sink);
  // A viewer that connects is counted (and gets its keyframe) at once, not at the next tick.
  auto peer = std::make_shared<WebRtcPeer>(
      caps, pt, settings, [ws] { gst_ws_sink_request_keyframe(ws); },
      [ws] {
        gst_ws_sink_invoke(
            ws,
            [](gpointer data) {
              gst_whep_sink_tick(GST_WS_SINK(data), g_get_monotonic_time());
              return G_SOURCE_REMOVE;
            },
            gst_object_ref(ws), gst_object_unref);
      });
  gst_caps_unref(caps);
  // The sound, to a viewer that takes Opus.
  const int opus_pt = audio_caps ? camcast::sdp::choose_opus(sdp) : -1;
  if (opus_pt >= 0)
    peer->add_audio(audio_caps, opus_pt);
  gst_clear_caps(&audio_caps);
  auto *p = new Pending{GST_WHEP_SINK(gst_object_ref(sink)), SOUP_SERVER_MESSAGE(g_object_ref(msg)),
                        random_key()};
  p->location =
      std::string(g_uri_get_path(soup_server_message_get_uri(msg))) + "/session/" + p->key;
  g_signal_connect(msg, "finished", G_CALLBACK(+[](SoupServerMessage *, gpointer data) {
                     static_cast<Pending *>(data)->finished = true;
                   }),
                   p);
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    priv->sessions[p->key] = Session{priv->next_id++, peer, g_get_monotonic_time()};
  }
  soup_server_message_pause(msg);
  const bool started = peer->answer(
      sdp,
      [p](WebRtcPeer::Outcome outcome, const std::string &text) {
        p->outcome = outcome;
        p->sdp_or_why = text;
        gst_ws_sink_invoke(GST_WS_SINK(p->sink), deliver_answer, p, free_pending);
      },
      &why);
  if (!started) {
    p->sdp_or_why = why;
    gst_ws_sink_invoke(GST_WS_SINK(p->sink), deliver_answer, p, free_pending);
  }
}

static gboolean gst_whep_sink_serve_http(GstWsSink *ws, SoupServerMessage *msg, const char *rest) {
  GstWhepSink *sink = GST_WHEP_SINK(ws);
  const char *method = soup_server_message_get_method(msg);
  const std::string r(rest);
  const bool session = g_str_has_prefix(rest, "/session/");
  if (method == SOUP_METHOD_OPTIONS) {
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "Allow", session ? "DELETE, OPTIONS" : "GET, POST, OPTIONS");
    soup_message_headers_replace(h, "Accept-Post", "application/sdp");
    soup_message_headers_replace(h, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    soup_message_headers_replace(h, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    respond(msg, SOUP_STATUS_NO_CONTENT, "");
    return TRUE;
  }
  if (method == SOUP_METHOD_POST && r.empty()) {
    offer(sink, msg);
    return TRUE;
  }
  if (session && (method == SOUP_METHOD_DELETE || g_str_equal(method, "PATCH"))) {
    const std::string key = r.substr(strlen("/session/"));
    bool known;
    {
      std::lock_guard<std::mutex> lk(sink->priv->lock);
      known = sink->priv->sessions.count(key) > 0;
    }
    if (!known) {
      respond(msg, SOUP_STATUS_NOT_FOUND, "no such session (it ended, or never was)\n");
    } else if (g_str_equal(method, "PATCH")) {
      // Trickle ICE is not taken: the answer carried every candidate.
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                   "DELETE, OPTIONS");
      respond(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "this server takes no trickled candidates\n");
    } else {
      end_session(sink, key, ClientStatus::Closed);
      respond(msg, SOUP_STATUS_OK, "");
    }
    return TRUE;
  }
  if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
    respond(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "not here\n");
    return TRUE;
  }
  // The player page, with its WebRTC backend unless another is asked for.
  GUri *uri = soup_server_message_get_uri(msg);
  const char *query = g_uri_get_query(uri);
  if (r.empty() && (!query || !strstr(query, "backend="))) {
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
static void gst_whep_sink_tick(GstWsSink *ws, gint64 now) {
  GstWhepSink *sink = GST_WHEP_SINK(ws);
  std::vector<std::pair<std::string, ClientStatus>> ended;
  std::vector<std::shared_ptr<WebRtcPeer>> late;
  std::vector<guint64> connected;
  {
    std::lock_guard<std::mutex> lk(sink->priv->lock);
    for (auto &[key, s] : sink->priv->sessions) {
      const auto state = s.peer->state();
      if (state == WebRtcPeer::State::Connected && !s.counted) {
        s.counted = true;
        connected.push_back(s.id);
      }
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
  for (guint64 id : connected)
    gst_ws_sink_viewer_added(ws, id);
  for (auto &peer : late)
    peer->describe_now();
  for (auto &[key, status] : ended)
    end_session(sink, key, status);
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
      end_session(sink, key, ClientStatus::Removed);
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
  delete priv;
  G_OBJECT_CLASS(gst_whep_sink_parent_class)->finalize(object);
}

static void install_properties(GObjectClass *object_class) {
  const auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      object_class, PROP_MAX_VIEWERS,
      g_param_spec_uint("max-viewers", "Max viewers",
                        "WebRTC viewers at once; an offer past them is answered 503 (each "
                        "viewer costs its own encryption and packetizing)",
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

  static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
      "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
      GST_STATIC_CAPS("video/x-h264, stream-format = (string) { avc, byte-stream }, "
                      "alignment = (string) au"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(
      element_class, "H.264 and Opus to WebRTC viewers (WHEP)", "Sink/Network",
      "Serves H.264 over WebRTC to browsers and WHEP players, each viewer a webrtcbin of its "
      "own fed one encode, with a player page; its audio pad (on request: whepsink name=rtc "
      "... ! rtc.audio) takes Opus for the sound on the same session",
      "camcast developers");
}
