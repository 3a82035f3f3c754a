#include "formats/mpegts.h"

#include "formats/mpeg1.h"

#include <cstring>

namespace camcast::mpegts {

bool starts_video_entry_point(const uint8_t *p) {
  // Header (§2.4.3.2): sync, then payload_unit_start_indicator, PID, adaptation_field_control.
  if (p[0] != kSyncByte || !(p[1] & 0x40))
    return false;
  size_t pos = 4;
  const unsigned afc = (p[3] >> 4) & 3;
  if (!(afc & 1))
    return false;  // no payload
  if (afc & 2)
    pos += 1 + size_t(p[4]);  // adaptation_field_length
  // PES header (§2.4.3.6): 00 00 01 stream_id, length (2), flags (2), header_data_length.
  if (pos + 9 > kPacketSize || p[pos] != 0 || p[pos + 1] != 0 || p[pos + 2] != 1 ||
      (p[pos + 3] & 0xF0) != 0xE0)
    return false;
  pos += 9 + size_t(p[pos + 8]);
  if (pos >= kPacketSize)
    return false;
  const auto pictures = mpeg1::find_pictures(p + pos, kPacketSize - pos);
  return !pictures.empty() && pictures.front().offset == 0 && pictures.front().sequence_header;
}

bool starts_random_access(const uint8_t *p) {
  if (p[0] != kSyncByte || !(p[1] & 0x40))
    return false;
  const unsigned afc = (p[3] >> 4) & 3;
  // Adaptation field: length, then flags whose bit 6 is random_access_indicator.
  if ((afc & 2) && p[4] > 0 && (p[5] & 0x40))
    return true;
  return starts_video_entry_point(p);
}

void PacketAligner::push(const uint8_t *data, size_t size, std::vector<uint8_t> *out) {
  pending_.insert(pending_.end(), data, data + size);
  size_t pos = 0;
  while (pending_.size() - pos >= kPacketSize) {
    const uint8_t *p = pending_.data() + pos;
    const size_t left = pending_.size() - pos;
    // In sync, a sync byte is enough. Regaining sync takes a second one 188 bytes on, where the
    // data reaches that far (a lone 0x47 in garbage proves nothing).
    if (p[0] == kSyncByte && (synced_ || left < 2 * kPacketSize || p[kPacketSize] == kSyncByte)) {
      out->insert(out->end(), p, p + kPacketSize);
      pos += kPacketSize;
      synced_ = true;
      continue;
    }
    synced_ = false;
    const void *next = memchr(p + 1, kSyncByte, left - 1);
    const size_t skip = next ? size_t(static_cast<const uint8_t *>(next) - p) : left;
    skipped_ += skip;
    pos += skip;
  }
  pending_.erase(pending_.begin(), pending_.begin() + ptrdiff_t(pos));
}

}  // namespace camcast::mpegts
