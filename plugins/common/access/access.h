// Layer access: who may see what (tokens, sessions, users, TLS credentials); uses formats.
// Access control for one server, beside it as GstRTSPAuth stands beside GstRTSPServer: who may
// see what, and the pages that let people in (/login, /logout, /api/token). It sees requests as
// plain fields and answers with plain answers, so it is tested without a server; the net layer
// carries both over HTTP, before a request's body is read.
//
// Every request:
// - Host must name this machine: an IP address, localhost, this machine's host name or its
//   .local name, or one of `allowed_hosts`. A page of another site that points its own name at
//   this camera (DNS rebinding) is refused, on open servers too.
// With an access token or a users file (the server is private), a request also needs one of:
// - the access token (`?token=`): the link is the key; a page opened so (a browser's page load,
//   not a snapshot polled or a stream) gets a session cookie;
// - a stream token (`?token=`, from /api/token): signed, expiring, for one stream's path;
// - a session cookie: sessions live here, on the server (a logout ends one; a changed token or
//   users file ends them all). With a sessions file they outlive a restart: kept there (mode
//   0600, written at most once a second while they change) with the key of stream tokens. A session
//   begun over plain HTTP is not taken over HTTPS: there the cookie is `__Host-camcast_session`,
//   which browsers keep for HTTPS only.
// WebSocket upgrades must also come from an allowed Origin (scheme, host and port): this server's
// own page or one of `allowed_origins`, so another site's page cannot ride a viewer's cookie.
//
// Logins check passwords off the server thread (yescrypt takes a good part of a second on a Pi),
// one at a time, a few waiting at most; an unknown user is checked against a dummy hash of the
// same cost, so the answer's timing does not tell whether a user exists. Failed logins are
// refused for a while per user name from one address, and per address across user names; a user
// name under attack from many addresses is only slowed (its answers held a second or two), never
// refused, so guessing from elsewhere cannot lock its owner out.
//
// Server thread only (the password checks report back through `post`).
#pragma once

#include "access/users.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace camcast {

struct AccessPolicy {
  std::string access_token;                  // the link key; empty: none
  std::string users_file;                    // users who log in; empty: none
  std::map<std::string, std::string> users;  // loaded from users_file: name → hash
  std::vector<std::string> allowed_origins;  // "https://example.com": may open streams
  std::vector<std::string> allowed_hosts;    // names besides this machine's that Host may be
  std::string metrics_token;                 // /metrics also takes "Authorization: Bearer <this>"
  int64_t session_seconds = 30 * 24 * 3600;
  std::string sessions_file;  // sessions kept here across restarts; empty: in memory only
  bool enabled() const { return !access_token.empty() || !users_file.empty(); }
  bool empty() const {
    return !enabled() && allowed_origins.empty() && allowed_hosts.empty() && metrics_token.empty();
  }
  bool operator==(const AccessPolicy &o) const {
    return access_token == o.access_token && users_file == o.users_file && users == o.users &&
           allowed_origins == o.allowed_origins && allowed_hosts == o.allowed_hosts &&
           metrics_token == o.metrics_token && session_seconds == o.session_seconds &&
           sessions_file == o.sessions_file;
  }
  bool operator!=(const AccessPolicy &o) const { return !(*this == o); }
  // The properties that differ from `o`, for messages ("access-token, users-file").
  std::string differences(const AccessPolicy &o) const;
  // Reads users_file into `users` (nothing to do without one); false with the reason in words.
  bool load_users(std::string *why);
};

// A request as access control sees it.
struct AccessRequest {
  std::string_view method;
  std::string_view path;  // decoded, without the query
  std::string_view query;
  std::string_view host;  // the Host header
  std::string_view origin;
  std::string_view cookie;  // the Cookie header
  std::string_view authorization;
  std::string_view fetch_dest;  // Sec-Fetch-Dest: what a browser will do with the answer
  std::string_view accept;
  std::string_view peer;  // the client's address
  bool websocket = false;
  bool tls = false;
  bool public_stream = false;  // the path belongs to a stream with public=true
};

// An answer access control gives itself.
struct AccessAnswer {
  unsigned status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // Location, Set-Cookie, …
};

// How a request was let in.
enum class Admission {
  Refused,
  Open,         // nothing is private here (or the path is public, or the login page)
  AccessToken,  // the link key
  Session,      // a session cookie
  StreamToken,  // a stream token: that stream only, and it cannot mint tokens
  MetricsToken,
};

class Access {
public:
  // `post` runs a function on the server thread, from any thread. `is_stream` says whether a
  // path is a stream's (stream tokens are made for streams only).
  using Post = std::function<void(std::function<void()>)>;
  Access(AccessPolicy policy, Post post, std::function<bool(std::string_view)> is_stream);
  ~Access();
  Access(const Access &) = delete;
  Access &operator=(const Access &) = delete;

  const AccessPolicy &policy() const { return policy_; }

  // Before anything of the request is read: whether it may go on. When it may, `headers` may
  // get some for its answer (a new session's cookie); when not, `refusal` is the answer.
  Admission admit(const AccessRequest &r, int64_t now, AccessAnswer *refusal,
                  std::vector<std::pair<std::string, std::string>> *headers);
  // /login, /logout and /api/token, for a request admit() let in `how`. True when the request
  // is one of them: `done` is then called with the answer, at once or — for a login — later on
  // the server thread, once the password has been checked. `body` is the login form.
  bool serve(const AccessRequest &r, Admission how, std::string_view body, int64_t now,
             std::function<void(AccessAnswer)> done);
  // Forgets expired sessions (every server tick).
  void tick(int64_t now);
  size_t sessions() const { return sessions_.size(); }

  // Sessions kept at most; past it the one closest to expiry goes.
  static constexpr size_t kMaxSessions = 4096;
  // Password checks waiting for the worker at most, and from one address; past them a login is
  // answered 503. Few addresses cannot fill the line ahead of the real user.
  static constexpr int kMaxPendingLogins = 32;
  static constexpr int kMaxPendingLoginsPerAddress = 2;
  // Failed logins a minute: refused past these per user name from one address and per address;
  // per user name, answers are held kSlowSeconds more (never refused).
  static constexpr int kMaxFailuresPerUserAndAddress = 5;
  static constexpr int kMaxFailuresPerAddress = 20;
  static constexpr int kSlowAfterFailuresPerUser = 10;
  static constexpr int64_t kSlowSeconds = 2;

private:
  struct Session {
    int64_t expires;
    bool tls;
    std::string user;  // empty for a session the access token began
  };
  struct Shared;  // what the password worker shares with us

  bool host_allowed(std::string_view host) const;
  bool origin_allowed(const AccessRequest &r) const;
  const Session *session_of(const AccessRequest &r, int64_t now, std::string *id) const;
  std::string begin_session(bool tls, const std::string &user, int64_t now);
  std::string session_cookie(bool tls, const std::string &id, int64_t seconds) const;
  void login(const AccessRequest &r, std::string_view body, int64_t now,
             std::function<void(AccessAnswer)> done);
  AccessAnswer token(const AccessRequest &r, int64_t now) const;
  std::string key() const;
  // The sessions file: what it holds for this policy (nothing if it was made for another), and
  // writing it back.
  void load_sessions(int64_t now);
  void save_sessions(int64_t now);
  std::string fingerprint() const;

  const AccessPolicy policy_;
  const Post post_;
  const std::function<bool(std::string_view)> is_stream_;
  std::string signing_key_;  // stream tokens: from the access token, else made or kept
  std::map<std::string, Session> sessions_;
  bool sessions_changed_ = false;  // since the sessions file was written
  int64_t sessions_saved_ = 0;     // when (s)
  users::LoginThrottle by_user_and_address_{kMaxFailuresPerUserAndAddress};
  users::LoginThrottle by_address_{kMaxFailuresPerAddress};
  users::LoginThrottle by_user_{kSlowAfterFailuresPerUser};      // slows, never refuses
  std::map<std::string, int> pending_by_address_;                // password checks waiting
  std::vector<std::pair<int64_t, std::function<void()>>> held_;  // answers held until then
  std::shared_ptr<Shared> shared_;
};

// Only a path on this server: "/…", never "//elsewhere", a backslash or a control character
// (browsers drop tabs and newlines and read "/\t/x" as "//x"). Anything else is "/".
std::string local_path(std::string_view next);

}  // namespace camcast
