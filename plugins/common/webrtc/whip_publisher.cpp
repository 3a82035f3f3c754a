#include "webrtc/whip_publisher.h"

#include "access/tls.h"
#include "net/backoff.h"
#include "net/client_url.h"

#include <libsoup/soup.h>

GST_DEBUG_CATEGORY_STATIC(camcast_whip_debug);
#define GST_CAT_DEFAULT camcast_whip_debug

namespace camcast {

namespace {

// An SDP answer is a few kB; a server's that is larger than this is not one.
constexpr size_t kMaxAnswerBytes = 64 * 1024;
// The offer waits this long for STUN and TURN candidates, then goes with those it has.
constexpr gint64 kGatherUs = 3 * G_USEC_PER_SEC;
// How often the thread looks at its session (connected yet, still heard from).
constexpr gint64 kPollUs = 50 * 1000;
// How long stop() lets the thread end its session (DELETE) before cancelling that too.
constexpr auto kStopGrace = std::chrono::seconds(2);
// The payload type the offer gives H.264: any dynamic one will do, the answer keeps it.
constexpr int kPayloadType = 96;
// On a ladder, each rung's bitrate is measured this often.
constexpr gint64 kMeasureUs = 250 * 1000;

// What a WHIP server's refusal means for the person running the camera. `body` is untrusted:
// only its first line, printable ASCII, at most 120 characters, is shown.
std::string describe_refusal(guint status, const std::string &body) {
  std::string shown;
  for (char c : body.substr(0, std::min(body.find_first_of("\r\n"), size_t(120))))
    shown += g_ascii_isprint(c) ? c : '?';
  const char *hint = status == 401 || status == 403 ? " (check the token)"
                     : status == 404                ? " (no WHIP endpoint at that URL)"
                     : status == 409 ? " (the endpoint is taken: another camera publishes there)"
                     : status >= 500 ? " (trouble at the server; trying again)"
                     : status >= 300 && status < 400
                         ? " (a redirect, not followed: set location to where it leads)"
                         : "";
  return "the WHIP server answered " + std::to_string(status) + " " +
         soup_status_get_phrase(status) + (shown.empty() ? "" : " \"" + shown + "\"") + hint;
}

// One request's deadline: its cancellable is cancelled at `deadline` (monotonic µs) or when
// `outer` is, and the thread waits for each step of the request by running its own context (the
// publisher's thread's), so that a server that dribbles its answer a byte at a time — each read
// within the session's timeout — is cut off at the deadline all the same.
class RequestDeadline {
public:
  RequestDeadline(GCancellable *outer, gint64 deadline)
      : cut_(g_cancellable_new()),
        context_(g_main_context_ref_thread_default()),
        outer_(G_CANCELLABLE(g_object_ref(outer))) {
    // `outer` is cancelled from another thread (stop()); `cut_` is cancelled on this one only.
    // GLib 2.74 leaks a GCancellableSource that is disposed on one thread while its cancellable
    // is being cancelled on another: its dispose "resurrects" the source whenever the
    // cancellable's handlers are running, whichever source's handler it is, and only that
    // source's own handler drops the resurrection's reference (LeakSanitizer saw libsoup's
    // socket sources leak so in test-whippublishsink, 3 runs in 4; GLib 2.80 rewrote it).
    linked_ = g_cancellable_connect(outer_, G_CALLBACK(+[](GCancellable *, gpointer self) {
                                      static_cast<RequestDeadline *>(self)->cut_here();
                                    }),
                                    this, nullptr);
    const gint64 left_ms = std::max<gint64>(0, (deadline - g_get_monotonic_time()) / 1000);
    timer_ = g_timeout_source_new(guint(left_ms));
    g_source_set_callback(
        timer_,
        +[](gpointer self) {
          auto *d = static_cast<RequestDeadline *>(self);
          d->passed_ = true;
          g_cancellable_cancel(d->cut_);
          return G_SOURCE_REMOVE;
        },
        this, nullptr);
    g_source_attach(timer_, context_);
  }
  ~RequestDeadline() {
    g_source_destroy(timer_);
    g_source_unref(timer_);
    g_cancellable_disconnect(outer_, linked_);
    g_object_unref(outer_);
    g_main_context_unref(context_);
    g_object_unref(cut_);
  }
  GCancellable *cancellable() const { return cut_; }
  bool passed() const { return passed_; }
  // Runs the thread's context until `done`.
  void wait(const bool &done) {
    while (!done)
      g_main_context_iteration(context_, TRUE);
  }

private:
  // Has the thread cancel `cut_` as soon as it runs its context (from any thread).
  void cut_here() {
    GSource *cut = g_idle_source_new();
    g_source_set_callback(
        cut,
        +[](gpointer cancellable) {
          g_cancellable_cancel(G_CANCELLABLE(cancellable));
          return G_SOURCE_REMOVE;
        },
        g_object_ref(cut_), g_object_unref);
    g_source_attach(cut, context_);
    g_source_unref(cut);
  }

  GCancellable *cut_;
  GMainContext *context_;
  GCancellable *outer_;
  gulong linked_ = 0;
  GSource *timer_ = nullptr;
  bool passed_ = false;
};

// The whole of a response body, up to `limit` bytes, within the request's deadline: "" with
// `why` past either.
std::string read_body(GInputStream *in, size_t limit, RequestDeadline *deadline, std::string *why) {
  struct Read {
    gssize n = 0;
    GError *error = nullptr;
    bool done = false;
  };
  std::string text;
  char buf[4096];
  while (text.size() <= limit) {
    Read r;
    g_input_stream_read_async(
        in, buf, sizeof buf, G_PRIORITY_DEFAULT, deadline->cancellable(),
        +[](GObject *stream, GAsyncResult *result, gpointer data) {
          auto *read = static_cast<Read *>(data);
          read->n = g_input_stream_read_finish(G_INPUT_STREAM(stream), result, &read->error);
          read->done = true;
        },
        &r);
    deadline->wait(r.done);
    if (r.error) {
      *why = deadline->passed()
                 ? std::string("the WHIP server's answer did not end within the timeout")
                 : std::string("reading the WHIP server's answer failed: ") + r.error->message;
      g_error_free(r.error);
      return "";
    }
    if (r.n == 0)
      break;
    text.append(buf, size_t(r.n));
  }
  if (text.size() > limit) {
    *why = "the WHIP server's answer is larger than any SDP answer (" + std::to_string(limit) +
           " bytes)";
    return "";
  }
  return text;
}

// Whether `uri` is at the endpoint's own origin (scheme, host, port): the only place the bearer
// token goes. A Location elsewhere — another host, or plain http from an https endpoint — does
// not get it.
bool same_origin(GUri *endpoint, GUri *uri) {
  auto port = [](GUri *u) {
    const int p = g_uri_get_port(u);
    return p > 0 ? p : g_ascii_strcasecmp(g_uri_get_scheme(u), "https") == 0 ? 443 : 80;
  };
  return g_ascii_strcasecmp(g_uri_get_scheme(endpoint), g_uri_get_scheme(uri)) == 0 &&
         g_uri_get_host(uri) &&
         g_ascii_strcasecmp(g_uri_get_host(endpoint), g_uri_get_host(uri)) == 0 &&
         port(endpoint) == port(uri);
}

}  // namespace

WhipPublisher::WhipPublisher(Settings settings, EventFn event,
                             std::function<void(size_t rung)> keyframe_wanted)
    : settings_(std::move(settings)),
      event_(std::move(event)),
      keyframe_wanted_(std::move(keyframe_wanted)),
      cancellable_(g_cancellable_new()),
      ending_(g_cancellable_new()) {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(camcast_whip_debug, "camcastwhip", 0, "camcast WHIP publisher");
    g_once_init_leave(&once, 1);
  }
}

WhipPublisher::~WhipPublisher() {
  stop();
  for (GstCaps *&caps : caps_)
    gst_clear_caps(&caps);
  if (uri_)
    g_uri_unref(uri_);
  g_clear_object(&ca_);
  g_object_unref(cancellable_);
  g_object_unref(ending_);
}

std::string WhipPublisher::where() const {
  return loggable_url(uri_);
}

bool WhipPublisher::start(GError **error) {
  if (!(uri_ = parse_client_url(settings_.location))) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "location is not an http:// or https:// URL of a WHIP endpoint (like "
                "https://whip.example/whip/endpoint/camera1)");
    return false;
  }
  if (!settings_.ca_file.empty() &&
      !(ca_ = load_ca_file(settings_.ca_file, "the WHIP server's", error)))
    return false;
  thread_ = std::thread([this] { run(); });
  return true;
}

void WhipPublisher::stop() {
  if (!thread_.joinable())
    return;
  std::unique_lock<std::mutex> lk(lock_);
  stopping_ = true;
  wake_.notify_all();
  g_cancellable_cancel(cancellable_);  // an offer on its way is pointless now
  // Let the thread end its session with a DELETE; then cut that too.
  const bool ended = wake_.wait_for(lk, kStopGrace, [this] { return http_ == nullptr; });
  lk.unlock();
  if (!ended)
    g_cancellable_cancel(ending_);
  thread_.join();
}

void WhipPublisher::set_caps(GstCaps *caps, size_t rung) {
  std::shared_ptr<WebRtcPeer> peer;
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (rung >= WebRtcPeer::kMaxRungs)
      return;
    if (caps_.size() <= rung)
      caps_.resize(rung + 1, nullptr);
    gst_caps_replace(&caps_[rung], caps);
    peer = peer_;
    wake_.notify_all();
  }
  if (peer)
    peer->set_caps(caps, rung);
}

void WhipPublisher::push(GstBuffer *buffer, bool keyframe, size_t rung) {
  std::shared_ptr<WebRtcPeer> peer;
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (rung >= n_rungs_)
      return;
    rung_bytes_[rung] += gst_buffer_get_size(buffer);
    peer = peer_;
  }
  if (peer)
    peer->push(buffer, keyframe, rung);
}

void WhipPublisher::set_rungs(size_t n) {
  std::lock_guard<std::mutex> lk(lock_);
  n_rungs_ = std::clamp<size_t>(n, 1, WebRtcPeer::kMaxRungs);
  rung_bytes_.resize(n_rungs_, 0);
}

bool WhipPublisher::uses(size_t rung) {
  std::lock_guard<std::mutex> lk(lock_);
  return peer_ ? rung == peer_->rung() || rung == peer_->next_rung() : rung == 0;
}

size_t WhipPublisher::rung() {
  std::lock_guard<std::mutex> lk(lock_);
  return peer_ ? peer_->rung() : 0;
}

bool WhipPublisher::connected() {
  std::lock_guard<std::mutex> lk(lock_);
  return peer_ != nullptr;
}

guint64 WhipPublisher::sessions() {
  std::lock_guard<std::mutex> lk(lock_);
  return sessions_;
}

bool WhipPublisher::wait(gint64 us) {
  std::unique_lock<std::mutex> lk(lock_);
  return !wake_.wait_for(lk, std::chrono::microseconds(us), [this] { return stopping_; });
}

void WhipPublisher::run() {
  // Every request of this thread's goes through its own session, made and used here only, on a
  // context of the thread's own, which it runs while it waits for a request (RequestDeadline).
  GMainContext *context = g_main_context_new();
  g_main_context_push_thread_default(context);
  SoupSession *http = soup_session_new_with_options("timeout", guint(settings_.timeout_s),
                                                    "user-agent", "camcast", nullptr);
  if (ca_)
    soup_session_set_tls_database(http, ca_);
  {
    std::lock_guard<std::mutex> lk(lock_);
    http_ = http;
  }
  Backoff backoff(settings_.backoff_initial_ms, settings_.backoff_max_ms);
  while (true) {
    {
      std::unique_lock<std::mutex> lk(lock_);
      // The first offer needs the top's caps.
      wake_.wait(lk, [this] { return stopping_ || (!caps_.empty() && caps_[0]); });
      if (stopping_)
        break;
    }
    const gint64 began = g_get_monotonic_time();
    const std::string why = session();
    {
      std::lock_guard<std::mutex> lk(lock_);
      if (stopping_)
        break;
    }
    const int wait_ms = backoff.next(g_get_monotonic_time() - began);
    GST_WARNING("%s: %s; trying again in %d ms", where().c_str(), why.c_str(), wait_ms);
    event_(false, why);
    if (!wait(gint64(wait_ms) * 1000))
      break;
  }
  {
    std::lock_guard<std::mutex> lk(lock_);
    http_ = nullptr;
    g_object_unref(http);
    wake_.notify_all();
  }
  // What the session left to finish on the context (closing its connections) runs now.
  while (g_main_context_iteration(context, FALSE)) {
  }
  g_main_context_pop_thread_default(context);
  g_main_context_unref(context);
}

std::string WhipPublisher::session() {
  std::vector<GstCaps *> caps;
  {
    std::lock_guard<std::mutex> lk(lock_);
    for (GstCaps *c : caps_)
      caps.push_back(c ? gst_caps_ref(c) : nullptr);
  }
  auto peer = std::make_shared<WebRtcPeer>(caps[0], kPayloadType, settings_.peer, keyframe_wanted_);
  for (size_t r = 0; r < caps.size(); r++)
    if (caps[r]) {
      if (r > 0)
        peer->set_caps(caps[r], r);
      gst_caps_unref(caps[r]);
    }
  std::string sdp, why = make_offer(peer.get(), &sdp);
  if (!why.empty())
    return why;
  std::string resource;
  const std::string answer = post_offer(sdp, &resource, &why);
  if (answer.empty())
    return why;
  if (!peer->accept_answer(answer, &why)) {
    delete_resource(resource);
    return why;
  }
  why = stay_connected(peer);
  {
    std::lock_guard<std::mutex> lk(lock_);
    peer_.reset();
  }
  delete_resource(resource);
  peer.reset();  // its pipeline stops here, outside the lock
  return why;
}

std::string WhipPublisher::make_offer(WebRtcPeer *peer, std::string *sdp) {
  // The offer, from one of webrtcbin's threads once its candidates are gathered.
  struct Offer {
    std::mutex lock;
    bool ready = false;
    WebRtcPeer::Outcome outcome = WebRtcPeer::Outcome::Failed;
    std::string sdp_or_why;
  };
  auto offer = std::make_shared<Offer>();
  std::string why;
  if (!peer->offer(
          [offer](WebRtcPeer::Outcome outcome, const std::string &sdp_or_why) {
            std::lock_guard<std::mutex> lk(offer->lock);
            offer->ready = true;
            offer->outcome = outcome;
            offer->sdp_or_why = sdp_or_why;
          },
          &why))
    return why;
  const gint64 asked = g_get_monotonic_time();
  while (true) {
    {
      std::lock_guard<std::mutex> lk(offer->lock);
      if (offer->ready)
        break;
    }
    if (!wait(kPollUs))
      return "stopped";
    if (g_get_monotonic_time() - asked > kGatherUs)
      peer->describe_now();
  }
  if (offer->outcome != WebRtcPeer::Outcome::Described)
    return offer->sdp_or_why;
  *sdp = offer->sdp_or_why;
  return "";
}

std::string WhipPublisher::stay_connected(const std::shared_ptr<WebRtcPeer> &peer) {
  const gint64 timeout_us = gint64(settings_.timeout_s) * G_USEC_PER_SEC;
  const gint64 answered = g_get_monotonic_time();
  gint64 connected_at = 0;
  std::string why;
  while (why.empty()) {
    if (!wait(kPollUs))
      return "stopped";
    const gint64 now = g_get_monotonic_time();
    const WebRtcPeer::State state = peer->state();
    if (state == WebRtcPeer::State::Failed) {
      why = connected_at ? "the connection to the WHIP server failed"
                         : "ICE found no path to the WHIP server";
    } else if (!connected_at && state == WebRtcPeer::State::Connected) {
      connected_at = now;
      {
        std::lock_guard<std::mutex> lk(lock_);
        peer_ = peer;
        sessions_++;
        // Caps that came since the peer was made (a rung's encoder starting late) went nowhere.
        for (size_t r = 0; r < caps_.size(); r++)
          if (caps_[r])
            peer->set_caps(caps_[r], r);
      }
      GST_INFO("%s: publishing", where().c_str());
      event_(true, "");
      // The server's viewers start at a keyframe: now, not a GOP later.
      keyframe_wanted_(peer->rung());
    } else if (!connected_at && now - answered > timeout_us) {
      why =
          "ICE did not connect to the WHIP server within the timeout (a firewall? "
          "stun-server or turn-server may help)";
    } else if (connected_at && now - peer->last_heard() > timeout_us) {
      why = "the WHIP server sent nothing back for " + std::to_string(settings_.timeout_s) +
            " s (it restarted or dropped the session)";
    } else if (connected_at) {
      follow_link(peer, now);
    }
  }
  return why;
}

void WhipPublisher::follow_link(const std::shared_ptr<WebRtcPeer> &peer, gint64 now) {
  std::vector<uint64_t> produced;
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (n_rungs_ < 2)
      return;
    produced = rung_bytes_;
  }
  if (now - measured_ >= kMeasureUs) {
    measured_ = now;
    meters_.resize(produced.size());
    bitrates_.resize(produced.size());
    for (size_t r = 0; r < produced.size(); r++)
      bitrates_[r] = meters_[r].measure(now, produced[r]);
  }
  const int to = peer->choose_rung(bitrates_, now);
  if (to >= 0) {
    GST_INFO("%s: moving from rung %zu to %d", where().c_str(), peer->rung(), to);
    keyframe_wanted_(size_t(to));
  }
}

std::string WhipPublisher::request(SoupMessage *msg, size_t limit, GCancellable *cancellable,
                                   bool *sent, std::string *why) {
  if (!settings_.token.empty() && same_origin(uri_, soup_message_get_uri(msg)))
    soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                 ("Bearer " + settings_.token).c_str());
  // A redirect would carry the token to wherever it points.
  soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
  RequestDeadline deadline(cancellable,
                           g_get_monotonic_time() + gint64(settings_.timeout_s) * G_USEC_PER_SEC);
  struct Send {
    GInputStream *in = nullptr;
    GError *error = nullptr;
    bool done = false;
  } send;
  soup_session_send_async(
      http_, msg, G_PRIORITY_DEFAULT, deadline.cancellable(),
      +[](GObject *session, GAsyncResult *result, gpointer data) {
        auto *s = static_cast<Send *>(data);
        s->in = soup_session_send_finish(SOUP_SESSION(session), result, &s->error);
        s->done = true;
      },
      &send);
  deadline.wait(send.done);
  *sent = send.in != nullptr;
  if (!send.in) {
    *why = "could not reach the WHIP server at " + where() + ": " +
           (deadline.passed()
                ? std::string("no answer within the timeout")
                : std::string(send.error->message) + certificate_hint(send.error, ca_ != nullptr));
    g_error_free(send.error);
    return "";
  }
  std::string body = read_body(send.in, limit, &deadline, why);
  g_object_unref(send.in);
  return body;
}

std::string WhipPublisher::post_offer(const std::string &offer, std::string *resource,
                                      std::string *why) {
  SoupMessage *msg = soup_message_new_from_uri(SOUP_METHOD_POST, uri_);
  GBytes *body = g_bytes_new(offer.data(), offer.size());
  soup_message_set_request_body_from_bytes(msg, "application/sdp", body);
  g_bytes_unref(body);
  bool sent;
  const std::string text = request(msg, kMaxAnswerBytes, cancellable_, &sent, why);
  const guint status = soup_message_get_status(msg);
  const char *location =
      soup_message_headers_get_one(soup_message_get_response_headers(msg), "Location");
  if (GUri *session_uri =
          location ? g_uri_parse_relative(uri_, location, G_URI_FLAGS_NONE, nullptr) : nullptr) {
    g_autofree char *text_uri = g_uri_to_string(session_uri);
    // Never from https to plain http: the session's URL would cross the network in the clear.
    if (g_ascii_strcasecmp(g_uri_get_scheme(uri_), "https") == 0 &&
        g_ascii_strcasecmp(g_uri_get_scheme(session_uri), "https") != 0)
      GST_WARNING("%s: the answer's Location is not https: not used", where().c_str());
    else
      *resource = text_uri ? text_uri : "";
    g_uri_unref(session_uri);
  }
  g_object_unref(msg);
  if (!sent || !why->empty())
    return "";
  if (status < 200 || status > 299) {
    *why = describe_refusal(status, text);
    return "";
  }
  if (text.rfind("v=0", 0) != 0) {
    *why = "the WHIP server's answer (" + std::to_string(status) + ") is not SDP";
    delete_resource(*resource);
    return "";
  }
  if (resource->empty())
    GST_WARNING("%s: the answer has no Location: the session cannot be ended", where().c_str());
  return text;
}

void WhipPublisher::delete_resource(const std::string &resource) {
  SoupMessage *msg =
      resource.empty() ? nullptr : soup_message_new(SOUP_METHOD_DELETE, resource.c_str());
  if (!msg)
    return;
  bool sent;
  std::string why;
  request(msg, 4096, ending_, &sent, &why);
  GST_INFO("%s: DELETE of the session: %u %s", where().c_str(), soup_message_get_status(msg),
           why.c_str());
  g_object_unref(msg);
}

}  // namespace camcast
