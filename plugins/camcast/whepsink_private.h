// GstWhepSink's state, shared by its element code (whepsink.cpp: the stream, the viewers' ticks,
// properties) and its WHEP resource (whepsink_sessions.cpp: offers, answers, sessions' ends).
#pragma once

#include "fanout/bitrate_meter.h"
#include "net/client.h"
#include "webrtc/peer.h"
#include "whepsink.h"

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN(gst_whep_sink_debug);

inline constexpr guint kDefaultMaxViewers = 10;

struct WhepSession {
  guint64 id;
  std::shared_ptr<camcast::WebRtcPeer> peer;
  gint64 started;        // monotonic µs
  std::string address;   // the offer's client
  bool counted = false;  // connected, and counted as a viewer (client-added)
};

// A POST waiting for its answer (server thread).
struct WhepPending {
  GstWhepSink *sink;       // a reference
  SoupServerMessage *msg;  // a reference
  std::string key;
  std::string location;
  camcast::WebRtcPeer::Outcome outcome = camcast::WebRtcPeer::Outcome::Failed;
  std::string sdp_or_why;
  bool finished = false;  // the client went away meanwhile
};

struct WhepSinkPrivate {
  static constexpr size_t kMaxRungs = camcast::WebRtcPeer::kMaxRungs;
  std::mutex lock;  // everything below but the meters
  GstCaps *caps = nullptr;
  std::array<GstCaps *, kMaxRungs> rung_caps{};  // the lower rungs' (rung_caps[0] unused)
  GstCaps *audio_caps = nullptr;                 // Opus from the audio pad, if any
  std::string profile;  // of the stream ("constrained-baseline"): the offer's format must say it
  camcast::PeerSettings settings;
  guint max_viewers = kDefaultMaxViewers;
  std::map<std::string, WhepSession> sessions;  // by the secret key in its Location
  guint64 next_id = 1;
  // Each rung's bytes (their streaming threads), and its bitrate from them (the server thread).
  std::array<std::atomic<uint64_t>, kMaxRungs> rung_bytes{};
  std::array<camcast::BitrateMeter, kMaxRungs> meters;
};

struct _GstWhepSink {
  GstWsSink parent;
  WhepSinkPrivate *priv;
};

// The viewers' peers now, to feed outside the lock. Under the lock.
inline std::vector<std::shared_ptr<camcast::WebRtcPeer>> peers_locked(WhepSinkPrivate *priv) {
  std::vector<std::shared_ptr<camcast::WebRtcPeer>> peers;
  for (auto &[key, session] : priv->sessions)
    peers.push_back(session.peer);
  return peers;
}

// The WHEP resource: OPTIONS, POST (an offer), DELETE and PATCH of a session, any other method
// but GET and HEAD answered 405. False for GET and HEAD, which the element serves.
bool whep_serve(GstWhepSink *sink, SoupServerMessage *msg, const char *rest);

// Ends a session (server thread), its viewer told as `status`; false if there was none.
bool whep_end_session(GstWhepSink *sink, const std::string &key, camcast::ClientStatus status);

// The element's tick (whepsink.cpp), also run at once when a peer connects or fails.
void gst_whep_sink_tick(GstWsSink *ws, gint64 now);
