// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// Fragmented MP4 (ISO/IEC 14496-12) for Media Source Extensions, one H.264 frame per fragment.
//
// The init segment is ftyp + moov with an avc1/avcC sample entry and mvex/trex, and no samples
// (MSE-ISO "Initialization Segments": sample tables must be empty, mvex must be present). Each
// frame becomes [prft] moof mdat: the moof has one traf with tfhd default-base-is-moof, a
// version 1 tfdt and a one-sample trun with data-offset (MSE-ISO "Media Segments": movie-fragment
// relative addressing). The fragment header is written here; the frame's bytes follow it on the
// wire by reference, never copied (docs/protocols.md §3.2, §3.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace camcast::fmp4 {

// Appends ISO BMFF boxes to a byte vector, big-endian, sizes patched when a box ends.
class BoxWriter {
public:
  explicit BoxWriter(std::vector<uint8_t> &out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v);
  void u24(uint32_t v);
  void u32(uint32_t v);
  void u64(uint64_t v);
  void bytes(const void *data, size_t len);
  void zeros(size_t n) { out_.insert(out_.end(), n, 0); }
  void fourcc(const char type[4]) { bytes(type, 4); }
  // Opens a box (full box when version >= 0); close it with end().
  void begin(const char type[4], int version = -1, uint32_t flags = 0);
  void end();

private:
  std::vector<uint8_t> &out_;
  std::vector<size_t> open_;
};

struct VideoTrack {
  uint32_t width = 0, height = 0;
  uint32_t timescale = 90000;
  std::vector<uint8_t> avcc;  // AVCDecoderConfigurationRecord (the caps' codec_data)
};

std::vector<uint8_t> init_segment(const VideoTrack &track);

struct Sample {
  uint64_t decode_time = 0;        // in the track timescale (tfdt)
  uint32_t duration = 1;           // > 0 (Safari refuses zero durations)
  uint32_t size = 0;               // bytes in mdat
  int32_t composition_offset = 0;  // PTS - DTS
  bool keyframe = false;
  // Capture wall-clock time as an NTP timestamp (RFC 5905 64-bit format); 0 = no prft box.
  uint64_t ntp_time = 0;
};

// Bytes before the sample's data: [prft] moof, then the mdat header.
std::vector<uint8_t> fragment_header(uint32_t sequence_number, const Sample &sample);

// sample_flags (ISO/IEC 14496-12 §8.8.3.1): a sync sample depends on no other
// (sample_depends_on = 2); other samples depend on others and are non-sync.
constexpr uint32_t kSyncSampleFlags = 0x02000000;
constexpr uint32_t kNonSyncSampleFlags = 0x01010000;

// Converts Unix time in microseconds to a 64-bit NTP timestamp.
uint64_t ntp_from_unix_us(int64_t unix_us);

}  // namespace camcast::fmp4
