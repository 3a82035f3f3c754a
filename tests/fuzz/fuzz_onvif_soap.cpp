// libFuzzer target: arbitrary bytes as a SOAP request to the ONVIF services (formats/soap.h,
// onvif/onvif_service.h) of a camera with an access token, and as a WS-Discovery datagram
// (onvif/ws_discovery.h). Nothing may crash or read out of bounds; no operation past the few
// open before signing is answered without a UsernameToken (a digest, checked against the token,
// or the token itself); only a Probe is answered by discovery.
#include "onvif/onvif_service.h"
#include "onvif/ws_discovery.h"

#include <cassert>
#include <cstdint>
#include <set>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace camcast;
  static OnvifService *service = [] {
    AccessPolicy p;
    p.access_token = "fuzz-token";
    return new OnvifService(p, false);
  }();
  static const OnvifDevice device = [] {
    OnvifDevice d;
    d.width = 640;
    d.height = 360;
    d.stream_uri = "rtsp://10.0.0.5:8554/video";
    return d;
  }();
  static int64_t now = 0;
  now += G_USEC_PER_SEC;
  const std::string body(reinterpret_cast<const char *>(data), size);
  const auto reply =
      service->answer(size % 2 ? OnvifService::Service::Device : OnvifService::Service::Media, body,
                      device, "10.0.0.1", now, int64_t(1796640000) * 1000000);
  static const WsDiscovery::Identity identity = [] {
    WsDiscovery::Identity id;
    id.endpoint = "urn:uuid:00000000-0000-5000-a000-000000000000";
    id.http_port = 8080;
    return id;
  }();
  if (!WsDiscovery::answer(body, identity, "10.0.0.5").empty()) {
    soap::Request probe;
    std::string why;
    assert(soap::read_request(body, &probe, &why) && probe.operation == "Probe");
  }
  if (reply.status == 200) {
    soap::Request request;
    std::string why;
    assert(soap::read_request(body, &request, &why));
    static const std::set<std::string> open = {"GetSystemDateAndTime", "GetCapabilities",
                                               "GetServices", "GetServiceCapabilities"};
    if (!open.count(request.operation))
      assert(request.has_token && (request.token.digest || request.token.password == "fuzz-token"));
  }
  return 0;
}
