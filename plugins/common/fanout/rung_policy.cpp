#include "fanout/rung_policy.h"

#include <algorithm>

namespace camcast {

uint64_t RungPolicy::link_bps() const {
  // Three measurements at least, and not the highest: the kernel's delivery rate now and then
  // shows a burst of acknowledgements as a link many times faster than it is (seen behind a
  // 700 kbit/s tbf), and one such sample must not send a viewer up.
  if (measures_.size() < 3)
    return 0;
  std::vector<uint64_t> bps;
  for (const Measure &m : measures_)
    bps.push_back(m.bps);
  std::nth_element(bps.begin(), bps.begin() + bps.size() / 2, bps.end());
  return bps[bps.size() / 2];
}

// The highest rung from `below` down whose bitrate fits `bps` (a rung not measured yet is
// taken to fit: every rung is smaller than the one above it); the lowest if none does.
size_t RungPolicy::fitting(const std::vector<uint64_t> &bitrates, uint64_t bps,
                           size_t below) const {
  for (size_t r = below; r < bitrates.size(); r++)
    if (bitrates[r] == 0 || bitrates[r] <= bps)
      return r;
  return bitrates.size() - 1;
}

size_t RungPolicy::choose(size_t current, const std::vector<uint64_t> &bitrates,
                          const LinkSample &x, int pinned) {
  const size_t n = bitrates.size();
  if (n <= 1)
    return 0;
  current = std::min(current, n - 1);
  if (x.delivery_bps && !x.app_limited)
    measures_.push_back({x.now_us, x.delivery_bps});
  while (!measures_.empty() && x.now_us - measures_.front().at_us > s_.window_us)
    measures_.pop_front();
  if (pinned >= 0)
    return std::min(size_t(pinned), n - 1);

  if (x.lag_us < s_.calm_lag_us) {
    if (calm_since_ < 0)
      calm_since_ = x.now_us;
  } else {
    calm_since_ = -1;
  }
  const uint64_t link = link_bps();

  const bool behind = x.lag_us >= s_.down_lag_us;
  const bool narrow =
      link && bitrates[current] && link < bitrates[current] && x.lag_us >= s_.calm_lag_us;
  if ((behind || narrow) && current + 1 < n) {
    const size_t to =
        link ? fitting(bitrates, uint64_t(double(link) * s_.fill), current + 1) : current + 1;
    if (last_up_ >= 0 && x.now_us - last_up_ < s_.probe_us)
      hold_us_ = std::min(hold_us_ * 2, s_.max_hold_us);  // that step up was one too many
    last_up_ = -1;
    calm_since_ = -1;
    return to;
  }

  if (current > 0 && calm_since_ >= 0) {
    const int64_t calm = x.now_us - calm_since_;
    auto fits = [&](size_t r) {
      return link && bitrates[r] && double(link) >= double(bitrates[r]) * s_.headroom;
    };
    if ((fits(current - 1) && calm >= hold_us_) ||
        (!link && calm >= std::max(hold_us_, s_.blind_hold_us))) {
      size_t to = current - 1;
      while (to > 0 && fits(to - 1))
        to--;
      last_up_ = x.now_us;
      calm_since_ = x.now_us;  // the next step up waits its own hold
      return to;
    }
  }
  // A long calm spell forgives the steps up that failed.
  if (calm_since_ >= 0 && x.now_us - calm_since_ >= s_.max_hold_us)
    hold_us_ = s_.hold_us;
  return current;
}

}  // namespace camcast
