// Layer webrtc: the WHEP resource at a mount's path; uses net, formats, access.
// WHEP (the IETF WISH working group's WebRTC-HTTP Egress Protocol): a viewer POSTs its SDP offer
// and gets `201 Created` with the answer and a secret `Location` for its session, which a
// `DELETE` ends; `OPTIONS` answers CORS preflights (a WHEP player on another site sends the
// access token as `Authorization: Bearer`, never a cookie, so any origin may read the answer);
// `PATCH` (trickle ICE) is answered 405: the answer carries every candidate. Any other method
// but GET and HEAD is answered 405; GET and HEAD are the owner's (a player page).
//
// Each session is a WebRtcPeer (webrtc/peer.h) fed the units pushed here, from the rung it is on.
// Bounds: an offer is at most kMaxOfferBytes; `max_viewers` counts connected viewers and offers
// still connecting, and past it a new offer takes the place of the oldest that has not
// connected, so offers that never connect cannot shut WebRTC for everyone; one address has at
// most kMaxConnectingPerAddress offers connecting. A session whose answer is still gathering
// candidates is answered with those it has after kAnswerDeadlineUs; one that has not connected
// after kConnectDeadlineUs, or that sends no RTCP for kSilenceUs (its machine or its link gone,
// no DELETE said), is freed.
//
// A connected viewer is one of the mount's (Mount::add_viewer): counted, on its rung, in the
// statistics. Sessions live on the server thread; the stream side (caps, units, sound) is fed
// from streaming threads.
#pragma once

#include "fanout/bitrate_meter.h"
#include "formats/sdp_offer.h"
#include "net/mount.h"
#include "webrtc/peer.h"

#include <gst/gst.h>
#include <libsoup/soup.h>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace camcast {

class WhepResource final : public MountDelegate, public std::enable_shared_from_this<WhepResource> {
public:
  static constexpr unsigned kDefaultMaxViewers = 10;
  // An SDP offer is a few kB; one with many candidates and codecs stays well under this.
  static constexpr goffset kMaxOfferBytes = 32 * 1024;
  static constexpr size_t kMaxConnectingPerAddress = 3;
  // STUN and TURN candidates are waited for this long before the answer goes with those it has.
  static constexpr gint64 kAnswerDeadlineUs = 5 * G_USEC_PER_SEC;
  // Browsers connect within a second or two on a LAN, a few through TURN.
  static constexpr gint64 kConnectDeadlineUs = 15 * G_USEC_PER_SEC;
  // Browsers send RTCP every second or so.
  static constexpr gint64 kSilenceUs = 10 * G_USEC_PER_SEC;
  static constexpr size_t kMaxRungs = WebRtcPeer::kMaxRungs;

  struct Settings {
    PeerSettings peer;
    unsigned max_viewers = kDefaultMaxViewers;
  };
  // The encoder of rung `rung` should give a keyframe now (a viewer connected, moved to it, or
  // lost its picture); the owner rate-limits. Any thread.
  using KeyframeFn = std::function<void(size_t rung)>;

  explicit WhepResource(KeyframeFn keyframe_wanted);
  ~WhepResource() override;

  void set_settings(const Settings &settings);
  Settings settings() const;

  // ---- the stream: any thread ----
  // The H.264 of rung `rung` (0: the top); its `profile` must be in an offer's format.
  void set_caps(GstCaps *caps, size_t rung = 0);
  // Opus for viewers whose offer takes it; null: none.
  void set_audio_caps(GstCaps *caps);
  // One access unit of rung `rung` to every viewer on it.
  void push(GstBuffer *buffer, size_t rung = 0);
  void push_audio(GstBuffer *buffer);

  // Ends every session (the stream stops), on the server thread; returns when done. Any thread.
  void end_all();
  size_t n_sessions() const;

  // MountDelegate
  void serving(Mount *mount) override;
  bool serve_http(SoupServerMessage *msg, std::string_view rest) override;
  goffset body_limit(std::string_view method, std::string_view rest) override;
  // Counts viewers once connected, moves them along the ladder, frees what ended or timed out,
  // answers offers at their deadline. Also run at once when a peer connects or fails.
  void tick(gint64 now) override;
  // Each rung's bitrate, as sent to the viewers.
  void fill_stats(MountStats *stats) override;

private:
  struct Session {
    std::shared_ptr<WebRtcPeer> peer;
    gint64 started;       // monotonic µs
    std::string address;  // the offer's client
    uint64_t viewer = 0;  // its id among the mount's viewers once connected, 0 before
  };
  struct Pending;

  void offer(SoupServerMessage *msg);
  // Why an offer from `address` cannot be taken now (empty: it can); `evict`: the session that
  // makes way for it. Under the lock.
  std::string no_room_locked(const std::string &address, std::string *evict) const;
  std::shared_ptr<WebRtcPeer> new_peer(GstCaps *caps, int pt, const PeerSettings &settings);
  // The answer to session `key`'s offer, or why there is none (server thread).
  void deliver(const std::string &key, WebRtcPeer::Outcome outcome, const std::string &text);
  bool end_session(const std::string &key, ClientStatus status);
  void end_sessions(ClientStatus status);  // server thread
  // Runs fn on the server thread soon (any thread).
  void on_server(std::function<void()> fn);
  std::vector<std::shared_ptr<WebRtcPeer>> peers();
  size_t n_rungs_locked() const;

  const KeyframeFn keyframe_wanted_;
  mutable std::mutex lock_;  // everything below but the meters
  Settings settings_;
  Mount *mount_ = nullptr;  // set on the server thread, read under the lock elsewhere
  GstCaps *caps_[kMaxRungs] = {};
  GstCaps *audio_caps_ = nullptr;
  std::string profile_;                      // of the top rung ("constrained-baseline")
  std::map<std::string, Session> sessions_;  // by the secret key in its Location
  // Offers waiting for their answers, by their sessions' keys. Their messages are held and let go
  // of on the server thread only: the last reference to a message can end its connection, whose
  // bookkeeping is the server thread's (a peer, and whatever it kept, may die on any thread).
  std::map<std::string, std::unique_ptr<Pending>> pending_;
  // Each rung's bytes (streaming threads), and its bitrate from them (the server thread).
  std::array<std::atomic<uint64_t>, kMaxRungs> rung_bytes_{};
  std::array<BitrateMeter, kMaxRungs> meters_;
  std::vector<uint64_t> bitrates_;  // server thread: as last measured
};

}  // namespace camcast
