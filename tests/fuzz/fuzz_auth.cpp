// libFuzzer target: arbitrary bytes as the credentials, queries, cookies and Origins a client
// sends. Nothing may crash or read out of bounds, and nothing unsigned may be let in.
#include "access/auth.h"

#include <cassert>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace camcast::auth;
  const std::string in(reinterpret_cast<const char *>(data), size);
  // Four fields separated by NUL: query, cookie header, origin, path.
  std::string field[4];
  size_t f = 0;
  for (char c : in) {
    if (c == '\0' && f < 3)
      f++;
    else
      field[f] += c;
  }
  Policy p;
  p.access_token = "fuzz-access-token";
  for (bool websocket : {false, true}) {
    const Decision d = check(p, field[3], field[0], field[1], field[2], "cam:8080", websocket,
                             false, 1'800'000'000);
    // Only the exact access token gets in without a signature (the fuzzer cannot sign).
    if (d.allowed)
      assert(query_param(field[0], "token") == p.access_token);
  }
  std::string why;
  assert(!verify(key_for("k"), in, field[3], 0, &why) || in.compare(0, 3, "v1.") == 0);
  (void)cookie_value(in, "camcast_session");
  (void)origin_allowed(field[2], field[1], {field[0]});
  return 0;
}
