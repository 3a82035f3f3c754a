#include "onvif/ws_discovery.h"

#include "access/auth.h"
#include "formats/soap.h"

#include <gst/gst.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(camcast_wsd_debug);
#define GST_CAT_DEFAULT camcast_wsd_debug

namespace camcast {

namespace {

constexpr const char *kEnvelopeStart =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
    "xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\" "
    "xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\" "
    "xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\"><env:Header>";
constexpr const char *kAction = "http://schemas.xmlsoap.org/ws/2005/04/discovery/";
constexpr const char *kTypes = "dn:NetworkVideoTransmitter tds:Device";

std::string message_id() {
  const std::string hex = auth::random_hex(16);
  return "urn:uuid:" + hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

// The header of a message with `action`, to `to`, about `relates_to` (if any).
std::string header(const char *action, const char *to, const std::string &relates_to) {
  return kEnvelopeStart + std::string("<wsa:MessageID>") + message_id() + "</wsa:MessageID>" +
         (relates_to.empty() ? ""
                             : "<wsa:RelatesTo>" + soap::escape(relates_to) + "</wsa:RelatesTo>") +
         "<wsa:To>" + to + "</wsa:To><wsa:Action>" + kAction + action + "</wsa:Action>" +
         "</env:Header><env:Body>";
}

std::string description(const WsDiscovery::Identity &id, const std::string &local_ip) {
  return "<wsa:EndpointReference><wsa:Address>" + soap::escape(id.endpoint) +
         "</wsa:Address></wsa:EndpointReference><d:Types>" + kTypes + "</d:Types><d:Scopes>" +
         soap::escape(id.scopes) + "</d:Scopes>" +
         (local_ip.empty() ? "" : "<d:XAddrs>" + soap::escape(id.xaddr(local_ip)) + "</d:XAddrs>") +
         "<d:MetadataVersion>1</d:MetadataVersion>";
}

// Whether a Probe's Types (qualified names, space-separated; none: any) include this device.
bool types_match(const std::string &types) {
  gchar **names = g_strsplit_set(types.c_str(), " \t\r\n", -1);
  bool any = false, match = false;
  for (gchar **n = names; *n; n++) {
    if (!**n)
      continue;
    any = true;
    const char *colon = strchr(*n, ':');
    const char *local = colon ? colon + 1 : *n;
    match = match || g_str_equal(local, "NetworkVideoTransmitter") || g_str_equal(local, "Device");
  }
  g_strfreev(names);
  return !any || match;
}

// This machine's address facing `to` (what the routing table would send from).
std::string local_ip_toward(const sockaddr_in &to) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return "";
  sockaddr_in local{};
  socklen_t len = sizeof local;
  char text[INET_ADDRSTRLEN] = "";
  if (connect(fd, reinterpret_cast<const sockaddr *>(&to), sizeof to) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr *>(&local), &len) == 0)
    inet_ntop(AF_INET, &local.sin_addr, text, sizeof text);
  close(fd);
  return text;
}

// The IPv4 addresses of this machine's interfaces that are up and take multicast.
std::vector<in_addr> multicast_interfaces() {
  std::vector<in_addr> out;
  ifaddrs *all = nullptr;
  if (getifaddrs(&all) != 0)
    return out;
  for (ifaddrs *i = all; i; i = i->ifa_next)
    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) &&
        (i->ifa_flags & IFF_MULTICAST))
      out.push_back(reinterpret_cast<const sockaddr_in *>(i->ifa_addr)->sin_addr);
  freeifaddrs(all);
  return out;
}

}  // namespace

std::string WsDiscovery::Identity::xaddr(const std::string &ip) const {
  return std::string(https ? "https://" : "http://") + ip + ":" + std::to_string(http_port) + path;
}

std::string WsDiscovery::answer(std::string_view datagram, const Identity &id,
                                const std::string &local_ip) {
  soap::Request request;
  std::string why;
  if (!soap::read_request(datagram, &request, &why) || request.operation != "Probe")
    return "";
  const auto types = request.params.find("Types");
  if (!types_match(types == request.params.end() ? "" : types->second))
    return "";
  return header("ProbeMatches", "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous",
                request.message_id) +
         "<d:ProbeMatches><d:ProbeMatch>" + description(id, local_ip) +
         "</d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>\n";
}

std::string WsDiscovery::hello(const Identity &id, const std::string &local_ip) {
  return header("Hello", "urn:schemas-xmlsoap-org:ws:2005:04:discovery", "") + "<d:Hello>" +
         description(id, local_ip) + "</d:Hello></env:Body></env:Envelope>\n";
}

std::string WsDiscovery::bye(const Identity &id) {
  return header("Bye", "urn:schemas-xmlsoap-org:ws:2005:04:discovery", "") +
         "<d:Bye><wsa:EndpointReference><wsa:Address>" + soap::escape(id.endpoint) +
         "</wsa:Address></wsa:EndpointReference></d:Bye></env:Body></env:Envelope>\n";
}

std::string WsDiscovery::endpoint_for(int port) {
  gchar *machine = nullptr;
  if (!g_file_get_contents("/etc/machine-id", &machine, nullptr, nullptr))
    machine = g_strdup(g_get_host_name());
  g_strstrip(machine);
  const std::string seed = std::string("camcast-onvif:") + machine + ":" + std::to_string(port);
  g_free(machine);
  g_autofree char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA1, seed.c_str(), -1);
  const std::string h(sha);
  // A version-5-shaped UUID (name-based, SHA-1).
  return "urn:uuid:" + h.substr(0, 8) + "-" + h.substr(8, 4) + "-5" + h.substr(13, 3) + "-a" +
         h.substr(17, 3) + "-" + h.substr(20, 12);
}

bool WsDiscovery::start(const Identity &identity, GError **error) {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(camcast_wsd_debug, "camcastwsd", 0, "camcast WS-Discovery");
    g_once_init_leave(&once, 1);
  }
  stop();
  identity_ = identity;
  fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  // Other ONVIF devices of the machine (another camcast) listen on the same port: each gets the
  // group's datagrams.
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(kPort);
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr *>(&any), sizeof any) != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                "cannot answer WS-Discovery on UDP port %d: %s", kPort, g_strerror(errno));
    if (fd_ >= 0)
      close(fd_);
    fd_ = -1;
    return false;
  }
  int joined = 0;
  for (const in_addr &at : multicast_interfaces()) {
    ip_mreq group{};
    inet_pton(AF_INET, kGroup, &group.imr_multiaddr);
    group.imr_interface = at;
    joined += setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &group, sizeof group) == 0;
  }
  GST_INFO("WS-Discovery on UDP %d, the group joined on %d interfaces", kPort, joined);
  stop_ = false;
  send_everywhere(hello(identity_, ""));
  thread_ = std::thread([this] { run(); });
  return true;
}

void WsDiscovery::stop() {
  if (fd_ < 0)
    return;
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
  send_everywhere(bye(identity_));
  close(fd_);
  fd_ = -1;
}

// To the group on each interface (a Hello without XAddrs: a client that wants them probes).
void WsDiscovery::send_everywhere(const std::string &message) {
  sockaddr_in group{};
  group.sin_family = AF_INET;
  group.sin_port = htons(kPort);
  inet_pton(AF_INET, kGroup, &group.sin_addr);
  for (const in_addr &at : multicast_interfaces()) {
    setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &at, sizeof at);
    sendto(fd_, message.data(), message.size(), MSG_DONTWAIT,
           reinterpret_cast<const sockaddr *>(&group), sizeof group);
  }
}

void WsDiscovery::run() {
  std::vector<char> buffer(64 * 1024);
  gint64 second = 0;
  int this_second = 0, answered_this_second = 0;
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0)
      continue;
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC,
                               reinterpret_cast<sockaddr *>(&from), &len);
    if (n <= 0 || size_t(n) > buffer.size() || len != sizeof from)
      continue;  // nothing, or more than was read: not answered
    const gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
    if (now != second) {
      second = now;
      this_second = answered_this_second = 0;
    }
    if (++this_second > kReadsPerSecond)
      continue;  // a flood: read, not looked at
    const std::string local = local_ip_toward(from);
    const std::string reply = answer(std::string_view(buffer.data(), size_t(n)), identity_, local);
    if (reply.empty() || local.empty() || answered_this_second >= kAnswersPerSecond)
      continue;
    answered_this_second++;
    answered_++;
    sendto(fd_, reply.data(), reply.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr *>(&from),
           sizeof from);
  }
}

}  // namespace camcast
