// whepsink's WHEP resource (the IETF WISH working group's WebRTC-HTTP Egress Protocol): an offer
// POSTed to the sink's path becomes a session with a secret Location, answered when its peer has
// described itself; DELETE ends it. Runs on the server thread.
#include "access/auth.h"
#include "formats/sdp_offer.h"
#include "net/connections.h"
#include "whepsink_private.h"

#define GST_CAT_DEFAULT gst_whep_sink_debug

using camcast::ClientStatus;
using camcast::PeerSettings;
using camcast::WebRtcPeer;

static void respond(SoupServerMessage *msg, guint status, const std::string &text,
                    const char *type = "text/plain; charset=utf-8") {
  // WHEP players on other sites read the answer and its Location (their credential is a bearer
  // token, never a cookie, so any origin may).
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
  soup_message_headers_replace(h, "Access-Control-Expose-Headers", "Location");
  gst_ws_sink_respond(msg, status, type, text.data(), text.size());
}

bool whep_end_session(GstWhepSink *sink, const std::string &key, ClientStatus status) {
  WhepSinkPrivate *priv = sink->priv;
  WhepSession session;
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
  auto *p = static_cast<WhepPending *>(data);
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
    whep_end_session(sink, p->key, ClientStatus::Error);
  return G_SOURCE_REMOVE;
}

static void free_pending(gpointer data) {
  auto *p = static_cast<WhepPending *>(data);
  g_signal_handlers_disconnect_by_data(p->msg, p);
  g_object_unref(p->msg);
  gst_object_unref(p->sink);
  delete p;
}

// Offers from one address not connected yet at most: one address cannot hold every place.
constexpr size_t kMaxUnconnectedPerAddress = 3;

// Why an offer cannot be taken now (empty: it can), under the lock. An offer is a place among
// max-viewers; past them, the oldest session that has not connected yet makes way (`evict`), so
// offers that never connect cannot lock WebRTC for everyone: only connected viewers fill it.
static std::string no_room_locked(WhepSinkPrivate *priv, const std::string &address,
                                  std::string *evict) {
  size_t from_address = 0;
  const WhepSession *oldest = nullptr;
  const std::string *oldest_key = nullptr;
  for (auto &[key, s] : priv->sessions) {
    if (s.peer->state() == WebRtcPeer::State::Connected)
      continue;
    from_address += s.address == address;
    if (!oldest || s.started < oldest->started)
      oldest = &s, oldest_key = &key;
  }
  if (from_address >= kMaxUnconnectedPerAddress)
    return "this address has " + std::to_string(from_address) + " WebRTC offers still connecting";
  if (priv->sessions.size() < priv->max_viewers)
    return "";
  if (!oldest)
    return "this camera has its " + std::to_string(priv->max_viewers) + " WebRTC viewers";
  *evict = *oldest_key;
  return "";
}

// Answers an offer that cannot be taken: malformed, without H.264 we can send, no room (`busy`,
// why), or no video yet.
static void refuse(SoupServerMessage *msg, camcast::sdp::Offer check, const std::string &why,
                   const std::string &busy) {
  if (check == camcast::sdp::Offer::Malformed) {
    respond(msg, SOUP_STATUS_BAD_REQUEST, why + "\n");
  } else if (check == camcast::sdp::Offer::NoH264) {
    respond(msg, SOUP_STATUS_NOT_ACCEPTABLE, why + "\n");
  } else {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "5");
    respond(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
            (busy.empty() ? std::string("the video has not started yet") : busy) + "\n");
  }
}

// A viewer's peer: it asks the stream for a keyframe, and a viewer that connects is counted at
// once, not at the next tick.
static std::shared_ptr<WebRtcPeer> new_peer(GstWsSink *ws, GstCaps *caps, int pt,
                                            const PeerSettings &settings) {
  return std::make_shared<WebRtcPeer>(
      caps, pt, settings, [ws](size_t rung) { gst_ws_sink_request_rung_keyframe(ws, rung); },
      [ws] {
        gst_ws_sink_invoke(
            ws,
            [](gpointer data) {
              gst_whep_sink_tick(GST_WS_SINK(data), g_get_monotonic_time());
              return G_SOURCE_REMOVE;
            },
            gst_object_ref(ws), gst_object_unref);
      });
}

// `?rung=N` on the offer: the viewer stays on rung N of the ladder (the player's ?rung=N), kept
// to the rungs there are; -1: it moves by itself.
static int pinned_rung(SoupServerMessage *msg, guint n_rungs) {
  const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
  GHashTable *params =
      query ? g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, nullptr) : nullptr;
  const char *value =
      params ? static_cast<const char *>(g_hash_table_lookup(params, "rung")) : nullptr;
  guint64 rung = 0;
  const bool pinned = value && g_ascii_string_to_unsigned(value, 10, 0, 255, &rung, nullptr);
  if (params)
    g_hash_table_unref(params);
  return pinned ? int(std::min<guint64>(rung, n_rungs - 1)) : -1;
}

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
  camcast::Connection *connection = camcast::Connection::of(msg);
  const std::string address = connection ? connection->peer() : "";
  std::string busy, evict;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    profile = priv->profile;
    if (priv->caps)
      caps = gst_caps_ref(priv->caps);
    if (priv->audio_caps)
      audio_caps = gst_caps_ref(priv->audio_caps);
    settings = priv->settings;
    busy = no_room_locked(priv, address, &evict);
  }
  int pt = -1;
  std::string why;
  const auto check = camcast::sdp::choose_h264(sdp, profile, &pt, &why);
  if (check != camcast::sdp::Offer::Ok || !busy.empty() || !caps) {
    refuse(msg, check, why, busy);
    gst_clear_caps(&caps);
    gst_clear_caps(&audio_caps);
    return;
  }
  if (!evict.empty()) {
    GST_INFO_OBJECT(sink, "a new offer takes the place of one that has not connected");
    whep_end_session(sink, evict, ClientStatus::Removed);
  }
  auto peer = new_peer(GST_WS_SINK(sink), caps, pt, settings);
  gst_caps_unref(caps);
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    for (size_t r = 1; r < priv->rung_caps.size(); r++)
      if (priv->rung_caps[r])
        peer->set_caps(priv->rung_caps[r], r);
  }
  peer->pin(pinned_rung(msg, gst_ws_sink_n_rungs(GST_WS_SINK(sink))));
  // The sound, to a viewer that takes Opus.
  const int opus_pt = audio_caps ? camcast::sdp::choose_opus(sdp) : -1;
  if (opus_pt >= 0)
    peer->add_audio(audio_caps, opus_pt);
  gst_clear_caps(&audio_caps);
  auto *p =
      new WhepPending{GST_WHEP_SINK(gst_object_ref(sink)), SOUP_SERVER_MESSAGE(g_object_ref(msg)),
                      // 128 secret bits: nobody ends another's session
                      camcast::auth::random_hex(16)};
  p->location =
      std::string(g_uri_get_path(soup_server_message_get_uri(msg))) + "/session/" + p->key;
  g_signal_connect(msg, "finished", G_CALLBACK(+[](SoupServerMessage *, gpointer data) {
                     static_cast<WhepPending *>(data)->finished = true;
                   }),
                   p);
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    priv->sessions[p->key] = WhepSession{priv->next_id++, peer, g_get_monotonic_time(), address};
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

bool whep_serve(GstWhepSink *sink, SoupServerMessage *msg, const char *rest) {
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
    return true;
  }
  if (method == SOUP_METHOD_POST && r.empty()) {
    offer(sink, msg);
    return true;
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
      whep_end_session(sink, key, ClientStatus::Closed);
      respond(msg, SOUP_STATUS_OK, "");
    }
    return true;
  }
  if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
    respond(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "not here\n");
    return true;
  }
  return false;
}
