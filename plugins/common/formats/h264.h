// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// H.264 helpers for the sinks: reading the avcC record (ISO/IEC 14496-15 §5.3.3.1) and turning
// length-prefixed access units into Annex-B without copying the NAL units.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <string>
#include <vector>

namespace camcast::h264 {

struct AvcConfig {
  unsigned nal_length_size = 4;
  uint8_t profile = 0, constraints = 0, level = 0;
  std::vector<std::vector<uint8_t>> sps, pps;
};

// Parses an AVCDecoderConfigurationRecord; false when it is truncated or not version 1.
bool parse_avcc(const uint8_t *data, size_t size, AvcConfig *out);

// The configuration in `caps`' codec_data (H.264 in AVC, as h264parse gives it); false when
// there is none or it does not parse.
bool config_from_caps(const GstCaps *caps, AvcConfig *out);

// "PPCCLL": profile, constraint flags and level in hex, as SDP's profile-level-id (RFC 6184 §8.1).
std::string profile_level_id(const AvcConfig &config);
// "avc1.PPCCLL" (RFC 6381 §3.3), as browsers want it in a MIME type.
std::string codec_string(const AvcConfig &config);

// The name of the profile when it is one that most browsers cannot decode (High 10, High 4:2:2,
// the 4:4:4 profiles), else null: only 8-bit 4:2:0 plays everywhere (docs/protocols.md §3.6).
// x264 picks High 4:4:4 Predictive for 4:4:4 input.
const char *unplayable_profile(const AvcConfig &config);

// An Annex-B access unit made of the AVC one's NAL units (shared, not copied) behind start
// codes. With `parameter_sets` (an IDR), the configuration's SPS and PPS go first, as decoders
// joining there need them — unless the unit has an SPS of its own (x264, and the Pi's encoder
// with repeat_sequence_header, put them in every keyframe): a second set would be one more for
// every decoder to read, and RTP depayloaders take an SPS after a slice for a new picture.
// Returns null when a length prefix runs past the end of the buffer.
GstBuffer *annexb_from_avc(GstBuffer *au, const AvcConfig &config, bool parameter_sets);

}  // namespace camcast::h264
