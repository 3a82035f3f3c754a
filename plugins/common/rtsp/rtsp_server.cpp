#include "rtsp/rtsp_server.h"

#include "net/connections.h"
#include "net/shared_servers.h"

#include <sys/socket.h>

#include <future>
#include <map>
#include <mutex>
#include <vector>

GST_DEBUG_CATEGORY(camcast_rtsp_debug);
#define GST_CAT_DEFAULT camcast_rtsp_debug

namespace camcast {

namespace {

// TLS 1.2 and 1.3 only, as on the HTTP ports (net/connection.cpp): GnuTLS's default priorities
// on Debian 12 still negotiate TLS 1.0 and 1.1, and GLib has no way to say a least version, so
// what the handshake negotiated is read once it is done, and an older one ends the connection
// (its socket shut: gst-rtsp-server then ends the client as for any peer that went).
void refuse_old_tls(GstRTSPConnection *connection) {
  GTlsConnection *tls = gst_rtsp_connection_get_tls(connection, nullptr);
  GSocket *socket = gst_rtsp_connection_get_read_socket(connection);
  if (!tls || !socket)
    return;
  g_signal_connect_data(
      tls, "notify::protocol-version", G_CALLBACK(+[](GTlsConnection *c, GParamSpec *, gpointer s) {
        const GTlsProtocolVersion version = g_tls_connection_get_protocol_version(c);
        if (version == G_TLS_PROTOCOL_VERSION_TLS_1_2 ||
            version == G_TLS_PROTOCOL_VERSION_TLS_1_3 || version == G_TLS_PROTOCOL_VERSION_UNKNOWN)
          return;
        GST_INFO("closed an RTSPS connection that negotiated a TLS older than 1.2");
        g_socket_shutdown(G_SOCKET(s), TRUE, TRUE, nullptr);
      }),
      g_object_ref(socket), [](gpointer s, GClosure *) { g_object_unref(s); }, GConnectFlags(0));
}

// Lets go of an RTSPS connection being closed, its socket shut. gst-rtsp-server's first read
// of a connection starts its TLS handshake in a thread of GLib's TLS, and glib-networking 2.74
// keeps the connection — and its socket — until another operation on it collects that
// handshake's result; gst-rtsp-server only drops its reference. A connection that never sent a
// byte, closed at the idle time, so stayed open for ever (seen in hostile/tls/rtsps: descriptors
// never back). With its socket shut the handshake fails at once: a read now and then collects
// that, and a close ends the connection. (g_io_stream_close() first would not do: during the
// handshake it fails, and marks the stream closed all the same.)
void collect_tls(GTlsConnection *tls, GMainContext *context) {
  if (!tls)
    return;
  struct Collecting {
    GTlsConnection *tls;
    int tries_left;
  };
  GSource *source = g_timeout_source_new(50);
  g_source_set_callback(
      source,
      +[](gpointer data) -> gboolean {
        auto *c = static_cast<Collecting *>(data);
        GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(c->tls));
        char byte;
        GError *error = nullptr;
        const gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(in),
                                                                  &byte, 1, nullptr, &error);
        const bool waiting = n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
        g_clear_error(&error);
        if (waiting && --c->tries_left > 0)
          return G_SOURCE_CONTINUE;
        g_io_stream_close(G_IO_STREAM(c->tls), nullptr, nullptr);
        return G_SOURCE_REMOVE;
      },
      new Collecting{G_TLS_CONNECTION(g_object_ref(tls)), 100},
      [](gpointer data) {
        auto *c = static_cast<Collecting *>(data);
        g_object_unref(c->tls);
        delete c;
      });
  g_source_attach(source, context);
  g_source_unref(source);
}

// gst-rtsp-server's auth with one check of ours (RtspServer::admit) in place of its tokens and
// permissions.
struct CamcastRtspAuth {
  GstRTSPAuth parent;
  RtspServer *server;
};
struct CamcastRtspAuthClass {
  GstRTSPAuthClass parent_class;
};
G_DEFINE_TYPE(CamcastRtspAuth, camcast_rtsp_auth, GST_TYPE_RTSP_AUTH)

gboolean camcast_rtsp_auth_check(GstRTSPAuth *auth, GstRTSPContext *ctx, const gchar *check) {
  if (g_str_equal(check, GST_RTSP_AUTH_CHECK_URL))
    return reinterpret_cast<CamcastRtspAuth *>(auth)->server->admit(ctx);
  // A new connection: gst-rtsp-server's own check puts TLS on it when the auth has a
  // certificate (RTSPS), and admits it.
  if (g_str_equal(check, GST_RTSP_AUTH_CHECK_CONNECT)) {
    if (!GST_RTSP_AUTH_CLASS(camcast_rtsp_auth_parent_class)->check(auth, ctx, check))
      return FALSE;
    if (GTlsCertificate *certificate = gst_rtsp_auth_get_tls_certificate(auth)) {
      g_object_unref(certificate);
      refuse_old_tls(ctx->conn);
    }
    return TRUE;
  }
  // A client never chooses the server's side of a transport (its ports, multicast TTL).
  return !g_str_equal(check, GST_RTSP_AUTH_CHECK_TRANSPORT_CLIENT_SETTINGS);
}

void camcast_rtsp_auth_class_init(CamcastRtspAuthClass *klass) {
  GST_RTSP_AUTH_CLASS(klass)->check = camcast_rtsp_auth_check;
}

void camcast_rtsp_auth_init(CamcastRtspAuth *) {}

}  // namespace

std::shared_ptr<RtspServer> RtspServer::acquire(const std::string &address, int port,
                                                const RtspLimits &limits, GError **error) {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(camcast_rtsp_debug, "camcastrtsp", 0, "camcast RTSP server");
    g_once_init_leave(&once, 1);
  }
  static auto *servers = new SharedServers<RtspServer>();  // for the life of the process
  return servers->acquire(
      address, port, [](const RtspServer &) { return true; },
      [&]() -> RtspServer * {
        auto *server = new RtspServer(address, port, limits);
        if (server->start(error))
          return server;
        delete server;
        return nullptr;
      });
}

RtspServer::RtspServer(std::string address, int port, RtspLimits limits)
    : address_(std::move(address)),
      port_(port),
      limits_(limits),
      context_(g_main_context_new()),
      loop_(g_main_loop_new(context_, FALSE)) {}

RtspServer::~RtspServer() {
  if (thread_.joinable()) {
    invoke_sync([this] { g_main_loop_quit(loop_); });
    thread_.join();
  }
  g_main_loop_unref(loop_);
  g_main_context_unref(context_);
}

bool RtspServer::start(GError **error) {
  std::promise<GError *> started;
  auto result = started.get_future();
  thread_ = std::thread([this, &started] {
    g_main_context_push_thread_default(context_);
    server_ = gst_rtsp_server_new();
    gst_rtsp_server_set_address(server_, address_.c_str());
    gst_rtsp_server_set_service(server_, std::to_string(port_).c_str());
    access_ = std::make_unique<RtspAccess>(AccessPolicy());
    auto *auth =
        static_cast<CamcastRtspAuth *>(g_object_new(camcast_rtsp_auth_get_type(), nullptr));
    auth->server = this;
    auth_ = GST_RTSP_AUTH(auth);
    gst_rtsp_server_set_auth(server_, auth_);
    g_object_unref(auth);  // the server's from here
    // Clients on this thread too (by default gst-rtsp-server hands them to a thread of its own
    // pool, where our checks and counts would race with this thread's).
    GstRTSPThreadPool *threads = gst_rtsp_server_get_thread_pool(server_);
    gst_rtsp_thread_pool_set_max_threads(threads, 0);
    g_object_unref(threads);
    GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(server_);
    gst_rtsp_session_pool_set_max_sessions(pool, limits_.max_sessions);
    g_object_unref(pool);
    GError *err = nullptr;
    listen_source_ = gst_rtsp_server_create_source(server_, nullptr, &err);
    if (!listen_source_) {
      if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)) {
        const std::string holder = port_holder(port_);
        g_clear_error(&err);
        g_set_error(&err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                    "RTSP port %d on %s is already in use by %s (choose another rtsp-port, or 0 "
                    "for any free one)",
                    port_, address_.c_str(), holder.empty() ? "another program" : holder.c_str());
      } else {
        g_prefix_error(&err, "cannot serve RTSP on %s port %d: ", address_.c_str(), port_);
      }
      g_clear_object(&server_);
      g_main_context_pop_thread_default(context_);
      started.set_value(err);
      return;
    }
    g_source_attach(listen_source_, context_);
    port_ = gst_rtsp_server_get_bound_port(server_);
    g_signal_connect(server_, "client-connected",
                     G_CALLBACK(+[](GstRTSPServer *, GstRTSPClient *client, gpointer self) {
                       static_cast<RtspServer *>(self)->connected(client);
                     }),
                     this);
    tick_source_ = g_timeout_source_new_seconds(1);
    g_source_set_callback(tick_source_, &RtspServer::tick, this, nullptr);
    g_source_attach(tick_source_, context_);
    GST_INFO("serving rtsp://%s:%d/", address_.c_str(), port_);
    started.set_value(nullptr);
    g_main_loop_run(loop_);
    g_source_destroy(tick_source_);
    g_source_unref(tick_source_);
    g_source_destroy(listen_source_);
    g_source_unref(listen_source_);
    // Every client goes with its sessions (their pipelines stop), then the server.
    gst_rtsp_server_client_filter(
        server_, +[](GstRTSPServer *, GstRTSPClient *, gpointer) { return GST_RTSP_FILTER_REMOVE; },
        nullptr);
    while (g_main_context_iteration(context_, FALSE)) {
    }
    g_clear_object(&server_);
    access_.reset();
    g_main_context_pop_thread_default(context_);
    GST_INFO("stopped serving rtsp://%s:%d/", address_.c_str(), port_);
  });
  GError *err = result.get();
  if (!err)
    return true;
  thread_.join();
  g_propagate_error(error, err);
  return false;
}

gboolean RtspServer::tick(gpointer self) {
  // Sessions nobody renewed within their timeout go (gst-rtsp-server frees them only when asked).
  auto *server = static_cast<RtspServer *>(self);
  GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(server->server_);
  const guint expired = gst_rtsp_session_pool_cleanup(pool);
  g_object_unref(pool);
  if (expired)
    GST_INFO("%u RTSP sessions expired", expired);
  // Connections that have had no session for the idle time go.
  const gint64 now = g_get_monotonic_time();
  std::vector<GstRTSPClient *> idle;
  for (auto &[client, c] : server->clients_) {
    if (now - c.since < gint64(server->limits_.idle_s) * G_USEC_PER_SEC)
      continue;
    guint sessions = 0;
    gst_rtsp_client_session_filter(
        client,
        +[](GstRTSPClient *, GstRTSPSession *, gpointer n) {
          ++*static_cast<guint *>(n);
          return GST_RTSP_FILTER_KEEP;
        },
        &sessions);
    if (sessions == 0)
      idle.push_back(client);
    else
      c.since = now;  // it plays: its session's timeout bounds it from here
  }
  for (GstRTSPClient *client : idle) {
    GST_INFO("%s: no RTSP session within %u s; closed", server->clients_[client].address.c_str(),
             server->limits_.idle_s);
    server->end(client);
  }
  return G_SOURCE_CONTINUE;
}

void RtspServer::connected(GstRTSPClient *client) {
  GstRTSPConnection *connection = gst_rtsp_client_get_connection(client);
  const std::string address = connection && gst_rtsp_connection_get_ip(connection)
                                  ? gst_rtsp_connection_get_ip(connection)
                                  : "?";
  if (clients_.size() >= limits_.max_connections ||
      per_address_[address] >= limits_.max_per_address) {
    GST_INFO("%s: RTSP connection closed at once: %s", address.c_str(),
             clients_.size() >= limits_.max_connections ? "this server's connections are full"
                                                        : "that address has its connections");
    if (per_address_[address] == 0)
      per_address_.erase(address);
    close_soon(client);
    return;
  }
  clients_[client] = Client{address, g_get_monotonic_time()};
  per_address_[address]++;
  if (GSocket *socket = gst_rtsp_connection_get_read_socket(connection)) {
    // What the kernel holds for gst-rtsp-server to read, small (and not grown by autotuning):
    // what one read loop of its can take before the guard's shutdown is seen.
    const int fd = g_socket_get_fd(socket);
    int size = 32 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    guard_.watch(client, fd, address);
  }
  g_signal_connect(client, "closed", G_CALLBACK(+[](GstRTSPClient *c, gpointer self) {
                     static_cast<RtspServer *>(self)->gone(c);
                   }),
                   this);
}

void RtspServer::gone(GstRTSPClient *client) {
  auto it = clients_.find(client);
  if (it == clients_.end())
    return;
  auto at = per_address_.find(it->second.address);
  if (at != per_address_.end() && --at->second == 0)
    per_address_.erase(at);
  clients_.erase(it);
  guard_.forget(client);
}

void RtspServer::end(GstRTSPClient *client) {
  // Its socket first: gst-rtsp-server 1.22 closing an RTSPS connection whose TLS handshake has
  // not finished leaves the socket open (seen: a connection that sent nothing stayed open after
  // its client was closed and freed; collect_tls above); shut, the peer sees the end at once.
  GstRTSPConnection *connection = gst_rtsp_client_get_connection(client);
  if (GSocket *socket = connection ? gst_rtsp_connection_get_read_socket(connection) : nullptr)
    g_socket_shutdown(socket, TRUE, TRUE, nullptr);
  if (connection && tls_.enabled())
    collect_tls(gst_rtsp_connection_get_tls(connection, nullptr), context_);
  // Held across the call: the client's watch holds what may be its last reference, and
  // gst-rtsp-server 1.22 would free it inside gst_rtsp_client_close(), under its own lock
  // (GLib aborts: "g_mutex_clear() called on uninitialised or locked mutex").
  g_object_ref(client);
  gst_rtsp_client_close(client);
  // A client closed here is freed without its "closed" signal: what is counted for it goes now.
  gone(client);
  g_object_unref(client);
}

void RtspServer::close_soon(GstRTSPClient *client) {
  // (client-connected comes before gst-rtsp-server attaches the client to the loop.)
  struct Closing {
    RtspServer *server;
    GstRTSPClient *client;
  };
  GSource *source = g_idle_source_new();
  g_source_set_callback(
      source,
      +[](gpointer data) {
        auto *closing = static_cast<Closing *>(data);
        closing->server->end(closing->client);
        return G_SOURCE_REMOVE;
      },
      new Closing{this, GST_RTSP_CLIENT(g_object_ref(client))},
      [](gpointer data) {
        auto *closing = static_cast<Closing *>(data);
        g_object_unref(closing->client);
        delete closing;
      });
  g_source_attach(source, context_);
  g_source_unref(source);
}

void RtspServer::invoke_sync(const std::function<void()> &fn) {
  if (std::this_thread::get_id() == thread_.get_id()) {
    fn();
    return;
  }
  std::promise<void> done;
  auto finished = done.get_future();
  struct Call {
    const std::function<void()> &fn;
    std::promise<void> &done;
  } call{fn, done};
  g_main_context_invoke_full(
      context_, G_PRIORITY_HIGH,
      +[](gpointer data) -> gboolean {
        auto *c = static_cast<Call *>(data);
        c->fn();
        c->done.set_value();
        return G_SOURCE_REMOVE;
      },
      &call, nullptr);
  finished.wait();
}

bool RtspServer::set_policy(const AccessPolicy &policy, GError **error) {
  if (policy.empty())
    return true;  // this sink sets nothing: it serves under whatever the server has
  std::string differences;
  invoke_sync([&] {
    const AccessPolicy &current = access_->policy();
    if (current == policy)
      return;
    if (!current.empty() && !paths_.empty()) {
      differences = current.differences(policy);
      return;
    }
    access_ = std::make_unique<RtspAccess>(policy);
  });
  if (differences.empty())
    return true;
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
              "RTSP port %d already serves other sinks with another %s (every sink on one RTSP "
              "port needs the same access-token and users-file)",
              port_, differences.c_str());
  return false;
}

bool RtspServer::set_tls(const TlsSettings &tls, GError **error) {
  GError *err = nullptr;
  bool other = false;
  invoke_sync([&] {
    if (tls == tls_)
      return;
    if (!paths_.empty()) {
      other = true;
      return;
    }
    GTlsCertificate *certificate = tls.enabled() ? load_tls_certificate(tls, &err) : nullptr;
    if (err)
      return;
    gst_rtsp_auth_set_tls_certificate(auth_, certificate);
    if (certificate)
      g_object_unref(certificate);
    tls_ = tls;
  });
  if (other)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                "RTSP port %d already serves other sinks %s (every sink on one RTSP port needs "
                "the same tls-certificate and tls-key)",
                port_,
                !tls_.enabled() ? "without TLS"
                : tls.enabled() ? "with another certificate"
                                : "over TLS");
  else if (err)
    g_propagate_error(error, err);
  return !other && !err;
}

bool RtspServer::admit(GstRTSPContext *ctx) {
  const GstRTSPMethod method = ctx->method;
  const char *path = ctx->uri ? ctx->uri->abspath : nullptr;
  bool open = method == GST_RTSP_OPTIONS;  // it says which methods there are, nothing more
  for (const std::string &p : public_paths_)
    open = open || (path && g_str_has_prefix(path, p.c_str()) &&
                    (path[p.size()] == '\0' || path[p.size()] == '/'));
  if (open)
    return true;
  const gchar *authorization = nullptr;
  gst_rtsp_message_get_header(ctx->request, GST_RTSP_HDR_AUTHORIZATION,
                              const_cast<gchar **>(&authorization), 0);
  GstRTSPConnection *connection = gst_rtsp_client_get_connection(ctx->client);
  const char *ip = connection ? gst_rtsp_connection_get_ip(connection) : nullptr;
  const RtspAccess::Verdict verdict =
      access_->check(authorization ? authorization : "", ip ? ip : "?", g_get_monotonic_time());
  if (verdict == RtspAccess::Verdict::Allowed)
    return true;
  const GstRTSPStatusCode code = verdict == RtspAccess::Verdict::Busy
                                     ? GST_RTSP_STS_SERVICE_UNAVAILABLE
                                     : GST_RTSP_STS_UNAUTHORIZED;
  GST_INFO("%s: %s refused (%d)", ip ? ip : "?", path ? path : "?", int(code));
  gst_rtsp_message_init_response(ctx->response, code, gst_rtsp_status_as_text(code), ctx->request);
  if (code == GST_RTSP_STS_UNAUTHORIZED)
    gst_rtsp_message_add_header(ctx->response, GST_RTSP_HDR_WWW_AUTHENTICATE,
                                "Basic realm=\"camcast\"");
  else
    gst_rtsp_message_add_header(ctx->response, GST_RTSP_HDR_RETRY_AFTER, "1");
  gst_rtsp_client_send_message(ctx->client, ctx->session, ctx->response);
  return false;
}

bool RtspServer::add(const std::string &path, GstRTSPMediaFactory *factory, bool is_public,
                     GError **error) {
  bool added = false;
  invoke_sync([&] {
    GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(server_);
    gint matched = 0;
    GstRTSPMediaFactory *found = gst_rtsp_mount_points_match(mounts, path.c_str(), &matched);
    if (found && size_t(matched) == path.size()) {
      g_object_unref(found);
    } else {
      if (found)
        g_object_unref(found);
      gst_rtsp_mount_points_add_factory(mounts, path.c_str(),
                                        GST_RTSP_MEDIA_FACTORY(g_object_ref(factory)));
      paths_.insert(path);
      if (is_public)
        public_paths_.insert(path);
      added = true;
    }
    g_object_unref(mounts);
  });
  if (!added)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                "path %s on RTSP port %d is already served by another sink in this process "
                "(give each sink its own path)",
                path.c_str(), port_);
  return added;
}

void RtspServer::close_clients(const std::function<bool(GstRTSPMedia *)> &ours) {
  invoke_sync([&] {
    gst_rtsp_server_client_filter(
        server_,
        +[](GstRTSPServer *, GstRTSPClient *client, gpointer data) {
          struct Search {
            const std::function<bool(GstRTSPMedia *)> *ours;
            bool found = false;
          } search{static_cast<const std::function<bool(GstRTSPMedia *)> *>(data)};
          gst_rtsp_client_session_filter(
              client,
              +[](GstRTSPClient *, GstRTSPSession *session, gpointer s) {
                gst_rtsp_session_filter(
                    session,
                    +[](GstRTSPSession *, GstRTSPSessionMedia *sm, gpointer s) {
                      auto *search = static_cast<Search *>(s);
                      search->found |= (*search->ours)(gst_rtsp_session_media_get_media(sm));
                      return GST_RTSP_FILTER_KEEP;
                    },
                    s);
                return GST_RTSP_FILTER_KEEP;
              },
              &search);
          return search.found ? GST_RTSP_FILTER_REMOVE : GST_RTSP_FILTER_KEEP;
        },
        const_cast<std::function<bool(GstRTSPMedia *)> *>(&ours));
  });
}

void RtspServer::remove(const std::string &path) {
  invoke_sync([&] {
    GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(server_);
    gst_rtsp_mount_points_remove_factory(mounts, path.c_str());
    g_object_unref(mounts);
    paths_.erase(path);
    public_paths_.erase(path);
  });
}

}  // namespace camcast
