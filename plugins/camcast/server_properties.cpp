#include "tls_properties.h"

#include <gst/gst.h>

namespace camcast {

void install_tls_properties(GObjectClass *klass, guint first) {
  const auto ready =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      klass, first,
      g_param_spec_string(
          "tls-certificate", "TLS certificate",
          "PEM file with the server's certificate (with tls-key): the port then speaks HTTPS "
          "and WSS, and session cookies are Secure. Empty (the default): plain HTTP. Every "
          "camcast element on a port needs the same TLS settings",
          nullptr, ready));
  g_object_class_install_property(
      klass, first + 1,
      g_param_spec_string(
          "tls-key", "TLS key",
          "PEM file with the private key of tls-certificate (unencrypted; keep it mode 600)",
          nullptr, ready));
  g_object_class_install_property(
      klass, first + 2,
      g_param_spec_int(
          "http-port", "HTTP port",
          "With tls-certificate: also serve plain HTTP on this port (0 = any free port, see "
          "current-http-port on the sinks; -1 = HTTPS only)",
          -1, 65535, -1, ready));
}

bool set_tls_property(TlsSettings *tls, guint id, guint first, const GValue *value) {
  const char *text = id < first + 2 ? g_value_get_string(value) : nullptr;
  if (id == first)
    tls->certificate = text ? text : "";
  else if (id == first + 1)
    tls->key = text ? text : "";
  else if (id == first + 2)
    tls->http_port = g_value_get_int(value);
  else
    return false;
  return true;
}

bool get_tls_property(const TlsSettings &tls, guint id, guint first, GValue *value) {
  if (id == first)
    g_value_set_string(value, tls.certificate.c_str());
  else if (id == first + 1)
    g_value_set_string(value, tls.key.c_str());
  else if (id == first + 2)
    g_value_set_int(value, tls.http_port);
  else
    return false;
  return true;
}

}  // namespace camcast
