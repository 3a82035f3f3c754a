#include "access/auth.h"

#include <glib.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace camcast::auth {

namespace {

constexpr size_t kMaxCredential = 1024;  // longer is not ours: refused before any work

std::string hmac_hex(std::string_view key, std::string_view data) {
  GHmac *h =
      g_hmac_new(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(key.data()), key.size());
  g_hmac_update(h, reinterpret_cast<const guchar *>(data.data()), gssize(data.size()));
  std::string out = g_hmac_get_string(h);
  g_hmac_unref(h);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += char(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// Scopes travel inside a credential; keep them to path characters so '.' separates fields.
bool scope_ok(std::string_view scope) {
  if (scope.empty() || scope.size() > 256 || scope[0] != '/')
    return false;
  for (char c : scope)
    if (!(g_ascii_isalnum(c) || c == '/' || c == '-' || c == '_'))
      return false;
  return true;
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; i++)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string key_for(std::string_view access_token) {
  return hmac_hex(access_token, "camcast signing key v1");
}

std::string sign(std::string_view key, std::string_view scope, int64_t expires) {
  std::string body = "v1." + std::to_string(expires) + "." + std::string(scope);
  return body + "." + hmac_hex(key, body);
}

bool verify(std::string_view key, std::string_view credential, std::string_view path, int64_t now,
            std::string *why) {
  if (credential.size() > kMaxCredential || credential.compare(0, 3, "v1.") != 0) {
    *why = "not a camcast token";
    return false;
  }
  const size_t mac_at = credential.rfind('.');
  const size_t scope_at = credential.find('.', 3);
  if (mac_at == std::string_view::npos || scope_at == std::string_view::npos ||
      scope_at >= mac_at) {
    *why = "not a camcast token";
    return false;
  }
  const std::string_view body = credential.substr(0, mac_at);
  const std::string_view mac = credential.substr(mac_at + 1);
  const std::string_view expiry = credential.substr(3, scope_at - 3);
  const std::string_view scope = credential.substr(scope_at + 1, mac_at - scope_at - 1);
  if (!constant_time_equal(mac, hmac_hex(key, body))) {
    *why = "the token's signature does not match";
    return false;
  }
  // Signed by us: the fields are what we wrote, but check them anyway.
  if (expiry.empty() || expiry.size() > 18 ||
      expiry.find_first_not_of("0123456789") != std::string_view::npos || !scope_ok(scope)) {
    *why = "malformed token";
    return false;
  }
  if (std::stoll(std::string(expiry)) <= now) {
    *why = "the token has expired";
    return false;
  }
  if (!(path == scope || (path.size() > scope.size() && path.compare(0, scope.size(), scope) == 0 &&
                          (scope.back() == '/' || path[scope.size()] == '/')))) {
    *why = "the token is for another stream";
    return false;
  }
  return true;
}

void random_bytes(void *out, size_t n) {
  auto *p = static_cast<unsigned char *>(out);
  while (n > 0) {
    // Blocks only until the kernel's pool is first seeded at boot, as a secret must.
    const ssize_t got = getrandom(p, n, 0);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      g_error("the kernel's random generator failed (getrandom: %s): no secret can be made",
              g_strerror(errno));
    p += got;
    n -= size_t(got);
  }
}

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  random_bytes(raw.data(), bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string random_token() {
  guchar raw[16];
  random_bytes(raw, sizeof raw);
  g_autofree char *b64 = g_base64_encode(raw, sizeof raw);
  std::string t = b64;
  for (char &c : t)
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  t.erase(t.find_last_not_of('=') + 1);
  return t;
}

std::string query_param(std::string_view query, std::string_view name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos)
      end = query.size();
    const std::string_view pair = query.substr(pos, end - pos);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name)
      return percent_decode(pair.substr(eq + 1).substr(0, kMaxCredential * 3));
    pos = end + 1;
  }
  return "";
}

std::string cookie_value(std::string_view header, std::string_view name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string_view::npos)
      end = header.size();
    std::string_view pair = header.substr(pos, end - pos);
    while (!pair.empty() && pair.front() == ' ')
      pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name)
      return std::string(pair.substr(eq + 1).substr(0, kMaxCredential));
    pos = end + 1;
  }
  return "";
}

}  // namespace camcast::auth
