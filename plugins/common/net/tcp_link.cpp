// Apart from the rest of the net layer: glibc's netinet/tcp.h has no tcpi_delivery_rate, and it
// cannot be included beside linux/tcp.h, which has.
#include "net/tcp_link.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace camcast {

bool read_tcp_link(int fd, TcpLink *out) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
      len < offsetof(tcp_info, tcpi_delivery_rate) + sizeof info.tcpi_delivery_rate)
    return false;
  out->delivery_bps = info.tcpi_delivery_rate * 8;
  out->app_limited = info.tcpi_delivery_rate_app_limited;
  out->rtt_us = info.tcpi_rtt;
  out->notsent_bytes = info.tcpi_notsent_bytes;
  return true;
}

}  // namespace camcast
