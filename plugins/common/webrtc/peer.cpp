#include "webrtc/peer.h"

#include "access/auth.h"
#include "formats/h264.h"

#include <gst/app/gstappsrc.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

#include <algorithm>
#include <array>

GST_DEBUG_CATEGORY_STATIC(camcast_webrtc_debug);
#define GST_CAT_DEFAULT camcast_webrtc_debug

namespace camcast {

namespace {

// Resends (RTX) at most, as a share of what was sent first over the last seconds. Wi-Fi's losses
// of a few in a hundred are resent in full; a link narrower than the stream loses more than this,
// and the rung policy moves its viewer down instead (a cap like libwebrtc's and str0m's).
constexpr double kMaxResendShare = 0.15;

// What each RTP packet carries besides its payload on the way: SRTP's tag (10 bytes), UDP and
// IPv4 headers (28).
constexpr guint64 kPacketOverhead = 38;

// Buffers waiting in a peer's appsrc at most: a peer whose pipeline falls behind loses frames
// (its viewer sees damage until the next keyframe, or asks for one), never memory.
constexpr guint64 kMaxQueuedBytes = 4 * 1024 * 1024;

GstElement *make(const char *factory, GstElement *bin) {
  GstElement *e = gst_element_factory_make(factory, nullptr);
  if (e)
    gst_bin_add(GST_BIN(bin), e);
  return e;
}

// The SSRC the peers send `kind` (0 video, 1 audio) with: one for the whole process, chosen at
// random once. Every peer is an RTP session of its own, where an SSRC need only be unique (RFC
// 3550 §8.1). A new one per peer grew the heap for good: webrtcbin (1.22) names caps fields
// after the SSRCs it answers with ("ssrc-N-cname", "ssrc-N-msid"), and GLib keeps every field
// name it has seen (quarks are never freed): ~300 bytes a viewer, measured.
// Not a secret, but camcast's own code takes no number from GLib's generator (auth.h says why).
guint stream_ssrc(int kind) {
  static const std::array<guint32, 2> ssrcs = [] {
    std::array<guint32, 2> chosen;
    auth::random_bytes(chosen.data(), sizeof chosen);
    if (chosen[1] == chosen[0])
      chosen[1] ^= 1;
    return chosen;
  }();
  return ssrcs[size_t(kind)];
}

}  // namespace

void forbid_upnp(GstElement *webrtcbin) {
  GstWebRTCICE *ice = nullptr;
  g_object_get(webrtcbin, "ice-agent", &ice, nullptr);
  GObject *agent = nullptr;
  if (ice && g_object_class_find_property(G_OBJECT_GET_CLASS(ice), "agent"))
    g_object_get(ice, "agent", &agent, nullptr);
  if (agent && g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "upnp"))
    g_object_set(agent, "upnp", FALSE, nullptr);
  if (agent)
    g_object_unref(agent);
  if (ice)
    gst_object_unref(ice);
}

void WebRtcPeer::prepare() {
  static std::once_flag once;
  std::call_once(once, [] {
    // dtlsdec makes the process's certificate as it is made; webrtcbin loads the rest.
    for (const char *factory : {"dtlsdec", "webrtcbin"})
      if (GstElement *e = gst_element_factory_make(factory, nullptr))
        gst_object_unref(gst_object_ref_sink(e));
  });
}

WebRtcPeer::WebRtcPeer(GstCaps *caps, int pt, const PeerSettings &settings,
                       std::function<void(size_t)> keyframe_wanted,
                       std::function<void()> state_changed)
    : keyframe_wanted_(std::move(keyframe_wanted)), state_changed_(std::move(state_changed)) {
  static gsize debug_once = 0;
  if (g_once_init_enter(&debug_once)) {
    GST_DEBUG_CATEGORY_INIT(camcast_webrtc_debug, "camcastwebrtc", 0, "camcast WebRTC peers");
    g_once_init_leave(&debug_once, 1);
  }
  pipeline_ = gst_pipeline_new(nullptr);
  src_ = make("appsrc", pipeline_);
  GstElement *pay = make("rtph264pay", pipeline_);
  named_ = make("capssetter", pipeline_);
  webrtc_ = make("webrtcbin", pipeline_);
  if (!src_ || !pay || !named_ || !webrtc_)
    return;
  // Each buffer is stamped with this pipeline's clock as it comes (the sink's timestamps belong
  // to another pipeline): RTP times advance as the frames were captured.
  // Its caps are set with the first buffer, once connected: before, the payloader's caps (the
  // stream's own profile-level-id, say) could reach webrtcbin and keep it from matching the
  // offer's H.264 to this transceiver.
  g_object_set(src_, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", TRUE, "max-bytes",
               kMaxQueuedBytes, "block", FALSE, "leaky-type", 2 /* downstream */, nullptr);
  caps_[0] = gst_caps_ref(caps);
  // SPS and PPS before every keyframe; each access unit leaves at once (no aggregation wait).
  // The SSRC is set here so that the answer announces the one the payloader sends with (the
  // answer is made from the caps webrtcbin has, before the payloader's own reach it).
  const guint ssrc = stream_ssrc(0);
  g_object_set(pay, "pt", pt, "ssrc", ssrc, "config-interval", -1, "aggregate-mode",
               1 /* zero-latency */, nullptr);
  g_object_set(webrtc_, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
  if (!settings.stun_server.empty())
    g_object_set(webrtc_, "stun-server", settings.stun_server.c_str(), nullptr);
  if (!settings.turn_server.empty())
    g_object_set(webrtc_, "turn-server", settings.turn_server.c_str(), nullptr);
  GstWebRTCICE *ice = nullptr;
  g_object_get(webrtc_, "ice-agent", &ice, nullptr);
  if (ice) {
    if (settings.min_port || settings.max_port)
      g_object_set(ice, "min-rtp-port", settings.min_port ? settings.min_port : 1, "max-rtp-port",
                   settings.max_port ? settings.max_port : 65535, nullptr);
    gst_object_unref(ice);
  }
  forbid_upnp(webrtc_);
  gst_element_link_many(src_, pay, named_, webrtc_, nullptr);
  // This transceiver only sends, and resends what the viewer reports lost (NACK, RTX).
  rtp_caps_ = gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "video",
                                  "encoding-name", G_TYPE_STRING, "H264", "payload", G_TYPE_INT, pt,
                                  "clock-rate", G_TYPE_INT, 90000, "packetization-mode",
                                  G_TYPE_STRING, "1", "ssrc", G_TYPE_UINT, ssrc, nullptr);
  GstWebRTCRTPTransceiver *transceiver = nullptr;
  g_signal_emit_by_name(webrtc_, "get-transceiver", 0, &transceiver);
  if (transceiver) {
    g_object_set(transceiver, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                 "codec-preferences", rtp_caps_, "do-nack", TRUE, nullptr);
    gst_object_unref(transceiver);
  }
  GstPad *out = gst_element_get_static_pad(src_, "src");
  gst_pad_add_probe(out, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, on_upstream_event, this, nullptr);
  gst_object_unref(out);
  g_signal_connect(webrtc_, "notify::ice-gathering-state", G_CALLBACK(on_gathering), this);
  g_signal_connect(webrtc_, "notify::connection-state", G_CALLBACK(on_connection), this);
  if (GstElement *rtpbin = gst_bin_get_by_name(GST_BIN(webrtc_), "rtpbin")) {
    g_signal_connect(rtpbin, "on-ssrc-active", G_CALLBACK(on_rtcp), this);
    gst_object_unref(rtpbin);
  }
  g_signal_connect(pipeline_, "deep-element-added", G_CALLBACK(on_element_added), this);
  GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(pipeline_));
  gst_bus_set_sync_handler(bus, on_message, this, nullptr);
  gst_object_unref(bus);
}

// webrtcbin makes its resender (rtprtxsend, in the auxiliary sender it gives rtpbin) as the
// session is negotiated: its output is where resends are counted and bounded.
void WebRtcPeer::on_element_added(GstBin *, GstBin *, GstElement *element, gpointer self) {
  GstElementFactory *factory = gst_element_get_factory(element);
  if (!factory || g_strcmp0(GST_OBJECT_NAME(factory), "rtprtxsend") != 0)
    return;
  if (GstPad *src = gst_element_get_static_pad(element, "src")) {
    gst_pad_add_probe(src,
                      GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                      bound_resends, self, nullptr);
    auto *peer = static_cast<WebRtcPeer *>(self);
    std::lock_guard<std::mutex> lk(peer->resend_lock_);
    if (!peer->resender_)
      peer->resender_ = src;  // (the reference is kept)
    else
      gst_object_unref(src);
  }
}

GstPadProbeReturn WebRtcPeer::bound_resends(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *self = static_cast<WebRtcPeer *>(data);
  const gint64 second = g_get_monotonic_time() / G_USEC_PER_SEC;
  std::lock_guard<std::mutex> lk(self->resend_lock_);
  if (second != self->resend_second_) {  // a new second: the last one is the one before
    const bool next = second == self->resend_second_ + 1;
    self->sent_bytes_ = {next ? self->sent_bytes_[1] : 0, 0};
    self->resent_bytes_ = {next ? self->resent_bytes_[1] : 0, 0};
    self->resend_second_ = second;
  }
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {  // the payloader's packets of a picture
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    const gsize size = gst_buffer_list_calculate_size(list);
    for (guint i = 0; i < gst_buffer_list_length(list); i++)
      self->remember(gst_buffer_list_get(list, i));
    self->sent_bytes_[1] += size;
    self->wire_bytes_ += size + gst_buffer_list_length(list) * kPacketOverhead;
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  const gsize size = gst_buffer_get_size(buffer);
  guint8 header[12];
  const bool resend = gst_buffer_extract(buffer, 0, header, sizeof header) == sizeof header &&
                      GST_READ_UINT32_BE(header + 8) != stream_ssrc(0);
  if (!resend) {
    self->remember(buffer);
    self->sent_bytes_[1] += size;
    self->wire_bytes_ += size + kPacketOverhead;
    return GST_PAD_PROBE_OK;
  }
  if (self->probe_credit_ > 0) {  // a probe's: not a resend the viewer asked for
    self->probe_credit_--;
    self->wire_bytes_ += size + kPacketOverhead;
    return GST_PAD_PROBE_OK;
  }
  const uint64_t sent = self->sent_bytes_[0] + self->sent_bytes_[1];
  const uint64_t resent = self->resent_bytes_[0] + self->resent_bytes_[1] + size;
  if (double(resent) > kMaxResendShare * double(sent))
    return GST_PAD_PROBE_DROP;
  self->resent_bytes_[1] += size;
  self->wire_bytes_ += size + kPacketOverhead;
  return GST_PAD_PROBE_OK;
}

WebRtcPeer::~WebRtcPeer() {
  // A description still waiting (for its candidates, say) is given up now: its request must not
  // hang.
  describe(Outcome::Failed, "the session ended before its description was ready");
  if (webrtc_) {
    g_signal_handlers_disconnect_by_data(webrtc_, this);
    if (GstElement *rtpbin = gst_bin_get_by_name(GST_BIN(webrtc_), "rtpbin")) {
      g_signal_handlers_disconnect_by_data(rtpbin, this);
      gst_object_unref(rtpbin);
    }
  }
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  if (resender_)
    gst_object_unref(resender_);
  GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(pipeline_));
  gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
  gst_object_unref(bus);
  gst_object_unref(pipeline_);
  gst_clear_caps(&rtp_caps_);
  gst_clear_caps(&audio_rtp_caps_);
  for (GstCaps *&c : caps_)
    gst_clear_caps(&c);
}

void WebRtcPeer::add_audio(GstCaps *caps, int pt) {
  audio_src_ = make("appsrc", pipeline_);
  GstElement *pay = make("rtpopuspay", pipeline_);
  if (!audio_src_ || !pay || !webrtc_)
    return;
  // As the video: stamped as it comes, never queueing more than a moment of sound. The caps
  // reach webrtcbin only with the first frame, after the answer is made.
  g_object_set(audio_src_, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", TRUE,
               "max-bytes", guint64(kMaxQueuedBytes / 16), "block", FALSE, "leaky-type",
               2 /* downstream */, "caps", caps, nullptr);
  const guint ssrc = stream_ssrc(1);
  g_object_set(pay, "pt", pt, "ssrc", ssrc, nullptr);
  gst_element_link_many(audio_src_, pay, webrtc_, nullptr);
  audio_rtp_caps_ = gst_caps_new_simple(
      "application/x-rtp", "media", G_TYPE_STRING, "audio", "encoding-name", G_TYPE_STRING, "OPUS",
      "payload", G_TYPE_INT, pt, "clock-rate", G_TYPE_INT, 48000, "encoding-params", G_TYPE_STRING,
      "2", "ssrc", G_TYPE_UINT, ssrc, nullptr);
  GstWebRTCRTPTransceiver *transceiver = nullptr;
  g_signal_emit_by_name(webrtc_, "get-transceiver", 1, &transceiver);
  if (transceiver) {
    g_object_set(transceiver, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                 "codec-preferences", audio_rtp_caps_, nullptr);
    gst_object_unref(transceiver);
  }
}

bool WebRtcPeer::start(std::string *why) {
  if (!src_ || !webrtc_) {
    *why =
        "this machine lacks webrtcbin or its parts (install gstreamer1.0-plugins-bad and "
        "gstreamer1.0-nice)";
    return false;
  }
  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    *why = "the peer's pipeline did not start";
    return false;
  }
  // webrtcbin 1.22 matches an offer's m-line to this transceiver by the caps its sink pad has
  // received, intersected with the offer's: send them before any buffer, and only what must
  // match (the stream's own profile-level-id would not intersect with an offer's other one).
  for (int i = 0; i < 2; i++) {
    GstCaps *caps = i == 0 ? rtp_caps_ : audio_rtp_caps_;
    g_autofree gchar *name = g_strdup_printf("sink_%d", i);
    GstPad *in = caps ? gst_element_get_static_pad(webrtc_, name) : nullptr;
    if (!in)
      continue;
    g_autofree gchar *stream_id = g_strdup_printf("camcast-webrtc-%p-%d", (void *)this, i);
    gst_pad_send_event(in, gst_event_new_stream_start(stream_id));
    gst_pad_send_event(in, gst_event_new_caps(caps));
    gst_object_unref(in);
  }
  return true;
}

bool WebRtcPeer::set_remote(GstWebRTCSDPType type, const std::string &text, std::string *why) {
  GstSDPMessage *sdp = nullptr;
  if (gst_sdp_message_new_from_text(text.c_str(), &sdp) != GST_SDP_OK || !sdp) {
    *why = std::string("the ") + gst_webrtc_sdp_type_to_string(type) + " could not be read as SDP";
    return false;
  }
  GstWebRTCSessionDescription *remote = gst_webrtc_session_description_new(type, sdp);
  g_signal_emit_by_name(webrtc_, "set-remote-description", remote,
                        gst_promise_new_with_change_func(on_remote_set, this, nullptr));
  gst_webrtc_session_description_free(remote);
  return true;
}

bool WebRtcPeer::answer(const std::string &offer, Described described, std::string *why) {
  {
    std::lock_guard<std::mutex> lk(lock_);
    described_ = std::move(described);
  }
  if (start(why) && set_remote(GST_WEBRTC_SDP_TYPE_OFFER, offer, why))
    return true;
  std::lock_guard<std::mutex> lk(lock_);
  described_yet_ = true;  // the caller has `why`
  described_ = nullptr;
  return false;
}

bool WebRtcPeer::offer(Described described, std::string *why) {
  offering_ = true;
  // The offer names the stream's profile and level: the answering side picks its decoder by it.
  h264::AvcConfig config;
  if (!h264::config_from_caps(caps_[0], &config)) {
    *why = "the stream's caps have no H.264 configuration (stream-format=avc, from h264parse)";
    return false;
  }
  rtp_caps_ = gst_caps_make_writable(rtp_caps_);
  const std::string profile_level = h264::profile_level_id(config);
  gst_caps_set_simple(rtp_caps_, "profile-level-id", G_TYPE_STRING, profile_level.c_str(), nullptr);
  // What the offer names stays what is sent: a rung's own level (a smaller picture, a lower
  // level) would be a new profile-level-id, which the transceiver refuses ("not negotiated": the
  // session failed at the first move down). The top's level covers every rung's.
  GstCaps *named = gst_caps_new_simple("application/x-rtp", "profile-level-id", G_TYPE_STRING,
                                       profile_level.c_str(), nullptr);
  g_object_set(named_, "caps", named, nullptr);
  gst_caps_unref(named);
  GstWebRTCRTPTransceiver *transceiver = nullptr;
  g_signal_emit_by_name(webrtc_, "get-transceiver", 0, &transceiver);
  if (transceiver) {
    g_object_set(transceiver, "codec-preferences", rtp_caps_, nullptr);
    gst_object_unref(transceiver);
  }
  {
    std::lock_guard<std::mutex> lk(lock_);
    described_ = std::move(described);
  }
  if (!start(why)) {
    std::lock_guard<std::mutex> lk(lock_);
    described_yet_ = true;
    described_ = nullptr;
    return false;
  }
  g_signal_emit_by_name(webrtc_, "create-offer", nullptr,
                        gst_promise_new_with_change_func(on_created, this, nullptr));
  return true;
}

bool WebRtcPeer::accept_answer(const std::string &answer, std::string *why) {
  return set_remote(GST_WEBRTC_SDP_TYPE_ANSWER, answer, why);
}

void WebRtcPeer::on_remote_set(GstPromise *promise, gpointer data) {
  auto *self = static_cast<WebRtcPeer *>(data);
  const GstStructure *reply = gst_promise_get_reply(promise);
  GError *error = nullptr;
  if (reply && gst_structure_get(reply, "error", G_TYPE_ERROR, &error, nullptr)) {
    GST_INFO("peer %p: the other side's description was refused: %s", self, error->message);
    self->describe(Outcome::Failed, std::string("the ") + (self->offering_ ? "answer" : "offer") +
                                        " was not accepted: " + error->message);
    self->state_ = State::Failed;
    g_error_free(error);
  } else if (!self->offering_) {
    g_signal_emit_by_name(self->webrtc_, "create-answer", nullptr,
                          gst_promise_new_with_change_func(on_created, self, nullptr));
  }
  gst_promise_unref(promise);
}

void WebRtcPeer::on_created(GstPromise *promise, gpointer data) {
  auto *self = static_cast<WebRtcPeer *>(data);
  const GstStructure *reply = gst_promise_get_reply(promise);
  GstWebRTCSessionDescription *local = nullptr;
  if (reply)
    gst_structure_get(reply, self->offering_ ? "offer" : "answer",
                      GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &local, nullptr);
  gst_promise_unref(promise);
  if (!local) {
    self->describe(Outcome::Failed, self->offering_ ? "no offer could be made of this stream"
                                                    : "no answer could be made to that offer");
    return;
  }
  // With a promise to take the reply: webrtcbin 1.22, closed meanwhile (the session ending),
  // makes an error reply and leaks it when there is none (LeakSanitizer, whippublishsink).
  GstPromise *set = gst_promise_new();
  g_signal_emit_by_name(self->webrtc_, "set-local-description", local, set);
  gst_promise_unref(set);
  gst_webrtc_session_description_free(local);
  on_gathering(G_OBJECT(self->webrtc_), nullptr, self);
}

void WebRtcPeer::on_gathering(GObject *, GParamSpec *, gpointer data) {
  auto *self = static_cast<WebRtcPeer *>(data);
  GstWebRTCICEGatheringState gathering;
  g_object_get(self->webrtc_, "ice-gathering-state", &gathering, nullptr);
  if (gathering == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
    self->describe_now();
}

void WebRtcPeer::describe_now() {
  GstWebRTCSessionDescription *local = nullptr;
  g_object_get(webrtc_, "local-description", &local, nullptr);
  if (!local)
    return;  // not as far as a description yet
  // An answer with no video section that sends: none of the offer's H.264 formats matched this
  // stream's. (Other sections, audio a viewer offers to receive, are answered inactive.)
  bool sends = offering_;
  for (guint i = 0; i < gst_sdp_message_medias_len(local->sdp); i++) {
    const GstSDPMedia *media = gst_sdp_message_get_media(local->sdp, i);
    sends = sends || (g_strcmp0(gst_sdp_media_get_media(media), "video") == 0 &&
                      gst_sdp_media_get_attribute_val(media, "sendonly"));
  }
  gchar *text = gst_sdp_message_as_text(local->sdp);
  gst_webrtc_session_description_free(local);
  if (sends)
    describe(Outcome::Described, text);
  else
    describe(Outcome::NoCodec, "the offer has no H.264 format with this camera's profile");
  g_free(text);
}

void WebRtcPeer::describe(Outcome outcome, const std::string &sdp_or_why) {
  Described described;
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (described_yet_)
      return;
    described_yet_ = true;
    described = std::move(described_);
  }
  if (outcome != Outcome::Described)
    state_ = State::Failed;
  else if (state_ == State::Describing)
    state_ = State::Connecting;
  if (described)
    described(outcome, sdp_or_why);
}

void WebRtcPeer::on_rtcp(GstElement *, guint, guint, gpointer data) {
  auto *self = static_cast<WebRtcPeer *>(data);
  const gint64 now = g_get_monotonic_time();
  self->last_heard_ = now;
  std::lock_guard<std::mutex> lk(self->rtcp_lock_);
  self->rtcp_at_ = now;
  self->rtcp_wire_ = self->wire_bytes_;
}

void WebRtcPeer::on_connection(GObject *, GParamSpec *, gpointer data) {
  auto *self = static_cast<WebRtcPeer *>(data);
  GstWebRTCPeerConnectionState state;
  g_object_get(self->webrtc_, "connection-state", &state, nullptr);
  GST_DEBUG("peer %p: connection state %d", self, int(state));
  State now;
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED)
    now = State::Connected;
  else if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED ||
           state == GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED)
    now = State::Failed;
  else
    return;
  if (now == State::Connected)
    self->last_heard_ = g_get_monotonic_time();
  if (self->state_.exchange(now) != now && self->state_changed_)
    self->state_changed_();
}

GstPadProbeReturn WebRtcPeer::on_upstream_event(GstPad *, GstPadProbeInfo *info, gpointer data) {
  if (gst_video_event_is_force_key_unit(GST_PAD_PROBE_INFO_EVENT(info))) {
    auto *self = static_cast<WebRtcPeer *>(data);
    self->keyframe_wanted_(self->rung_);
  }
  return GST_PAD_PROBE_OK;
}

GstBusSyncReply WebRtcPeer::on_message(GstBus *, GstMessage *message, gpointer data) {
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    GError *error = nullptr;
    gst_message_parse_error(message, &error, nullptr);
    GST_INFO("peer %p: %s", data, error->message);
    static_cast<WebRtcPeer *>(data)->describe(Outcome::Failed, error->message);
    static_cast<WebRtcPeer *>(data)->state_ = State::Failed;
    g_error_free(error);
  }
  gst_message_unref(message);
  return GST_BUS_DROP;  // nobody watches a peer's bus
}

void WebRtcPeer::push(GstBuffer *buffer, bool keyframe, size_t rung) {
  // Before the connection is up webrtcbin would drop what it is sent: start at a keyframe after.
  if (state_ != State::Connected || rung >= kMaxRungs)
    return;
  // One rung's unit at a time (each rung has a streaming thread of its own): a unit of the rung
  // left must not follow the keyframe of the one moved to.
  std::lock_guard<std::mutex> lk(lock_);
  if (rung != rung_) {
    if (rung != next_rung_ || !keyframe)
      return;
    rung_ = rung;  // the move: at this keyframe, with this rung's caps
    apply_caps_locked(rung);
  }
  if (!keyframe && !keyframe_seen_)
    return;
  if (!keyframe_seen_.exchange(true))
    apply_caps_locked(rung);
  units_sent_++;
  push_restamped(src_, buffer);
  probe_some();
}

void WebRtcPeer::push_audio(GstBuffer *buffer) {
  if (state_ == State::Connected && audio_src_)
    push_restamped(audio_src_, buffer);
}

void WebRtcPeer::push_restamped(GstElement *appsrc, GstBuffer *buffer) {
  GstBuffer *copy = gst_buffer_copy(buffer);  // the memory is shared, not copied
  GST_BUFFER_PTS(copy) = GST_BUFFER_DTS(copy) = GST_CLOCK_TIME_NONE;
  gst_app_src_push_buffer(GST_APP_SRC(appsrc), copy);
}

void WebRtcPeer::set_caps(GstCaps *caps, size_t rung) {
  if (rung >= kMaxRungs)
    return;
  std::lock_guard<std::mutex> lk(lock_);
  gst_caps_replace(&caps_[rung], caps);
  if (rung == rung_ && keyframe_seen_)
    apply_caps_locked(rung);
}

void WebRtcPeer::apply_caps_locked(size_t rung) {
  if (src_ && caps_[rung])
    g_object_set(src_, "caps", caps_[rung], nullptr);
}

// The statistics of session 0's sources (all of a peer's, bundled), a copy; null if none yet.
static GstStructure *session_stats(GstElement *webrtc) {
  GstElement *rtpbin = webrtc ? gst_bin_get_by_name(GST_BIN(webrtc), "rtpbin") : nullptr;
  GObject *session = nullptr;
  if (rtpbin) {
    g_signal_emit_by_name(rtpbin, "get-internal-session", 0u, &session);
    gst_object_unref(rtpbin);
  }
  GstStructure *stats = nullptr;
  if (session) {
    g_object_get(session, "stats", &stats, nullptr);
    g_object_unref(session);
  }
  return stats;
}

bool WebRtcPeer::read_report(LinkSample *out, gint64 now) {
  GstStructure *stats = session_stats(webrtc_);
  const GValue *sources = stats ? gst_structure_get_value(stats, "source-stats") : nullptr;
  // rtpsession's statistics of the sources: the other side's (not internal) with the last
  // report block it sent and on which of ours (cumulative packets lost, the highest sequence
  // number received, round trip in 1/65536 s).
  gboolean have_rb = FALSE;
  guint seq = 0, rtt = 0;
  gint lost = 0;
  const guint video = stream_ssrc(0);
  // rtpsession 1.22 gives a GValueArray, which GLib deprecates.
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  GValueArray *array = sources && G_VALUE_HOLDS_BOXED(sources) &&
                               g_str_equal(G_VALUE_TYPE_NAME(sources), "GValueArray")
                           ? static_cast<GValueArray *>(g_value_get_boxed(sources))
                           : nullptr;
  for (guint i = 0; array && i < array->n_values; i++) {
    const GstStructure *source = gst_value_get_structure(g_value_array_get_nth(array, i));
    guint ssrc = 0, about = 0;
    gboolean internal = FALSE, rb = FALSE;
    gst_structure_get(source, "ssrc", G_TYPE_UINT, &ssrc, "internal", G_TYPE_BOOLEAN, &internal,
                      nullptr);
    if (!internal && gst_structure_get_boolean(source, "have-rb", &rb) && rb &&
        gst_structure_get_uint(source, "rb-ssrc", &about) && about == video) {
      have_rb = TRUE;
      gst_structure_get(source, "rb-packetslost", G_TYPE_INT, &lost, "rb-exthighestseq",
                        G_TYPE_UINT, &seq, "rb-round-trip", G_TYPE_UINT, &rtt, nullptr);
    }
  }
  G_GNUC_END_IGNORE_DEPRECATIONS;
  if (stats)
    gst_structure_free(stats);
  if (!have_rb || seq == report_seq_)
    return false;  // no report yet, or none since the last one read (nothing new received)
  gint64 at;
  uint64_t wire;
  {
    std::lock_guard<std::mutex> lk(rtcp_lock_);
    at = rtcp_at_;
    wire = rtcp_wire_;
  }
  const bool first = report_at_ < 0;
  const gint64 since = at - report_at_;
  const guint expected = seq - report_seq_;
  const gint lost_since = lost - report_lost_;
  const uint64_t sent = wire - report_wire_;
  report_seq_ = seq;
  report_lost_ = lost;
  report_wire_ = wire;
  report_at_ = at;
  if (rtt)
    rtt_us_ = gint64(rtt) * G_USEC_PER_SEC / 65536;
  double share;
  const bool counted = loss_.add(at, seq, lost, &share);
  if (first || since <= 0 || expected > 1u << 20)
    return false;  // what came before the first report is not known to be its
  // Between the two reports, by the other side's own counts: the share lost, and what arrived
  // of all that was sent on the wire meanwhile (the reports' arrivals time it).
  out->now_us = now;
  report_loss_ = std::clamp(double(lost_since) / double(expected), 0.0, 1.0);
  out->delivery_bps =
      uint64_t(double(sent) * 8 * G_USEC_PER_SEC / double(since) * (1 - report_loss_));
  out->app_limited = true;  // what arrived, a lower bound of the link (the policy knows loss)
  out->rtt_us = rtt_us_ > 0 ? rtt_us_ : 0;
  out->loss = counted ? share : 0;  // the loss the policy sees: over enough packets
  GST_LOG("peer %p: report: %d of %u lost (cumulative %d), %" G_GUINT64_FORMAT
          " bytes sent in %" G_GINT64_FORMAT " ms",
          this, lost_since, expected, lost, sent, since / 1000);
  return true;
}

void WebRtcPeer::remember(GstBuffer *packet) {
  guint8 head[4];
  if (gst_buffer_extract(packet, 0, head, sizeof head) != sizeof head)
    return;
  recent_[recent_at_] = GST_READ_UINT16_BE(head + 2);
  recent_at_ = (recent_at_ + 1) % recent_.size();
  recent_n_ = std::min(recent_n_ + 1, recent_.size());
}

void WebRtcPeer::probe_some() {
  if (probe_left_ <= 0)
    return;
  std::vector<guint16> seqnums;
  GstPad *resender = nullptr;
  {
    std::lock_guard<std::mutex> lk(resend_lock_);
    if (!resender_ || !recent_n_)
      return;
    resender = GST_PAD(gst_object_ref(resender_));
    const int n = std::min(probe_per_unit_, probe_left_.load());
    for (int i = 0; i < n; i++)  // the newest first: rtprtxsend still holds them
      seqnums.push_back(
          recent_[(recent_at_ + recent_.size() - 1 - size_t(i) % recent_n_) % recent_.size()]);
    probe_credit_ += n;
  }
  for (guint16 seqnum : seqnums)
    gst_pad_send_event(
        resender, gst_event_new_custom(GST_EVENT_CUSTOM_UPSTREAM,
                                       gst_structure_new("GstRTPRetransmissionRequest", "seqnum",
                                                         G_TYPE_UINT, guint(seqnum), "ssrc",
                                                         G_TYPE_UINT, stream_ssrc(0), nullptr)));
  gst_object_unref(resender);
  if ((probe_left_ -= int(seqnums.size())) <= 0)
    probe_ended_ = g_get_monotonic_time();
}

// After a probe is judged, reports this long after are still its: a link it overfilled drops
// the picture's packets too for a while (seen: 12–22 % lost in the report after).
constexpr gint64 kProbeAftermathUs = 1500 * G_TIME_SPAN_MILLISECOND;

// An RTP probe finds room only by sending more than the rung and seeing nothing lost, and one
// that finds none costs the viewer a few lost packets: they back off further than TCP's timed
// padding does (every 4 s at first, then 8, 16).
RungSettings WebRtcPeer::rtp_rung_settings() {
  RungSettings s;
  s.max_probe_every_us = 16 * G_USEC_PER_SEC;
  return s;
}

void WebRtcPeer::start_probe(const std::vector<uint64_t> &bitrates, gint64 now) {
  const size_t rung = rung_;
  if (probe_left_ > 0 || probe_ended_ || rung == 0 || !policy_.probe_size(rung, bitrates, now))
    return;
  // The next rung up with room to spare, for a quarter of a second, in ~1200-byte packets
  // spread over the units of that time (at 30 a second).
  const uint64_t next = bitrates[rung - 1] ? bitrates[rung - 1] : bitrates[rung] * 4;
  const uint64_t want = uint64_t(double(next) * RungSettings().probe_headroom);
  if (want <= bitrates[rung])
    return;
  const uint64_t bytes = (want - bitrates[rung]) / 8 / 4;
  const int packets = int(std::clamp<uint64_t>(bytes / 1200, 8, 256));
  probe_bps_ = want;
  probe_per_unit_ = (packets + 7) / 8;
  GST_DEBUG("peer %p: a probe of %d resends (%" G_GUINT64_FORMAT " kbit/s in all)", this, packets,
            want / 1000);
  probe_left_ = packets;
}

bool WebRtcPeer::judge_probe(const std::vector<uint64_t> &bitrates, const LinkSample &report,
                             gint64 now) {
  const gint64 ended = probe_ended_;
  if (!ended || report_at_ < ended + std::max<gint64>(rtt_us_, 50000))
    // Under way, or the link still draining what it overfilled: its reports measure nothing.
    return ended != 0 || probe_left_ > 0 || report_at_ < probe_judged_ + kProbeAftermathUs;
  probe_ended_ = 0;
  probe_judged_ = report_at_;
  {
    // Resends asked for that rtprtxsend no longer held never came: no credit past the cap left.
    std::lock_guard<std::mutex> lk(resend_lock_);
    probe_credit_ = 0;
  }
  // Nothing lost: the link carried the rung and the probe; else what arrived is what it took.
  const bool room = report_loss_ < RungSettings().calm_loss;
  GST_DEBUG("peer %p: the probe at %" G_GUINT64_FORMAT " kbit/s: %.0f %% lost", this,
            probe_bps_ / 1000, report_loss_ * 100);
  policy_.probed(rung_, bitrates, room ? probe_bps_ : report.delivery_bps, now);
  return true;
}

int WebRtcPeer::choose_rung(const std::vector<uint64_t> &bitrates, gint64 now) {
  if (state_ != State::Connected)
    return -1;
  LinkSample sample;
  const bool reported = read_report(&sample, now);  // (the round trip too, ladder or not)
  if (bitrates.size() < 2)
    return -1;
  if (next_rung_ != rung_)  // still moving: its keyframe, once more
    return int(next_rung_.load());
  if (!reported && pinned_ < 0)
    return -1;
  sample.now_us = now;
  if (judge_probe(bitrates, sample, now)) {  // what a probe lost is not the rung's
    sample.loss = 0;
    sample.delivery_bps = 0;
  }
  const size_t want = policy_.choose(rung_, bitrates, sample, pinned_);
  if (want == rung_) {
    start_probe(bitrates, now);
    return -1;
  }
  probe_left_ = 0;  // a move calls a probe off
  probe_ended_ = 0;
  GST_DEBUG("peer %p: moving from rung %zu to %zu (lost %.0f %%, %" G_GUINT64_FORMAT
            " kbit/s arrived, link %" G_GUINT64_FORMAT " kbit/s)",
            this, rung_.load(), want, sample.loss * 100, sample.delivery_bps / 1000,
            policy_.link_bps() / 1000);
  rung_changes_++;
  next_rung_ = want;
  return int(want);
}

void WebRtcPeer::pin(int rung) {
  std::lock_guard<std::mutex> lk(lock_);
  pinned_ = rung < int(kMaxRungs) ? rung : int(kMaxRungs) - 1;
  if (pinned_ >= 0 && !keyframe_seen_)
    rung_ = next_rung_ = size_t(pinned_.load());
}

void WebRtcPeer::fill_stats(ClientStats *out) const {
  out->bytes_sent = wire_bytes_;  // as on the wire (with the headers of 10.9), resends too
  out->units_sent = units_sent_;
  out->rtt_us = rtt_us_;
  out->rung = rung_;
  out->pinned = pinned_;
  out->link_bps = policy_.link_bps();
  out->rung_changes = rung_changes_;
}

}  // namespace camcast
