#include "formats/ws_frame.h"

#include <glib.h>

#include <algorithm>
#include <cstring>

namespace camcast::ws {

size_t write_server_header(uint8_t out[kMaxServerHeader], Opcode opcode, uint64_t payload_len) {
  out[0] = 0x80 | static_cast<uint8_t>(opcode);  // FIN, no RSV bits, opcode
  if (payload_len < 126) {
    out[1] = static_cast<uint8_t>(payload_len);
    return 2;
  }
  if (payload_len <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payload_len >> 8);
    out[3] = static_cast<uint8_t>(payload_len);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++)
    out[2 + i] = static_cast<uint8_t>(payload_len >> (56 - 8 * i));
  return 10;
}

std::string server_frame(Opcode opcode, const void *payload, size_t len) {
  uint8_t header[kMaxServerHeader];
  size_t n = write_server_header(header, opcode, len);
  std::string frame(reinterpret_cast<const char *>(header), n);
  frame.append(static_cast<const char *>(payload), len);
  return frame;
}

std::string close_frame(uint16_t code, const std::string &reason) {
  // Control frame payloads are at most 125 bytes (§5.5): 2 for the code, 123 for the reason.
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason, 0, 123);
  return server_frame(Opcode::Close, payload.data(), payload.size());
}

bool FrameParser::fail(uint16_t code, const char *reason) {
  error_code_ = code;
  error_reason_ = reason;
  message_.clear();
  message_.shrink_to_fit();
  control_.clear();
  return false;
}

static bool is_control(Opcode op) {
  return static_cast<uint8_t>(op) & 0x8;
}

// Close codes a peer may send (§7.4.1, §7.4.2): 1000–1003, 1007–1011, 3000–4999.
static bool valid_close_code(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

bool FrameParser::header_complete(std::vector<ClientMessage> &out) {
  const uint8_t b0 = header_[0], b1 = header_[1];
  if (header_need_ == 2) {
    if (b0 & 0x70)
      return fail(kCloseProtocolError, "reserved bits set without a negotiated extension");
    const uint8_t op = b0 & 0x0F;
    if (!(op <= 0x2 || (op >= 0x8 && op <= 0xA)))
      return fail(kCloseProtocolError, "unknown opcode");
    if (!(b1 & 0x80))
      return fail(kCloseProtocolError, "client frames must be masked");
    fin_ = b0 & 0x80;
    opcode_ = static_cast<Opcode>(op);
    const uint8_t len7 = b1 & 0x7F;
    if (is_control(opcode_) && (!fin_ || len7 > 125))
      return fail(kCloseProtocolError, "control frames must be whole and at most 125 bytes");
    header_need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
    if (header_have_ < header_need_)
      return true;
  }
  // Length and mask are here.
  const uint8_t len7 = b1 & 0x7F;
  size_t pos = 2;
  if (len7 == 126) {
    payload_len_ = (uint64_t(header_[2]) << 8) | header_[3];
    if (payload_len_ < 126)
      return fail(kCloseProtocolError, "length not minimally encoded");
    pos = 4;
  } else if (len7 == 127) {
    payload_len_ = 0;
    for (int i = 0; i < 8; i++)
      payload_len_ = (payload_len_ << 8) | header_[2 + i];
    if (payload_len_ >> 63)
      return fail(kCloseProtocolError, "length has its most significant bit set");
    if (payload_len_ <= 0xFFFF)
      return fail(kCloseProtocolError, "length not minimally encoded");
    pos = 10;
  } else {
    payload_len_ = len7;
  }
  std::memcpy(mask_, header_ + pos, 4);

  if (payload_len_ > limits_.max_frame_payload)
    return fail(kCloseTooBig, "frame too big");
  if (!is_control(opcode_)) {
    if (opcode_ == Opcode::Continuation) {
      if (!in_message_)
        return fail(kCloseProtocolError, "continuation frame without a message to continue");
    } else {
      if (in_message_)
        return fail(kCloseProtocolError, "new message before the previous one ended");
      in_message_ = true;
      message_opcode_ = opcode_;
      fragments_ = 0;
    }
    if (++fragments_ > limits_.max_fragments)
      return fail(kCloseTooBig, "message split into too many fragments");
    if (message_.size() + payload_len_ > limits_.max_message)
      return fail(kCloseTooBig, "message too big");
    message_.reserve(message_.size() + payload_len_);
  } else {
    control_.clear();
  }
  in_payload_ = true;
  payload_have_ = 0;
  if (payload_len_ == 0)
    return frame_complete(out);
  return true;
}

bool FrameParser::frame_complete(std::vector<ClientMessage> &out) {
  in_payload_ = false;
  header_have_ = 0;
  header_need_ = 2;
  if (is_control(opcode_)) {
    ClientMessage msg{opcode_, std::move(control_)};
    control_ = std::string();
    if (opcode_ == Opcode::Close) {
      if (msg.payload.size() == 1)
        return fail(kCloseProtocolError, "close frame with a one-byte payload");
      if (msg.payload.empty()) {
        msg.close_code = 1005;  // "no status received" (§7.4.1)
      } else {
        msg.close_code = uint16_t(uint8_t(msg.payload[0]) << 8 | uint8_t(msg.payload[1]));
        if (!valid_close_code(msg.close_code))
          return fail(kCloseProtocolError, "invalid close code");
        if (!g_utf8_validate_len(msg.payload.data() + 2, msg.payload.size() - 2, nullptr))
          return fail(kCloseInvalidData, "close reason is not UTF-8");
      }
    }
    out.push_back(std::move(msg));
    return true;
  }
  if (!fin_)
    return true;
  if (message_opcode_ == Opcode::Text &&
      !g_utf8_validate_len(message_.data(), message_.size(), nullptr))
    return fail(kCloseInvalidData, "text message is not UTF-8");
  out.push_back(ClientMessage{message_opcode_, std::move(message_)});
  message_ = std::string();
  in_message_ = false;
  return true;
}

bool FrameParser::feed(const uint8_t *data, size_t len, std::vector<ClientMessage> &out) {
  if (error_code_)
    return false;
  while (len > 0) {
    if (!in_payload_) {
      size_t take = std::min(len, header_need_ - header_have_);
      std::memcpy(header_ + header_have_, data, take);
      header_have_ += take;
      data += take;
      len -= take;
      if (header_have_ == header_need_ && !header_complete(out))
        return false;
      continue;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(len, payload_len_ - payload_have_));
    std::string &dst = is_control(opcode_) ? control_ : message_;
    size_t base = dst.size();
    dst.resize(base + take);
    for (size_t i = 0; i < take; i++)
      dst[base + i] = static_cast<char>(data[i] ^ mask_[(payload_have_ + i) & 3]);
    payload_have_ += take;
    data += take;
    len -= take;
    if (payload_have_ == payload_len_ && !frame_complete(out))
      return false;
  }
  return true;
}

}  // namespace camcast::ws
