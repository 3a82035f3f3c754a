// libFuzzer target: arbitrary bytes as a WHEP viewer's SDP offer, read for the payload types to
// send H.264 and Opus with. Nothing may crash or read out of bounds, and an accepted offer names a
// payload type that is a format of the offer.
#include "formats/sdp_offer.h"

#include <cassert>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const profiles[] = {
      "", "constrained-baseline", "baseline", "main", "high", "high-4:4:4"};
  const std::string_view profile = size ? profiles[data[0] % 6] : "";
  const std::string offer(reinterpret_cast<const char *>(data) + (size ? 1 : 0),
                          size ? size - 1 : 0);
  int pt = -1;
  std::string why;
  const auto result = camcast::sdp::choose_h264(offer, profile, &pt, &why);
  if (result == camcast::sdp::Offer::Ok) {
    assert(pt >= 0 && pt <= 127);
    assert(offer.find("a=rtpmap:" + std::to_string(pt) + " ") != std::string::npos);
  } else {
    assert(!why.empty());
  }
  const int opus = camcast::sdp::choose_opus(offer);
  assert(opus >= -1 && opus <= 127);
  if (opus >= 0)
    assert(offer.find("a=rtpmap:" + std::to_string(opus) + " ") != std::string::npos);
  return 0;
}
