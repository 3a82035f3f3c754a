// Layer webrtc: one WebRTC viewer; uses formats and GStreamer's webrtcbin.
// A viewer of a WHEP endpoint: a pipeline of its own — appsrc ! rtph264pay ! webrtcbin — fed the
// sink's H.264 access units, so the camera is encoded once however many watch, and a viewer
// whose link or machine fails takes nothing else with it.
//
// The offer is answered once ICE candidates are gathered (host candidates at once; STUN and
// TURN ones as they come, up to a deadline the owner keeps): camcast takes no trickled
// candidates (WHEP's PATCH), so the answer carries them all. NACK and RTX are on (webrtcbin
// offers them when the viewer does); a picture-loss or full-intra request from the viewer becomes
// a keyframe request for the owner, which rate-limits them.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>

namespace camcast {

struct PeerSettings {
  std::string stun_server;  // stun://host:port; empty: none
  std::string turn_server;  // turn(s)://user:password@host:port; empty: none
  guint min_port = 0;       // the UDP ports ICE may use (for firewalls); 0: any
  guint max_port = 0;
};

// Turns UPnP off on `webrtcbin`'s ICE agent. libnice would otherwise ask the router to forward
// ports to every agent (and multicast on the LAN to find one): a camera has no business opening
// its network that way. Any webrtcbin camcast makes, tests' included, goes through here.
void forbid_upnp(GstElement *webrtcbin);

class WebRtcPeer {
public:
  enum class State { Answering, Connecting, Connected, Failed };
  // How an offer was answered: with an SDP answer, refused because nothing in it can take this
  // H.264 (webrtcbin would answer "inactive"), or failed.
  enum class Outcome { Answered, NoCodec, Failed };
  // Called once, from one of webrtcbin's threads: the answer's SDP, or why there is none.
  using Answered = std::function<void(Outcome outcome, const std::string &sdp_or_why)>;

  // `caps`: the H.264 the sink takes; `pt`: the payload type the offer gave H.264
  // (sdp::choose_h264). `keyframe_wanted` runs on a streaming thread of the peer's.
  WebRtcPeer(GstCaps *caps, int pt, const PeerSettings &settings,
             std::function<void()> keyframe_wanted);
  ~WebRtcPeer();  // stops its pipeline
  WebRtcPeer(const WebRtcPeer &) = delete;
  WebRtcPeer &operator=(const WebRtcPeer &) = delete;

  // Starts the pipeline and answers `offer`. False with `why` if it cannot even start.
  bool start(const std::string &offer, Answered answered, std::string *why);
  // Answers now with the candidates gathered so far, if not answered yet (the owner's deadline).
  void answer_now();
  // One access unit (the sink's streaming thread): from the first keyframe on, the rest waits.
  void push(GstBuffer *buffer, bool keyframe);
  // New caps from upstream (a new size, say). Any thread.
  void set_caps(GstCaps *caps);
  State state() const { return state_.load(); }

private:
  static void on_remote_set(GstPromise *promise, gpointer self);
  static void on_answer_created(GstPromise *promise, gpointer self);
  static void on_gathering(GObject *, GParamSpec *, gpointer self);
  static void on_connection(GObject *, GParamSpec *, gpointer self);
  static GstPadProbeReturn on_upstream_event(GstPad *, GstPadProbeInfo *info, gpointer self);
  static GstBusSyncReply on_message(GstBus *, GstMessage *message, gpointer self);
  void answer(Outcome outcome, const std::string &sdp_or_why);

  GstElement *pipeline_ = nullptr;
  GstElement *src_ = nullptr;  // appsrc
  GstElement *webrtc_ = nullptr;
  GstCaps *rtp_caps_ = nullptr;  // what the offer's H.264 must match
  std::function<void()> keyframe_wanted_;
  std::mutex lock_;          // answered_, caps_
  GstCaps *caps_ = nullptr;  // the H.264 the appsrc sends, once the first keyframe goes
  Answered answered_;
  bool answered_yet_ = false;
  std::atomic<State> state_{State::Answering};
  std::atomic<bool> keyframe_seen_{false};
};

}  // namespace camcast
