// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// MPEG-1 video elementary streams (ISO/IEC 11172-2) as JSMpeg players need them: where each
// picture begins, what type it is, the picture size, and the legacy `jsmp` socket header.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace camcast::mpeg1 {

enum class PictureType : uint8_t { Unknown = 0, I = 1, P = 2, B = 3, D = 4 };

// Where one picture begins. A picture with a sequence header begins there (the sequence and GOP
// headers travel with the I-picture they announce), otherwise at its GOP header, otherwise at its
// picture start code; it runs to where the next one begins.
struct PictureStart {
  size_t offset = 0;
  PictureType type = PictureType::Unknown;  // Unknown: the picture header is cut off
  bool sequence_header = false;
  int width = 0, height = 0;  // from the sequence header, if there is one and it is whole
};

// Every picture beginning in data[0, size). Bytes before the first are not part of any picture.
// Safe on any input.
std::vector<PictureStart> find_pictures(const uint8_t *data, size_t size);

// True where a decoder can start: a sequence header and an I-picture (JSMpeg drops everything
// before a sequence header and decodes P-pictures even before an I-picture — docs/protocols.md
// §4.1).
inline bool is_entry_point(const PictureStart &p) {
  return p.sequence_header && p.type == PictureType::I;
}

// The legacy jsmpg.js socket header: "jsmp", then width and height as big-endian u16.
std::array<uint8_t, 8> jsmp_header(int width, int height);

}  // namespace camcast::mpeg1
