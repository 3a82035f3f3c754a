#include "ice_properties.h"

#include <gst/gst.h>

namespace camcast {

namespace {

enum { STUN_SERVER, TURN_SERVER, MIN_PORT, MAX_PORT };

}  // namespace

void install_ice_properties(GObjectClass *klass, guint first) {
  const auto flags =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      klass, first + STUN_SERVER,
      g_param_spec_string("stun-server", "STUN server",
                          "stun://HOST:PORT, to learn this camera's public address for peers "
                          "outside its network (host candidates are always offered)",
                          nullptr, flags));
  g_object_class_install_property(
      klass, first + TURN_SERVER,
      g_param_spec_string("turn-server", "TURN server",
                          "turn://USER:PASSWORD@HOST:PORT (or turns://), to relay media where no "
                          "direct path reaches",
                          nullptr, flags));
  g_object_class_install_property(
      klass, first + MIN_PORT,
      g_param_spec_uint("min-port", "Lowest UDP port",
                        "The lowest UDP port ICE may use, for a firewall to open (0: any)", 0,
                        65535, 0, flags));
  g_object_class_install_property(
      klass, first + MAX_PORT,
      g_param_spec_uint("max-port", "Highest UDP port", "The highest UDP port ICE may use (0: any)",
                        0, 65535, 0, flags));
}

bool set_ice_property(PeerSettings *settings, guint id, guint first, const GValue *value) {
  if (id < first || id >= first + kIceProperties)
    return false;
  switch (id - first) {
  case STUN_SERVER:
    settings->stun_server = g_value_get_string(value) ? g_value_get_string(value) : "";
    break;
  case TURN_SERVER:
    settings->turn_server = g_value_get_string(value) ? g_value_get_string(value) : "";
    break;
  case MIN_PORT: settings->min_port = g_value_get_uint(value); break;
  case MAX_PORT: settings->max_port = g_value_get_uint(value); break;
  }
  return true;
}

bool get_ice_property(const PeerSettings &settings, guint id, guint first, GValue *value) {
  if (id < first || id >= first + kIceProperties)
    return false;
  switch (id - first) {
  case STUN_SERVER: g_value_set_string(value, settings.stun_server.c_str()); break;
  case TURN_SERVER: g_value_set_string(value, settings.turn_server.c_str()); break;
  case MIN_PORT: g_value_set_uint(value, settings.min_port); break;
  case MAX_PORT: g_value_set_uint(value, settings.max_port); break;
  }
  return true;
}

}  // namespace camcast
