// Layer access: who may see what (tokens, sessions, users, TLS credentials); uses formats.
// HTTPS for a server: which certificate, and which ports speak what; for a client, which CA
// certificates to trust.
//
// With a certificate and key (PEM files) a server's `port` speaks HTTPS (and WSS); `http_port`
// adds a plain HTTP listener to the same server (same streams, same access rules) for clients
// that cannot do TLS. libsoup does the TLS (glib-networking); the clients' framing runs on the
// TLS connection's streams (client.h).
#pragma once

#include <gio/gio.h>

#include <string>

namespace camcast {

struct TlsSettings {
  std::string certificate;  // PEM file; empty: plain HTTP on `port`
  std::string key;          // PEM file with the certificate's private key
  int http_port = -1;       // also plain HTTP here (0: any free port); -1: not
  bool enabled() const { return !certificate.empty() || !key.empty(); }
  bool operator==(const TlsSettings &o) const {
    return certificate == o.certificate && key == o.key && http_port == o.http_port;
  }
  bool operator!=(const TlsSettings &o) const { return !(*this == o); }
};

// Loads the certificate with its key, or fails with a message a person can act on: a file that
// cannot be read, holds no PEM certificate or key, or a key that does not belong to the
// certificate (GLib accepts that pair, and every handshake would fail later).
GTlsCertificate *load_tls_certificate(const TlsSettings &tls, GError **error);

// For a client (relaysink, whippublishsink): the CA certificates in the PEM file `path` to trust
// besides the system's, for a server with a certificate of its own; null with `error` when the
// file will not do. `whose` names the server in the message ("the relay's").
GTlsDatabase *load_ca_file(const std::string &path, const char *whose, GError **error);

// What a client's person can do about a connection that failed with `error`: for a server's
// certificate refused, " (not signed by tls-ca-file, or not for this host)" when the client has
// one, else " (a server with its own certificate needs tls-ca-file)"; "" for any other error.
std::string certificate_hint(const GError *error, bool has_ca_file);

}  // namespace camcast
