// Hostile load for the soak benchmark: what a camera on a public relay meets all day, all at once.
//  - scanner-like junk: 50 requests a second (from 10 threads, so that a slow answer does not slow
//    the rate), each from an address of 127.0.2.x — probes for
//    /wp-login.php and /.env, odd methods, heads that are no HTTP, an 8 KB header, a foreign
//    Host — each read to its answer and closed;
//  - 200 half-open requests from 127.0.1.1-10, reopened whenever the server closes one;
//  - one WebSocket client (127.0.3.1) that pings as fast as it can and never reads, back 100 ms
//    after each time it is closed (with --reconnect-at-once, at once: a connection flood);
//  - one client (127.0.4.1) sending a login form a byte a second, again whenever it is closed.
// Prints what each did, and how often the server ended it.
//
//   bench-hostile-load PORT SECONDS [--reconnect-at-once]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
std::atomic<bool> stop{false};
int port = 0;

int connect_from(const std::string &from) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from.c_str(), &local.sin_addr);
  bind(fd, reinterpret_cast<sockaddr *>(&local), sizeof local);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string &data) {
  return send(fd, data.data(), data.size(), MSG_NOSIGNAL) == ssize_t(data.size());
}

// True once the peer has ended the connection (reads and drops what came), within `ms`.
bool ended(int fd, int ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
  char buf[16384];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0)
      continue;
    if (recv(fd, buf, sizeof buf, 0) <= 0)
      return true;
  }
  return false;
}

bool reconnect_at_once = false;

void junk(int thread, std::atomic<long> *sent, std::atomic<long> *answered) {
  const std::vector<std::string> requests = {
      "GET /wp-login.php HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /.env HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "POST /cgi-bin/luci HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello",
      "PROPFIND / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http at all\r\n\r\n", 31),
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(8192, 'a') + "\r\n\r\n",
      "GET /bench HTTP/1.1\r\nHost: rebind.example\r\n\r\n",
      "GET /api/token HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"};
  std::mt19937 random(42 + thread);
  auto next = Clock::now() + std::chrono::milliseconds(20 * thread);
  while (!stop) {
    next += std::chrono::milliseconds(200);  // 5 a second, 50 from the 10 threads
    std::this_thread::sleep_until(next);
    const int fd = connect_from("127.0.2." + std::to_string(1 + random() % 250));
    if (fd < 0)
      continue;
    if (send_all(fd, requests[random() % requests.size()]))
      (*sent)++;
    if (ended(fd, 2000))
      (*answered)++;
    close(fd);
  }
}

void half_open(std::atomic<long> *closed_by_server) {
  std::vector<int> fds(200, -1);
  const std::string partial = "GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  while (!stop) {
    for (size_t i = 0; i < fds.size(); i++) {
      char c;
      if (fds[i] >= 0 && recv(fds[i], &c, 1, MSG_DONTWAIT) == 0) {
        close(fds[i]);
        fds[i] = -1;
        (*closed_by_server)++;
      }
      if (fds[i] < 0) {
        fds[i] = connect_from("127.0.1." + std::to_string(1 + i % 10));
        if (fds[i] >= 0)
          send_all(fds[i], partial);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (int fd : fds)
    if (fd >= 0)
      close(fd);
}

void ping_flood(std::atomic<long> *closed_by_server) {
  std::string pings;
  for (int i = 0; i < 64; i++)
    pings += "\x89\xfd" + std::string(4, '\0') + std::string(125, 'p');
  while (!stop) {
    const int fd = connect_from("127.0.3.1");
    if (fd < 0)
      continue;
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    send_all(fd,
             "GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n");
    while (!stop && send_all(fd, pings)) {
    }
    close(fd);
    if (!stop)
      (*closed_by_server)++;
    if (!reconnect_at_once)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void slow_body(std::atomic<long> *closed_by_server) {
  while (!stop) {
    const int fd = connect_from("127.0.4.1");
    if (fd < 0)
      continue;
    bool open = send_all(fd,
                         "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                         "application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n");
    while (!stop && open) {
      open = send_all(fd, "u") && !ended(fd, 1000);
    }
    close(fd);
    if (!stop)
      (*closed_by_server)++;
  }
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 4 && strcmp(argv[3], "--reconnect-at-once") == 0)) {
    fprintf(stderr, "usage: %s PORT SECONDS [--reconnect-at-once]\n", argv[0]);
    return 2;
  }
  reconnect_at_once = argc == 4;
  port = atoi(argv[1]);
  const int seconds = atoi(argv[2]);
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  std::atomic<long> sent{0}, answered{0}, half_open_closed{0}, floods_closed{0}, slow_closed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 10; i++)
    threads.emplace_back(junk, i, &sent, &answered);
  threads.emplace_back(half_open, &half_open_closed);
  threads.emplace_back(ping_flood, &floods_closed);
  threads.emplace_back(slow_body, &slow_closed);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto &t : threads)
    t.join();
  printf("junk_requests sent=%ld answered_and_closed=%ld\n", sent.load(), answered.load());
  printf("half_open closed_by_server=%ld\n", half_open_closed.load());
  printf("ping_flooder closed_by_server=%ld\n", floods_closed.load());
  printf("slow_body closed_by_server=%ld\n", slow_closed.load());
  return 0;
}
