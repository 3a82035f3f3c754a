// Layer fanout: the queue all clients of a stream share, and the lag policy; uses nothing else.
// One rendition's bitrate, from the bytes it has produced so far, read at each of the server's
// ticks: over the last two seconds it ran, kept while it idles (a rung nobody is on still has a
// bitrate a viewer's policy can weigh).
#pragma once

#include <cstdint>
#include <deque>
#include <utility>

namespace camcast {

class BitrateMeter {
public:
  // `bytes`: all the rendition has produced by `now_us` (monotonic). Returns the bitrate (bits/s,
  // 0 until it has run a second).
  uint64_t measure(int64_t now_us, uint64_t bytes) {
    constexpr int64_t kWindowUs = 2000000;
    if (samples_.empty() || bytes == samples_.back().second)
      samples_.clear();  // idle since the last tick: the window starts again when it wakes
    samples_.emplace_back(now_us, bytes);
    while (samples_.size() > 2 && now_us - samples_[1].first >= kWindowUs)
      samples_.pop_front();
    const auto &[since, before] = samples_.front();
    if (now_us - since >= kWindowUs / 2 && bytes > before)
      bitrate_ = (bytes - before) * 8 * 1000000 / uint64_t(now_us - since);
    return bitrate_;
  }
  uint64_t bitrate() const { return bitrate_; }

private:
  uint64_t bitrate_ = 0;
  std::deque<std::pair<int64_t, uint64_t>> samples_;  // (µs, bytes) a tick
};

}  // namespace camcast
