#include "formats/sdp_offer.h"

#include <glib.h>
#include <gst/pbutils/codec-utils.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

namespace camcast::sdp {

namespace {

// The lines of `text` (CRLF or LF), without their ends.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    out.push_back(line);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "a=rtpmap:96 H264/90000" or "a=fmtp:96 ..." into the payload type and the rest; -1 if not.
int payload_of(std::string_view line, std::string_view attribute, std::string_view *rest) {
  if (!starts_with(line, attribute))
    return -1;
  line.remove_prefix(attribute.size());
  const size_t space = line.find(' ');
  const std::string number(line.substr(0, space));
  char *end = nullptr;
  const long pt = strtol(number.c_str(), &end, 10);
  if (number.empty() || *end || pt < 0 || pt > 127 || std::to_string(pt) != number ||
      space == std::string_view::npos)
    return -1;
  *rest = line.substr(space + 1);
  return int(pt);
}

// A parameter of an fmtp line ("profile-level-id=42e01f;packetization-mode=1"), or "".
std::string parameter(std::string_view fmtp, std::string_view name) {
  gchar **pairs = g_strsplit(std::string(fmtp).c_str(), ";", -1);
  std::string value;
  for (gchar **p = pairs; *p && value.empty(); p++) {
    g_strstrip(*p);
    const char *eq = strchr(*p, '=');
    if (eq && std::string_view(*p, size_t(eq - *p)) == name)
      value = eq + 1;
  }
  g_strfreev(pairs);
  return value;
}

}  // namespace

// The profile a profile-level-id ("42e01f") names, in GStreamer's words; "" if none.
std::string profile_of(const std::string &profile_level_id) {
  guint8 bytes[3];
  for (int i = 0; i < 3; i++) {
    const int hi = g_ascii_xdigit_value(profile_level_id.c_str()[2 * i]);
    const int lo = hi < 0 ? -1 : g_ascii_xdigit_value(profile_level_id.c_str()[2 * i + 1]);
    if (profile_level_id.size() != 6 || lo < 0)
      return "";
    bytes[i] = guint8(hi << 4 | lo);
  }
  const char *name = gst_codec_utils_h264_get_profile(bytes, 3);
  return name ? name : "";
}

// How much of H.264 a profile's decoders take, for the profiles browsers offer: each decodes
// what those before it do (Baseline's extra tools are not used by any encoder camcast drives).
int rank(std::string_view profile) {
  static const char *const order[] = {"constrained-baseline", "baseline", "main", "high"};
  for (int i = 0; i < 4; i++)
    if (profile == order[i])
      return i < 2 ? 0 : i - 1;
  return profile.empty() ? -1 : 3;  // High 10 and beyond
}

Offer choose_h264(std::string_view offer, std::string_view profile, int *pt, std::string *why) {
  const auto lines = lines_of(offer);
  if (lines.empty() || lines.front() != "v=0") {
    *why = "not an SDP offer: it must begin with the line v=0";
    return Offer::Malformed;
  }
  bool video = false, any_media = false;
  std::vector<int> h264;            // payload types of H.264 in video sections, in offer order
  std::map<int, std::string> fmtp;  // payload type → its fmtp parameters
  for (std::string_view line : lines) {
    if (line.size() < 2 || line[1] != '=') {
      if (!line.empty()) {
        *why = "not an SDP offer: a line is not TYPE=VALUE";
        return Offer::Malformed;
      }
      continue;
    }
    if (starts_with(line, "m=")) {
      any_media = true;
      video = starts_with(line, "m=video ");
      continue;
    }
    std::string_view rest;
    int n = -1;
    if (video && (n = payload_of(line, "a=rtpmap:", &rest)) >= 0 &&
        g_ascii_strncasecmp(std::string(rest).c_str(), "H264/90000", 10) == 0)
      h264.push_back(n);
    else if (video && (n = payload_of(line, "a=fmtp:", &rest)) >= 0)
      fmtp[n] = std::string(rest);
  }
  if (!any_media) {
    *why = "not an SDP offer: it has no m= line";
    return Offer::Malformed;
  }
  int exact = -1, decodes = -1, any = -1;
  for (const int type : h264) {
    const std::string &f = fmtp[type];
    if (parameter(f, "packetization-mode") != "1")
      continue;
    const std::string offered = profile_of(parameter(f, "profile-level-id"));
    if (exact < 0 && !profile.empty() && offered == profile)
      exact = type;
    if (decodes < 0 && rank(offered) >= rank(profile))
      decodes = type;
    if (any < 0)
      any = type;
  }
  *pt = exact >= 0 ? exact : decodes;
  if (*pt >= 0)
    return Offer::Ok;
  *why = any < 0
             ? "the offer has no H.264 video with packetization-mode=1, which is what this "
               "camera sends"
             : "the offer takes no H.264 of this camera's profile (" + std::string(profile) + ")";
  return Offer::NoH264;
}

int choose_opus(std::string_view offer) {
  bool audio = false;
  for (std::string_view line : lines_of(offer)) {
    if (starts_with(line, "m="))
      audio = starts_with(line, "m=audio ");
    std::string_view rest;
    const int n = audio ? payload_of(line, "a=rtpmap:", &rest) : -1;
    if (n >= 0 && g_ascii_strncasecmp(std::string(rest).c_str(), "opus/48000/2", 12) == 0)
      return n;
  }
  return -1;
}

}  // namespace camcast::sdp
