// Layer fanout: the queue all clients of a stream share, and the lag policy; uses nothing else.
// Which rendition (rung) of a stream one viewer should be on, from what its link shows.
//
// A stream may come in several renditions — a ladder, rung 0 the top (the camera's full size
// and bitrate), each lower rung smaller and cheaper. Every viewer is on one rung, and moves by
// itself, so that a viewer whose link is narrower than the stream plays smoothly instead of
// freezing and jumping a GOP at a time:
//
// - Down, as soon as it falls behind — well before the lag policy would skip it to a keyframe:
//   its lag (how old the oldest unit it still has to send is) passes `down_lag_us`, or the
//   kernel measured its link (TCP's delivery rate, taken while the socket had more than enough
//   to send; the median of the last seconds') slower than its rung. It goes to the highest rung
//   that fits in `fill` of the link as measured, at least one rung down.
// - Up, when the link has room: its lag has stayed under `calm_lag_us` for the hold time, and
//   the link measured lately carries the next rung up with `headroom` to spare (keyframe bursts
//   give such measurements even on a low rung). A link that never shows its size is tried
//   anyway after a longer hold. A step up that has to come back down within `probe_us` doubles
//   the hold (up to `max_hold_us`), so a link at the edge of a rung does not flap; a long calm
//   spell brings it back.
//
// The decision is the policy's; moving is the caller's (the viewer switches at the new rung's
// next keyframe). Pure: tested with made-up links (tests/unit/test_rung_policy.cpp).
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
  int64_t blind_hold_us = 10000000;  // a step up without a measurement of the link, after this
  int64_t probe_us = 10000000;       // a step up that fails within this doubles the hold
  double fill = 0.8;                 // of the measured link a rung may take
  double headroom = 1.3;             // the next rung up times this must fit the measured link
  int64_t window_us = 5000000;       // measurements of the link are remembered this long
};

// What is known of one viewer's link at one moment.
struct LinkSample {
  int64_t now_us = 0;
  int64_t lag_us = 0;         // behind the newest unit of its rung
  uint64_t delivery_bps = 0;  // the kernel's measure of the link (bits/s), 0 = none
  bool app_limited = true;    // taken while there was too little to send: a lower bound only
};

class RungPolicy {
public:
  explicit RungPolicy(RungSettings settings = {}) : s_(settings), hold_us_(settings.hold_us) {}

  // The rung to be on, given the one it is on and every rung's bitrate (bits/s, top first; 0 =
  // not known yet). `pinned` >= 0: the viewer chose that rung and stays on it.
  size_t choose(size_t current, const std::vector<uint64_t> &bitrates, const LinkSample &sample,
                int pinned = -1);

  // The link as measured lately (bits/s: the median of the full-rate samples of the window, at
  // least three), 0 if unknown.
  uint64_t link_bps() const;
  int64_t hold_us() const { return hold_us_; }

private:
  size_t fitting(const std::vector<uint64_t> &bitrates, uint64_t bps, size_t below) const;

  const RungSettings s_;
  int64_t hold_us_;
  int64_t calm_since_ = -1;  // when its lag last went under calm_lag_us, -1 = not calm
  int64_t last_up_ = -1;     // when it last stepped up (-1: not since it last came down)
  struct Measure {
    int64_t at_us;
    uint64_t bps;
  };
  std::deque<Measure> measures_;  // full-rate samples within the window
};

}  // namespace camcast
