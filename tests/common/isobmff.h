// A small ISO BMFF reader for tests (ISO/IEC 14496-12), written from the standard and
// independent of camcast's box writer on purpose: the tests judge what a viewer receives by the
// standard's rules, not by the writer's own constants.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace camcast::test::isobmff {

// A box: its four-character type and its payload (after the size and type, and the 64-bit
// size where there is one).
struct Box {
  std::string type;
  std::string_view payload;
};

// The box of `type` among the boxes that make up `data` (not descending), if any.
std::optional<Box> find(std::string_view data, const char *type);

// The flags of the first sample of a media segment ([prft] moof mdat): the trun's first-sample
// flags or its first per-sample flags if it has them, else the tfhd's default sample flags.
// Empty when the segment does not say (the trex default would apply) or is malformed.
std::optional<uint32_t> first_sample_flags(std::string_view segment);

// A sync sample (§8.8.3.1): sample_is_non_sync_sample clear, and depending on no other sample
// (sample_depends_on 2) — an IDR, where a decoder can start.
inline bool is_sync(uint32_t sample_flags) {
  const bool non_sync = sample_flags & 0x00010000;
  const unsigned depends_on = (sample_flags >> 24) & 3;
  return !non_sync && depends_on == 2;
}

}  // namespace camcast::test::isobmff
