// Layer net: the URL of a server a camcast client pushes to (relaysink's relay, a WHIP server).
#pragma once

#include <glib.h>

#include <string>

namespace camcast {

// `text` as an http:// or https:// URL with a host, or null.
inline GUri *parse_client_url(const std::string &text) {
  GUri *uri = g_uri_parse(text.c_str(), G_URI_FLAGS_NONE, nullptr);
  const char *scheme = uri ? g_uri_get_scheme(uri) : nullptr;
  if (uri && g_uri_get_host(uri) && *g_uri_get_host(uri) &&
      (g_strcmp0(scheme, "http") == 0 || g_strcmp0(scheme, "https") == 0))
    return uri;
  if (uri)
    g_uri_unref(uri);
  return nullptr;
}

// The server as logs may show it: scheme, host and port. The path and any user information stay
// out (secrets and stream keys live there).
inline std::string loggable_url(GUri *uri) {
  const int port = g_uri_get_port(uri);
  return std::string(g_uri_get_scheme(uri)) + "://" + g_uri_get_host(uri) +
         (port > 0 ? ":" + std::to_string(port) : "") + "/…";
}

}  // namespace camcast
