// libFuzzer target: arbitrary bytes as a recording's segment on disk (cut by a power cut, or
// damaged): summarizing it must not crash or read past the bytes; what it says holds together:
// whole fragments end within the file, and a duration is never negative or without a timescale.
#include "formats/fmp4_read.h"

#include <cassert>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // An exact copy, so that ASan sees any read past the end.
  std::vector<uint8_t> copy(data, data + size);
  size_t reads = 0;
  const auto read = [&](uint64_t offset, uint8_t *out, size_t len) -> size_t {
    reads++;
    if (offset >= copy.size())
      return 0;
    const size_t n = std::min<size_t>(len, copy.size() - size_t(offset));
    assert(out && n > 0);  // summarize() asks for something, into somewhere
    memcpy(out, copy.data() + offset, n);
    return n;
  };
  const camcast::fmp4::FileSummary s = camcast::fmp4::summarize(read, copy.size());
  assert(s.whole_bytes <= size);
  assert(s.fragments == 0 || s.readable);
  assert(s.duration >= 0);
  assert(s.duration == 0 || s.video_timescale || s.audio_timescale);
  assert(reads <= 2 * size + 2);  // each read moves past at least a box header
  return 0;
}
