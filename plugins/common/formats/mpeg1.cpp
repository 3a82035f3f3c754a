#include "formats/mpeg1.h"

namespace camcast::mpeg1 {

namespace {

// Start codes (ISO/IEC 11172-2 §2.4.2): the byte after 00 00 01.
constexpr uint8_t kPicture = 0x00, kSequenceHeader = 0xB3, kGroup = 0xB8;

}  // namespace

std::vector<PictureStart> find_pictures(const uint8_t *data, size_t size) {
  std::vector<PictureStart> pictures;
  // The headers seen since the last picture start code belong to the next picture.
  bool open = false;  // a sequence or GOP header opened the picture that comes next
  PictureStart next;
  for (size_t i = 0; i + 3 < size; i++) {
    if (data[i] != 0 || data[i + 1] != 0 || data[i + 2] != 1)
      continue;
    const uint8_t code = data[i + 3];
    if (code == kSequenceHeader || code == kGroup) {
      if (!open) {
        next = PictureStart{};
        next.offset = i;
        open = true;
      }
      if (code == kSequenceHeader) {
        next.sequence_header = true;
        // horizontal_size 12 bits, vertical_size 12 bits (§2.4.2.3).
        if (i + 7 <= size) {
          next.width = (data[i + 4] << 4) | (data[i + 5] >> 4);
          next.height = ((data[i + 5] & 0x0F) << 8) | data[i + 6];
        }
      }
    } else if (code == kPicture) {
      if (!open) {
        next = PictureStart{};
        next.offset = i;
      }
      // temporal_reference 10 bits, then picture_coding_type 3 bits (§2.4.2.5).
      if (i + 6 <= size) {
        const unsigned type = (data[i + 5] >> 3) & 7;
        next.type = type >= 1 && type <= 4 ? PictureType(type) : PictureType::Unknown;
      }
      pictures.push_back(next);
      open = false;
    }
    i += 3;  // no start code overlaps the one just read
  }
  // Headers at the very end open a picture whose start code has not arrived yet.
  if (open)
    pictures.push_back(next);
  return pictures;
}

std::array<uint8_t, 8> jsmp_header(int width, int height) {
  return {'j',
          's',
          'm',
          'p',
          uint8_t(width >> 8),
          uint8_t(width),
          uint8_t(height >> 8),
          uint8_t(height)};
}

}  // namespace camcast::mpeg1
