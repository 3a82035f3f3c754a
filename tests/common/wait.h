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

}  // namespace camcast::test
