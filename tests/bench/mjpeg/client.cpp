// MJPEG load and measurement client: N connections to an mjpegsink, as MJPEG (multipart) or pull
// WebSocket viewers, optionally each throttled to RATE bytes/s (small receive buffer, paced
// reads). For every frame it records the age — capture time (X-Timestamp, or the pull message's
// first 8 bytes) to fully received — and the transfer time — first byte to fully received — on
// the same wall clock as the server. Prints frames/s per client, p50/p95 of both, and with
// --server-pid the server's CPU use over the measured window.
//
//   bench-mjpeg-client --port P [--path /mjpeg] --mode pull|multipart [--clients N]
//                      [--rate BYTES_PER_S] [--seconds S] [--warmup S] [--server-pid PID]
#include "../bench_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Conn {
  int fd = -1;
  bool head_done = false;  // HTTP response head (or WebSocket handshake) read
  std::string buf;
  int64_t frame_start = 0;  // when the current frame's first byte arrived, 0 = none yet
  int64_t rate_start = 0;
  uint64_t consumed = 0;  // bytes read since rate_start
  std::vector<int64_t> ages, transfers;
  uint64_t frames = 0;
};

bool pull = false;
bool measuring = false;
size_t rate = 0;
const std::string kBoundary = "--camcast-frame\r\n";

// A frame starts arriving with its first byte; for multipart, not with the boundary line, which
// comes right after the previous part.
void mark_frame_start(Conn &c) {
  if (c.frame_start || !c.head_done)
    return;
  size_t bytes = c.buf.size();
  if (!pull && c.buf.compare(0, kBoundary.size(), kBoundary) == 0)
    bytes -= kBoundary.size();
  if (bytes > 0)
    c.frame_start = now_us();
}

void send_next(Conn &c) {
  // A masked text frame "next" (mask key 0: the payload reads the same).
  const char frame[] = {char(0x81), char(0x84), 0, 0, 0, 0, 'n', 'e', 'x', 't'};
  if (send(c.fd, frame, sizeof frame, MSG_NOSIGNAL) != sizeof frame)
    perror("send");
}

void frame_done(Conn &c, int64_t capture_us) {
  const int64_t t = now_us();
  if (measuring) {
    c.frames++;
    if (capture_us > 0)
      c.ages.push_back(t - capture_us);
    c.transfers.push_back(t - c.frame_start);
  }
  c.frame_start = 0;
}

// Consumes whole frames from c.buf.
void parse(Conn &c) {
  if (!c.head_done) {
    const size_t end = c.buf.find("\r\n\r\n");
    if (end == std::string::npos)
      return;
    c.buf.erase(0, end + 4);
    c.head_done = true;
  }
  while (true) {
    if (pull) {
      if (c.buf.size() < 2)
        return;
      const auto *b = reinterpret_cast<const uint8_t *>(c.buf.data());
      size_t hdr = 2;
      uint64_t len = b[1] & 0x7F;
      if (len == 126) {
        if (c.buf.size() < 4)
          return;
        len = uint64_t(b[2]) << 8 | b[3];
        hdr = 4;
      } else if (len == 127) {
        if (c.buf.size() < 10)
          return;
        len = 0;
        for (int i = 0; i < 8; i++)
          len = len << 8 | b[2 + i];
        hdr = 10;
      }
      if (c.buf.size() < hdr + len)
        return;
      const int opcode = b[0] & 0x0F;
      if (opcode == 2 && len >= 16) {
        uint64_t capture = 0;
        for (int i = 0; i < 8; i++)
          capture = capture << 8 | b[hdr + i];
        frame_done(c, int64_t(capture));
        send_next(c);
      } else if (opcode == 1) {
        send_next(c);  // the stream description: start pulling
        c.frame_start = 0;
      }
      c.buf.erase(0, hdr + len);
    } else {
      const size_t end = c.buf.find("\r\n\r\n");
      if (end == std::string::npos)
        return;
      const std::string head = c.buf.substr(0, end);
      const size_t cl = head.find("Content-Length: ");
      if (cl == std::string::npos) {
        fprintf(stderr, "a part without Content-Length\n");
        exit(1);
      }
      const size_t length = strtoul(head.c_str() + cl + 16, nullptr, 10);
      if (c.buf.size() < end + 4 + length + 2)
        return;
      int64_t capture = 0;
      const size_t ts = head.find("X-Timestamp: ");
      if (ts != std::string::npos)
        capture = int64_t(strtod(head.c_str() + ts + 13, nullptr) * 1e6);
      frame_done(c, capture);
      c.buf.erase(0, end + 4 + length + 2);
    }
  }
}

int connect_to(int port, const std::string &path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (rate) {
    int small = 8192;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) < 0) {
    perror("connect");
    exit(1);
  }
  std::string req =
      pull ? "GET " + path +
                 " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n"
           : "GET " + path + "/stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
    perror("send");
    exit(1);
  }
  return fd;
}

double cpu_seconds(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char data[1024];
  size_t n = fread(data, 1, sizeof data - 1, f);
  fclose(f);
  data[n] = 0;
  const char *p = strrchr(data, ')');  // fields after the command name
  unsigned long utime = 0, stime = 0;
  sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

double pct(std::vector<int64_t> v, double q) {
  if (v.empty())
    return -1;
  std::sort(v.begin(), v.end());
  return double(v[std::min(v.size() - 1, size_t(q * double(v.size() - 1)))]) / 1000.0;
}

struct Options {
  int port = 0, clients = 1, server_pid = 0;
  double seconds = 10, warmup = 2;
  std::string path = "/mjpeg";
};

// The command line into `o` (and the globals `pull` and `rate`); false after saying why.
bool parse_options(int argc, char **argv, Options *o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--port")
      o->port = atoi(v.c_str());
    else if (k == "--path")
      o->path = v;
    else if (k == "--mode")
      pull = v == "pull";
    else if (k == "--clients")
      o->clients = atoi(v.c_str());
    else if (k == "--rate")
      rate = strtoul(v.c_str(), nullptr, 10);
    else if (k == "--seconds")
      o->seconds = atof(v.c_str());
    else if (k == "--warmup")
      o->warmup = atof(v.c_str());
    else if (k == "--server-pid")
      o->server_pid = atoi(v.c_str());
    else {
      fprintf(stderr, "unknown option %s\n", k.c_str());
      return false;
    }
  }
  return true;
}

// Reads one connection's share (throttled to `rate` if set); false when it ended.
bool read_some(Conn &c) {
  static char chunk[65536];
  size_t budget = sizeof chunk;
  if (rate) {
    const int64_t now = now_us();
    if (!c.rate_start)
      c.rate_start = now;
    const uint64_t allowed = uint64_t(double(now - c.rate_start) * double(rate) / 1e6);
    budget = std::min<size_t>(budget, allowed > c.consumed ? allowed - c.consumed : 0);
    if (!budget)
      return true;
  }
  const ssize_t n = recv(c.fd, chunk, budget, 0);
  if (n <= 0)
    return false;
  c.consumed += size_t(n);
  c.buf.append(chunk, size_t(n));
  mark_frame_start(c);
  parse(c);
  mark_frame_start(c);
  return true;
}

// Reads every connection until the end of the measured window; the server's CPU seconds in it
// (-1 without a server to watch), or -2 when a connection ended.
double receive(const Options &o, std::vector<Conn> &conns) {
  std::vector<pollfd> fds(conns.size());
  const int64_t start = now_us();
  const int64_t measure_from = start + int64_t(o.warmup * 1e6);
  const int64_t end = measure_from + int64_t(o.seconds * 1e6);
  double cpu_from = -1;
  while (true) {
    const int64_t t = now_us();
    if (!measuring && t >= measure_from) {
      measuring = true;
      if (o.server_pid)
        cpu_from = cpu_seconds(o.server_pid);
    }
    if (t >= end)
      break;
    for (size_t i = 0; i < conns.size(); i++)
      fds[i] = {conns[i].fd, POLLIN, 0};
    poll(fds.data(), fds.size(), 5);
    for (size_t i = 0; i < conns.size(); i++)
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && !read_some(conns[i])) {
        fprintf(stderr, "a connection ended\n");
        return -2;
      }
  }
  return o.server_pid ? cpu_seconds(o.server_pid) - cpu_from : -1;
}

}  // namespace

int main(int argc, char **argv) {
  Options o;
  if (!parse_options(argc, argv, &o))
    return 2;
  bench::raise_fd_limit();
  std::vector<Conn> conns(static_cast<size_t>(o.clients));
  for (Conn &c : conns)
    c.fd = connect_to(o.port, o.path);
  const double cpu = receive(o, conns);
  if (cpu == -2)
    return 1;
  std::vector<int64_t> ages, transfers;
  uint64_t frames = 0;
  for (const Conn &c : conns) {
    ages.insert(ages.end(), c.ages.begin(), c.ages.end());
    transfers.insert(transfers.end(), c.transfers.begin(), c.transfers.end());
    frames += c.frames;
  }
  printf("%s x%d%s", pull ? "pull" : "multipart", o.clients,
         rate ? (" at " + std::to_string(rate / 1000) + " kB/s").c_str() : "");
  if (o.clients > 0)
    printf(
        ": %.1f frames/s per client; age p50 %.1f ms p95 %.1f ms; transfer p50 %.1f ms "
        "p95 %.1f ms",
        double(frames) / o.seconds / o.clients, pct(ages, 0.5), pct(ages, 0.95),
        pct(transfers, 0.5), pct(transfers, 0.95));
  if (o.server_pid)
    printf("; server CPU %.1f %% of one core", cpu / o.seconds * 100);
  printf("\n");
  for (Conn &c : conns)
    close(c.fd);
  return 0;
}
