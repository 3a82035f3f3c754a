// Layer rtsp: RTSP on ports of their own (gst-rtsp-server); uses net, formats, access.
// One RTSP server per address:port, shared by every sink of the process that names it, each
// sink's stream at a path of its own — as HttpServer is for HTTP. Each server owns a thread with
// its own GMainContext, where gst-rtsp-server answers requests, expires sessions and sends over
// TCP; a server lives while anyone holds its shared_ptr, the last release stops the thread and
// closes the port.
#pragma once

#include "access/tls.h"
#include "rtsp/inbound_guard.h"
#include "rtsp/rtsp_access.h"

#include <gst/rtsp-server/rtsp-server.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

namespace camcast {

// Each RTSP client costs a pipeline of its own (rtsp_resource.h): fewer than HTTP viewers.
struct RtspLimits {
  // Sessions at once, every path of the server together (gst-rtsp-server's session pool). A
  // session a client neither renews (any request, or RTCP over UDP) nor ends is freed after
  // gst-rtsp-server's 60 s, RTSP's default (RFC 2326 12.37).
  unsigned max_sessions = 32;
  // Connections at once, and from one address; past them a new one is closed at once.
  unsigned max_connections = 32;
  unsigned max_per_address = 8;
  // A connection without a session this long after it came is closed (one that says nothing,
  // or asks for nothing it then plays).
  unsigned idle_s = 10;
};

class RtspServer final : public std::enable_shared_from_this<RtspServer> {
public:
  // The running server for address:port, starting it if needed; port 0 starts a new one on a
  // free port (read it back with port()). Null with `error` saying why (a port in use).
  static std::shared_ptr<RtspServer> acquire(const std::string &address, int port,
                                             const RtspLimits &limits, GError **error);
  ~RtspServer();
  RtspServer(const RtspServer &) = delete;
  RtspServer &operator=(const RtspServer &) = delete;

  const std::string &address() const { return address_; }
  int port() const { return port_; }

  // Access control for every path of this server (rtsp_access.h). A sink that sets none serves
  // under the server's; a different one is refused with `error` while other sinks serve here.
  bool set_policy(const AccessPolicy &policy, GError **error);
  // RTSPS: with a certificate every connection to this port speaks TLS from its first byte
  // (`rtsps://`); without, none does. The first sink of the port chooses; another choice is
  // refused with `error` while other sinks serve here, as is a certificate that will not load.
  bool set_tls(const TlsSettings &tls, GError **error);
  // Serves `factory` at `path` (a canonical mount path) from now on, open to anyone when
  // `is_public`; false with `error` when the path is taken. Any thread.
  bool add(const std::string &path, GstRTSPMediaFactory *factory, bool is_public, GError **error);
  void remove(const std::string &path);
  // Closes the connection of every client with a session on a media `ours` says is its (RTSP has
  // no other way to tell a client its stream ended).
  void close_clients(const std::function<bool(GstRTSPMedia *)> &ours);

  // Runs fn on the server thread and returns when it has run (directly if already there).
  void invoke_sync(const std::function<void()> &fn);

  // Whether the request of `ctx` may go on (server thread; GstRTSPAuth's check). When not, it
  // has been answered (401 asking for Basic credentials, or 503).
  bool admit(GstRTSPContext *ctx);

private:
  RtspServer(std::string address, int port, RtspLimits limits);
  bool start(GError **error);
  static gboolean tick(gpointer self);
  // A client connected (server thread): counted, or closed past the caps.
  void connected(GstRTSPClient *client);
  // Closes `client` from the server's loop, once the dispatch under way has returned.
  void close_soon(GstRTSPClient *client);
  // Closes `client`'s connection now (not from within its own dispatch).
  void end(GstRTSPClient *client);
  // What is counted for `client` goes: it closed, or was closed.
  void gone(GstRTSPClient *client);

  struct Client {
    std::string address;
    gint64 since;  // monotonic µs
  };

  const std::string address_;
  int port_;
  const RtspLimits limits_;
  std::thread thread_;
  GMainContext *context_ = nullptr;
  GMainLoop *loop_ = nullptr;
  GstRTSPServer *server_ = nullptr;
  GstRTSPAuth *auth_ = nullptr;  // the server's
  GSource *listen_source_ = nullptr;
  GSource *tick_source_ = nullptr;
  // Server thread only.
  std::unique_ptr<RtspAccess> access_;
  TlsSettings tls_;
  std::set<std::string> paths_, public_paths_;
  std::map<GstRTSPClient *, Client> clients_;
  InboundGuard guard_;  // what each client may send (any thread)
  std::map<std::string, unsigned> per_address_;
};

}  // namespace camcast
