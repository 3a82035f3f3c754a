// A small blocking WebSocket client for tests: real TCP sockets, every wait bounded by a
// timeout. Independent of the server code on purpose (its own framing), so the tests check the
// wire format rather than the server's parser against itself.
#pragma once

#include <gio/gio.h>

#include <sys/types.h>
#include <cstdint>
#include <string>

namespace camcast::test {

// A TCP connection to 127.0.0.1:port, from the local address `from` if given, with a receive
// buffer of `rcvbuf` bytes if > 0; -1 when it cannot be made.
int connect_tcp(int port, int rcvbuf = 0, const char *from = nullptr);

// Where to connect on 127.0.0.1: a port, over TLS or not (any certificate is accepted: tests
// make their own), optionally from another loopback address (127.0.0.2, …: another client, as
// far as the server can tell). A plain int converts to a plain-TCP endpoint.
struct Endpoint {
  Endpoint(int port, bool tls = false, const char *from = nullptr)
      : port(port), tls(tls), from(from) {}
  int port;
  bool tls;
  const char *from;
};
inline Endpoint tls(int port) {
  return Endpoint(port, true);
}

// One connection: TCP, or TLS over TCP through GLib.
class Connection {
public:
  Connection() = default;
  ~Connection() { close(); }
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  bool open(const Endpoint &to, int rcvbuf = 0, int timeout_ms = 3000);
  // Some bytes: > 0 read, 0 at the end of the stream, -1 on timeout or error.
  ssize_t receive(void *buf, size_t n, int timeout_ms);
  bool send_all(const char *data, size_t len);
  // Reads until `marker`; what follows it stays in `rest`.
  bool read_until(const std::string &marker, std::string *head, std::string *rest, int timeout_ms);
  void close();
  int fd() const { return fd_; }
  // Hands the socket over (plain TCP only): the caller closes it.
  int release();

private:
  int fd_ = -1;
  GIOStream *tls_ = nullptr;  // owns fd_ when set
};

struct Frame {
  uint8_t opcode = 0;  // 0 when nothing arrived (timeout or closed)
  bool fin = true;
  std::string payload;
};

class WsTestClient {
public:
  WsTestClient() = default;
  ~WsTestClient();
  WsTestClient(const WsTestClient &) = delete;
  WsTestClient &operator=(const WsTestClient &) = delete;

  // Connects and completes the opening handshake. `rcvbuf` > 0 shrinks the receive buffer
  // before connecting (a slow link that cannot hide lag in the kernel).
  bool connect(const Endpoint &to, const std::string &path, int rcvbuf = 0, int timeout_ms = 3000);
  // Extra request header lines for the next connect ("Cookie: a=b\r\nOrigin: …\r\n").
  void set_headers(std::string headers) { headers_ = std::move(headers); }
  // The status line and headers of the server's answer to the handshake.
  const std::string &response() const { return response_; }

  // Reads one frame; opcode 0 on timeout or end of stream (see eof()).
  Frame read_frame(int timeout_ms = 3000);
  bool eof() const { return eof_; }
  // Sends a frame (masked, as a client must, unless `mask` is false).
  bool send_frame(uint8_t opcode, const std::string &payload, bool fin = true, bool mask = true);
  bool send_raw(const std::string &bytes);
  // Waits until the server closes the TCP connection; returns the close code it sent, 0 if the
  // connection ended without a close frame, -1 on timeout. Data frames before it are skipped.
  int wait_closed(int timeout_ms = 5000);
  void close();
  int fd() const { return conn_.fd(); }
  // Reads no faster than this (0 = as fast as possible): a throttled link, together with a
  // small `rcvbuf`.
  void set_read_rate(size_t bytes_per_second) { read_rate_ = bytes_per_second; }

private:
  bool read_exact(void *buf, size_t n, int timeout_ms);
  Connection conn_;
  bool eof_ = false;
  std::string buffered_;  // bytes read past the handshake
  std::string response_;
  std::string headers_;
  size_t read_rate_ = 0;
  size_t rate_bytes_ = 0;  // read since rate_start_
  int64_t rate_start_us_ = 0;
};

// A plain HTTP GET; returns the status code and body (and the head: status line and headers),
// or -1 on failure.
int http_get(const Endpoint &to, const std::string &path, std::string *body, int timeout_ms = 3000,
             std::string *head = nullptr, const std::string &headers = "");

// A TCP socket listening on 127.0.0.1 at a port the kernel picks, put in `*port` (a server of
// the test's own, or a port held); -1 on failure. The caller closes it.
int listen_on_loopback(int *port, int backlog = 16);

// Any request, with a body of `content_type` if given; like http_get otherwise.
int http_request(const Endpoint &to, const std::string &method, const std::string &path,
                 const std::string &body, const std::string &content_type, std::string *response,
                 std::string *head = nullptr, const std::string &headers = "",
                 int timeout_ms = 3000);

// The value of header `name` in an answer's head (status line and headers), or "".
inline std::string header_of(const std::string &head, const std::string &name) {
  const size_t at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos)
    return "";
  const size_t from = at + name.size() + 4;
  return head.substr(from, head.find("\r\n", from) - from);
}

// A POST of a form (application/x-www-form-urlencoded); like http_get otherwise.
int http_post(const Endpoint &to, const std::string &path, const std::string &form,
              std::string *body, std::string *head = nullptr, const std::string &headers = "",
              int timeout_ms = 3000);

// Starts a GET whose response does not end (a stream): returns the socket with the response
// head in `head` and whatever body already arrived in `rest`, or -1.
int http_open(int port, const std::string &path, std::string *head, std::string *rest,
              int timeout_ms = 3000, const std::string &headers = "");

// Makes a self-signed certificate for localhost and its key with openssl: DIR/NAME.crt and
// DIR/NAME.key. False if openssl failed.
bool make_certificate(const std::string &dir, const std::string &name);

// A new directory under the temporary directory (NAME-XXXXXX) for one test, removed with all it
// holds when this goes.
class TempDir {
public:
  explicit TempDir(const char *name);
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  const std::string &path() const { return path_; }
  std::string file(const std::string &name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

}  // namespace camcast::test
