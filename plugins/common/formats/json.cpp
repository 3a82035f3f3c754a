#include "formats/json.h"

#include <cstdio>

namespace camcast {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (ch < 0x20) {
        char buf[8];
        snprintf(buf, sizeof buf, "\\u%04x", ch);
        out += buf;
      } else {
        out += static_cast<char>(ch);
      }
    }
  }
  return out + "\"";
}

std::string StreamDescription::json() const {
  auto size = [](int width, int height) {
    return ",\"width\":" + std::to_string(width) + ",\"height\":" + std::to_string(height);
  };
  std::string out = "{\"type\":\"stream\",\"format\":" + json_string(format);
  if (!codec.empty())
    out += ",\"codec\":" + json_string(codec);
  if (width > 0 && height > 0)
    out += size(width, height);
  if (timescale)
    out += ",\"timescale\":" + std::to_string(timescale);
  if (has_audio)
    out += ",\"audio\":{\"codec\":" + json_string(audio.codec) +
           ",\"rate\":" + std::to_string(audio.rate) +
           ",\"channels\":" + std::to_string(audio.channels) + "}";
  if (rung >= 0) {
    out += ",\"rung\":" + std::to_string(rung) + ",\"ladder\":[";
    for (size_t i = 0; i < ladder.size(); i++)
      out += std::string(i ? "," : "") + "{\"rung\":" + std::to_string(ladder[i].rung) +
             size(ladder[i].width, ladder[i].height) + "}";
    out += "]";
  }
  if (!whep.empty())
    out += ",\"whep\":" + json_string(whep);
  return out + "}";
}

}  // namespace camcast
