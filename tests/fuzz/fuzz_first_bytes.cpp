// libFuzzer target: arbitrary bytes as what a client sends first: on an HTTPS port (is it TLS,
// and new enough?) and on a plain one (where does the request head end?). Nothing may crash or
// read past the bytes given; a client is taken for TLS 1.2+ only when its ClientHello says so;
// the alert answering an old one is a well-formed fatal protocol_version alert; a head ends
// just after a line feed.
#include "formats/first_bytes.h"

#include <cassert>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace camcast::first_bytes;
  // An exact copy, so that ASan sees any read past the end.
  std::vector<uint8_t> copy(data, data + size);
  const Kind kind = classify(copy.data(), copy.size());
  if (kind == Kind::Tls)
    assert(size >= kNeeded && data[0] == 22 && data[5] == 1 && (data[9] << 8 | data[10]) >= 0x0303);
  if (kind == Kind::Http)
    assert(data[0] >= 'A' && data[0] <= 'Z' && memchr(data, ' ', size));
  const size_t end = head_end(copy.data(), copy.size());
  assert(end == 0 || (end >= 2 && end <= size && data[end - 1] == '\n'));
  uint8_t alert[7];
  protocol_version_alert(copy.data(), copy.size(), alert);
  assert(alert[0] == 21 && alert[1] == 3 && alert[3] == 0 && alert[4] == 2 && alert[5] == 2 &&
         alert[6] == 70);
  return 0;
}
