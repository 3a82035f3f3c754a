// Layer net: what the kernel knows of one TCP connection's link.
#pragma once

#include <cstdint>

namespace camcast {

struct TcpLink {
  uint32_t rtt_us = 0;          // the smoothed round trip
  uint32_t min_rtt_us = 0;      // the least round trip seen
  uint64_t bytes_acked = 0;     // acknowledged by the peer since the connection began
  bool idle = false;            // nothing unacknowledged, nothing waiting to be sent
  uint32_t data_segments = 0;   // segments with data sent, resends included
  uint32_t resent = 0;          // segments sent again (lost, or thought lost)
  uint64_t bytes_received = 0;  // from the peer since the connection began
};

// TCP_INFO of socket `fd` (Linux 4.6 and later); false if the kernel does not say.
bool read_tcp_link(int fd, TcpLink *out);

}  // namespace camcast
