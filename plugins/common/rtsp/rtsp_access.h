// Layer rtsp: RTSP on ports of their own (gst-rtsp-server); uses net, formats, access.
// Who may read a private camera's RTSP: HTTP Basic credentials (RFC 7617) in each request's
// Authorization header — any user name with the access token as the password, or a user of the
// users file with theirs. Basic, not Digest: Digest needs the password (or MD5 of it) on the
// server, and the users file keeps yescrypt hashes only; so on a network that is not trusted
// the RTSP port should speak TLS (RTSPS, docs/protocols.md).
//
// A password is checked with yescrypt (a good part of a second on a Pi) on the RTSP server's
// thread, so: a credential that passed is remembered (a keyed hash of it) for a while, as RTSP
// clients send it again with every request; at most kChecksPerSecond checks run a second, every
// client together (past that the answer is 503, unchecked); and failures are throttled per
// address and per user name from one address as logins are. Pure: tested without a server.
#pragma once

#include "access/access.h"
#include "access/users.h"

#include <glib.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace camcast {

class RtspAccess {
public:
  static constexpr int kChecksPerSecond = 4;
  static constexpr int64_t kRememberUs = 10 * 60 * G_USEC_PER_SEC;
  static constexpr size_t kMaxRemembered = 256;
  // An Authorization header longer than this is refused unread.
  static constexpr size_t kMaxHeader = 1024;

  enum class Verdict { Allowed, Refused, Busy };

  explicit RtspAccess(AccessPolicy policy);
  const AccessPolicy &policy() const { return policy_; }
  // Whether a request with `authorization` (the header's value, "" when absent) from `peer` may
  // read a stream that is not public. `now_us`: monotonic.
  Verdict check(std::string_view authorization, const std::string &peer, int64_t now_us);

private:
  // The access token (any user name), or the user's password within the checks' budget
  // (`busy` when it is spent).
  bool password_ok(const std::string &user, const std::string &password, int64_t now_us,
                   bool *busy);

  const AccessPolicy policy_;
  const std::string key_;                      // of the remembered credentials' hashes
  std::map<std::string, int64_t> remembered_;  // hash → until
  users::LoginThrottle by_address_{Access::kMaxFailuresPerAddress};
  users::LoginThrottle by_user_and_address_{Access::kMaxFailuresPerUserAndAddress};
  int64_t second_start_ = 0;
  int checks_this_second_ = 0;
};

}  // namespace camcast
