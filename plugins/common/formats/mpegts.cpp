#include "formats/mpegts.h"

#include "formats/mpeg1.h"

#include <cstring>

namespace camcast::mpegts {

namespace {

// Where the elementary stream begins in a packet that starts a video PES (0 if it does not).
size_t video_es_start(const uint8_t *p) {
  // Header (§2.4.3.2): sync, then payload_unit_start_indicator, PID, adaptation_field_control.
  if (p[0] != kSyncByte || !(p[1] & 0x40))
    return 0;
  size_t pos = 4;
  const unsigned afc = (p[3] >> 4) & 3;
  if (!(afc & 1))
    return 0;  // no payload
  if (afc & 2)
    pos += 1 + size_t(p[4]);  // adaptation_field_length
  // PES header (§2.4.3.6): 00 00 01 stream_id, length (2), flags (2), header_data_length.
  if (pos + 9 > kPacketSize || p[pos] != 0 || p[pos + 1] != 0 || p[pos + 2] != 1 ||
      (p[pos + 3] & 0xF0) != 0xE0)
    return 0;
  pos += 9 + size_t(p[pos + 8]);
  return pos < kPacketSize ? pos : 0;
}

}  // namespace

bool starts_video_entry_point(const uint8_t *p) {
  const size_t pos = video_es_start(p);
  if (!pos)
    return false;
  const auto pictures = mpeg1::find_pictures(p + pos, kPacketSize - pos);
  return !pictures.empty() && pictures.front().offset == 0 && pictures.front().sequence_header;
}

bool starts_keyframe(const uint8_t *p) {
  if (starts_video_entry_point(p))
    return true;
  const size_t pos = video_es_start(p);
  if (!pos)
    return false;
  // H.264 Annex B (ITU-T H.264 §B.1): start codes 00 00 01, then the NAL header, whose low five
  // bits are its type: 7 a sequence parameter set, 5 an IDR slice.
  for (size_t i = pos; i + 3 < kPacketSize; i++)
    if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1 && !(p[i + 3] & 0x80) &&
        ((p[i + 3] & 0x1F) == 7 || (p[i + 3] & 0x1F) == 5))
      return true;
  return false;
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
