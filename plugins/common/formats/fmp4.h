// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// Fragmented MP4 (ISO/IEC 14496-12) for Media Source Extensions: one H.264 frame per fragment,
// with the audio frames that came since the last one.
//
// The init segment is ftyp + moov with a video track (avc1/avcC), an audio track (Opus/dOps or
// mp4a/esds) or both, mvex/trex, and no samples (MSE-ISO "Initialization Segments": sample
// tables must be empty, mvex must be present). Each fragment is [prft] moof mdat: the moof has
// one traf per track with tfhd default-base-is-moof, a version 1 tfdt and a trun with
// data-offset (MSE-ISO "Media Segments": movie-fragment relative addressing); the mdat holds the
// runs' samples in the order of the trafs. The fragment header is written here; the samples'
// bytes follow it on the wire by reference, never copied (docs/protocols.md §3.2, §3.3, §11).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
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

// What an Opus stream's decoder needs (the fields of its OpusHead, RFC 7845 §5.1), written as
// the dOps box (Encapsulation of Opus in ISO Base Media File Format §4.3.2).
struct OpusConfig {
  uint8_t channels = 2;
  uint16_t pre_skip = 0;  // samples at 48 kHz the decoder drops at the start
  uint32_t input_rate = 48000;
  int16_t output_gain = 0;
  uint8_t mapping_family = 0;  // 0: mono or stereo, no table
  uint8_t stream_count = 1, coupled_count = 1;
  uint8_t mapping[255] = {};
};

struct AudioTrack {
  enum class Codec { Opus, Aac } codec = Codec::Opus;
  uint32_t rate = 48000;  // samples per second, and the track's timescale (Opus: always 48000)
  uint8_t channels = 2;
  OpusConfig opus;                  // Codec::Opus
  std::vector<uint8_t> aac_config;  // Codec::Aac: the AudioSpecificConfig (caps' codec_data)
};

// The RFC 6381 codec string of an audio track ("opus", "mp4a.40.2"), "" when its configuration
// is unreadable.
std::string codec_string(const AudioTrack &track);

constexpr uint32_t kVideoTrackId = 1;
constexpr uint32_t kAudioTrackId = 2;

// Either track may be missing (not both): video only, audio only, or both.
std::vector<uint8_t> init_segment(const VideoTrack *video, const AudioTrack *audio);

struct Sample {
  uint32_t duration = 1;           // > 0 (Safari refuses zero durations)
  uint32_t size = 0;               // bytes in mdat
  int32_t composition_offset = 0;  // PTS - DTS
  bool keyframe = false;
};

// One track's samples in a fragment, consecutive in time from decode_time.
struct Run {
  uint32_t track_id = kVideoTrackId;
  uint64_t decode_time = 0;  // of the first sample, in the track's timescale (tfdt)
  std::vector<Sample> samples;
};

struct Fragment {
  uint32_t sequence = 0;
  std::vector<Run> runs;  // runs without samples are left out
  // Capture wall-clock time of the first run's first sample as an NTP timestamp (RFC 5905 64-bit
  // format); 0 = no prft box.
  uint64_t ntp_time = 0;
};

// Bytes before the samples' data: [prft] moof, then the mdat header.
std::vector<uint8_t> fragment_header(const Fragment &fragment);

// sample_flags (ISO/IEC 14496-12 §8.8.3.1): a sync sample depends on no other
// (sample_depends_on = 2); other samples depend on others and are non-sync.
constexpr uint32_t kSyncSampleFlags = 0x02000000;
constexpr uint32_t kNonSyncSampleFlags = 0x01010000;

// Converts Unix time in microseconds to a 64-bit NTP timestamp.
uint64_t ntp_from_unix_us(int64_t unix_us);

}  // namespace camcast::fmp4
