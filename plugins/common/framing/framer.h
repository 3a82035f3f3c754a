// Layer framing: the bytes a unit needs around it on one kind of connection; uses fanout, formats.
// A unit (fanout/unit_queue.h) is only payload. How it goes on the wire depends on the
// connection: a WebSocket binary or text message (formats/ws_frame.h), or one part of an HTTP
// multipart/x-mixed-replace response (MJPEG for <img>). A Framer writes the head before the
// payload and names the tail after it; the payload itself is never copied.
#pragma once

#include "fanout/unit_queue.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace camcast {

// The bytes around one unit on one connection.
struct Framed {
  static constexpr size_t kMaxHead = 160;
  uint8_t head[kMaxHead];
  size_t head_len = 0;
  std::string_view tail;  // static storage (or the framer's), valid while the framer is
};

class Framer {
public:
  enum class Kind { WebSocket, Multipart };
  virtual ~Framer() = default;
  virtual Kind kind() const = 0;
  // What goes before and after `unit`'s payload.
  virtual void frame(const Unit &unit, Framed *out) const = 0;
  // Sent once, before anything else (an HTTP response head); empty for none.
  virtual std::string preamble() const { return {}; }
};

// Each unit is one WebSocket message from the server (RFC 6455 §5.2): binary, or text for a
// Unit::text. With `with_info` (pull delivery) the message of every numbered unit (not the
// stream header) starts with 16 bytes: the unit's capture time (µs since the epoch, -1 unknown)
// and its number, both big-endian 64-bit, so a player can show latency and count what it
// skipped.
class WebSocketFramer final : public Framer {
public:
  explicit WebSocketFramer(bool with_info) : with_info_(with_info) {}
  Kind kind() const override { return Kind::WebSocket; }
  void frame(const Unit &unit, Framed *out) const override;

private:
  const bool with_info_;
};

// Each unit is one part of a multipart/x-mixed-replace response (RFC 2046 §5.1.1), with its
// Content-Type, Content-Length and X-Timestamp (the capture time, seconds since the epoch, as
// µStreamer sends it). The next boundary follows each part at once: Chrome draws a part only
// when it sees the next boundary (docs/protocols.md §5).
class MultipartFramer final : public Framer {
public:
  // A part type longer than this would not fit a part's head (Framed::kMaxHead): it is refused
  // with a critical warning, and the parts are typed application/octet-stream.
  static constexpr size_t kMaxPartType = 48;
  explicit MultipartFramer(std::string part_type);
  Kind kind() const override { return Kind::Multipart; }
  void frame(const Unit &unit, Framed *out) const override;
  std::string preamble() const override;

  // The response's Content-Type (with the boundary); a HEAD is answered with it.
  static std::string content_type();

private:
  std::string part_type_;
};

// Headers of every answer that shows the stream as it is now (a part stream, a snapshot):
// nothing may keep or reuse it.
constexpr const char *kNoStore = "no-store, no-cache, must-revalidate, max-age=0";
// The X-Timestamp value of a capture time (µs since the epoch): "1700000000.123456".
std::string timestamp_header(int64_t capture_us);

}  // namespace camcast
