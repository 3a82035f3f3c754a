// libFuzzer target: arbitrary bytes as a SOAP request to the ONVIF services (formats/soap.h,
// onvif/onvif_service.h) of a camera with an access token. Nothing may crash or read out of
// bounds, and no operation past the few open before signing is answered without a
// UsernameToken: a digest (checked against the token) or the token itself.
#include "onvif/onvif_service.h"

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
