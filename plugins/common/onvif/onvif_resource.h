// Layer onvif: the camera as ONVIF clients (NVRs) see it; uses net, formats, access, rtsp.
// ONVIF's device and media services at a path of a camcast HTTP server (`/onvif`, so at
// `/onvif/device_service` and `/onvif/media_service`, the addresses NVRs try first), answered by
// onvif_service.h. Requests reach it without the server's own access control: ONVIF signs each
// request itself (WS-Security), which the service checks. Each answer names the addresses as the
// client reached this server (the address it connected to), and the stream's RTSP address as the
// owner finds it at that moment (the RTSP sink may open after this one).
#pragma once

#include "net/mount.h"
#include "onvif/onvif_service.h"

#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace camcast {

class OnvifResource final : public MountDelegate {
public:
  // Where the stream and a still picture are served, asked for each request.
  struct Places {
    int rtsp_port = -1;  // -1: not (yet) served
    std::string rtsp_path;
    bool rtsps = false;
    std::string snapshot_path;  // on this HTTP server; "" none
  };
  using PlacesFn = std::function<Places()>;

  explicit OnvifResource(PlacesFn places) : places_(std::move(places)) {}

  // What the camera says of itself (its sizes, names) and who may ask: any thread.
  void set_settings(const AccessPolicy &policy, bool is_public, const OnvifDevice &device);
  void set_video(int width, int height, int framerate);

  // MountDelegate (server thread)
  bool serve_http(SoupServerMessage *msg, std::string_view rest) override;
  goffset body_limit(std::string_view method, std::string_view rest) override;
  bool takes_websocket() const override { return false; }
  bool checks_access() const override { return true; }

private:
  const PlacesFn places_;
  std::mutex lock_;  // the two below
  std::unique_ptr<OnvifService> service_;
  OnvifDevice device_;
  std::string token_;  // for the snapshot's address
  std::string path_;   // the mount's, set with the first request
};

}  // namespace camcast
