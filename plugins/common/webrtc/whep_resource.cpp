#include "webrtc/whep_resource.h"

#include "access/auth.h"
#include "net/connections.h"
#include "net/status_phrase.h"

#include <cstring>

GST_DEBUG_CATEGORY_STATIC(camcast_whep_debug);
#define GST_CAT_DEFAULT camcast_whep_debug

namespace camcast {

// A POST waiting for its answer (server thread).
struct WhepResource::Pending {
  SoupServerMessage *msg;  // a reference
  std::string location;
  bool finished = false;  // the client went away meanwhile
  gulong finished_handler = 0;
  ~Pending() {
    g_signal_handler_disconnect(msg, finished_handler);
    g_object_unref(msg);
  }
};

namespace {

void respond(SoupServerMessage *msg, guint status, const std::string &text,
             const char *type = "text/plain; charset=utf-8") {
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
  soup_message_headers_replace(h, "Access-Control-Expose-Headers", "Location");
  set_answer(msg, status, type, text);
}

// Answers an offer that cannot be taken: malformed, without H.264 we can send, no room (`busy`,
// why), or no video yet.
void refuse(SoupServerMessage *msg, sdp::Offer check, const std::string &why,
            const std::string &busy) {
  if (check == sdp::Offer::Malformed) {
    respond(msg, SOUP_STATUS_BAD_REQUEST, why + "\n");
  } else if (check == sdp::Offer::NoH264) {
    respond(msg, SOUP_STATUS_NOT_ACCEPTABLE, why + "\n");
  } else {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "5");
    respond(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
            (busy.empty() ? std::string("the video has not started yet") : busy) + "\n");
  }
}

}  // namespace

WhepResource::WhepResource(KeyframeFn keyframe_wanted)
    : keyframe_wanted_(std::move(keyframe_wanted)) {
  static gsize initialized = 0;
  if (g_once_init_enter(&initialized)) {
    GST_DEBUG_CATEGORY_INIT(camcast_whep_debug, "camcastwhep", 0, "camcast WHEP sessions");
    g_once_init_leave(&initialized, 1);
  }
}

WhepResource::~WhepResource() {
  sessions_.clear();  // their pipelines stop here
  for (GstCaps *&caps : caps_)
    gst_clear_caps(&caps);
  gst_clear_caps(&audio_caps_);
}

void WhepResource::set_settings(const Settings &settings) {
  std::lock_guard<std::mutex> lk(lock_);
  settings_ = settings;
}

WhepResource::Settings WhepResource::settings() const {
  std::lock_guard<std::mutex> lk(lock_);
  return settings_;
}

size_t WhepResource::n_sessions() const {
  std::lock_guard<std::mutex> lk(lock_);
  return sessions_.size();
}

size_t WhepResource::n_rungs_locked() const {
  size_t n = 1;
  for (size_t r = 1; r < kMaxRungs; r++)
    if (caps_[r])
      n = r + 1;
  return n;
}

std::vector<std::shared_ptr<WebRtcPeer>> WhepResource::peers() {
  std::lock_guard<std::mutex> lk(lock_);
  std::vector<std::shared_ptr<WebRtcPeer>> all;
  for (auto &[key, session] : sessions_)
    all.push_back(session.peer);
  return all;
}

/* ---- the stream ---- */

void WhepResource::set_caps(GstCaps *caps, size_t rung) {
  if (rung >= kMaxRungs)
    return;
  {
    std::lock_guard<std::mutex> lk(lock_);
    gst_caps_replace(&caps_[rung], caps);
    if (rung == 0) {
      const char *profile =
          caps ? gst_structure_get_string(gst_caps_get_structure(caps, 0), "profile") : nullptr;
      profile_ = profile ? profile : "";
    }
  }
  if (caps)
    for (auto &peer : peers())
      peer->set_caps(caps, rung);
}

void WhepResource::set_audio_caps(GstCaps *caps) {
  std::lock_guard<std::mutex> lk(lock_);
  gst_caps_replace(&audio_caps_, caps);
}

void WhepResource::push(GstBuffer *buffer, size_t rung) {
  if (rung >= kMaxRungs)
    return;
  rung_bytes_[rung] += gst_buffer_get_size(buffer);
  const bool keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  for (auto &peer : peers())
    peer->push(buffer, keyframe, rung);
}

void WhepResource::push_audio(GstBuffer *buffer) {
  for (auto &peer : peers())
    peer->push_audio(buffer);
}

/* ---- sessions (server thread) ---- */

void WhepResource::serving(Mount *mount) {
  if (!mount)
    end_sessions(ClientStatus::Removed);
  std::lock_guard<std::mutex> lk(lock_);
  mount_ = mount;
}

void WhepResource::on_server(std::function<void()> fn) {
  std::lock_guard<std::mutex> lk(lock_);
  if (mount_)  // cleared (on the server thread, under the lock) before the mount stops serving
    mount_->invoke(std::move(fn));
}

bool WhepResource::end_session(const std::string &key, ClientStatus status) {
  Session session;
  Mount *mount;
  std::unique_ptr<Pending> unanswered;
  {
    std::lock_guard<std::mutex> lk(lock_);
    auto it = sessions_.find(key);
    if (it == sessions_.end())
      return false;
    session = std::move(it->second);
    sessions_.erase(it);
    mount = mount_;
    if (auto p = pending_.find(key); p != pending_.end()) {
      unanswered = std::move(p->second);
      pending_.erase(p);
    }
  }
  if (unanswered && !unanswered->finished) {
    respond(unanswered->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the session ended\n");
    soup_server_message_unpause(unanswered->msg);
  }
  GST_INFO("a WebRTC session ends (%s)", client_status_nick(status));
  if (session.viewer && mount)
    mount->remove_viewer(session.viewer, status);
  session.peer.reset();  // its pipeline stops here
  return true;
}

void WhepResource::end_all() {
  Mount *mount;
  {
    std::lock_guard<std::mutex> lk(lock_);
    mount = mount_;  // alive while it serves through us: its owner stops that after this
  }
  if (!mount || !mount->run_on_server([this] { end_sessions(ClientStatus::Removed); }))
    end_sessions(ClientStatus::Removed);
}

void WhepResource::end_sessions(ClientStatus status) {
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> lk(lock_);
    for (auto &[key, session] : sessions_)
      keys.push_back(key);
  }
  for (const std::string &key : keys)
    end_session(key, status);
}

void WhepResource::deliver(const std::string &key, WebRtcPeer::Outcome outcome,
                           const std::string &text) {
  std::unique_ptr<Pending> p;
  {
    std::lock_guard<std::mutex> lk(lock_);
    auto it = pending_.find(key);
    if (it == pending_.end())
      return;  // its session ended first, and answered it
    p = std::move(it->second);
    pending_.erase(it);
  }
  const bool ok = outcome == WebRtcPeer::Outcome::Described;
  if (!p->finished) {
    if (ok) {
      soup_message_headers_replace(soup_server_message_get_response_headers(p->msg), "Location",
                                   p->location.c_str());
      respond(p->msg, SOUP_STATUS_CREATED, text, "application/sdp");
    } else if (outcome == WebRtcPeer::Outcome::NoCodec) {
      respond(p->msg, SOUP_STATUS_NOT_ACCEPTABLE, text + "\n");
    } else {
      respond(p->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, text + "\n");
    }
    soup_server_message_unpause(p->msg);
  }
  if (!ok || p->finished)
    end_session(key, ClientStatus::Error);
}

std::string WhepResource::no_room_locked(const std::string &address, std::string *evict) const {
  size_t from_address = 0;
  const Session *oldest = nullptr;
  const std::string *oldest_key = nullptr;
  for (auto &[key, s] : sessions_) {
    if (s.peer->state() == WebRtcPeer::State::Connected)
      continue;
    from_address += s.address == address;
    if (!oldest || s.started < oldest->started)
      oldest = &s, oldest_key = &key;
  }
  if (from_address >= kMaxConnectingPerAddress)
    return "this address has " + std::to_string(from_address) + " WebRTC offers still connecting";
  if (sessions_.size() < settings_.max_viewers)
    return "";
  if (!oldest)
    return "this camera has its " + std::to_string(settings_.max_viewers) + " WebRTC viewers";
  *evict = *oldest_key;
  return "";
}

// A viewer's peer: it asks its rung's encoder for keyframes, and one that connects or fails is
// seen at once, not at the next tick.
std::shared_ptr<WebRtcPeer> WhepResource::new_peer(GstCaps *caps, int pt,
                                                   const PeerSettings &settings) {
  std::weak_ptr<WhepResource> weak = weak_from_this();
  return std::make_shared<WebRtcPeer>(caps, pt, settings, keyframe_wanted_, [weak] {
    if (auto self = weak.lock())
      self->on_server([weak] {
        if (auto resource = weak.lock())
          resource->tick(g_get_monotonic_time());
      });
  });
}

void WhepResource::offer(SoupServerMessage *msg) {
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
  Connection *connection = Connection::of(msg);
  const std::string address = connection ? connection->peer() : "";
  std::string busy, evict;
  size_t n_rungs;
  {
    std::lock_guard<std::mutex> lk(lock_);
    profile = profile_;
    if (caps_[0])
      caps = gst_caps_ref(caps_[0]);
    if (audio_caps_)
      audio_caps = gst_caps_ref(audio_caps_);
    settings = settings_.peer;
    busy = no_room_locked(address, &evict);
    n_rungs = n_rungs_locked();
  }
  int pt = -1;
  std::string why;
  const auto check = sdp::choose_h264(sdp, profile, &pt, &why);
  if (check != sdp::Offer::Ok || !busy.empty() || !caps) {
    refuse(msg, check, why, busy);
    gst_clear_caps(&caps);
    gst_clear_caps(&audio_caps);
    return;
  }
  if (!evict.empty()) {
    GST_INFO("a new offer takes the place of one that has not connected");
    end_session(evict, ClientStatus::Removed);
  }
  auto peer = new_peer(caps, pt, settings);
  gst_caps_unref(caps);
  {
    std::lock_guard<std::mutex> lk(lock_);
    for (size_t r = 1; r < kMaxRungs; r++)
      if (caps_[r])
        peer->set_caps(caps_[r], r);
  }
  // `?rung=N` on the offer: the viewer stays on rung N (kept to the rungs there are).
  const int pinned = pinned_rung(msg);
  peer->pin(pinned < 0 ? -1 : std::min(pinned, int(n_rungs) - 1));
  // The sound, to a viewer that takes Opus.
  const int opus_pt = audio_caps ? sdp::choose_opus(sdp) : -1;
  if (opus_pt >= 0)
    peer->add_audio(audio_caps, opus_pt);
  gst_clear_caps(&audio_caps);

  const std::string key = auth::random_hex(16);  // 128 secret bits: nobody ends another's session
  auto p = std::make_unique<Pending>();
  p->msg = SOUP_SERVER_MESSAGE(g_object_ref(msg));
  p->location = std::string(g_uri_get_path(soup_server_message_get_uri(msg))) + "/session/" + key;
  p->finished_handler =
      g_signal_connect(msg, "finished", G_CALLBACK(+[](SoupServerMessage *, gpointer data) {
                         static_cast<Pending *>(data)->finished = true;
                       }),
                       p.get());
  {
    std::lock_guard<std::mutex> lk(lock_);
    sessions_[key] = Session{peer, g_get_monotonic_time(), address};
    pending_[key] = std::move(p);
  }
  soup_server_message_pause(msg);
  const bool started = peer->answer(
      sdp,
      // (A weak reference: the peer keeps this, and the resource keeps the peer.)
      [key, weak = weak_from_this()](WebRtcPeer::Outcome outcome, const std::string &text) {
        if (auto self = weak.lock())
          self->on_server([key, outcome, text, weak] {
            if (auto resource = weak.lock())
              resource->deliver(key, outcome, text);
          });
      },
      &why);
  if (!started)
    deliver(key, WebRtcPeer::Outcome::Failed, why);
}

bool WhepResource::serve_http(SoupServerMessage *msg, std::string_view rest) {
  const char *method = soup_server_message_get_method(msg);
  const bool session = rest.substr(0, strlen("/session/")) == "/session/";
  if (method == SOUP_METHOD_OPTIONS) {
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "Allow", session ? "DELETE, OPTIONS" : "GET, POST, OPTIONS");
    soup_message_headers_replace(h, "Accept-Post", "application/sdp");
    soup_message_headers_replace(h, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    soup_message_headers_replace(h, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    respond(msg, SOUP_STATUS_NO_CONTENT, "");
    return true;
  }
  if (method == SOUP_METHOD_POST && rest.empty()) {
    offer(msg);
    return true;
  }
  if (session && (method == SOUP_METHOD_DELETE || g_str_equal(method, "PATCH"))) {
    const std::string key(rest.substr(strlen("/session/")));
    bool known;
    {
      std::lock_guard<std::mutex> lk(lock_);
      known = sessions_.count(key) > 0;
    }
    if (!known) {
      respond(msg, SOUP_STATUS_NOT_FOUND, "no such session (it ended, or never was)\n");
    } else if (g_str_equal(method, "PATCH")) {
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                   "DELETE, OPTIONS");
      respond(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "this server takes no trickled candidates\n");
    } else {
      end_session(key, ClientStatus::Closed);
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

goffset WhepResource::body_limit(std::string_view method, std::string_view) {
  return method == "POST" || method == "PATCH" || method == "DELETE" || method == "OPTIONS"
             ? kMaxOfferBytes
             : -1;
}

void WhepResource::tick(gint64 now) {
  std::vector<std::pair<std::string, ClientStatus>> ended;
  std::vector<std::shared_ptr<WebRtcPeer>> late;
  std::vector<std::pair<std::string, std::shared_ptr<WebRtcPeer>>> connected;
  std::vector<std::pair<uint64_t, std::shared_ptr<WebRtcPeer>>> counted;
  Mount *mount;
  size_t n_rungs;
  {
    std::lock_guard<std::mutex> lk(lock_);
    mount = mount_;
    n_rungs = n_rungs_locked();
    for (auto &[key, s] : sessions_) {
      const auto state = s.peer->state();
      if (state == WebRtcPeer::State::Connected && !s.viewer)
        connected.emplace_back(key, s.peer);
      else if (s.viewer)
        counted.emplace_back(s.viewer, s.peer);
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
  if (!mount)
    return;
  // Connected: a viewer from now (a keyframe is asked for now: one sent before would be lost).
  for (auto &[key, peer] : connected) {
    const uint64_t id = mount->add_viewer("webrtc");
    {
      std::lock_guard<std::mutex> lk(lock_);
      if (auto it = sessions_.find(key); it != sessions_.end())
        it->second.viewer = id;
    }
    counted.emplace_back(id, peer);
    if (peer->rung() != 0)  // one pinned lower from the start (the mount's owner asks for rung 0)
      keyframe_wanted_(peer->rung());
  }
  // The ladder: each rung's bitrate; each viewer moves by itself, on its receiver reports.
  bitrates_.assign(n_rungs, 0);
  for (size_t r = 0; r < n_rungs; r++)
    bitrates_[r] = meters_[r].measure(now, rung_bytes_[r]);
  for (auto &[id, peer] : counted) {
    const int to = peer->choose_rung(bitrates_, now);
    if (to >= 0)
      keyframe_wanted_(size_t(to));
    ClientStats stats;
    stats.id = id;
    peer->fill_stats(&stats);
    mount->update_viewer(stats, peer->next_rung());
  }
  for (auto &peer : late)
    peer->describe_now();
  for (auto &[key, status] : ended)
    end_session(key, status);
}

void WhepResource::fill_stats(MountStats *stats) {
  if (stats->rungs.size() < bitrates_.size())
    stats->rungs.resize(bitrates_.size());
  for (size_t r = 0; r < bitrates_.size(); r++)
    stats->rungs[r].bitrate = bitrates_[r];
}

}  // namespace camcast
