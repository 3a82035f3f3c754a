#include "ws_test_client.h"

#include <glib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>

namespace camcast::test {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : int(left.count());
}

int connect_tcp(int port, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (rcvbuf > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
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

bool write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    data += n;
    len -= size_t(n);
  }
  return true;
}

// Reads until `marker` has been seen; what follows it stays in `rest`.
bool read_until(int fd, const std::string &marker, std::string *head, std::string *rest,
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
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0)
      return false;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      *head = data;
      return false;
    }
    data.append(buf, size_t(n));
  }
}

}  // namespace

WsTestClient::~WsTestClient() { close(); }

void WsTestClient::close() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

bool WsTestClient::connect(int port, const std::string &path, int rcvbuf, int timeout_ms) {
  close();
  eof_ = false;
  buffered_.clear();
  fd_ = connect_tcp(port, rcvbuf);
  if (fd_ < 0)
    return false;
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n" + headers_ + "\r\n";
  if (!write_all(fd_, request.data(), request.size()))
    return false;
  if (!read_until(fd_, "\r\n\r\n", &response_, &buffered_, timeout_ms))
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
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0)
      return false;
    // Throttled: small reads, then sleep until the rate allows what was read.
    ssize_t got = recv(fd_, dst, read_rate_ ? std::min<size_t>(n, 4096) : n, 0);
    if (got <= 0) {
      eof_ = true;
      return false;
    }
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
  if (fd_ < 0 || !read_exact(h, 2, timeout_ms))
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
  return fd_ >= 0 && write_all(fd_, bytes.data(), bytes.size());
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

int http_open(int port, const std::string &path, std::string *head, std::string *rest,
              int timeout_ms, const std::string &headers) {
  int fd = connect_tcp(port, 0);
  if (fd < 0)
    return -1;
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                        headers + "\r\n";
  if (!write_all(fd, request.data(), request.size()) ||
      !read_until(fd, "\r\n\r\n", head, rest, timeout_ms)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int http_post(int port, const std::string &path, const std::string &form, std::string *body,
              std::string *head_out, const std::string &headers) {
  int fd = connect_tcp(port, 0);
  if (fd < 0)
    return -1;
  const std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Connection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n"
      "Content-Length: " + std::to_string(form.size()) + "\r\n" + headers + "\r\n" + form;
  std::string head, rest;
  if (!write_all(fd, request.data(), request.size()) ||
      !read_until(fd, "\r\n\r\n", &head, &rest, 3000)) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  if (body)
    *body = rest;
  if (head_out)
    *head_out = head;
  return head.rfind("HTTP/1.1 ", 0) == 0 ? atoi(head.c_str() + 9) : -1;
}

int http_get(int port, const std::string &path, std::string *body, int timeout_ms,
             std::string *head_out, const std::string &headers) {
  std::string head, rest;
  int fd = http_open(port, path, &head, &rest, timeout_ms, headers);
  if (fd < 0)
    return -1;
  // Connection: close, so the body runs to the end of the stream.
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0)
      break;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    rest.append(buf, size_t(n));
  }
  ::close(fd);
  if (head.rfind("HTTP/1.1 ", 0) != 0)
    return -1;
  if (body)
    *body = rest;
  if (head_out)
    *head_out = head;
  return atoi(head.c_str() + 9);
}

}  // namespace camcast::test
