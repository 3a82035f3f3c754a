// libFuzzer target: arbitrary bytes from a client into the WebSocket frame parser. The parser
// must never crash, read out of bounds or hold more memory than its limits, and once it has
// reported an error it must stay failed.
#include "formats/ws_frame.h"

#include <cassert>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace camcast::ws;
  ParserLimits limits{1024, 4096, 16};
  FrameParser parser(limits);
  std::vector<ClientMessage> out;
  // Split the input at a data-dependent point to exercise partial headers and payloads.
  size_t split = size ? data[0] % (size + 1) : 0;
  bool ok = parser.feed(data, split, out) && parser.feed(data + split, size - split, out);
  for (const ClientMessage &m : out) {
    assert(m.opcode != Opcode::Continuation);
    assert(m.payload.size() <= limits.max_message);
  }
  assert(parser.bytes_held() <= limits.max_message + limits.max_frame_payload + 256);
  if (!ok) {
    assert(parser.error_code() >= 1000);
    assert(!parser.feed(data, size, out));
  }
  return 0;
}
