// Layer access: who may see what (tokens, sessions, users, TLS credentials); uses nothing else.
// Access control for a server: who may see what. Off unless an access token is set (elements
// from gst-launch-1.0 are open by default; the launcher makes one up on first start).
//
// A request is let in when it carries
//  - the access token itself (`?token=`; the notebook-server model: the link is the key), or
//  - a stream token: short-lived, signed, scoped to one path (`?token=` in a WebSocket or
//    <img> URL, so third-party pages and embedding apps need no cookie), or
//  - the session cookie a page request with the access token was given (HttpOnly,
//    SameSite=Strict, Secure under TLS), which the page's own WebSocket then sends.
// WebSocket upgrades must also come from an allowed Origin: the server's own, or a listed one —
// a hostile page cannot ride a viewer's cookie into the stream.
//
// Tokens and cookies are "v1.<expiry>.<scope>.<hmac-sha256 hex>", keyed by a key derived from
// the access token: changing the access token revokes everything signed with it. Everything
// here parses untrusted bytes with bounds and compares secrets in constant time.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace camcast::auth {

// Equal without telling a timing observer where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// A signed credential for `scope` (a path for stream tokens, "*" for sessions) until `expires`
// (unix seconds).
std::string sign(std::string_view key, std::string_view scope, int64_t expires);
// True when `credential` was signed with `key`, has not expired at `now`, and its scope is
// "*" or covers `path` (the path itself or below it). `why` says what is wrong otherwise.
bool verify(std::string_view key, std::string_view credential, std::string_view path, int64_t now,
            std::string *why);

// The signing key for an access token.
std::string key_for(std::string_view access_token);

// A random access token (URL-safe, 128 bits).
std::string random_token();

// The value of `name` in a query string ("a=1&token=x"), percent-decoded; empty if absent.
std::string query_param(std::string_view query, std::string_view name);
// The value of cookie `name` in a Cookie header; empty if absent.
std::string cookie_value(std::string_view header, std::string_view name);
// True when a WebSocket upgrade's Origin is acceptable: absent (not a browser), the same
// host as `host` (the Host header), or in `allowed` ("https://example.com").
bool origin_allowed(std::string_view origin, std::string_view host,
                    const std::vector<std::string> &allowed);

constexpr const char *kSessionCookie = "camcast_session";

struct Policy {
  std::string access_token;                  // the link key; empty: none
  std::string users_file;                    // users who log in (users.h); empty: none
  std::map<std::string, std::string> users;  // loaded from users_file: name → hash
  std::vector<std::string> allowed_origins;
  std::string metrics_token;  // /metrics also takes "Authorization: Bearer <this>"
  int64_t session_seconds = 30 * 24 * 3600;
  std::string signing_key;  // for tokens and sessions (see key())
  bool enabled() const { return !access_token.empty() || !users_file.empty(); }
  // Derived from the access token (revoking it revokes all), else signing_key (random per run).
  std::string key() const { return access_token.empty() ? signing_key : key_for(access_token); }
  bool operator==(const Policy &o) const {
    return access_token == o.access_token && users_file == o.users_file &&
           allowed_origins == o.allowed_origins && metrics_token == o.metrics_token &&
           session_seconds == o.session_seconds;
  }
};

// The Set-Cookie value for a new session (or, with `seconds` 0, one that ends it).
std::string session_cookie(const Policy &policy, int64_t now, bool tls, int64_t seconds);

struct Decision {
  bool allowed = false;
  bool login = false;     // denied, and logging in would help (users are configured)
  unsigned status = 200;  // 401 (no or bad credentials) or 403 (bad Origin) when denied
  std::string reason;
  std::string set_cookie;  // a Set-Cookie header value to send, if any
};

// What the server does with one request. `tls`: the connection is HTTPS (cookies get Secure).
Decision check(const Policy &policy, std::string_view path, std::string_view query,
               std::string_view cookie_header, std::string_view origin, std::string_view host,
               bool websocket, bool tls, int64_t now);

}  // namespace camcast::auth
