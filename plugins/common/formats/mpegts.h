// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// MPEG transport streams (ISO/IEC 13818-1) as JSMpeg players need them: whole 188-byte packets,
// and the packets where an MPEG-1 video decoder can start.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace camcast::mpegts {

constexpr size_t kPacketSize = 188;
constexpr uint8_t kSyncByte = 0x47;

// True when the packet starts a video PES (stream_id 0xE0–0xEF) whose elementary stream begins
// with an MPEG-1/2 sequence header: JSMpeg's decoder can start there (docs/protocols.md §4.1).
// `packet` holds kPacketSize bytes.
bool starts_video_entry_point(const uint8_t *packet);

// True when the packet starts a video PES whose first bytes a decoder can start from: an
// MPEG-1/2 sequence header, or H.264 with a sequence parameter set or an IDR slice among the
// NAL units that begin in this packet. The adaptation field's random_access_indicator alone is
// not taken (anyone can set it on any packet). `packet` holds kPacketSize bytes.
bool starts_keyframe(const uint8_t *packet);

// Cuts a byte stream into whole packets, however it is chunked. Bytes that do not line up with
// sync bytes 188 apart are dropped (and counted) until the stream lines up again.
class PacketAligner {
public:
  // Appends bytes and moves every whole packet now complete to the end of `out`.
  void push(const uint8_t *data, size_t size, std::vector<uint8_t> *out);
  uint64_t bytes_skipped() const { return skipped_; }
  void reset() {
    pending_.clear();
    synced_ = false;
  }

private:
  std::vector<uint8_t> pending_;
  uint64_t skipped_ = 0;
  bool synced_ = false;  // the last packet taken ended where this one starts
};

}  // namespace camcast::mpegts
