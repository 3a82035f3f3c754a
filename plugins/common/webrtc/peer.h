// Layer webrtc: one WebRTC peer that sends H.264, and Opus sound if asked; uses net (its
// statistics), fanout (the rung policy), formats, access (its random numbers) and GStreamer's
// webrtcbin. A pipeline of its own — appsrc ! rtph264pay ! capssetter !
// webrtcbin, and appsrc ! rtpopuspay into the same webrtcbin — fed a sink's access units and
// audio frames, so the camera and microphone are encoded once however many peers there are, and
// a peer whose link or machine fails takes nothing else with it. It answers a viewer's offer
// (WHEP, whepsink) or makes the offer itself (WHIP, whippublishsink).
//
// The local description (answer or offer) is given once ICE candidates are gathered (host
// candidates at once; STUN and TURN ones as they come, up to a deadline the owner keeps):
// camcast sends no trickled candidates, so the description carries them all. NACK and RTX are on
// (webrtcbin offers them, and answers them when offered); a picture-loss or full-intra request
// from the other side becomes a keyframe request for the owner, which rate-limits them.
//
// Fed from a ladder (whepsink's rungs), a peer sends one rung at a time and moves by itself, as
// an MSE viewer does (fanout/rung_policy.h), on what the other side's receiver reports say:
// the share of packets lost (a link narrower than the rung drops what it cannot carry), what
// arrived (the link's measure when much was lost) and the round trip (a queue building up on
// the way). It moves at the new rung's next keyframe, which the owner asks for. Below the top
// it probes now and then for room, as a TCP viewer's client does with padding: resends of
// packets the viewer already has (RTX, which it drops as duplicates), spread over a quarter of
// a second at the rate the next rung up would need; the viewer's next report losing nothing
// means the link carried it (protocols.md 10.11).
#pragma once

#include "fanout/rung_policy.h"
#include "net/client.h"

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include <array>
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
  // Readies what every peer of the process shares, once: the plugins webrtcbin loads, and the
  // DTLS certificate GStreamer's dtls elements make for the whole process (an RSA key: 150–250 ms
  // here, longer on a small board), which the first viewer would otherwise wait for. It blocks
  // while it works (a thread of its own could still be making the key when the process exits,
  // under OpenSSL's exit handlers): call it where waiting is fine, as a sink starts.
  static void prepare();

  enum class State { Describing, Connecting, Connected, Failed };
  // How the local description came out: made (the SDP), refused because nothing in the offer
  // can take this H.264 (webrtcbin would answer "inactive"), or failed.
  enum class Outcome { Described, NoCodec, Failed };
  // Called once, from one of webrtcbin's threads: the local description's SDP, or why there is
  // none.
  using Described = std::function<void(Outcome outcome, const std::string &sdp_or_why)>;

  // Renditions a peer can be fed at most (Mount::kMaxRungs).
  static constexpr size_t kMaxRungs = 4;

  // `caps`: the H.264 the sink takes; `pt`: the payload type H.264 goes with (the one a viewer's
  // offer gave it, sdp::choose_h264; any dynamic one for an offer of our own). `keyframe_wanted`
  // (of the rung it sends) runs on a streaming thread of the peer's; `state_changed`, if given,
  // on one of webrtcbin's whenever state() becomes Connected or Failed (an owner that counts its
  // peers need not poll).
  WebRtcPeer(GstCaps *caps, int pt, const PeerSettings &settings,
             std::function<void(size_t rung)> keyframe_wanted,
             std::function<void()> state_changed = {});
  ~WebRtcPeer();  // stops its pipeline
  WebRtcPeer(const WebRtcPeer &) = delete;
  WebRtcPeer &operator=(const WebRtcPeer &) = delete;

  // Sound: Opus (`caps`, as opusenc gives them) at payload type `pt` (the offer's,
  // sdp::choose_opus), on a transceiver of its own, bundled with the video. Before answer().
  void add_audio(GstCaps *caps, int pt);
  // Answering: starts the pipeline and answers `offer`. False with `why` if it cannot even start.
  bool answer(const std::string &offer, Described described, std::string *why);
  // Offering: starts the pipeline and makes an offer of this stream's H.264 (avc caps, whose
  // profile-level-id it names); accept_answer() takes the other side's reply.
  bool offer(Described described, std::string *why);
  bool accept_answer(const std::string &answer, std::string *why);
  // Gives the description now with the candidates gathered so far, if not given yet (the
  // owner's deadline).
  void describe_now();
  // One access unit of rendition `rung` (a streaming thread of the sink's): from the first
  // keyframe on, the rest waits; only the rung it sends goes, and the one it moves to from that
  // rung's next keyframe on.
  void push(GstBuffer *buffer, bool keyframe, size_t rung = 0);
  // One Opus frame (the sink's audio streaming thread), once connected.
  void push_audio(GstBuffer *buffer);
  // New caps of rendition `rung` from upstream (a new size, say). Any thread.
  void set_caps(GstCaps *caps, size_t rung = 0);

  // Every tick (the server thread): reads the other side's latest receiver report (the round
  // trip fill_stats() gives) and, on a ladder, if it is new, decides with the rung policy. Returns
  // the rung to move to — the owner asks its encoder for a keyframe, at which the move happens — or
  // -1 for none. `bitrates`: each rung's, top first. A move under way is asked again until it
  // happens.
  int choose_rung(const std::vector<uint64_t> &bitrates, gint64 now);
  // The viewer chose a rung (-1: it moves by itself). Before it connects, it starts there.
  void pin(int rung);
  // The rung it sends, and the one it is moving to (the same when none).
  size_t rung() const { return rung_.load(); }
  size_t next_rung() const { return next_rung_.load(); }
  // What /api/streams shows of it: bytes and frames sent, round trip, rung, link. The server
  // thread.
  void fill_stats(ClientStats *out) const;
  State state() const { return state_.load(); }
  // When the other side last showed it is there: its last RTCP packet, or the connection coming
  // up (monotonic µs; 0: neither yet). Receivers report every few seconds, so silence means the
  // other side is gone — a viewer whose machine died, a server that restarted — where ICE and
  // DTLS in webrtcbin 1.22 notice nothing (docs/protocols.md §10.6).
  gint64 last_heard() const { return last_heard_.load(); }

private:
  bool start(std::string *why);
  bool set_remote(GstWebRTCSDPType type, const std::string &text, std::string *why);
  static void on_remote_set(GstPromise *promise, gpointer self);
  static void on_created(GstPromise *promise, gpointer self);
  // Into `appsrc`, which stamps it with this pipeline's clock (the sink's times are another's).
  static void push_restamped(GstElement *appsrc, GstBuffer *buffer);
  static void on_rtcp(GstElement *, guint session, guint ssrc, gpointer self);
  // The other side's latest receiver report on the picture, if new since the last call.
  bool read_report(LinkSample *out, gint64 now);
  void apply_caps_locked(size_t rung);
  static void on_gathering(GObject *, GParamSpec *, gpointer self);
  static void on_connection(GObject *, GParamSpec *, gpointer self);
  static GstPadProbeReturn on_upstream_event(GstPad *, GstPadProbeInfo *info, gpointer self);
  static GstBusSyncReply on_message(GstBus *, GstMessage *message, gpointer self);
  static void on_element_added(GstBin *, GstBin *, GstElement *element, gpointer self);
  // A probe's share for this unit (the streaming thread): resends asked of rtprtxsend.
  void probe_some();
  // A picture packet sent (under resend_lock_): its sequence number joins the ring.
  void remember(GstBuffer *packet);
  // The server thread: starts a probe if the policy says one is due; judges one that is over
  // by `report` (true: the report was the probe's, not a measure of the rung).
  void start_probe(const std::vector<uint64_t> &bitrates, gint64 now);
  bool judge_probe(const std::vector<uint64_t> &bitrates, const LinkSample &report, gint64 now);
  static GstPadProbeReturn bound_resends(GstPad *, GstPadProbeInfo *info, gpointer self);
  void describe(Outcome outcome, const std::string &sdp_or_why);

  GstElement *pipeline_ = nullptr;
  GstElement *src_ = nullptr;  // appsrc
  // After the payloader: an offer's profile-level-id kept on what it sends (capssetter).
  GstElement *named_ = nullptr;
  GstElement *webrtc_ = nullptr;
  GstCaps *rtp_caps_ = nullptr;        // what the offer's H.264 must match
  GstElement *audio_src_ = nullptr;    // appsrc of the sound, with add_audio()
  GstCaps *audio_rtp_caps_ = nullptr;  // what the offer's Opus must match
  std::function<void(size_t)> keyframe_wanted_;
  std::function<void()> state_changed_;
  bool offering_ = false;
  std::mutex lock_;                          // described_, caps_, and what push() decides
  std::array<GstCaps *, kMaxRungs> caps_{};  // each rung's H.264 (the appsrc's from its keyframe)
  Described described_;
  bool described_yet_ = false;
  std::atomic<State> state_{State::Describing};
  std::atomic<gint64> last_heard_{0};
  std::atomic<bool> keyframe_seen_{false};
  std::atomic<size_t> rung_{0}, next_rung_{0};
  std::atomic<int> pinned_{-1};
  std::atomic<uint64_t> units_sent_{0};
  // Resends (RTX) of the last two seconds against what was sent first (bytes, a second each),
  // kept to kMaxResendShare: a viewer whose link is narrower than the stream asks for much of
  // it again (measured at 700 kbit/s: twelve times the stream resent, all lost), and resending
  // it all only narrows the link further.
  std::mutex resend_lock_;
  gint64 resend_second_ = 0;
  std::array<uint64_t, 2> sent_bytes_{}, resent_bytes_{};
  GstPad *resender_ = nullptr;        // rtprtxsend's src pad, where resends are asked for (a ref)
  std::array<guint16, 64> recent_{};  // the last picture packets' sequence numbers, a ring
  size_t recent_at_ = 0, recent_n_ = 0;
  int probe_credit_ = 0;  // resends asked for a probe, let through past the cap
  // A probe under way: packets still to ask for, how many with each unit, when it ended (the
  // last asked for; 0 while under way), and the rate it tried (bits/s, with the rung's).
  std::atomic<int> probe_left_{0};
  int probe_per_unit_ = 0;
  std::atomic<gint64> probe_ended_{0};
  gint64 probe_judged_ = 0;  // when the last was judged: reports a little after are its too
  uint64_t probe_bps_ = 0;
  // Bytes on the wire of the picture so far (media and resends, with their packets' headers),
  // and their count when the other side's RTCP last came, and when (their streaming threads).
  std::atomic<uint64_t> wire_bytes_{0};
  std::mutex rtcp_lock_;
  gint64 rtcp_at_ = 0;
  uint64_t rtcp_wire_ = 0;
  // The ladder's (the server thread): the policy, and the last receiver report read.
  RungPolicy policy_{rtp_rung_settings()};
  static RungSettings rtp_rung_settings();
  uint64_t rung_changes_ = 0;
  // The last report read: its highest sequence number and packets lost (cumulative), and the
  // bytes on the wire when it came, and when.
  guint report_seq_ = 0;
  gint report_lost_ = 0;
  uint64_t report_wire_ = 0;
  gint64 report_at_ = -1;
  double report_loss_ = 0;  // the share lost between the last two reports
  LossWindow loss_;         // ... and over enough packets, for the policy
  gint64 rtt_us_ = -1;
};

}  // namespace camcast
