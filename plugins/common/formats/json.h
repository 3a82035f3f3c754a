// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// JSON text (RFC 8259) for the answers camcast writes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace camcast {

// `s` as a JSON string, quotes included: '"', '\' and control characters escaped.
std::string json_string(std::string_view s);

// What a player reads first on a WebSocket stream (web/player.js): the format, the picture's
// codec and size, the sound, and where the stream is on a ladder. As JSON:
//   {"type":"stream","format":"fmp4","codec":"avc1.42c01f","width":1280,"height":720,
//    "timescale":90000,"audio":{"codec":"mp4a.40.2","rate":48000,"channels":1},
//    "rung":0,"ladder":[{"rung":0,"width":1280,"height":720},…],"whep":"/webrtc"}
// with what is not known (or not there) left out.
struct StreamDescription {
  struct Audio {
    std::string codec;  // as MSE names it
    int rate = 0;
    int channels = 0;
  };
  struct Rung {
    int rung = 0;
    int width = 0;
    int height = 0;
  };
  std::string format;  // "fmp4", "jpeg"
  std::string codec;   // empty: not named
  int width = 0;       // 0: not known
  int height = 0;
  uint32_t timescale = 0;  // 0: none
  bool has_audio = false;
  Audio audio;
  int rung = -1;             // which rung of `ladder` this is; -1: no ladder
  std::vector<Rung> ladder;  // every rung there is, top first
  std::string whep;          // the WebRTC endpoint of the same camera; empty: none

  std::string json() const;
};

}  // namespace camcast
