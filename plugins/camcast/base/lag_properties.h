// The fan-out properties of every camcast sink, written once: where a new viewer starts and what
// becomes of one that falls behind (sync-method, recover-policy, unit-format, units-max,
// units-soft-max, time-min, burst-format, burst-value: multisocketsink's words, meaning the same),
// and how long a viewer may be stuck or silent (timeout, keepalive-interval,
// keepalive-pong-timeout). They apply to a running sink at once.
#pragma once

#include "net/mount.h"

#include <glib-object.h>

namespace camcast {

// How many ids the lag properties take: first, first + 1, ... first + kLagProperties - 1.
constexpr guint kLagProperties = 11;

void install_lag_properties(GObjectClass *klass, guint first);
// Sets or reads one of them; false when `id` is not one of them.
bool set_lag_property(MountSettings *settings, guint id, guint first, const GValue *value);
bool get_lag_property(const MountSettings &settings, guint id, guint first, GValue *value);

}  // namespace camcast
