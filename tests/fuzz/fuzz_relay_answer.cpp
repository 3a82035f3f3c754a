// libFuzzer target: whatever a relay sends back to relaysink (untrusted bytes) becomes a line in
// the camera's log. Nothing may crash or read out of bounds; "100 Continue" alone means go on;
// any other answer (also one after a "100 Continue") is described, short and printable.
#include "relay/publisher.h"

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view answer(reinterpret_cast<const char *>(data), size);
  const std::string why = camcast::describe_relay_answer(answer);
  if (answer.substr(0, 13) == "HTTP/1.1 100 " && answer.find("\r\n\r\n") == answer.npos)
    assert(why.empty());
  assert(why.size() < 250);
  for (char c : why)
    assert(c >= 0x20 && c < 0x7f);
  return 0;
}
