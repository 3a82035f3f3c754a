#include "lag_properties.h"

#include "serving_sink.h"

#include <gst/gst.h>

namespace camcast {

namespace {

enum {
  SYNC_METHOD,
  RECOVER_POLICY,
  UNIT_FORMAT,
  UNITS_MAX,
  UNITS_SOFT_MAX,
  TIME_MIN,
  BURST_FORMAT,
  BURST_VALUE,
  TIMEOUT,
  KEEPALIVE_INTERVAL,
  KEEPALIVE_PONG_TIMEOUT,
};
static_assert(KEEPALIVE_PONG_TIMEOUT + 1 == kLagProperties, "kLagProperties is the count");

UnitFormat unit_format_from_gst(GstFormat f) {
  switch (f) {
  case GST_FORMAT_BYTES: return UnitFormat::Bytes;
  case GST_FORMAT_TIME: return UnitFormat::Time;
  default: return UnitFormat::Buffers;
  }
}

GstFormat unit_format_to_gst(UnitFormat f) {
  switch (f) {
  case UnitFormat::Bytes: return GST_FORMAT_BYTES;
  case UnitFormat::Time: return GST_FORMAT_TIME;
  default: return GST_FORMAT_BUFFERS;
  }
}

}  // namespace

void install_lag_properties(GObjectClass *klass, guint first) {
  const auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const MountSettings d;  // the defaults
  const LagPolicy &p = d.policy;
  g_object_class_install_property(
      klass, first + SYNC_METHOD,
      g_param_spec_enum("sync-method", "Sync method", "Where a new client starts",
                        GST_TYPE_WS_SYNC_METHOD, int(p.sync_method), flags));
  g_object_class_install_property(
      klass, first + RECOVER_POLICY,
      g_param_spec_enum("recover-policy", "Recover policy",
                        "What to do with a client that falls units-soft-max behind",
                        GST_TYPE_WS_RECOVER_POLICY, int(p.recover_policy), flags));
  g_object_class_install_property(
      klass, first + UNIT_FORMAT,
      g_param_spec_enum("unit-format", "Unit format",
                        "Unit of units-max and units-soft-max (buffers, bytes or time in ns)",
                        GST_TYPE_FORMAT, unit_format_to_gst(p.unit_format), flags));
  g_object_class_install_property(
      klass, first + UNITS_MAX,
      g_param_spec_int64("units-max", "Units max",
                         "A client this far behind is dropped (in unit-format; -1 = never)", -1,
                         G_MAXINT64, p.units_max, flags));
  g_object_class_install_property(
      klass, first + UNITS_SOFT_MAX,
      g_param_spec_int64(
          "units-soft-max", "Units soft max",
          "A client this far behind is recovered by recover-policy (in unit-format; -1 = never)",
          -1, G_MAXINT64, p.units_soft_max, flags));
  g_object_class_install_property(
      klass, first + TIME_MIN,
      g_param_spec_int64(
          "time-min", "Time min",
          "Keep at least this much of the stream queued, in ns (-1 = as little as possible)", -1,
          G_MAXINT64, p.time_min, flags));
  g_object_class_install_property(
      klass, first + BURST_FORMAT,
      g_param_spec_enum("burst-format", "Burst format", "Unit of burst-value", GST_TYPE_FORMAT,
                        unit_format_to_gst(p.burst_format), flags));
  g_object_class_install_property(
      klass, first + BURST_VALUE,
      g_param_spec_int64("burst-value", "Burst value",
                         "With sync-method=burst-keyframe: how much a new client is sent at once",
                         0, G_MAXINT64, p.burst_value, flags));
  g_object_class_install_property(
      klass, first + TIMEOUT,
      g_param_spec_uint64(
          "timeout", "Timeout",
          "Drop a client whose socket accepts nothing for this long, in ns (0 = never)", 0,
          G_MAXUINT64, d.timeout, flags));
  g_object_class_install_property(
      klass, first + KEEPALIVE_INTERVAL,
      g_param_spec_uint("keepalive-interval", "Keepalive interval",
                        "Seconds between WebSocket pings to each client (0 = no pings)", 0, 3600,
                        d.keepalive_interval, flags));
  g_object_class_install_property(
      klass, first + KEEPALIVE_PONG_TIMEOUT,
      g_param_spec_uint(
          "keepalive-pong-timeout", "Keepalive pong timeout",
          "Drop a client that has not answered a ping, or taken nothing of what waits for it "
          "(an MJPEG viewer that stopped reading), after this many seconds (0 = never)",
          0, 3600, d.keepalive_pong_timeout, flags));
}

bool set_lag_property(MountSettings *settings, guint id, guint first, const GValue *value) {
  if (id < first || id >= first + kLagProperties)
    return false;
  LagPolicy &p = settings->policy;
  switch (id - first) {
  case SYNC_METHOD: p.sync_method = SyncMethod(g_value_get_enum(value)); break;
  case RECOVER_POLICY: p.recover_policy = RecoverPolicy(g_value_get_enum(value)); break;
  case UNIT_FORMAT: p.unit_format = unit_format_from_gst(GstFormat(g_value_get_enum(value))); break;
  case UNITS_MAX: p.units_max = g_value_get_int64(value); break;
  case UNITS_SOFT_MAX: p.units_soft_max = g_value_get_int64(value); break;
  case TIME_MIN: p.time_min = g_value_get_int64(value); break;
  case BURST_FORMAT:
    p.burst_format = unit_format_from_gst(GstFormat(g_value_get_enum(value)));
    break;
  case BURST_VALUE: p.burst_value = g_value_get_int64(value); break;
  case TIMEOUT: settings->timeout = g_value_get_uint64(value); break;
  case KEEPALIVE_INTERVAL: settings->keepalive_interval = g_value_get_uint(value); break;
  case KEEPALIVE_PONG_TIMEOUT: settings->keepalive_pong_timeout = g_value_get_uint(value); break;
  }
  return true;
}

bool get_lag_property(const MountSettings &settings, guint id, guint first, GValue *value) {
  if (id < first || id >= first + kLagProperties)
    return false;
  const LagPolicy &p = settings.policy;
  switch (id - first) {
  case SYNC_METHOD: g_value_set_enum(value, int(p.sync_method)); break;
  case RECOVER_POLICY: g_value_set_enum(value, int(p.recover_policy)); break;
  case UNIT_FORMAT: g_value_set_enum(value, unit_format_to_gst(p.unit_format)); break;
  case UNITS_MAX: g_value_set_int64(value, p.units_max); break;
  case UNITS_SOFT_MAX: g_value_set_int64(value, p.units_soft_max); break;
  case TIME_MIN: g_value_set_int64(value, p.time_min); break;
  case BURST_FORMAT: g_value_set_enum(value, unit_format_to_gst(p.burst_format)); break;
  case BURST_VALUE: g_value_set_int64(value, p.burst_value); break;
  case TIMEOUT: g_value_set_uint64(value, settings.timeout); break;
  case KEEPALIVE_INTERVAL: g_value_set_uint(value, settings.keepalive_interval); break;
  case KEEPALIVE_PONG_TIMEOUT: g_value_set_uint(value, settings.keepalive_pong_timeout); break;
  }
  return true;
}

}  // namespace camcast

// The enums of sync-method and recover-policy, with multisocketsink's nicks.
GType gst_ws_sync_method_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {int(camcast::SyncMethod::NextBuffer), "Serve starting from the latest buffer", "latest"},
      {int(camcast::SyncMethod::NextKeyframe), "Serve starting from the next keyframe",
       "next-keyframe"},
      {int(camcast::SyncMethod::LatestKeyframe),
       "Serve starting from the latest keyframe (waits for one if none is queued)",
       "latest-keyframe"},
      {int(camcast::SyncMethod::BurstKeyframe),
       "Serve from the newest keyframe that gives at least burst-value of data", "burst-keyframe"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstWsSyncMethod", values));
  return type;
}

GType gst_ws_recover_policy_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {int(camcast::RecoverPolicy::None), "Do nothing (the client is dropped at units-max)",
       "none"},
      {int(camcast::RecoverPolicy::NextBuffer), "Skip to the next buffer that arrives", "latest"},
      {int(camcast::RecoverPolicy::Keyframe),
       "Skip to the newest keyframe, or wait for the next one", "keyframe"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstWsRecoverPolicy", values));
  return type;
}
