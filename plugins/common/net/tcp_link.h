// Layer net: what the kernel knows of one TCP connection's link.
#pragma once

#include <cstdint>

namespace camcast {

struct TcpLink {
  uint64_t delivery_bps = 0;  // the rate of the latest delivery measured (tcp(7), BBR's), bits/s
  bool app_limited = true;    // measured while the sender had too little to send: a lower bound
  uint32_t rtt_us = 0;
  uint32_t notsent_bytes = 0;  // written by us, not yet sent
};

// TCP_INFO of socket `fd` (Linux 4.9 and later); false if the kernel does not say.
bool read_tcp_link(int fd, TcpLink *out);

}  // namespace camcast
