#include "access/tls.h"

#include <gnutls/gnutls.h>

namespace camcast {

GTlsCertificate *load_tls_certificate(const TlsSettings &tls, GError **error) {
  if (tls.certificate.empty() || tls.key.empty()) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "HTTPS needs both a certificate and its key (tls-certificate and tls-key, PEM "
                "files); only the %s is set",
                tls.certificate.empty() ? "key" : "certificate");
    return nullptr;
  }
  if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                "this machine's GLib has no TLS support (install glib-networking)");
    return nullptr;
  }
  for (const std::string *file : {&tls.certificate, &tls.key}) {
    GError *err = nullptr;
    gchar *contents = nullptr;
    if (!g_file_get_contents(file->c_str(), &contents, nullptr, &err)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "cannot read the TLS %s: %s",
                  file == &tls.key ? "key" : "certificate", err->message);
      g_error_free(err);
      return nullptr;
    }
    g_free(contents);
  }
  GError *err = nullptr;
  GTlsCertificate *cert =
      g_tls_certificate_new_from_files(tls.certificate.c_str(), tls.key.c_str(), &err);
  if (!cert) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                "cannot use %s and %s for HTTPS: %s (both must be PEM files: the certificate, "
                "then its private key, unencrypted)",
                tls.certificate.c_str(), tls.key.c_str(), err->message);
    g_error_free(err);
    return nullptr;
  }
  // GLib loads a certificate and a key that do not belong together; GnuTLS checks the pair.
  gnutls_certificate_credentials_t credentials;
  if (gnutls_certificate_allocate_credentials(&credentials) == GNUTLS_E_SUCCESS) {
    const int ret = gnutls_certificate_set_x509_key_file2(
        credentials, tls.certificate.c_str(), tls.key.c_str(), GNUTLS_X509_FMT_PEM, nullptr, 0);
    gnutls_certificate_free_credentials(credentials);
    if (ret == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "the key in %s does not belong to the certificate in %s (every HTTPS "
                  "connection would fail): give the key the certificate was made for",
                  tls.key.c_str(), tls.certificate.c_str());
      g_object_unref(cert);
      return nullptr;
    }
  }
  return cert;
}

GTlsDatabase *load_ca_file(const std::string &path, const char *whose, GError **error) {
  // glib-networking (2.74, gtlsfiledatabase-gnutls.c) ignores a relative anchors path with only a
  // g_warning, leaving a database that trusts nothing: "tls-ca-file=ca.pem" failed every
  // handshake as "not signed". So the path is made absolute first.
  g_autofree char *absolute = g_canonicalize_filename(path.c_str(), nullptr);
  GError *err = nullptr;
  GTlsDatabase *ca = g_tls_file_database_new(absolute, &err);
  if (!ca) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "cannot use %s as %s CA certificates: %s", path.c_str(), whose, err->message);
    g_error_free(err);
  }
  return ca;
}

std::string certificate_hint(const GError *error, bool has_ca_file) {
  if (!g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE))
    return "";
  return has_ca_file ? " (not signed by tls-ca-file, or not for this host)"
                     : " (a server with its own certificate needs tls-ca-file)";
}

}  // namespace camcast
