#include "framing/framer.h"

#include "formats/ws_frame.h"

#include <glib.h>

#include <cstring>

namespace camcast {

namespace {

// The multipart boundary (RFC 2046 §5.1.1) of every multipart response.
constexpr const char *kBoundary = "camcast-frame";
// Ends every part: the next part's boundary.
constexpr std::string_view kPartTail = "\r\n--camcast-frame\r\n";

}  // namespace

void WebSocketFramer::frame(const Unit &unit, Framed *out) const {
  const bool info = with_info_ && !unit.header;
  const size_t info_len = info ? 16 : 0;
  out->head_len = ws::write_server_header(
      out->head, unit.text ? ws::Opcode::Text : ws::Opcode::Binary, unit.size() + info_len);
  if (info) {
    const uint64_t fields[2] = {GUINT64_TO_BE(uint64_t(unit.capture_us)),
                                GUINT64_TO_BE(unit.seq())};
    memcpy(out->head + out->head_len, fields, info_len);
    out->head_len += info_len;
  }
  out->tail = {};
}

// The longest head: the fixed text, the longest part type, a 20-digit length and a timestamp of
// 19 digits, a point and 6 more, and the terminating NUL g_snprintf writes.
static_assert(sizeof "Content-Type: \r\nContent-Length: \r\nX-Timestamp: \r\n\r\n" +
                      MultipartFramer::kMaxPartType + 20 + 26 <=
                  Framed::kMaxHead,
              "a part's head must fit Framed::head");

MultipartFramer::MultipartFramer(std::string part_type) : part_type_(std::move(part_type)) {
  if (part_type_.size() > kMaxPartType) {
    g_critical("multipart part type \"%s\" is longer than %zu characters", part_type_.c_str(),
               kMaxPartType);
    part_type_ = "application/octet-stream";
  }
}

void MultipartFramer::frame(const Unit &unit, Framed *out) const {
  char *head = reinterpret_cast<char *>(out->head);
  int n = g_snprintf(head, Framed::kMaxHead, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                     part_type_.c_str(), unit.size());
  if (unit.capture_us >= 0)
    n += g_snprintf(head + n, Framed::kMaxHead - n, "X-Timestamp: %s\r\n",
                    timestamp_header(unit.capture_us).c_str());
  n += g_snprintf(head + n, Framed::kMaxHead - n, "\r\n");
  out->head_len = size_t(n);  // fits: see the static_assert above
  out->tail = kPartTail;
}

std::string MultipartFramer::content_type() {
  return std::string("multipart/x-mixed-replace;boundary=") + kBoundary;
}

std::string MultipartFramer::preamble() const {
  return "HTTP/1.1 200 OK\r\nContent-Type: " + content_type() + "\r\nCache-Control: " + kNoStore +
         "\r\nPragma: no-cache\r\nConnection: close\r\n\r\n--" + kBoundary + "\r\n";
}

std::string timestamp_header(int64_t capture_us) {
  char t[32];
  g_snprintf(t, sizeof t, "%" G_GINT64_FORMAT ".%06d", capture_us / G_USEC_PER_SEC,
             int(capture_us % G_USEC_PER_SEC));
  return t;
}

}  // namespace camcast
