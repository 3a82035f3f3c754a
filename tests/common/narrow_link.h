// A narrow link on loopback: a TCP proxy in front of a server that passes what its client sends
// at `up` bytes a second and what the server sends at `down` (0: as it comes). The paced side is
// read no faster, through a small socket buffer, so its sender's kernel holds the rest as it
// would behind a slow link (what the sender's TCP sees: its bytes acknowledged at the link's
// rate). One connection at a time.
#pragma once

#include "ws_test_client.h"

#include <glib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

namespace camcast::test {

class NarrowLink {
public:
  NarrowLink(int server_port, size_t up_bytes_per_s, size_t down_bytes_per_s = 0) {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof addr), ==, 0);
    g_assert_cmpint(listen(listener, 4), ==, 0);
    socklen_t len = sizeof addr;
    getsockname(listener, reinterpret_cast<sockaddr *>(&addr), &len);
    port = ntohs(addr.sin_port);
    thread_ = std::thread([this, listener, server_port, up_bytes_per_s, down_bytes_per_s] {
      // (the kernel doubles it; a window of a few KB, so what the sender's kernel sent is
      // acknowledged at the link's rate, not taken into a buffer at once)
      const int small = 4096;
      while (!stop_) {
        pollfd p{listener, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
          continue;
        const int client = accept(listener, nullptr, nullptr);
        if (up_bytes_per_s)
          setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        Connection server;
        g_assert_true(server.open(server_port, down_bytes_per_s ? small : 0));
        const int to = server.release();
        pass({client, to, up_bytes_per_s}, {to, client, down_bytes_per_s});
        close(client);
        close(to);
      }
      close(listener);
    });
  }
  ~NarrowLink() {
    stop_ = true;
    thread_.join();
  }
  NarrowLink(const NarrowLink &) = delete;
  NarrowLink &operator=(const NarrowLink &) = delete;

  int port = 0;  // where the server is reached through the link

private:
  struct Way {
    int from, to;
    size_t bytes_per_s;  // 0: as it comes
    gint64 next = 0;     // a paced way reads again from then on
  };
  // Until either side closes: a paced way takes a hundredth of its rate each 10 ms.
  void pass(Way up, Way down) {
    std::vector<char> buf(64 * 1024);
    Way *ways[2] = {&up, &down};
    while (!stop_) {
      const gint64 now = g_get_monotonic_time();
      pollfd p[2];
      for (int i = 0; i < 2; i++)
        p[i] = {ways[i]->from, short(now >= ways[i]->next ? POLLIN : 0), 0};
      if (poll(p, 2, 10) < 0)
        return;
      for (int i = 0; i < 2; i++) {
        if (!p[i].revents)
          continue;
        Way &w = *ways[i];
        const size_t slice = w.bytes_per_s ? w.bytes_per_s / 100 : buf.size();
        const ssize_t n = recv(w.from, buf.data(), slice, 0);
        if (n <= 0 || send(w.to, buf.data(), size_t(n), MSG_NOSIGNAL) != n)
          return;
        if (w.bytes_per_s)
          w.next = g_get_monotonic_time() + 10000;
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace camcast::test
