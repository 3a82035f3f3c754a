#include "isobmff.h"

namespace camcast::test::isobmff {

namespace {

uint32_t be32(std::string_view d, size_t at) {
  return uint32_t(uint8_t(d[at])) << 24 | uint32_t(uint8_t(d[at + 1])) << 16 |
         uint32_t(uint8_t(d[at + 2])) << 8 | uint32_t(uint8_t(d[at + 3]));
}

}  // namespace

std::optional<Box> find(std::string_view data, const char *type) {
  size_t pos = 0;
  while (pos + 8 <= data.size()) {
    uint64_t size = be32(data, pos);
    size_t header = 8;
    if (size == 1) {  // a 64-bit size follows the type
      if (pos + 16 > data.size())
        return std::nullopt;
      size = uint64_t(be32(data, pos + 8)) << 32 | be32(data, pos + 12);
      header = 16;
    } else if (size == 0) {  // to the end
      size = data.size() - pos;
    }
    if (size < header || size > data.size() - pos)
      return std::nullopt;
    if (data.compare(pos + 4, 4, type) == 0)
      return Box{std::string(type), data.substr(pos + header, size_t(size) - header)};
    pos += size_t(size);
  }
  return std::nullopt;
}

std::optional<uint32_t> first_sample_flags(std::string_view segment) {
  auto moof = find(segment, "moof");
  auto traf = moof ? find(moof->payload, "traf") : std::nullopt;
  auto tfhd = traf ? find(traf->payload, "tfhd") : std::nullopt;
  auto trun = traf ? find(traf->payload, "trun") : std::nullopt;
  if (!tfhd || !trun || tfhd->payload.size() < 8 || trun->payload.size() < 8)
    return std::nullopt;
  // trun (§8.8.8): version and flags, sample_count, then optional fields in this order.
  const uint32_t trun_flags = be32(trun->payload, 0) & 0xffffff;
  size_t at = 8;
  if (trun_flags & 0x000001)  // data_offset
    at += 4;
  if (trun_flags & 0x000004) {  // first_sample_flags
    if (at + 4 > trun->payload.size())
      return std::nullopt;
    return be32(trun->payload, at);
  }
  if (trun_flags & 0x000400) {  // per-sample flags: the first sample's
    if (be32(trun->payload, 4) == 0)
      return std::nullopt;
    if (trun_flags & 0x000100)  // sample_duration
      at += 4;
    if (trun_flags & 0x000200)  // sample_size
      at += 4;
    if (at + 4 > trun->payload.size())
      return std::nullopt;
    return be32(trun->payload, at);
  }
  // tfhd (§8.8.7): version and flags, track_ID, then optional fields in this order.
  const uint32_t tfhd_flags = be32(tfhd->payload, 0) & 0xffffff;
  at = 8;
  for (uint32_t field : {0x000001u, 0x000002u, 0x000008u, 0x000010u}) {
    if (tfhd_flags & field)
      at += field == 0x000001u ? 8 : 4;  // base_data_offset is 64-bit
  }
  if (!(tfhd_flags & 0x000020) || at + 4 > tfhd->payload.size())
    return std::nullopt;
  return be32(tfhd->payload, at);
}

}  // namespace camcast::test::isobmff
