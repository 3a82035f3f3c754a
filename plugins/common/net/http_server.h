// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// One HTTP/WebSocket server per address:port, shared by every sink of the process that names
// it — as gst-rtsp-server shares one server among many mount points.
//
// Each server owns a thread with its own GMainContext. libsoup is not thread-safe
// (docs/protocols.md §1.1), so every libsoup call, every client socket read and write and every
// mount's fan-out happen on that thread; other threads reach it with invoke_sync(). A server lives
// while anyone holds its shared_ptr (sinks, or the launcher to keep viewers connected across
// pipeline restarts); the last release stops the thread and closes the port.
#pragma once

#include "access/access.h"
#include "access/tls.h"
#include "net/connections.h"
#include "net/epoll_source.h"
#include "net/mount.h"
#include "net/mount_table.h"
#include "net/status_pages.h"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace camcast {

// What every sink of one server must agree on: how it speaks (TLS) and its limits.
struct ServerSettings {
  TlsSettings tls;
  ConnectionLimits limits;
};

class HttpServer final : public MountContext, public std::enable_shared_from_this<HttpServer> {
public:
  // Returns the running server for address:port, starting it if needed. Port 0 starts a new
  // server on a free port (read it back with port()). With TLS enabled the port speaks HTTPS
  // (and tls.http_port, if set, plain HTTP); a running server must have the same settings.
  // On failure sets `error` with a message a person can act on ("port 8080 on 0.0.0.0 is
  // already in use by another program").
  static std::shared_ptr<HttpServer> acquire(const std::string &address, int port,
                                             const ServerSettings &settings, GError **error);
  ~HttpServer();
  HttpServer(const HttpServer &) = delete;
  HttpServer &operator=(const HttpServer &) = delete;

  const std::string &address() const { return address_; }
  int port() const { return port_; }
  // The plain HTTP port beside an HTTPS one; -1 when there is none.
  int http_port() const { return http_port_; }
  bool tls() const { return settings_.tls.enabled(); }
  GMainContext *context() const override { return context_; }
  bool on_server_thread() const;

  // Serves `mount` at its path from now on and returns the mount that serves it: `mount`
  // itself, or a lingering mount of the same path and kind, which `delegate` takes over with
  // its viewers (and `mount`'s settings). Null with `error` when the path is taken.
  std::shared_ptr<Mount> add_mount(const std::shared_ptr<Mount> &mount, MountDelegate *delegate,
                                   GError **error);
  // Stops serving it: its clients are closed with status Removed and its delegate is forgotten.
  // With `linger_us` > 0 and viewers connected, the mount stays for that long without a
  // delegate, its viewers connected, so that a sink started again at the same path (a restarted
  // pipeline) takes them over; the server stays up meanwhile.
  void remove_mount(const std::shared_ptr<Mount> &mount, gint64 linger_us = 0);

  // Access control for every path of this server (access.h). A sink that sets none serves under
  // the server's; a different one is refused with `error` while other sinks serve under it.
  bool set_policy(const AccessPolicy &policy, GError **error);

  // Runs fn on the server thread and returns when it has run (directly if already there).
  void invoke_sync(const std::function<void()> &fn) override;

  // Every mount's statistics, in path order (server thread).
  std::vector<MountStats> all_stats();

  // An output's state (status_pages.h), shown with the streams from now on: any thread. At most
  // kMaxOutputs names; a report for another name beyond them is ignored.
  static constexpr size_t kMaxOutputs = 64;
  void report_output(const std::string &name, const std::string &state, const std::string &why);
  // Every output reported, by name (server thread).
  std::vector<OutputReport> all_outputs() const;

  // Where the clients' sockets are watched (server thread; see epoll_source.h).
  EpollSource *poller() override { return client_poller_.get(); }

private:
  HttpServer(std::string address, int port, ServerSettings settings);
  bool start(GError **error);
  void run();
  std::unique_ptr<Access> make_access(const AccessPolicy &policy);
  // Request handling (requests.cpp).
  static void handle_request_head(SoupServer *, SoupServerMessage *msg, const char *path,
                                  GHashTable *query, gpointer self);
  static void handle_request(SoupServer *, SoupServerMessage *msg, const char *path,
                             GHashTable *query, gpointer self);
  AccessRequest request_of(SoupServerMessage *msg, std::string_view path);
  void admit(SoupServerMessage *msg, const char *path);
  void route(SoupServerMessage *msg, const char *path);
  bool serve_access(SoupServerMessage *msg, std::string_view path, Admission how);
  void upgrade(SoupServerMessage *msg, const std::shared_ptr<Mount> &mount);
  static gboolean tick(gpointer self);

  std::string address_;
  int port_;
  const ServerSettings settings_;
  int http_port_ = -1;
  std::thread thread_;
  GMainContext *context_ = nullptr;
  GMainLoop *loop_ = nullptr;
  std::unique_ptr<EpollSource> client_poller_;  // gone before context_
  // Server thread only.
  SoupServer *soup_ = nullptr;
  std::unique_ptr<Connections> connections_;
  MountTable<std::shared_ptr<Mount>> mounts_;
  GSource *tick_source_ = nullptr;
  std::map<std::string, gint64> lingering_;  // path → when it ends (monotonic µs)
  std::map<std::string, OutputReport> outputs_;
  std::unique_ptr<Access> access_;
  std::shared_ptr<HttpServer> self_hold_;  // keeps the server up while mounts linger
  void drop_mount(const std::shared_ptr<Mount> &mount);
};

}  // namespace camcast
