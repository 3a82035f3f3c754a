// Layer access: who may see what (tokens, sessions, users, TLS credentials); uses formats.
// The pieces access control is made of (access.h puts them together): signed stream tokens,
// "v1.<expiry>.<scope>.<hmac-sha256 hex>", keyed by a key derived from the access token (a new
// access token revokes every token signed with the old one); query and cookie parsing; constant
// time comparison. Everything here parses untrusted bytes with bounds.
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

// A signed credential for `scope` (a stream's path) until `expires` (unix seconds).
std::string sign(std::string_view key, std::string_view scope, int64_t expires);
// True when `credential` was signed with `key`, has not expired at `now`, and its scope covers
// `path` (the path itself or below it). `why` says what is wrong otherwise.
bool verify(std::string_view key, std::string_view credential, std::string_view path, int64_t now,
            std::string *why);

// The signing key for an access token.
std::string key_for(std::string_view access_token);

// Secrets — access tokens, session ids, signing keys, WHEP session keys — come from the
// kernel's cryptographic generator (getrandom(2)) and from nothing else. Never GLib's g_random_*:
// it is a Mersenne Twister, whose state a few hundred published outputs give away, and
// GStreamer's own elements publish its outputs (rtpbin's CNAMEs and SSRCs in every WebRTC answer).
// Fills `out` with `n` random bytes; aborts the process rather than return weak ones.
void random_bytes(void *out, size_t n);
// A random access token (URL-safe, 128 bits).
std::string random_token();
// `bytes` random bytes as lowercase hex.
std::string random_hex(size_t bytes);

// The value of `name` in a query string ("a=1&token=x"), percent-decoded; empty if absent.
std::string query_param(std::string_view query, std::string_view name);
// The value of cookie `name` in a Cookie header; empty if absent.
std::string cookie_value(std::string_view header, std::string_view name);
}  // namespace camcast::auth
