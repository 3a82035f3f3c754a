// libFuzzer target: arbitrary bytes as MPEG-1 video and as MPEG-TS, the input jsmpegsink parses
// (and that a relay takes from a publisher). Nothing may crash or read out of bounds; pictures
// are found in order inside the data; the aligner returns only whole packets and accounts for
// every byte.
#include "formats/mpeg1.h"
#include "formats/mpegts.h"

#include <cassert>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace camcast;
  const auto pictures = mpeg1::find_pictures(data, size);
  size_t last = 0;
  for (size_t i = 0; i < pictures.size(); i++) {
    assert(pictures[i].offset + 4 <= size);
    assert(i == 0 || pictures[i].offset > last);
    assert(pictures[i].width >= 0 && pictures[i].width < 4096);
    last = pictures[i].offset;
  }

  for (size_t pos = 0; pos + mpegts::kPacketSize <= size; pos++)
    assert(!mpegts::starts_video_entry_point(data + pos) || mpegts::starts_keyframe(data + pos));

  mpegts::PacketAligner aligner;
  std::vector<uint8_t> out;
  const size_t split = size ? data[0] % (size + 1) : 0;
  aligner.push(data, split, &out);
  aligner.push(data + split, size - split, &out);
  assert(out.size() % mpegts::kPacketSize == 0);
  for (size_t pos = 0; pos < out.size(); pos += mpegts::kPacketSize)
    assert(out[pos] == mpegts::kSyncByte);
  assert(out.size() + aligner.bytes_skipped() <= size);
  assert(size - out.size() - aligner.bytes_skipped() < 2 * mpegts::kPacketSize);
  return 0;
}
