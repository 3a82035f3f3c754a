// The TLS properties of every camcast element with a port (the sinks and relaysrc), written
// once: tls-certificate, tls-key and http-port. All elements of one port share its server, so
// they must agree on these (HttpServer::acquire refuses a mismatch with the reason).
#pragma once

#include "access/tls.h"

#include <glib-object.h>

namespace camcast {

// Installs the three properties with the ids first, first + 1 and first + 2 (certificate, key,
// http-port), settable in NULL and READY.
void install_tls_properties(GObjectClass *klass, guint first);
// Sets or reads one of them; false when `id` is not one of them.
bool set_tls_property(TlsSettings *tls, guint id, guint first, const GValue *value);
bool get_tls_property(const TlsSettings &tls, guint id, guint first, GValue *value);

}  // namespace camcast
