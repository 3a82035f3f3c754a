// Layer fanout: the queue all clients of a stream share, and the lag policy; uses nothing else.
// Which rendition (rung) of a stream one viewer should be on, from what its link shows.
//
// A stream may come in several renditions — a ladder, rung 0 the top (the camera's full size
// and bitrate), each lower rung smaller and cheaper. Every viewer is on one rung, and moves by
// itself, so that a viewer whose link is narrower than the stream plays smoothly instead of
// freezing and jumping a GOP at a time:
//
// - Down, as soon as it falls behind — well before the lag policy would skip it to a keyframe:
//   its lag (how old the oldest unit it still has to send is) has not come down over the last
//   second (a join's or a keyframe's burst drains by itself where the link carries the rung) and
//   is past `down_lag_us` a second tick running, or never went under a frame's in that second
//   (a link a little narrower than the rung); or passes four times `down_lag_us`; or the kernel
//   measured its link (bytes acknowledged while the socket had more than enough to send; the
//   median of the last seconds') slower than its rung; or, over RTP, the viewer's receiver
//   report says it lost `down_loss` of what was sent (a link that drops what it cannot carry, as
//   a full router queue does — or cannot take the rung's keyframes at once). It goes to the
//   highest rung that fits in `fill` of the link as known now (the narrowest of the measures and
//   of what was delivered while more waited), at least one rung down; what was measured before
//   it came down is forgotten (of a wider link, or of the fall's own bursts).
// - Up, when the link has room: its lag has stayed under `calm_lag_us` for the hold time, and
//   the link measured lately carries the next rung up with `headroom` to spare (keyframe bursts
//   give such measurements even on a low rung). A link that has not shown its size lately — the
//   viewer always had less to send than the link could take, itself a sign of room — is tried
//   one rung up after a longer hold, unless it was last measured too narrow for that rung (within
//   the longest hold: a narrow link is not tried again and again). A step up that has to come back
//   down within `probe_us` doubles the hold (up to `max_hold_us`), so a link at the edge of a rung
//   does not flap; a long calm spell brings it back.
//
// - How far behind a viewer is counts what waits in the network too: the round trip above the
//   least seen lately is a queue on the way (a link that just got narrower still holds what the
//   wider one let TCP put in flight). A caller whose lag already counts it (a WebSocket viewer's:
//   up to what its TCP acknowledged) gives no round trip.
// - A viewer starts on the rung a probe sent before anything else finds room for
//   (start_rung()): on a link narrower than the top, a top keyframe would take seconds.
// - A viewer below the top whose link has not shown room for the next rung gets a probe now and
//   then (probe_size(): padding it ignores, a burst whose delivery the caller times and reports
//   to probed()), every `probe_every_us`, twice that after each probe that found no room (up to
//   8 s); a probe that found room is a step up, as far as the room it found.
//
// The decision is the policy's; moving and probing are the caller's (the viewer switches at the
// new rung's next keyframe). Pure: tested with made-up links (tests/unit/test_rung_policy.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace camcast {

struct RungSettings {
  int64_t down_lag_us = 250000;  // behind this much: down
  int64_t calm_lag_us = 60000;   // under this much the link is keeping up
  int64_t hold_us = 4000000;     // calm this long before a step up (first)
  int64_t max_hold_us = 60000000;
  int64_t blind_hold_us = 6000000;  // a step up without a measurement of the link, after this
  int64_t probe_us = 10000000;      // a step up that fails within this doubles the hold
  double fill = 0.8;                // of the measured link a rung may take
  double headroom = 1.3;            // the next rung up times this must fit the measured link
  // ... and a probe's measure, which reads high by what a link lets through at once (a token
  // bucket, Wi-Fi's aggregation: a 4 KB bucket made 8 KB probes read a quarter high)
  double probe_headroom = 1.5;
  int64_t window_us = 10000000;  // measurements of the link are remembered this long
  // Right after a move the new rung's keyframe is on its way: lag counts for half this long.
  int64_t settle_us = 1500000;
  int64_t probe_every_us = 4000000;  // the first probe on a rung after this; doubled up to 8 s
  int64_t max_probe_every_us = 8000000;
  double down_loss = 0.1;   // this share of the packets lost (RTP): behind
  double calm_loss = 0.02;  // under it the link is keeping up
};

// What is known of one viewer's link at one moment.
struct LinkSample {
  int64_t now_us = 0;
  int64_t lag_us = 0;         // behind the newest unit of its rung
  uint64_t delivery_bps = 0;  // the kernel's measure of the link (bits/s), 0 = none
  bool app_limited = true;    // taken while there was too little to send: a lower bound only
                              // (over RTP a loss of down_loss or more makes it the link's)
  int64_t rtt_us = 0;         // the connection's smoothed round trip, 0 = not known
  double loss = 0;            // the share of packets lost since the last sample (RTP; 0 over TCP)
  // What was delivered while more waited all along and a queue showed (bits/s, 0 = none): the
  // link, or less under loss — where to go when behind, not a measure of room.
  uint64_t draining_bps = 0;
};

// The share of packets lost, counted over enough packets that chance is not taken for a full
// link: from a receiver's reports (RTP), which come as often as with every NACK, some over a few
// dozen packets, where 3 lost of 27 on a link that loses 2 % at random reads as 11 % (a viewer
// on it moved from 720p to 180p); or from what TCP resent. A share comes out once `min_packets`
// were sent since the last one, or `max_us` passed.
class LossWindow {
public:
  explicit LossWindow(uint32_t min_packets = 100, int64_t max_us = 2000000)
      : min_packets_(min_packets), max_us_(max_us) {}
  // Counts so far (when, packets sent — or a report's extended highest sequence number —, and
  // lost or resent): true with the share in `*share` when they close a window.
  bool add(int64_t at_us, uint32_t sent, int32_t lost, double *share);

private:
  const uint32_t min_packets_;
  const int64_t max_us_;
  bool started_ = false;
  int64_t since_us_ = 0;
  uint32_t sent_ = 0;
  int32_t lost_ = 0;
};

class RungPolicy {
public:
  explicit RungPolicy(RungSettings settings = {}) : s_(settings), hold_us_(settings.hold_us) {}

  // The rung to be on, given the one it is on and every rung's bitrate (bits/s, top first; 0 =
  // not known yet). `pinned` >= 0: the viewer chose that rung and stays on it.
  size_t choose(size_t current, const std::vector<uint64_t> &bitrates, const LinkSample &sample,
                int pinned = -1);

  // The rung a viewer starts on, from a probe sent before anything of the stream (the link in
  // bits/s as it measured it; 0: not measured, or too fast to tell): the highest whose bitrate
  // the measure carries with `probe_headroom` to spare — the top on any link that carries it.
  size_t start_rung(const std::vector<uint64_t> &bitrates, uint64_t bps, int64_t now_us);

  // The link as measured lately (bits/s: the median of the last seven full-rate samples of the
  // window, at least three), 0 if unknown.
  uint64_t link_bps() const;
  int64_t hold_us() const { return hold_us_; }
  // The link as last known, however long ago (a measure, or the rung it fell behind on when it
  // had none), 0 if never.
  uint64_t last_link_bps() const { return last_link_; }
  // Bytes of padding to send now to measure the link (0: no probe due). After choose().
  size_t probe_size(size_t current, const std::vector<uint64_t> &bitrates, int64_t now_us);
  // What a probe measured (bits/s): room for the next rung up is a step up (after the hold, as
  // far as it has room for); no room makes the next probe wait twice as long.
  void probed(size_t current, const std::vector<uint64_t> &bitrates, uint64_t bps, int64_t now_us);

private:
  int64_t queued_in_network(const LinkSample &x);
  static std::vector<uint64_t> estimated(const std::vector<uint64_t> &measured);
  size_t fitting(const std::vector<uint64_t> &bitrates, uint64_t bps, size_t below) const;

  const RungSettings s_;
  int64_t hold_us_;
  int64_t calm_since_ = -1;  // when its lag last went under calm_lag_us, -1 = not calm
  uint64_t last_link_ = 0;   // the link as last measured, and when, however long ago
  int64_t last_link_at_ = 0;
  struct Lag {
    int64_t at_us;
    int64_t lag_us;
  };
  std::deque<Lag> lags_;  // the lag of each call of the last second
  // The rung of the last call, since when it is on it, and whether it came down to it.
  size_t last_rung_ = 0;
  int64_t on_rung_since_ = -1;
  bool came_down_ = false;
  int64_t last_up_ = -1;     // when it last stepped up (-1: not since it last came down)
  size_t probe_rung_ = 0;    // the rung probes are scheduled for
  int64_t next_probe_ = -1;  // when the next probe is due, and the wait after it
  int64_t probe_every_ = 0;
  bool probe_room_ = false;  // the last probe found room for the next rung up
  struct Rtt {
    int64_t at_us;
    int64_t rtt_us;
  };
  std::deque<Rtt> rtts_;  // the least round trip of each second of the last 30
  struct Measure {
    int64_t at_us;
    uint64_t bps;
  };
  std::deque<Measure> measures_;  // full-rate samples within the window
};

}  // namespace camcast
