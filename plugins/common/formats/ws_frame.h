// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// RFC 6455 framing for the server side of a WebSocket.
//
// Server frames are never masked (RFC 6455 §5.1), so a data frame on the wire is a 2–10 byte
// header followed by the payload bytes exactly as the encoder produced them: the fan-out writes
// the header and the mapped GstMemory with one writev and never copies a frame per client.
// Client frames are always masked and come from the network, so the parser trusts nothing:
// every length is bounded, and any violation ends the connection with the close code RFC 6455
// §7.4.1 gives for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace camcast::ws {

enum class Opcode : uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA,
};

// Close codes used here (RFC 6455 §7.4.1).
enum CloseCode : uint16_t {
  kCloseNormal = 1000,
  kCloseGoingAway = 1001,
  kCloseProtocolError = 1002,
  kCloseInvalidData = 1007,
  kClosePolicyViolation = 1008,
  kCloseTooBig = 1009,
};

constexpr size_t kMaxServerHeader = 10;

// Writes an unmasked, final (FIN) frame header for a payload of `payload_len` bytes.
// Returns the header length: 2, 4 or 10.
size_t write_server_header(uint8_t out[kMaxServerHeader], Opcode opcode, uint64_t payload_len);

// A whole server frame with a small payload (control frames, short text), header included.
std::string server_frame(Opcode opcode, const void *payload, size_t len);
std::string close_frame(uint16_t code, const std::string &reason);

struct ParserLimits {
  size_t max_frame_payload = 64 * 1024;  // one frame's payload
  size_t max_message = 256 * 1024;       // all fragments of one message together
  size_t max_fragments = 64;             // bounds "endless" fragmentation with empty frames
};

// One complete client message or control frame.
struct ClientMessage {
  Opcode opcode;            // Text, Binary, Close, Ping or Pong (never Continuation)
  std::string payload;      // unmasked; for Close, the code and reason bytes as sent
  uint16_t close_code = 0;  // for Close: the code the client sent, or 1005 when it sent none
};

// Incremental parser for client-to-server frames. Feed bytes as they arrive; complete messages
// come out in order. Memory held never exceeds the limits plus a 14-byte header.
class FrameParser {
public:
  explicit FrameParser(ParserLimits limits = {}) : limits_(limits) {}

  // Returns false on the first protocol violation; error_code() and error_reason() say which
  // close code and reason to send. After an error the parser accepts nothing more.
  bool feed(const uint8_t *data, size_t len, std::vector<ClientMessage> &out);

  uint16_t error_code() const { return error_code_; }
  const char *error_reason() const { return error_reason_; }
  size_t bytes_held() const { return message_.capacity() + control_.capacity(); }

private:
  bool fail(uint16_t code, const char *reason);
  bool header_complete(std::vector<ClientMessage> &out);
  bool frame_complete(std::vector<ClientMessage> &out);

  ParserLimits limits_;
  // Header being read: at most 2 + 8 (length) + 4 (mask) bytes.
  uint8_t header_[14];
  size_t header_have_ = 0;
  size_t header_need_ = 2;
  // Current frame.
  bool fin_ = false;
  Opcode opcode_ = Opcode::Continuation;
  uint64_t payload_len_ = 0;
  uint64_t payload_have_ = 0;
  uint8_t mask_[4] = {0, 0, 0, 0};
  bool in_payload_ = false;
  // A fragmented data message in progress, and the payload of a control frame.
  bool in_message_ = false;
  Opcode message_opcode_ = Opcode::Binary;
  size_t fragments_ = 0;
  std::string message_;
  std::string control_;
  uint16_t error_code_ = 0;
  const char *error_reason_ = nullptr;
};

}  // namespace camcast::ws
