#include "onvif/onvif_resource.h"

#include "net/status_phrase.h"

#include <gio/gio.h>

namespace camcast {

namespace {

constexpr std::string_view kDevice = "/device_service";
constexpr std::string_view kMedia = "/media_service";

// "HOST:PORT" as this client reached the server: the address it connected to.
std::string reached_at(SoupServerMessage *msg) {
  GSocketAddress *local = soup_server_message_get_local_address(msg);
  if (!G_IS_INET_SOCKET_ADDRESS(local))
    return "127.0.0.1";
  GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS(local);
  g_autofree char *ip = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
  const bool v6 =
      g_inet_address_get_family(g_inet_socket_address_get_address(inet)) == G_SOCKET_FAMILY_IPV6;
  return v6 ? std::string("[") + ip + "]" : std::string(ip);
}

}  // namespace

void OnvifResource::set_settings(const AccessPolicy &policy, bool is_public,
                                 const OnvifDevice &device) {
  std::lock_guard<std::mutex> lk(lock_);
  service_ = std::make_unique<OnvifService>(policy, is_public);
  const int width = device_.width, height = device_.height, framerate = device_.framerate;
  device_ = device;
  if (width > 0) {
    device_.width = width;
    device_.height = height;
    device_.framerate = framerate;
  }
  token_ = is_public ? "" : policy.access_token;
}

void OnvifResource::set_video(int width, int height, int framerate) {
  std::lock_guard<std::mutex> lk(lock_);
  device_.width = width;
  device_.height = height;
  device_.framerate = framerate;
}

goffset OnvifResource::body_limit(std::string_view method, std::string_view rest) {
  return method == "POST" && (rest == kDevice || rest == kMedia) ? goffset(soap::kMaxBytes) : -1;
}

bool OnvifResource::serve_http(SoupServerMessage *msg, std::string_view rest) {
  if (soup_server_message_get_method(msg) != SOUP_METHOD_POST ||
      (rest != kDevice && rest != kMedia))
    return false;
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  const std::string_view request(body->data ? body->data : "", size_t(body->length));
  GUri *uri = soup_server_message_get_uri(msg);
  const std::string host = reached_at(msg);
  const std::string base =
      std::string(g_uri_get_scheme(uri)) + "://" + host + ":" + std::to_string(g_uri_get_port(uri));
  const std::string path(g_uri_get_path(uri));
  const std::string mount = path.substr(0, path.size() - rest.size());
  const Places places = places_();
  GSocketAddress *remote = soup_server_message_get_remote_address(msg);
  std::string peer = "?";
  if (G_IS_INET_SOCKET_ADDRESS(remote)) {
    g_autofree char *ip =
        g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
    peer = ip;
  }
  OnvifService::Reply reply;
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (!service_)
      return false;
    OnvifDevice device = device_;
    device.device_xaddr = base + mount + std::string(kDevice);
    device.media_xaddr = base + mount + std::string(kMedia);
    if (places.rtsp_port > 0)
      device.stream_uri = std::string(places.rtsps ? "rtsps://" : "rtsp://") + host + ":" +
                          std::to_string(places.rtsp_port) + places.rtsp_path;
    if (!places.snapshot_path.empty())
      device.snapshot_uri =
          base + places.snapshot_path + (token_.empty() ? "" : "?token=" + token_);
    reply = service_->answer(
        rest == kDevice ? OnvifService::Service::Device : OnvifService::Service::Media, request,
        device, peer, g_get_monotonic_time(), g_get_real_time());
  }
  set_answer(msg, reply.status, "application/soap+xml; charset=utf-8", reply.body);
  return true;
}

}  // namespace camcast
