// Layer onvif: the camera as ONVIF clients (NVRs) see it; uses net, formats, access, rtsp.
// ONVIF's device and media services (Profile S, the part NVRs need to add a camera and play
// it): what the camera is, its one profile (the H.264 stream), the RTSP address of that stream
// and the address of a still picture. SOAP 1.2 over HTTP POST; requests read by soap.h.
//
// Access (ONVIF Core §5.9.1's classes): what a client needs before it can sign a request
// (GetSystemDateAndTime, GetCapabilities, GetServices, GetServiceCapabilities) is open; every
// other request of a private camera carries WS-Security's UsernameToken (OASIS Username Token
// Profile 1.1). With PasswordDigest — Base64(SHA-1(nonce + created + password)), what NVRs and
// npm `onvif` send — the password must be known to the camera: the access token is, under any
// user name; the users file's users are not (it keeps yescrypt hashes only), so they sign with
// PasswordText, checked as RTSP's Basic credentials are (rtsp_access.h: yescrypt within a budget,
// failures throttled). A digest is good within five minutes of the camera's clock, once (its
// nonce is remembered). A refused request is answered 400 with ter:NotAuthorized. Pure: tested
// without a server.
#pragma once

#include "access/access.h"
#include "formats/soap.h"
#include "rtsp/rtsp_access.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace camcast {

// What the camera says of itself, and where its services and streams are for the client asking.
struct OnvifDevice {
  std::string manufacturer = "camcast";
  std::string model = "camcast";
  std::string firmware;
  std::string serial;
  int width = 0, height = 0, framerate = 0;
  std::string device_xaddr;  // http://HOST:PORT/onvif/device_service
  std::string media_xaddr;
  std::string stream_uri;    // rtsp://HOST:8554/video; "" while there is none
  std::string snapshot_uri;  // http://HOST:PORT/mjpeg/snapshot.jpg?token=…; "" none
};

class OnvifService {
public:
  static constexpr int64_t kCreatedWindowUs = 5 * 60 * G_USEC_PER_SEC;
  static constexpr size_t kMaxNonces = 4096;

  enum class Service { Device, Media };
  struct Reply {
    unsigned status = 200;
    std::string body;  // a SOAP envelope
  };

  OnvifService(AccessPolicy policy, bool is_public);
  // The answer to `body`, a request to `service` from `peer`. `now_us`: monotonic; `wall_us`:
  // the real-time clock (GetSystemDateAndTime, and a digest's Created).
  Reply answer(Service service, std::string_view body, const OnvifDevice &device,
               const std::string &peer, int64_t now_us, int64_t wall_us);

private:
  enum class Verdict { Allowed, Refused, Busy };
  Verdict check(const soap::Request &request, const std::string &peer, int64_t now_us,
                int64_t wall_us);
  bool digest_ok(const soap::UsernameToken &token, int64_t now_us, int64_t wall_us);

  const AccessPolicy policy_;
  const bool public_;
  RtspAccess text_;                        // PasswordText, as Basic credentials
  std::map<std::string, int64_t> nonces_;  // of digests taken: nonce → until (monotonic µs)
};

}  // namespace camcast
