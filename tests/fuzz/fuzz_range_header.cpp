// libFuzzer target: arbitrary bytes as a Range header (what any viewer of a recording sends): the
// check of what libsoup is shown must not crash or read past the bytes, and what it lets through
// is one range of bytes whose numbers cannot overflow (18 digits at most, the first not after
// the last).
#include "net/file_answer.h"

#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string header(reinterpret_cast<const char *>(data), size);
  if (!camcast::single_byte_range(header))
    return 0;
  assert(header.compare(0, 6, "bytes=") == 0);
  const size_t dash = header.find('-', 6);
  assert(dash != std::string::npos && header.find(',') == std::string::npos);
  const std::string first = header.substr(6, dash - 6), last = header.substr(dash + 1);
  assert(first.size() <= 18 && last.size() <= 18 && (!first.empty() || !last.empty()));
  if (!first.empty() && !last.empty())
    assert(strtoull(first.c_str(), nullptr, 10) <= strtoull(last.c_str(), nullptr, 10));
  return 0;
}
