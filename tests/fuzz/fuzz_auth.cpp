// libFuzzer target: arbitrary bytes as the fields of a request access control judges — path,
// query, cookies, Host, Origin, Authorization — and as credentials and login forms. Nothing may
// crash or read out of bounds; nothing is let in without a credential the fuzzer cannot forge
// (only the exact access token, the exact metrics token, or a session the access token began).
#include "access/access.h"
#include "access/auth.h"

#include <cassert>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace camcast;
  const std::string in(reinterpret_cast<const char *>(data), size);
  // Fields separated by NUL: path, query, cookie, host, origin, authorization, form.
  std::string field[7];
  size_t f = 0;
  for (char c : in) {
    if (c == '\0' && f < 6)
      f++;
    else
      field[f] += c;
  }
  AccessPolicy p;
  p.access_token = "fuzz-access-token";
  p.metrics_token = "fuzz-metrics-token";
  p.allowed_origins = {"https://dash.example"};
  Access access(
      p, [](std::function<void()>) { assert(false); },
      [](std::string_view path) { return path == "/video"; });
  for (int flags = 0; flags < 8; flags++) {
    AccessRequest r;
    r.method = "GET";
    r.path = field[0];
    r.query = field[1];
    r.cookie = field[2];
    r.host = field[3];
    r.origin = field[4];
    r.authorization = field[5];
    r.peer = "10.0.0.1";
    r.websocket = flags & 1;
    r.tls = flags & 2;
    r.public_stream = flags & 4;
    AccessAnswer refusal;
    std::vector<std::pair<std::string, std::string>> headers;
    const Admission how = access.admit(r, 1'800'000'000, &refusal, &headers);
    if (how == Admission::AccessToken)
      assert(auth::query_param(r.query, "token") == p.access_token);
    if (how == Admission::MetricsToken)
      assert(r.authorization == "Bearer " + p.metrics_token);
    assert(how != Admission::Session);  // no session was ever begun with a cookie we could know
    if (how == Admission::Open)
      assert(r.public_stream);
    bool answered = false;
    if (how != Admission::Refused)
      access.serve(r, how, field[6], 1'800'000'000, [&](AccessAnswer) { answered = true; });
  }
  std::string why;
  assert(!auth::verify(auth::key_for("k"), in, field[0], 0, &why) || in.compare(0, 3, "v1.") == 0);
  (void)auth::cookie_value(in, "camcast_session");
  const std::string next = local_path(in);
  assert(next[0] == '/' && (next.size() == 1 || (next[1] != '/' && next[1] != '\\')));
  return 0;
}
