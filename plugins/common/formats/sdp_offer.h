// Layer formats: nothing of camcast's. What a WebRTC viewer's SDP offer (RFC 8866) asks for, as
// far as a camera that sends H.264 video (RFC 6184 §8) and Opus sound (RFC 7587 §7) cares: which
// payload types to send with.
#pragma once

#include <string>
#include <string_view>

namespace camcast::sdp {

enum class Offer {
  Ok,         // `pt` is the payload type to send H.264 with
  Malformed,  // not an SDP offer at all: 400
  NoH264,     // no video that takes H.264 with packetization-mode=1 (the only one sent): 406
};

// The offer's H.264 payload type: of the formats with packetization-mode=1, the first whose
// profile-level-id names `profile` (GStreamer's name, as in H.264 caps: "constrained-baseline",
// "high", …), else the first whose profile's decoders also decode `profile` (a High decoder
// plays Constrained Baseline; not the other way round). An empty `profile` takes the first.
// `why` says what is wrong otherwise, in words.
Offer choose_h264(std::string_view offer, std::string_view profile, int *pt, std::string *why);

// The payload type of the first opus/48000/2 format of the offer's audio sections (RFC 7587: so
// named whatever the channels), or -1 when the viewer takes no Opus (or the offer is no SDP).
int choose_opus(std::string_view offer);

}  // namespace camcast::sdp
