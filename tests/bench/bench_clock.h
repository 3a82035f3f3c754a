// What the benchmark sources share: clocks, pacing at a fixed frame rate, and stopping cleanly
// on SIGINT/SIGTERM.
#pragma once

#include <csignal>
#include <cstdint>
#include <ctime>

namespace bench {

inline volatile sig_atomic_t stop_requested = 0;

inline void stop_on_signals() {
  signal(SIGTERM, [](int) { stop_requested = 1; });
  signal(SIGINT, [](int) { stop_requested = 1; });
}

inline uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t wall_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

// Sleeps until the next tick of a fps clock started at the first call; returns the tick number.
class Pacer {
public:
  explicit Pacer(int fps) : interval_(1000000000ull / uint64_t(fps)), next_(mono_ns()) {}
  uint64_t wait() {
    next_ += interval_;
    timespec until{time_t(next_ / 1000000000ull), long(next_ % 1000000000ull)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr);
    return tick_++;
  }
  uint64_t interval_ns() const { return interval_; }

private:
  uint64_t interval_, next_, tick_ = 0;
};

}  // namespace bench
