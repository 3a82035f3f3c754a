// libFuzzer target: arbitrary bytes as an RTSP request's Authorization header (rtsp/rtsp_access.h)
// on a camera with an access token. Nothing may crash or read out of bounds, and nothing is let
// in but Basic credentials whose password is the exact token.
#include "rtsp/rtsp_access.h"

#include <glib.h>

#include <cassert>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace camcast;
  static RtspAccess *access = [] {
    AccessPolicy p;
    p.access_token = "fuzz-access-token";
    return new RtspAccess(p);
  }();
  const std::string header(reinterpret_cast<const char *>(data), size);
  static int64_t now = 0;
  now += G_USEC_PER_SEC;
  if (access->check(header, "10.0.0.1", now) == RtspAccess::Verdict::Allowed) {
    // What let it in: "Basic " and base64 of "anything:fuzz-access-token".
    assert(header.size() > 6 && g_ascii_strncasecmp(header.c_str(), "Basic ", 6) == 0);
    gsize n = 0;
    g_autofree guchar *pair = g_base64_decode(header.c_str() + 6, &n);
    const std::string text(reinterpret_cast<const char *>(pair), n);
    const size_t colon = text.find(':');
    assert(colon != std::string::npos && text.substr(colon + 1) == "fuzz-access-token");
  }
  return 0;
}
