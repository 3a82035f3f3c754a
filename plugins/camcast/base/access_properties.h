// The access properties of every camcast sink, written once: access-token, users-file,
// allowed-origins, allowed-hosts, metrics-token and sessions-file. They describe the whole server
// of the sink's port, so the sinks of one port must agree on them (HttpServer::set_policy says
// which differ); `public`, which opens one stream, stays with each sink.
#pragma once

#include "access/access.h"

#include <glib-object.h>

namespace camcast {

// How many ids the access properties take: first, first + 1, ... first + kAccessProperties - 1.
constexpr guint kAccessProperties = 6;

// Installs them, settable in NULL and READY.
void install_access_properties(GObjectClass *klass, guint first);
// Sets or reads one of them; false when `id` is not one of them.
bool set_access_property(AccessPolicy *policy, guint id, guint first, const GValue *value);
bool get_access_property(const AccessPolicy &policy, guint id, guint first, GValue *value);

}  // namespace camcast
