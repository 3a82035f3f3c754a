// Fan-out benchmark load client: N WebSocket viewers on one epoll loop, some of them throttled.
// Every message starts with the sender's CLOCK_MONOTONIC time (ns) and a frame index, so
// delivery latency is measured on the same clock, and gaps in the index count lost frames.
// The server's CPU time and memory are read from /proc/PID, the same way for every server.
//
//   bench-fanout-client --port P --path /bench --clients N [--slow K --slow-rate BPS]
//                       [--seconds S] [--warmup W] --server-pid PID
#include "../bench_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

namespace {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

struct Conn {
  int fd = -1;
  bool slow = false;
  // Frame parser state.
  uint8_t hdr[10];
  size_t hdr_have = 0, hdr_need = 2;
  uint64_t left = 0;  // payload bytes still to read
  uint64_t got = 0;   // payload bytes read of the current message
  uint8_t head[16];   // first 16 payload bytes: timestamp, index
  bool in_payload = false;
  uint8_t opcode = 0;
  int64_t last_index = -1;
  uint64_t received = 0, gaps = 0, bytes = 0;
};

struct Stats {
  std::vector<uint32_t> fast_us, slow_us;  // delivery latency per message, µs
  uint64_t fast_bytes = 0, slow_bytes = 0, fast_msgs = 0, fast_gaps = 0, slow_gaps = 0;
  bool measuring = false;
};

void on_message(Conn &c, Stats &s) {
  if (c.opcode != 2 || c.got < 16)
    return;
  uint64_t ts, index;
  memcpy(&ts, c.head, 8);
  memcpy(&index, c.head + 8, 8);
  const uint64_t lat = now_ns() - ts;
  if (c.last_index >= 0 && int64_t(index) > c.last_index + 1 && s.measuring)
    (c.slow ? s.slow_gaps : s.fast_gaps) += uint64_t(int64_t(index) - c.last_index - 1);
  c.last_index = int64_t(index);
  if (!s.measuring)
    return;
  if (c.slow) {
    s.slow_us.push_back(uint32_t(std::min<uint64_t>(lat / 1000, UINT32_MAX)));
    s.slow_bytes += c.got;
  } else {
    s.fast_us.push_back(uint32_t(std::min<uint64_t>(lat / 1000, UINT32_MAX)));
    s.fast_bytes += c.got;
    s.fast_msgs++;
  }
}

// Consumes bytes of the server's frame stream.
void consume(Conn &c, const uint8_t *p, size_t n, Stats &s) {
  while (n > 0) {
    if (!c.in_payload) {
      size_t take = std::min(n, c.hdr_need - c.hdr_have);
      memcpy(c.hdr + c.hdr_have, p, take);
      c.hdr_have += take;
      p += take;
      n -= take;
      if (c.hdr_have < c.hdr_need)
        continue;
      const uint8_t len7 = c.hdr[1] & 0x7F;
      if (c.hdr_need == 2 && (len7 == 126 || len7 == 127)) {
        c.hdr_need = len7 == 126 ? 4 : 10;
        continue;
      }
      c.opcode = c.hdr[0] & 0x0F;
      if (len7 == 126)
        c.left = (uint64_t(c.hdr[2]) << 8) | c.hdr[3];
      else if (len7 == 127) {
        c.left = 0;
        for (int i = 2; i < 10; i++)
          c.left = (c.left << 8) | c.hdr[i];
      } else
        c.left = len7;
      c.got = 0;
      c.in_payload = true;
      c.hdr_have = 0;
      c.hdr_need = 2;
      if (c.left == 0) {
        c.in_payload = false;
        on_message(c, s);
      }
      continue;
    }
    size_t take = size_t(std::min<uint64_t>(n, c.left));
    if (c.got < 16)
      memcpy(c.head + c.got, p, std::min<size_t>(take, 16 - c.got));
    c.got += take;
    c.left -= take;
    c.bytes += take;
    p += take;
    n -= take;
    if (c.left == 0) {
      c.in_payload = false;
      on_message(c, s);
    }
  }
}

int connect_ws(int port, const std::string &path, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (rcvbuf > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  std::string req = "GET " + path +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n";
  if (write(fd, req.data(), req.size()) != ssize_t(req.size())) {
    close(fd);
    return -1;
  }
  // Read the response head byte by byte, so no frame byte is taken from the stream.
  std::string head;
  char ch;
  while (head.size() < 4096 && read(fd, &ch, 1) == 1) {
    head += ch;
    if (head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0)
      break;
  }
  if (head.rfind("HTTP/1.1 101", 0) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

struct ProcSample {
  double cpu_s = 0, user_s = 0;
  long rss_kb = 0;
  long fds = 0;
};

ProcSample sample(int pid) {
  ProcSample p;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t close_paren = line.rfind(')');
  if (close_paren != std::string::npos) {
    std::vector<std::string> f;
    size_t i = close_paren + 2;
    while (i < line.size()) {
      size_t j = line.find(' ', i);
      if (j == std::string::npos)
        j = line.size();
      f.push_back(line.substr(i, j - i));
      i = j + 1;
    }
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    if (f.size() > 12) {
      p.cpu_s = (atof(f[11].c_str()) + atof(f[12].c_str())) / double(sysconf(_SC_CLK_TCK));
      p.user_s = atof(f[11].c_str()) / double(sysconf(_SC_CLK_TCK));
    }
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      p.rss_kb = atol(line.c_str() + 6);
  if (DIR *dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (readdir(dir))
      p.fds++;
    closedir(dir);
    p.fds -= 2;  // . and ..
  }
  return p;
}

double percentile(std::vector<uint32_t> &v, double q) {
  if (v.empty())
    return -1;
  size_t k = size_t(q * double(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k] / 1000.0;
}

struct Options {
  int port = 0, clients = 10, slow = 0, server_pid = 0;
  double slow_rate = 200e3, seconds = 20, warmup = 3;
  std::string path = "/bench";
};

// The command line into `o`; false (after saying why) on an unknown option.
bool parse_options(int argc, char **argv, Options *o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char *v = argv[i + 1];
    if (k == "--port")
      o->port = atoi(v);
    else if (k == "--path")
      o->path = v;
    else if (k == "--clients")
      o->clients = atoi(v);
    else if (k == "--slow")
      o->slow = atoi(v);
    else if (k == "--slow-rate")
      o->slow_rate = atof(v);
    else if (k == "--seconds")
      o->seconds = atof(v);
    else if (k == "--warmup")
      o->warmup = atof(v);
    else if (k == "--server-pid")
      o->server_pid = atoi(v);
    else {
      fprintf(stderr, "unknown option %s\n", k.c_str());
      return false;
    }
  }
  return true;
}

// Connects every client; the fast ones join the epoll set `ep`. False if one could not connect.
bool connect_all(const Options &o, int ep, std::vector<Conn> *conns) {
  conns->resize(size_t(o.clients));
  for (int i = 0; i < o.clients; i++) {
    Conn &c = (*conns)[size_t(i)];
    // Slow clients are spread among the fast ones and have a small receive window, as a phone on
    // a weak link would.
    c.slow = o.slow > 0 && i % (o.clients / o.slow) == 0 && i / (o.clients / o.slow) < o.slow;
    c.fd = connect_ws(o.port, o.path, c.slow ? 16384 : 0);
    if (c.fd < 0) {
      fprintf(stderr, "client %d could not connect\n", i);
      return false;
    }
    int flags = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags);
    if (!c.slow) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &c;
      epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
  }
  return true;
}

// What the server used while the clients were measured.
struct ServerUse {
  ProcSample before{}, after{};
  std::vector<long> rss, fds;
};

// Reads until the end of the measured window: fast clients as fast as data comes, slow ones at
// their rate, sampling the server's memory and descriptors once a second.
void receive(const Options &o, int ep, std::vector<Conn> &conns, Stats &s, ServerUse &use) {
  static uint8_t buf[256 * 1024];
  const uint64_t start = now_ns();
  const uint64_t measure_from = start + uint64_t(o.warmup * 1e9);
  const uint64_t end = measure_from + uint64_t(o.seconds * 1e9);
  uint64_t next_slow_tick = start, next_rss = measure_from;
  const uint64_t slow_tick = 10000000;  // 10 ms
  const size_t slow_budget = size_t(o.slow_rate / 8 * 0.01);
  epoll_event events[256];
  while (true) {
    const uint64_t now = now_ns();
    if (!s.measuring && now >= measure_from) {
      s.measuring = true;
      if (o.server_pid)
        use.before = sample(o.server_pid);
    }
    if (now >= end)
      break;
    if (o.server_pid && now >= next_rss && s.measuring) {
      const ProcSample now_sample = sample(o.server_pid);
      use.rss.push_back(now_sample.rss_kb);
      use.fds.push_back(now_sample.fds);
      next_rss += 1000000000ull;
    }
    if (now >= next_slow_tick) {
      next_slow_tick += slow_tick;
      for (Conn &c : conns)
        if (c.slow) {
          ssize_t n = recv(c.fd, buf, slow_budget, MSG_DONTWAIT);
          if (n > 0)
            consume(c, buf, size_t(n), s);
        }
    }
    int wait_ms = int(
        std::min<uint64_t>(next_slow_tick > now ? next_slow_tick - now : 0, 10000000) / 1000000);
    int n = epoll_wait(ep, events, 256, o.slow ? wait_ms : 100);
    for (int i = 0; i < n; i++) {
      Conn &c = *static_cast<Conn *>(events[i].data.ptr);
      ssize_t got = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (got > 0)
        consume(c, buf, size_t(got), s);
      else if (got == 0)
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    }
  }
  if (o.server_pid)
    use.after = sample(o.server_pid);
}

void report(const Options &o, std::vector<Conn> &conns, Stats &s, const ServerUse &use) {
  const double fast_gbit = s.fast_bytes * 8 / 1e9, slow_gbit = s.slow_bytes * 8 / 1e9;
  const double cpu = use.after.cpu_s - use.before.cpu_s;
  size_t disconnected = 0;
  for (Conn &c : conns) {
    char probe;
    if (recv(c.fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
      disconnected++;
  }
  printf("clients=%d slow=%d seconds=%.0f\n", o.clients, o.slow, o.seconds);
  printf("delivered_gbit=%.3f fast_msgs=%llu expected_fast_msgs=%.0f fast_lost_frames=%llu\n",
         fast_gbit + slow_gbit, (unsigned long long)s.fast_msgs,
         (o.clients - o.slow) * o.seconds * 30, (unsigned long long)s.fast_gaps);
  printf("fast_latency_ms p50=%.2f p99=%.2f max=%.2f\n", percentile(s.fast_us, 0.5),
         percentile(s.fast_us, 0.99), percentile(s.fast_us, 1.0));
  if (o.slow)
    printf("slow_latency_ms p50=%.1f p99=%.1f max=%.1f slow_skipped_frames=%llu\n",
           percentile(s.slow_us, 0.5), percentile(s.slow_us, 0.99), percentile(s.slow_us, 1.0),
           (unsigned long long)s.slow_gaps);
  if (o.server_pid) {
    const double user = use.after.user_s - use.before.user_s;
    printf("server_cpu_s=%.2f (user %.2f, kernel %.2f) cpu_s_per_gbit=%.3f core_share=%.1f%%\n",
           cpu, user, cpu - user, cpu / std::max(fast_gbit + slow_gbit, 1e-9),
           100 * cpu / o.seconds);
    const auto &rss = use.rss;
    printf("server_rss_mb first=%.1f last=%.1f max=%.1f\n", rss.empty() ? 0 : rss.front() / 1024.0,
           rss.empty() ? 0 : rss.back() / 1024.0,
           rss.empty() ? 0 : *std::max_element(rss.begin(), rss.end()) / 1024.0);
    if (!use.fds.empty())
      printf("server_fds first=%ld last=%ld max=%ld\n", use.fds.front(), use.fds.back(),
             *std::max_element(use.fds.begin(), use.fds.end()));
  }
  printf("disconnected=%zu\n", disconnected);
}

}  // namespace

int main(int argc, char **argv) {
  Options o;
  if (!parse_options(argc, argv, &o))
    return 2;
  bench::raise_fd_limit();
  std::vector<Conn> conns;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (!connect_all(o, ep, &conns))
    return 1;
  Stats s;
  ServerUse use;
  receive(o, ep, conns, s, use);
  report(o, conns, s, use);
  return 0;
}
