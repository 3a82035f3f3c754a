#include "ws_test_client.h"

#include <glib.h>
#include <glib/gstdio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>

namespace camcast::test {

// The Host line of a request: the caller's, if its headers name one (a request under another
// name), else this machine's address.
std::string host_line(const std::string &headers) {
  for (size_t at = 0; at < headers.size(); at = headers.find('\n', at) + 1) {
    if (g_ascii_strncasecmp(headers.c_str() + at, "Host:", 5) == 0)
      return "";
    if (headers.find('\n', at) == std::string::npos)
      break;
  }
  return "Host: 127.0.0.1\r\n";
}

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : int(left.count());
}

bool wait_readable(int fd, Clock::time_point deadline) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, remaining_ms(deadline)) > 0;
}

}  // namespace

int connect_tcp(int port, int rcvbuf, const char *from) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (rcvbuf > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (from) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, from, &local.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr *>(&local), sizeof local) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool Connection::open(const Endpoint &to, int rcvbuf, int timeout_ms) {
  close();
  fd_ = connect_tcp(to.port, rcvbuf, to.from);
  if (fd_ < 0 || !to.tls)
    return fd_ >= 0;
  GSocket *socket = g_socket_new_from_fd(fd_, nullptr);
  if (!socket) {
    close();
    return false;
  }
  g_socket_set_timeout(socket, guint(std::max(1, timeout_ms / 1000)));
  GSocketConnection *tcp = g_socket_connection_factory_create_connection(socket);
  g_object_unref(socket);
  GIOStream *tls = g_tls_client_connection_new(G_IO_STREAM(tcp), nullptr, nullptr);
  g_object_unref(tcp);
  if (!tls) {
    close();
    return false;
  }
  tls_ = tls;
  g_signal_connect(tls, "accept-certificate",
                   G_CALLBACK(+[](GTlsConnection *, GTlsCertificate *, GTlsCertificateFlags,
                                  gpointer) -> gboolean { return TRUE; }),
                   nullptr);
  if (!g_tls_connection_handshake(G_TLS_CONNECTION(tls), nullptr, nullptr)) {
    close();
    return false;
  }
  g_socket_set_blocking(g_socket_connection_get_socket(G_SOCKET_CONNECTION(tcp)), FALSE);
  return true;
}

ssize_t Connection::receive(void *buf, size_t n, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  if (fd_ < 0)
    return -1;
  if (!tls_) {
    if (!wait_readable(fd_, deadline))
      return -1;
    ssize_t got = recv(fd_, buf, n, 0);
    return got < 0 ? -1 : got;
  }
  // TLS may hold decrypted bytes the socket no longer shows: read first, wait when told to.
  GPollableInputStream *in = G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(tls_));
  while (true) {
    GError *error = nullptr;
    gssize got = g_pollable_input_stream_read_nonblocking(in, buf, n, nullptr, &error);
    if (got >= 0)
      return got;
    const bool again = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
    g_error_free(error);
    if (!again || !wait_readable(fd_, deadline))
      return -1;
  }
}

bool Connection::send_all(const char *data, size_t len) {
  if (fd_ < 0)
    return false;
  if (tls_) {
    // The socket is non-blocking once the handshake is done: write as the reads do.
    GPollableOutputStream *out = G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(tls_));
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (len > 0) {
      GError *error = nullptr;
      gssize n = g_pollable_output_stream_write_nonblocking(out, data, len, nullptr, &error);
      if (n < 0) {
        const bool again = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
        g_error_free(error);
        pollfd p{fd_, POLLOUT, 0};
        if (!again || poll(&p, 1, remaining_ms(deadline)) <= 0)
          return false;
        continue;
      }
      data += n;
      len -= size_t(n);
    }
    return true;
  }
  while (len > 0) {
    ssize_t n = send(fd_, data, len, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    data += n;
    len -= size_t(n);
  }
  return true;
}

bool Connection::read_until(const std::string &marker, std::string *head, std::string *rest,
                            int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string data;
  while (true) {
    size_t pos = data.find(marker);
    if (pos != std::string::npos) {
      *head = data.substr(0, pos + marker.size());
      *rest = data.substr(pos + marker.size());
      return true;
    }
    char buf[4096];
    ssize_t n = receive(buf, sizeof buf, remaining_ms(deadline));
    if (n <= 0) {
      *head = data;
      return false;
    }
    data.append(buf, size_t(n));
  }
}

void Connection::close() {
  if (tls_) {
    // Closed first: a reference GLib's TLS still holds would otherwise keep the socket open.
    g_io_stream_close(tls_, nullptr, nullptr);
    g_object_unref(tls_);
    tls_ = nullptr;
  } else if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = -1;
}

int Connection::release() {
  int fd = tls_ ? -1 : fd_;
  if (!tls_)
    fd_ = -1;
  return fd;
}

WsTestClient::~WsTestClient() {
  close();
}

void WsTestClient::close() {
  conn_.close();
}

bool WsTestClient::connect(const Endpoint &to, const std::string &path, int rcvbuf,
                           int timeout_ms) {
  eof_ = false;
  buffered_.clear();
  if (!conn_.open(to, rcvbuf, timeout_ms))
    return false;
  std::string request = "GET " + path + " HTTP/1.1\r\n" + host_line(headers_) +
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n" +
                        headers_ + "\r\n";
  if (!conn_.send_all(request.data(), request.size()) ||
      !conn_.read_until("\r\n\r\n", &response_, &buffered_, timeout_ms))
    return false;
  // RFC 6455 §1.3: the accept value for this key is fixed.
  return response_.rfind("HTTP/1.1 101", 0) == 0 &&
         response_.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos;
}

bool WsTestClient::read_exact(void *out, size_t n, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  char *dst = static_cast<char *>(out);
  while (n > 0) {
    if (!buffered_.empty()) {
      size_t take = std::min(n, buffered_.size());
      memcpy(dst, buffered_.data(), take);
      buffered_.erase(0, take);
      dst += take;
      n -= take;
      continue;
    }
    // Throttled: small reads, then sleep until the rate allows what was read.
    ssize_t got =
        conn_.receive(dst, read_rate_ ? std::min<size_t>(n, 4096) : n, remaining_ms(deadline));
    if (got == 0)
      eof_ = true;
    if (got <= 0)
      return false;
    dst += got;
    n -= size_t(got);
    if (read_rate_) {
      const int64_t now = g_get_monotonic_time();
      if (!rate_start_us_)
        rate_start_us_ = now;
      rate_bytes_ += size_t(got);
      const int64_t due = rate_start_us_ + int64_t(rate_bytes_ * 1000000 / read_rate_);
      if (due > now)
        g_usleep(gulong(due - now));
    }
  }
  return true;
}

Frame WsTestClient::read_frame(int timeout_ms) {
  Frame f;
  uint8_t h[2];
  if (conn_.fd() < 0 || !read_exact(h, 2, timeout_ms))
    return f;
  uint64_t len = h[1] & 0x7F;
  if (len == 126) {
    uint8_t b[2];
    if (!read_exact(b, 2, timeout_ms))
      return f;
    len = (uint64_t(b[0]) << 8) | b[1];
  } else if (len == 127) {
    uint8_t b[8];
    if (!read_exact(b, 8, timeout_ms))
      return f;
    len = 0;
    for (uint8_t x : b)
      len = (len << 8) | x;
  }
  if (h[1] & 0x80)  // servers must not mask (RFC 6455 §5.1): report it as garbage
    return f;
  f.payload.resize(len);
  if (len && !read_exact(f.payload.data(), len, timeout_ms))
    return Frame{};
  f.opcode = h[0] & 0x0F;
  f.fin = h[0] & 0x80;
  return f;
}

bool WsTestClient::send_frame(uint8_t opcode, const std::string &payload, bool fin, bool mask) {
  std::string frame;
  frame.push_back(char((fin ? 0x80 : 0) | opcode));
  const uint8_t mask_bit = mask ? 0x80 : 0;
  if (payload.size() < 126) {
    frame.push_back(char(mask_bit | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    frame.push_back(char(mask_bit | 126));
    frame.push_back(char(payload.size() >> 8));
    frame.push_back(char(payload.size() & 0xFF));
  } else {
    frame.push_back(char(mask_bit | 127));
    for (int i = 7; i >= 0; i--)
      frame.push_back(char((uint64_t(payload.size()) >> (8 * i)) & 0xFF));
  }
  static std::mt19937 rng(12345);
  uint8_t key[4];
  for (uint8_t &k : key)
    k = uint8_t(rng());
  if (mask)
    frame.append(reinterpret_cast<char *>(key), 4);
  for (size_t i = 0; i < payload.size(); i++)
    frame.push_back(mask ? char(payload[i] ^ key[i & 3]) : payload[i]);
  return send_raw(frame);
}

bool WsTestClient::send_raw(const std::string &bytes) {
  return conn_.send_all(bytes.data(), bytes.size());
}

int WsTestClient::wait_closed(int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  int code = 0;
  while (remaining_ms(deadline) > 0) {
    Frame f = read_frame(remaining_ms(deadline));
    if (f.opcode == 0x8)
      code = f.payload.size() >= 2 ? (uint8_t(f.payload[0]) << 8) | uint8_t(f.payload[1]) : 1005;
    else if (f.opcode == 0)
      return eof_ ? code : -1;
  }
  return -1;
}

namespace {

// Sends `request` and reads the response head; the body so far stays in `rest`.
bool exchange(Connection *conn, const Endpoint &to, const std::string &request, std::string *head,
              std::string *rest, int timeout_ms) {
  return conn->open(to, 0, timeout_ms) && conn->send_all(request.data(), request.size()) &&
         conn->read_until("\r\n\r\n", head, rest, timeout_ms);
}

std::string get_request(const std::string &path, const std::string &headers) {
  return "GET " + path + " HTTP/1.1\r\n" + host_line(headers) + "Connection: close\r\n" + headers +
         "\r\n";
}

int status_of(const std::string &head) {
  return head.rfind("HTTP/1.1 ", 0) == 0 ? atoi(head.c_str() + 9) : -1;
}

}  // namespace

int http_open(int port, const std::string &path, std::string *head, std::string *rest,
              int timeout_ms, const std::string &headers) {
  Connection conn;
  if (!exchange(&conn, port, get_request(path, headers), head, rest, timeout_ms))
    return -1;
  return conn.release();
}

int http_request(const Endpoint &to, const std::string &method, const std::string &path,
                 const std::string &body, const std::string &content_type, std::string *response,
                 std::string *head_out, const std::string &headers, int timeout_ms) {
  std::string request =
      method + " " + path + " HTTP/1.1\r\n" + host_line(headers) + "Connection: close\r\n";
  if (!content_type.empty() || !body.empty())
    request += "Content-Type: " + content_type +
               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  request += headers + "\r\n" + body;
  Connection conn;
  std::string head, rest;
  if (!exchange(&conn, to, request, &head, &rest, timeout_ms))
    return -1;
  // Connection: close, so the body runs to the end of the stream.
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  ssize_t n;
  while ((n = conn.receive(buf, sizeof buf, remaining_ms(deadline))) > 0)
    rest.append(buf, size_t(n));
  if (response)
    *response = rest;
  if (head_out)
    *head_out = head;
  return status_of(head);
}

int http_post(const Endpoint &to, const std::string &path, const std::string &form,
              std::string *body, std::string *head_out, const std::string &headers,
              int timeout_ms) {
  return http_request(to, "POST", path, form, "application/x-www-form-urlencoded", body, head_out,
                      headers, timeout_ms);
}

int http_get(const Endpoint &to, const std::string &path, std::string *body, int timeout_ms,
             std::string *head_out, const std::string &headers) {
  return http_request(to, "GET", path, "", "", body, head_out, headers, timeout_ms);
}

bool make_certificate(const std::string &dir, const std::string &name) {
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -days 2 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
      dir + "/" + name + ".key -out " + dir + "/" + name + ".crt";
  int status = -1;
  return g_spawn_command_line_sync(cmd.c_str(), nullptr, nullptr, &status, nullptr) &&
         g_spawn_check_wait_status(status, nullptr);
}

namespace {

void remove_tree(const std::string &path) {
  GDir *dir = g_file_test(path.c_str(), G_FILE_TEST_IS_SYMLINK)
                  ? nullptr
                  : g_dir_open(path.c_str(), 0, nullptr);
  if (dir) {
    while (const char *name = g_dir_read_name(dir))
      remove_tree(path + "/" + name);
    g_dir_close(dir);
    g_rmdir(path.c_str());
  } else {
    g_unlink(path.c_str());
  }
}

}  // namespace

TempDir::TempDir(const char *name) {
  g_autofree char *template_ = g_strdup_printf("%s-XXXXXX", name);
  g_autofree char *dir = g_dir_make_tmp(template_, nullptr);
  g_assert_nonnull(dir);
  path_ = dir;
}

TempDir::~TempDir() {
  remove_tree(path_);
}

int listen_on_loopback(int *port, int backlog) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
      listen(fd, backlog) != 0 || getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len)) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace camcast::test
