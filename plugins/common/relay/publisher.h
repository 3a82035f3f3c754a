// Layer relay: both ends of a camera's push to a public host; uses net, fanout, formats, access.
// The camera side of a relay: one long HTTP POST whose chunked body is the stream, to a public
// host the camera can reach when nobody can reach the camera — relaysrc, the JSMpeg relay
// (POST /<secret>), or anything that takes what `ffmpeg -f mpegts http://…` sends.
//
// A thread of its own connects (http:// or https://), sends the stream header (PAT/PMT) and then
// the stream from its next keyframe, and reconnects with exponential back-off when the
// connection fails, the relay answers (a refusal: wrong secret, another publisher) or a write
// makes no progress for `timeout_s`. While it is not connected, and whenever the link is slower
// than the stream, units are dropped — counted, never buffered beyond `max_queued_bytes` — and
// the stream resumes at a keyframe.
//
// A camera may offer its stream in several renditions (a ladder: rung 0 the top, each lower
// rung smaller; each its own MPEG-TS with the same PIDs, as mpegtsmux makes them). The publisher
// then sends one at a time and moves by itself as the upload allows, with the policy a viewer's
// link has (fanout/rung_policy.h): its lag (how old the oldest unit still to send is), the link
// as TCP shows it (bytes acknowledged while a write waited for the kernel), and below the top a
// probe now and then — null packets (PID 0x1FFF), which every demuxer skips, timed until
// acknowledged. A move asks the new rung for a keyframe (`keyframe_wanted`) and cuts over where
// the old rung's next frame would begin: the old rung's packets up to the new keyframe's time,
// then the new rung's from its keyframe on, so the relay's demuxer sees whole frames of each.
#pragma once

#include "fanout/bitrate_meter.h"
#include "fanout/drop_gate.h"
#include "fanout/rung_policy.h"

#include <gio/gio.h>
#include <gst/gst.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace camcast {

// What a relay's answer (bytes it sent back, untrusted) means for the person running the camera:
// "" for nothing yet or only interim answers like "100 Continue" (go on), else why the relay
// refused or ended the stream, with a hint.
std::string describe_relay_answer(std::string_view answer);

class RelayPublisher {
public:
  struct Settings {
    std::string location;  // http://host[:port]/path or https://…
    std::string secret;    // sent as "Authorization: Bearer"; empty: none (in the URL)
    std::string ca_file;   // PEM CA certificates to trust besides the system's
    int backoff_initial_ms = 250;
    int backoff_max_ms = 10000;
    int timeout_s = 10;  // connecting, and a write that makes no progress
    size_t max_queued_bytes = 4 * 1024 * 1024;
  };
  struct Stats {
    bool connected = false;
    uint64_t bytes_sent = 0;
    uint64_t units_dropped = 0;
    uint64_t connections = 0;
    size_t rung = 0;        // the rendition it sends
    uint64_t link_bps = 0;  // the upload as measured lately, 0 = not known
    uint64_t rung_changes = 0;
  };
  // Called from the push thread when a connection is made (true) or lost (false, with why).
  using EventFn = std::function<void(bool connected, const std::string &why)>;
  // Called from the push thread, no lock held: rung `rung` should send a keyframe now (a move
  // to it; the owner wakes its encoder and asks).
  using KeyframeFn = std::function<void(size_t rung)>;

  RelayPublisher(Settings settings, EventFn event, KeyframeFn keyframe_wanted = nullptr);
  ~RelayPublisher();
  RelayPublisher(const RelayPublisher &) = delete;
  RelayPublisher &operator=(const RelayPublisher &) = delete;

  // Checks the location and starts pushing; false with a message a person can act on.
  bool start(GError **error);
  // Ends the request cleanly (what is queued, then the last chunk) and stops the thread.
  void stop();
  // Sent at the start of every connection (the caps' streamheader). Any thread.
  void set_header(const std::vector<GstBuffer *> &header);
  // Queues one unit of rendition `rung` (referenced, not copied), if it is the one sent or
  // the one a move goes to. Any thread; never blocks.
  void push(GstBuffer *buffer, bool keyframe, size_t rung = 0);
  // The renditions there are (1: no ladder). Any thread.
  void set_rungs(size_t n);
  // Whether rendition `rung` is sent now or moved to (its encoder must work). Any thread.
  bool uses(size_t rung);
  Stats stats();

private:
  void run();
  // One connection, from connecting to losing it; returns why it ended.
  std::string connect_and_stream();
  // Connects (TLS for https://); null with why not.
  GSocketConnection *connect(std::string *why);
  // The POST's head: chunked, 100-continue, the secret as a bearer token.
  std::string request_head() const;
  // Writes the queue as it fills until the relay answers, a write fails, or stop(); returns why
  // it ended.
  std::string stream(GSocket *socket, GInputStream *in, GOutputStream *out);
  bool wait_backoff(int ms);
  // The relay as logs may show it: no path, no secret.
  std::string where() const;
  // Writes `data` in pieces, timing the link where a piece waited for the kernel and deciding
  // the rung between pieces; false with why if it failed.
  bool send(GSocket *socket, GOutputStream *out, const std::string &data, std::string *why);
  // On a ladder: a probe's end, and at most every kTickUs the policy's decision. Returns the
  // bytes of a probe to send now (0: none; none mid-chunk: `may_probe` false). Push thread.
  size_t tick(GSocket *socket, bool may_probe);
  bool ladder();
  // Under lock_: a move's cut-over (the new rung's units from its keyframe on, after the old
  // rung's up to it), or its end without one; the queue let go of.
  void finish_move();
  void cancel_move();
  void clear_queue();
  void queue_unit(GstBuffer *buffer, bool keyframe, gint64 at);

  const Settings settings_;
  const EventFn event_;
  const KeyframeFn keyframe_wanted_;
  GUri *uri_ = nullptr;
  GTlsDatabase *ca_ = nullptr;
  GCancellable *cancellable_ = nullptr;
  std::thread thread_;

  // `lock_` protects everything below; the thread waits on `wake_`.
  std::mutex lock_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool connected_ = false;
  std::vector<GstBuffer *> header_;
  struct Unit {
    GstBuffer *buffer;
    gint64 at;  // monotonic µs: when it was pushed
    bool keyframe;
  };
  std::deque<Unit> queue_;
  DropGate gate_;             // bounds queue_ (fanout/drop_gate.h)
  gint64 writing_since_ = 0;  // the oldest unit of the batch being written, 0 = none
  GstClockTime writing_pts_ = GST_CLOCK_TIME_NONE;  // the time of the last unit taken to write
  Stats stats_;

  // The ladder (under lock_): each rung's bytes pushed, the rung sent (stats_.rung) and a move
  // under way: to `next_rung_`, whose units from its keyframe at `cut_pts_` wait in `moving_`
  // until the old rung reaches that time (or `cut_by_` passes: an old rung that went quiet).
  size_t n_rungs_ = 1;
  std::vector<uint64_t> rung_bytes_;
  bool moving_ = false;
  size_t next_rung_ = 0;
  GstClockTime cut_pts_ = GST_CLOCK_TIME_NONE;
  gint64 cut_by_ = 0;
  gint64 move_asked_ = 0;
  std::vector<Unit> moving_units_;
  uint64_t moving_bytes_ = 0;

  // The push thread's own: the policy, the link as measured since the last tick, a probe.
  RungPolicy policy_;
  std::vector<BitrateMeter> meters_;
  std::vector<uint64_t> bitrates_;
  gint64 next_tick_ = 0;
  uint64_t backlog_bytes_ = 0;
  gint64 backlog_us_ = 0;
  bool backlog_queued_ = false;
  gint64 probe_since_ = 0;  // a probe under way: since when, acknowledged from … to
  uint64_t probe_from_ = 0, probe_to_ = 0;
  int lowat_ = -1;
};

}  // namespace camcast
