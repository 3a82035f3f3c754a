// The ICE properties of camcast's WebRTC elements (whepsink, whippublishsink), written once:
// stun-server, turn-server, min-port and max-port, kept in a PeerSettings.
#pragma once

#include "webrtc/peer.h"

#include <glib-object.h>

namespace camcast {

// How many ids the ICE properties take: first, first + 1, ... first + kIceProperties - 1.
constexpr guint kIceProperties = 4;

// Installs them, settable in NULL and READY (each session takes them as it starts).
void install_ice_properties(GObjectClass *klass, guint first);
// Sets or reads one of them; false when `id` is not one of them.
bool set_ice_property(PeerSettings *settings, guint id, guint first, const GValue *value);
bool get_ice_property(const PeerSettings &settings, guint id, guint first, GValue *value);

}  // namespace camcast
