// The link lab's delay line: this kernel has no netem, so a round trip is made in user space.
// Every packet nftables hands to NFQUEUE queue `num` is held for `ms` milliseconds and then let
// through, in the order it came (a fixed delay keeps the order). Run inside the lab's network
// namespace; tests/bench/latency/measure.mjs (makeLink's delayMs) starts it and adds the rule.
//
//   bench-delay-line --queue 0 --ms 20
//
// It runs until SIGTERM or SIGINT. A packet the queue cannot hold (8192 waiting) is dropped by
// the kernel, as a full router queue would drop it.
#include <arpa/inet.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <string>

namespace {

volatile std::sig_atomic_t stopping = 0;

int64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

struct Held {
  uint32_t id;
  int64_t due_us;
};

struct Line {
  int64_t delay_us;
  std::deque<Held> held;
};

int on_packet(nfq_q_handle *, nfgenmsg *, nfq_data *packet, void *data) {
  auto *line = static_cast<Line *>(data);
  if (nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(packet))
    line->held.push_back({ntohl(header->packet_id), now_us() + line->delay_us});
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  int queue = 0, ms = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    if (name == "--queue")
      queue = std::atoi(argv[i + 1]);
    else if (name == "--ms")
      ms = std::atoi(argv[i + 1]);
  }
  std::signal(SIGTERM, [](int) { stopping = 1; });
  std::signal(SIGINT, [](int) { stopping = 1; });
  nfq_handle *handle = nfq_open();
  if (!handle) {
    std::perror("bench-delay-line: nfq_open (root, and the nfnetlink_queue module?)");
    return 1;
  }
  Line line{int64_t(ms) * 1000, {}};
  nfq_q_handle *q = nfq_create_queue(handle, uint16_t(queue), on_packet, &line);
  if (!q || nfq_set_mode(q, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(q, 8192) < 0) {
    std::fprintf(stderr, "bench-delay-line: cannot take queue %d\n", queue);
    return 1;
  }
  const int fd = nfq_fd(handle);
  int rcvbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  std::printf("delaying queue %d by %d ms\n", queue, ms);
  std::fflush(stdout);
  char buf[65536];
  while (!stopping) {
    const int64_t now = now_us();
    while (!line.held.empty() && line.held.front().due_us <= now) {
      nfq_set_verdict(q, line.held.front().id, NF_ACCEPT, 0, nullptr);
      line.held.pop_front();
    }
    const int wait_ms =
        line.held.empty() ? 100 : int((line.held.front().due_us - now + 999) / 1000);
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, wait_ms) > 0) {
      const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0)
        nfq_handle_packet(handle, buf, int(n));
    }
  }
  // What is still held goes on its way.
  for (const Held &h : line.held)
    nfq_set_verdict(q, h.id, NF_ACCEPT, 0, nullptr);
  nfq_destroy_queue(q);
  nfq_close(handle);
  return 0;
}
