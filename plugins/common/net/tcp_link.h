// Layer net: what the kernel knows of one TCP connection's link.
#pragma once

#include <cstdint>

namespace camcast {

struct TcpLink {
  uint32_t rtt_us = 0;          // the smoothed round trip
  uint32_t min_rtt_us = 0;      // the least round trip seen
  uint32_t mss = 0;             // the most data one segment carries
  uint64_t bytes_acked = 0;     // acknowledged by the peer since the connection began
  uint32_t queued = 0;          // written and not acknowledged yet (sent or not): all written
                                // since the connection began is bytes_acked + queued
  uint32_t data_segments = 0;   // segments with data sent, resends included
  uint32_t resent = 0;          // segments sent again (lost, or thought lost)
  uint64_t bytes_received = 0;  // from the peer since the connection began
};

// A link measured from what a sender sees (a WebSocket viewer's, net/client.cpp; a relay push's,
// relay/publisher.cpp; docs/protocols.md 6.6): a spell with more to send than the kernel took
// counts if it lasted this long and this many bytes were acknowledged in it, and is the link's
// only where it filled a queue on the way — the round trip this much above the least. Without
// one what held it back was TCP's own window, not the link: on a 10 Mbit/s link with a 40 ms
// round trip a window kept small by a 2 Mbit/s stream took a 720p keyframe at 2.1 Mbit/s, and
// viewers went down to 360p (a narrow link's queue shows: tbf's fills by up to 50 ms). A probe
// (padding timed until acknowledged) is given up after kProbeMaxUs.
namespace link_measure {
constexpr int64_t kMinSpellUs = 10000;
constexpr uint64_t kMinBytes = 2048;
constexpr uint32_t kQueueShownUs = 10000;
constexpr int64_t kProbeMaxUs = 1000000;
}  // namespace link_measure

// TCP_INFO of socket `fd` (Linux 4.6 and later); false if the kernel does not say.
bool read_tcp_link(int fd, TcpLink *out);

}  // namespace camcast
