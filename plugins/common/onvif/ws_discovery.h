// Layer onvif: the camera as ONVIF clients (NVRs) see it; uses net, formats, access, rtsp.
// WS-Discovery (2005/04, as ONVIF Core §7.3 uses it), so that NVRs find the camera by
// themselves: a Hello to the multicast group 239.255.255.250:3702 when it starts and a Bye when
// it stops, and an answer (ProbeMatches, unicast) to each Probe for an ONVIF device (types
// dn:NetworkVideoTransmitter or tds:Device, or none) naming its device service's address as
// the prober reaches this machine. Bounded: a datagram is read whole or not at all (64 KiB at
// most, what UDP carries), at most kReadsPerSecond are looked at a second and answers go at most
// kAnswersPerSecond a second (a Probe with a forged source would otherwise make the camera send
// to a victim), Hello and Bye once each.
#pragma once

#include <gio/gio.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

namespace camcast {

class WsDiscovery {
public:
  static constexpr int kPort = 3702;
  static constexpr const char *kGroup = "239.255.255.250";
  static constexpr int kAnswersPerSecond = 10;
  static constexpr int kReadsPerSecond = 100;  // datagrams looked at; the rest only read

  // Who answers: a stable endpoint address, and where its device service is.
  struct Identity {
    std::string endpoint;  // "urn:uuid:…", the same across restarts
    std::string scopes;    // space-separated onvif:// scopes
    int http_port = 0;
    bool https = false;
    std::string path = "/onvif/device_service";
    std::string xaddr(const std::string &ip) const;
  };

  // The ProbeMatches for `datagram` if it is a Probe this device matches, its device service at
  // `local_ip`; "" if there is nothing to answer. Pure.
  static std::string answer(std::string_view datagram, const Identity &identity,
                            const std::string &local_ip);
  static std::string hello(const Identity &identity, const std::string &local_ip);
  static std::string bye(const Identity &identity);
  // A stable urn:uuid for this machine and `port` (from /etc/machine-id, else the host name).
  static std::string endpoint_for(int port);

  WsDiscovery() = default;
  ~WsDiscovery() { stop(); }
  WsDiscovery(const WsDiscovery &) = delete;
  WsDiscovery &operator=(const WsDiscovery &) = delete;

  // Joins the group on every IPv4 interface, says Hello and answers Probes from a thread of its
  // own until stop() (which says Bye). False with `error` if UDP port 3702 cannot be bound.
  bool start(const Identity &identity, GError **error);
  void stop();
  uint64_t answered() const { return answered_.load(); }

private:
  void run();
  void send_everywhere(const std::string &message);

  Identity identity_;
  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> answered_{0};
};

}  // namespace camcast
