// Layer webrtc: publishing to a WHIP server (RFC 9725); uses the peer, net's back-off, libsoup.
// The camera's H.264 pushed over WebRTC to a server that takes WHIP — Janus, MediaMTX, LiveKit,
// Cloudflare Stream, OBS's — from where it reaches viewers this camera never sees.
//
// A thread of its own makes one session at a time: an offer with every ICE candidate (no
// trickle), POSTed to the endpoint with the bearer token; the answer from a 201 sets up the
// peer; DELETE on the session's Location ends it. The session counts as lost when ICE fails, or
// when the server has sent no RTCP for `timeout_s` (receivers report every few seconds; a server
// that restarted or dropped the session goes silent before ICE notices); then the thread tries
// again with exponential back-off. Access units go to the peer while it is connected, from a
// keyframe it asks for; otherwise they are dropped.
//
// Fed a ladder (the camera's stream in several renditions, rung 0 the top), the session sends
// one rung at a time and moves along it by itself on the server's receiver reports, as a WHEP
// viewer does (webrtc/peer.h): an upload narrower than the stream moves it down, room moves it
// back up.
#pragma once

#include "fanout/bitrate_meter.h"
#include "webrtc/peer.h"

#include <gio/gio.h>
#include <gst/gst.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

typedef struct _SoupSession SoupSession;
typedef struct _SoupMessage SoupMessage;

namespace camcast {

class WhipPublisher {
public:
  struct Settings {
    std::string location;  // the WHIP endpoint, http:// or https://
    std::string token;     // sent as "Authorization: Bearer"; empty: none
    std::string ca_file;   // PEM CA certificates to trust besides the system's
    PeerSettings peer;     // STUN, TURN, ports
    int backoff_initial_ms = 250;
    int backoff_max_ms = 10000;
    int timeout_s = 10;  // the server's answer, ICE, and the server's silence
  };
  // From the publishing thread: a session connected (true), or ended or failed (false, why).
  using EventFn = std::function<void(bool connected, const std::string &why)>;

  // `keyframe_wanted` runs when a session connects, when the server asks for a picture and when
  // the session moves to another rung: the encoder of rung `rung` should send a keyframe.
  WhipPublisher(Settings settings, EventFn event, std::function<void(size_t rung)> keyframe_wanted);
  ~WhipPublisher();  // stop()
  WhipPublisher(const WhipPublisher &) = delete;
  WhipPublisher &operator=(const WhipPublisher &) = delete;

  // Checks the location and starts; false with a message a person can act on.
  bool start(GError **error);
  // Ends the session (DELETE, bounded by the timeout) and stops the thread.
  void stop();
  // The caps of rendition `rung` (stream-format=avc); the first session waits for the top's.
  // Any thread.
  void set_caps(GstCaps *caps, size_t rung = 0);
  // One access unit of rendition `rung`, to the session if there is one (referenced, not
  // copied). Never blocks.
  void push(GstBuffer *buffer, bool keyframe, size_t rung = 0);
  // The renditions there are (1: no ladder). Any thread.
  void set_rungs(size_t n);
  // Whether the session sends rendition `rung` now or moves to it (its encoder must work).
  bool uses(size_t rung);
  // The rung the session sends (0 without one).
  size_t rung();
  bool connected();
  guint64 sessions();  // sessions connected so far

private:
  void run();
  // One session, from the offer to its end; returns why it ended.
  std::string session();
  // The peer's offer with its candidates (in `sdp`), or why there is none.
  std::string make_offer(WebRtcPeer *peer, std::string *sdp);
  // Waits for the answered peer to connect, then while the server is heard from; why it ended.
  std::string stay_connected(const std::shared_ptr<WebRtcPeer> &peer);
  // On a ladder: each rung's bitrate, and the peer's move on the server's reports.
  void follow_link(const std::shared_ptr<WebRtcPeer> &peer, gint64 now);
  // POSTs the offer; the answer, or "" with `why`. `resource` gets the session's URL.
  std::string post_offer(const std::string &offer, std::string *resource, std::string *why);
  void delete_resource(const std::string &resource);
  // Sends `msg` with the token; its body up to `limit` bytes. `sent`: an answer came; `why`
  // says what failed.
  std::string request(SoupMessage *msg, size_t limit, GCancellable *cancellable, bool *sent,
                      std::string *why);
  // Waits up to `us` or until stop(); false when stopping.
  bool wait(gint64 us);
  std::string where() const;  // the endpoint for logs: no path, no token

  const Settings settings_;
  const EventFn event_;
  const std::function<void(size_t rung)> keyframe_wanted_;
  GUri *uri_ = nullptr;
  GTlsDatabase *ca_ = nullptr;
  GCancellable *cancellable_ = nullptr;  // the offer's request: cancelled by stop()
  GCancellable *ending_ = nullptr;       // the DELETE: cancelled if it outlasts stop()'s grace
  SoupSession *http_ = nullptr;          // the thread's own
  std::thread thread_;

  // `lock_` protects everything below; the thread waits on `wake_`.
  std::mutex lock_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<GstCaps *> caps_;       // by rung (null: none yet)
  std::shared_ptr<WebRtcPeer> peer_;  // the session's, while it is connected
  guint64 sessions_ = 0;
  size_t n_rungs_ = 1;
  std::vector<uint64_t> rung_bytes_;  // each rung's bytes pushed so far

  // The thread's own: each rung's bitrate, and when it was last measured.
  std::vector<BitrateMeter> meters_;
  std::vector<uint64_t> bitrates_;
  gint64 measured_ = 0;
};

}  // namespace camcast
