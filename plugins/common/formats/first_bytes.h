// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// What a client sends first on an HTTPS port, told from its first bytes before any TLS work.
//
// A TLS client starts with a handshake record (RFC 8446 §5.1: type 22, version 3.x, length)
// holding a ClientHello (§4.1.2: type 1, 3-byte length, legacy_version). A client that can speak
// TLS 1.2 or newer puts 0x0303 or more in legacy_version (TLS 1.3 clients always put 0x0303 and
// list newer versions in an extension); one that offers nothing newer than TLS 1.1 puts 0x0302 or
// less, and so does an SSL 3.0 client. An SSLv2-format hello starts with a byte whose top bit is
// set. A plain HTTP request starts with its method: capital letters and a space.
#pragma once

#include <cstddef>
#include <cstdint>

namespace camcast::first_bytes {

// Bytes needed to decide (the record header, the hello's type and length, legacy_version).
constexpr size_t kNeeded = 11;

enum class Kind {
  Tls,        // a ClientHello that offers TLS 1.2 or newer
  TlsTooOld,  // a ClientHello that offers nothing newer than TLS 1.1 (or SSL)
  Http,       // a plain HTTP request
  Unknown,    // anything else
};

// Classifies the first `n` bytes of a connection (n may be less than kNeeded when the client
// has sent less and then stopped; the answer is then what those bytes allow).
Kind classify(const uint8_t *data, size_t n);

// Where a request head (RFC 9112 §2.1: the start line and header fields, ended by an empty
// line) ends in the first `n` bytes of a request — the offset just past the empty line — or 0
// when it has not ended yet. Bare LF line ends count too, as HTTP parsers accept them.
size_t head_end(const uint8_t *data, size_t n);

// A fatal TLS alert "protocol_version" (RFC 8446 §6.2) in a record of the client's version.
// `out` receives 7 bytes.
void protocol_version_alert(const uint8_t *client_hello, size_t n, uint8_t out[7]);

}  // namespace camcast::first_bytes
