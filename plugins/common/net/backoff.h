// Layer net: how long a client waits between attempts to reach a server that failed it (the
// relay's publisher, the WHIP publisher): from `initial_ms`, doubling up to `max_ms`, and from
// `initial_ms` again once a connection has lasted long enough to count as a success.
#pragma once

#include <glib.h>

#include <algorithm>

namespace camcast {

class Backoff {
public:
  Backoff(int initial_ms, int max_ms) : initial_(initial_ms), max_(max_ms), next_(initial_ms) {}
  // The wait before the next attempt, the last one having lasted `lasted_us`.
  int next(gint64 lasted_us) {
    if (lasted_us >= kStableUs)
      next_ = initial_;
    const int wait = next_;
    next_ = std::min(next_ * 2, max_);
    return wait;
  }

private:
  static constexpr gint64 kStableUs = 10 * G_USEC_PER_SEC;
  const int initial_, max_;
  int next_;
};

}  // namespace camcast
