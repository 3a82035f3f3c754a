// Layer fanout: the unit queue every client of a stream shares, and the lag policy; uses nothing.
// The one rule for a hand-off between a producer that must never block (a streaming thread, the
// server thread) and a consumer that may fall behind (the server thread, the relay's push thread,
// a pipeline): the queue between them is bounded in units and bytes, and when a unit does not
// fit, everything queued is dropped (it is late anyway) and so is every unit after it up to the
// next keyframe, where a decoder can start again. What is dropped is counted.
//
// The gate keeps the counts; the owner keeps the queue (under its own lock) and does what admit()
// says. For a stream in which any unit is a place to start (MPEG-TS packets), every unit is a
// keyframe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace camcast {

class DropGate {
public:
  DropGate(size_t max_units, uint64_t max_bytes) : max_units_(max_units), max_bytes_(max_bytes) {}

  struct Verdict {
    bool flush = false;  // drop everything queued first
    bool queue = true;   // then queue this unit (else drop it)
  };
  Verdict admit(uint64_t size, bool keyframe) {
    Verdict v;
    if (units_ + 1 > max_units_ || bytes_ + size > max_bytes_) {
      v.flush = units_ > 0;
      dropped_ += units_;
      units_ = 0;
      bytes_ = 0;
      waiting_keyframe_ = true;
    }
    if ((waiting_keyframe_ && !keyframe) || size > max_bytes_) {
      dropped_++;
      v.queue = false;
      return v;
    }
    waiting_keyframe_ = false;
    units_++;
    bytes_ += size;
    return v;
  }
  // The consumer took one unit, or all of them.
  void taken(uint64_t size) { units_--, bytes_ -= size; }
  void taken_all() { units_ = 0, bytes_ = 0; }
  // The stream broke (the consumer lost its connection, say): go on from the next keyframe.
  void interrupt() { waiting_keyframe_ = true; }

  size_t units() const { return units_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t dropped() const { return dropped_; }

private:
  const size_t max_units_;
  const uint64_t max_bytes_;
  size_t units_ = 0;
  uint64_t bytes_ = 0;
  uint64_t dropped_ = 0;
  bool waiting_keyframe_ = false;
};

}  // namespace camcast
