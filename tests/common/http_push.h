// A publisher by hand, for the tests of a relay's publish point: a chunked POST's head over a
// real socket, chunks of whatever the test sends, and what the relay answers or closes.
#pragma once

#include "ws_test_client.h"

#include <glib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace camcast::test {

// A publisher by hand: the request head of a chunked POST (with `headers`, each ending in
// "\r\n"), then whatever the test sends.
inline int raw_publisher(int port, const std::string &path, const std::string &headers = "") {
  camcast::test::Connection conn;
  g_assert_true(conn.open(port));
  const std::string head = "POST " + path +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Transfer-Encoding: chunked\r\n" +
                           headers + "\r\n";
  g_assert_true(conn.send_all(head.data(), head.size()));
  return conn.release();
}

inline bool send_chunk(int fd, const std::string &data) {
  char line[32];
  const std::string chunk =
      std::string(line, size_t(g_snprintf(line, sizeof line, "%zx\r\n", data.size()))) + data +
      "\r\n";
  return send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) == ssize_t(chunk.size());
}

// True when the relay has closed the connection (EOF or reset) within the timeout.
inline bool closed_by_relay(int fd, int timeout_ms) {
  const gint64 until = g_get_monotonic_time() + gint64(timeout_ms) * 1000;
  char buf[512];
  while (g_get_monotonic_time() < until) {
    struct timeval tv {
      0, 100000
    };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      return true;
  }
  return false;
}

// A publisher as ffmpeg and curl are (chunked, no "Expect: 100-continue") sends a little of its
// body; the relay's answer must start with `status` without waiting for the rest.
inline void expect_answer_before_body(int port, const std::string &path,
                                      const std::string &status) {
  const int fd = raw_publisher(port, path);
  send_chunk(fd, std::string(1000, '\x47'));
  std::string answer;
  char buf[512];
  const gint64 until = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
  while (answer.find("\r\n") == std::string::npos && g_get_monotonic_time() < until) {
    struct timeval tv {
      0, 100000
    };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0)
      break;
    if (n > 0)
      answer.append(buf, size_t(n));
  }
  g_test_message("%s: %s", path.c_str(), answer.substr(0, answer.find('\r')).c_str());
  g_assert_true(answer.rfind(status, 0) == 0);
  close(fd);
}

}  // namespace camcast::test
