// The server properties of every camcast element with a port (the sinks and relaysrc), written
// once: how the port speaks (tls-certificate, tls-key, http-port) and its limits
// (max-connections, max-connections-per-address, max-connection-rate, header-timeout,
// request-timeout). All elements
// of one port share its server, so they must agree on these (HttpServer::acquire refuses a
// mismatch with the reason).
#pragma once

#include "net/http_server.h"

#include <glib-object.h>

namespace camcast {

// address, port and current-port: where an element with a port listens, by default every IPv4
// interface on port 8080. Installed with ids first, first + 1 and first + 2 (address and port
// settable in NULL and READY); each element keeps and reports their values itself.
inline constexpr const char *kDefaultAddress = "0.0.0.0";
inline constexpr int kDefaultPort = 8080;
constexpr guint kListenProperties = 3;
void install_listen_properties(GObjectClass *klass, guint first);

// How many ids the server properties take: first, first + 1, ... first + kServerProperties - 1.
constexpr guint kServerProperties = 8;

// Installs them, settable in NULL and READY.
void install_server_properties(GObjectClass *klass, guint first);
// Sets or reads one of them; false when `id` is not one of them.
bool set_server_property(ServerSettings *settings, guint id, guint first, const GValue *value);
bool get_server_property(const ServerSettings &settings, guint id, guint first, GValue *value);

}  // namespace camcast
