// Waiting in tests: for a condition, with a deadline (never sleep-and-hope).
#pragma once

#include <chrono>
#include <thread>

namespace camcast::test {

// True as soon as cond() holds; false if it still does not after `timeout`.
template <typename F>
bool wait_for(F cond, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// True when cond() holds throughout `span` (checked every 20 ms): something that must not happen
// within a window the behaviour itself sets (an idle-after, a rate limit).
template <typename F>
bool holds_for(F cond, std::chrono::milliseconds span) {
  const auto until = std::chrono::steady_clock::now() + span;
  while (std::chrono::steady_clock::now() < until) {
    if (!cond())
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

}  // namespace camcast::test
