// Apart from the rest of the net layer: glibc's netinet/tcp.h has no tcpi_min_rtt, and it
// cannot be included beside linux/tcp.h, which has.
#include "net/tcp_link.h"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstddef>

namespace camcast {

bool read_tcp_link(int fd, TcpLink *out) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
      len < offsetof(tcp_info, tcpi_data_segs_out) + sizeof info.tcpi_data_segs_out)
    return false;
  out->rtt_us = info.tcpi_rtt;
  out->min_rtt_us = info.tcpi_min_rtt;
  out->mss = info.tcpi_snd_mss;
  out->bytes_acked = info.tcpi_bytes_acked;
  int queued = 0;  // SIOCOUTQ: the send queue's length, from the first unacknowledged byte
  if (ioctl(fd, SIOCOUTQ, &queued) != 0)
    return false;
  out->queued = uint32_t(queued);
  out->data_segments = info.tcpi_data_segs_out;
  out->resent = info.tcpi_total_retrans;
  out->bytes_received = info.tcpi_bytes_received;
  return true;
}

}  // namespace camcast
