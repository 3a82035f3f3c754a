#include "server_properties.h"

#include <gst/gst.h>

namespace camcast {

namespace {

enum {
  CERTIFICATE,
  KEY,
  HTTP_PORT,
  MAX_CONNECTIONS,
  MAX_PER_ADDRESS,
  HEADER_TIMEOUT,
  REQUEST_TIMEOUT,
  MAX_RATE
};

}  // namespace

void install_listen_properties(GObjectClass *klass, guint first) {
  const auto ready =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      klass, first,
      g_param_spec_string(
          "address", "Address",
          "Address to listen on (0.0.0.0: every IPv4 interface; 127.0.0.1: this machine only). "
          "Takes effect when the element next goes from NULL to READY",
          kDefaultAddress, ready));
  g_object_class_install_property(
      klass, first + 1,
      g_param_spec_int(
          "port", "Port",
          "TCP port to listen on (0 = any free port, see current-port). Elements with the same "
          "address and port share one server. Takes effect on the next NULL to READY",
          0, 65535, kDefaultPort, ready));
  g_object_class_install_property(
      klass, first + 2,
      g_param_spec_int("current-port", "Current port",
                       "The port being listened on (-1 when not listening)", -1, 65535, -1, ro));
}

void install_server_properties(GObjectClass *klass, guint first) {
  const auto ready =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const ConnectionLimits defaults;
  g_object_class_install_property(
      klass, first + CERTIFICATE,
      g_param_spec_string("tls-certificate", "TLS certificate",
                          "PEM file with the server's certificate (with tls-key): the port then "
                          "speaks HTTPS and WSS (TLS 1.2 or newer), and session cookies are "
                          "Secure. Empty (the default): plain HTTP. Every camcast element on a "
                          "port needs the same server settings",
                          nullptr, ready));
  g_object_class_install_property(
      klass, first + KEY,
      g_param_spec_string("tls-key", "TLS key",
                          "PEM file with the private key of tls-certificate (unencrypted; keep it "
                          "mode 600)",
                          nullptr, ready));
  g_object_class_install_property(
      klass, first + HTTP_PORT,
      g_param_spec_int("http-port", "HTTP port",
                       "With tls-certificate: also serve plain HTTP on this port (0 = any free "
                       "port, see current-http-port on the sinks; -1 = HTTPS only)",
                       -1, 65535, -1, ready));
  g_object_class_install_property(
      klass, first + MAX_CONNECTIONS,
      g_param_spec_uint("max-connections", "Max connections",
                        "Connections the server keeps open at once, viewers included; one more "
                        "is answered 503 and closed",
                        1, 65535, defaults.max_connections, ready));
  g_object_class_install_property(
      klass, first + MAX_PER_ADDRESS,
      g_param_spec_uint("max-connections-per-address", "Max connections per address",
                        "Connections one client address may keep open at once (behind a proxy "
                        "on this machine, every viewer comes from 127.0.0.1)",
                        1, 65535, defaults.max_per_address, ready));
  g_object_class_install_property(
      klass, first + MAX_RATE,
      g_param_spec_uint("max-connection-rate", "Max connection rate",
                        "New connections one client address may open a second (twice that in "
                        "a burst); past it they are answered 503 and closed (0 = no limit)",
                        0, 65535, defaults.max_rate, ready));
  g_object_class_install_property(
      klass, first + HEADER_TIMEOUT,
      g_param_spec_uint("header-timeout", "Header timeout",
                        "Seconds a new connection has for its TLS handshake and its request's "
                        "head before it is closed (0 = no limit)",
                        0, 3600, defaults.header_timeout_s, ready));
  g_object_class_install_property(
      klass, first + REQUEST_TIMEOUT,
      g_param_spec_uint("request-timeout", "Request timeout",
                        "Seconds a request has, after its head, for its body and its answer "
                        "before the connection is closed; streams and uploads are not bound by "
                        "it (0 = no limit)",
                        0, 3600, defaults.request_timeout_s, ready));
}

bool set_server_property(ServerSettings *settings, guint id, guint first, const GValue *value) {
  if (id < first || id >= first + kServerProperties)
    return false;
  TlsSettings &tls = settings->tls;
  ConnectionLimits &limits = settings->limits;
  const char *text = id - first <= KEY ? g_value_get_string(value) : nullptr;
  switch (id - first) {
  case CERTIFICATE: tls.certificate = text ? text : ""; break;
  case KEY: tls.key = text ? text : ""; break;
  case HTTP_PORT: tls.http_port = g_value_get_int(value); break;
  case MAX_CONNECTIONS: limits.max_connections = g_value_get_uint(value); break;
  case MAX_PER_ADDRESS: limits.max_per_address = g_value_get_uint(value); break;
  case HEADER_TIMEOUT: limits.header_timeout_s = g_value_get_uint(value); break;
  case REQUEST_TIMEOUT: limits.request_timeout_s = g_value_get_uint(value); break;
  case MAX_RATE: limits.max_rate = g_value_get_uint(value); break;
  }
  return true;
}

bool get_server_property(const ServerSettings &settings, guint id, guint first, GValue *value) {
  if (id < first || id >= first + kServerProperties)
    return false;
  const TlsSettings &tls = settings.tls;
  const ConnectionLimits &limits = settings.limits;
  switch (id - first) {
  case CERTIFICATE: g_value_set_string(value, tls.certificate.c_str()); break;
  case KEY: g_value_set_string(value, tls.key.c_str()); break;
  case HTTP_PORT: g_value_set_int(value, tls.http_port); break;
  case MAX_CONNECTIONS: g_value_set_uint(value, limits.max_connections); break;
  case MAX_PER_ADDRESS: g_value_set_uint(value, limits.max_per_address); break;
  case HEADER_TIMEOUT: g_value_set_uint(value, limits.header_timeout_s); break;
  case REQUEST_TIMEOUT: g_value_set_uint(value, limits.request_timeout_s); break;
  case MAX_RATE: g_value_set_uint(value, limits.max_rate); break;
  }
  return true;
}

}  // namespace camcast
