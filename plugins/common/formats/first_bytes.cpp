#include "formats/first_bytes.h"

namespace camcast::first_bytes {

Kind classify(const uint8_t *data, size_t n) {
  if (n == 0)
    return Kind::Unknown;
  if (data[0] & 0x80)
    return Kind::TlsTooOld;  // an SSLv2-format hello (a 2-byte record header with the top bit)
  if (data[0] == 22) {
    // Record: type, version (3, x), length (2); handshake: type, length (3), legacy_version.
    if (n < kNeeded)
      return Kind::Unknown;
    if (data[1] != 3 || data[5] != 1)
      return Kind::Unknown;
    const unsigned version = unsigned(data[9]) << 8 | data[10];
    return version >= 0x0303 ? Kind::Tls : Kind::TlsTooOld;
  }
  // An HTTP method (RFC 9110 §9: a token; every method in use is capital letters) and a space.
  size_t i = 0;
  while (i < n && i < 16 && data[i] >= 'A' && data[i] <= 'Z')
    i++;
  return i > 0 && i < n && data[i] == ' ' ? Kind::Http : Kind::Unknown;
}

size_t head_end(const uint8_t *data, size_t n) {
  for (size_t i = 1; i < n; i++) {
    if (data[i] != '\n')
      continue;
    if (data[i - 1] == '\n')
      return i + 1;  // LF LF
    if (i >= 3 && data[i - 1] == '\r' && data[i - 2] == '\n' && data[i - 3] == '\r')
      return i + 1;  // CR LF CR LF
    if (i >= 2 && data[i - 1] == '\r' && data[i - 2] == '\n')
      return i + 1;  // LF CR LF
  }
  return 0;
}

void protocol_version_alert(const uint8_t *client_hello, size_t n, uint8_t out[7]) {
  out[0] = 21;  // alert
  out[1] = 3;
  out[2] = n >= 3 && client_hello[0] == 22 && client_hello[1] == 3 ? client_hello[2] : 1;
  out[3] = 0;
  out[4] = 2;
  out[5] = 2;   // fatal
  out[6] = 70;  // protocol_version
}

}  // namespace camcast::first_bytes
