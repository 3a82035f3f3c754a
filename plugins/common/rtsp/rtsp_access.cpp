#include "rtsp/rtsp_access.h"

#include "access/auth.h"

#include <glib.h>

namespace camcast {

RtspAccess::RtspAccess(AccessPolicy policy)
    : policy_(std::move(policy)), key_(auth::random_hex(32)) {}

RtspAccess::Verdict RtspAccess::check(std::string_view authorization, const std::string &peer,
                                      int64_t now_us) {
  if (!policy_.enabled())
    return Verdict::Allowed;
  constexpr std::string_view kBasic = "Basic ";
  if (authorization.size() > kMaxHeader || authorization.size() <= kBasic.size() ||
      g_ascii_strncasecmp(authorization.data(), kBasic.data(), kBasic.size()) != 0)
    return Verdict::Refused;
  const std::string header(authorization);
  g_autofree char *hash =
      g_compute_hmac_for_string(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(key_.data()),
                                key_.size(), header.c_str(), gssize(header.size()));
  if (auto it = remembered_.find(hash); it != remembered_.end()) {
    if (now_us < it->second)
      return Verdict::Allowed;
    remembered_.erase(it);
  }
  // "user:password", base64 (what g_base64_decode cannot read comes out short, and fails below).
  gsize length = 0;
  g_autofree guchar *decoded = g_base64_decode(header.c_str() + kBasic.size(), &length);
  const std::string pair(reinterpret_cast<const char *>(decoded), length);
  const size_t colon = pair.find(':');
  if (colon == std::string::npos)
    return Verdict::Refused;
  const std::string user = pair.substr(0, colon), password = pair.substr(colon + 1);
  const int64_t now_s = now_us / G_USEC_PER_SEC;
  if (!by_address_.allowed(peer, now_s) || !by_user_and_address_.allowed(user + "@" + peer, now_s))
    return Verdict::Refused;
  bool busy = false;
  if (!password_ok(user, password, now_us, &busy)) {
    if (busy)
      return Verdict::Busy;
    by_address_.failed(peer, now_s);
    by_user_and_address_.failed(user + "@" + peer, now_s);
    return Verdict::Refused;
  }
  by_user_and_address_.succeeded(user + "@" + peer);
  if (remembered_.size() >= kMaxRemembered) {
    for (auto it = remembered_.begin(); it != remembered_.end();)
      it = it->second <= now_us ? remembered_.erase(it) : std::next(it);
    if (remembered_.size() >= kMaxRemembered)
      remembered_.erase(remembered_.begin());
  }
  remembered_[hash] = now_us + kRememberUs;
  return Verdict::Allowed;
}

bool RtspAccess::password_ok(const std::string &user, const std::string &password, int64_t now_us,
                             bool *busy) {
  if (!policy_.access_token.empty() && auth::constant_time_equal(password, policy_.access_token))
    return true;
  if (policy_.users.empty())
    return false;
  if (now_us - second_start_ >= G_USEC_PER_SEC) {
    second_start_ = now_us;
    checks_this_second_ = 0;
  }
  if (checks_this_second_ >= kChecksPerSecond) {
    *busy = true;
    return false;
  }
  checks_this_second_++;
  // An unknown user costs what a known one does: the timing does not tell who exists.
  const auto it = policy_.users.find(user);
  const bool ok = users::verify_password(
      it != policy_.users.end() ? it->second : users::dummy_hash(), password);
  return ok && it != policy_.users.end();
}

}  // namespace camcast
