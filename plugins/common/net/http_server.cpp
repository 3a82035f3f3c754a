#include "net/http_server.h"

#include "net/shared_servers.h"
#include "net/status_pages.h"

#include <sys/socket.h>

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>

GST_DEBUG_CATEGORY(camcast_server_debug);
#define GST_CAT_DEFAULT camcast_server_debug

namespace camcast {

namespace {

void init_debug() {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(camcast_server_debug, "camcastserver", 0,
                            "camcast HTTP/WebSocket server and fan-out");
    g_once_init_leave(&once, 1);
  }
}

}  // namespace

std::shared_ptr<HttpServer> HttpServer::acquire(const std::string &address, int port,
                                                const ServerSettings &settings, GError **error) {
  init_debug();
  static auto *servers = new SharedServers<HttpServer>();  // for the life of the process
  return servers->acquire(
      address, port,
      [&](const HttpServer &server) {
        const bool same_tls = server.settings_.tls == settings.tls;
        if (same_tls && server.settings_.limits == settings.limits)
          return true;
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                    "port %d on %s already serves other sinks with other %s (give sinks on one "
                    "port the same %s)",
                    port, address.c_str(), same_tls ? "connection limits" : "TLS settings",
                    same_tls ? "max-connections, max-connections-per-address, "
                               "max-connection-rate, header-timeout and request-timeout"
                             : "tls-certificate, tls-key and http-port");
        return false;
      },
      [&]() -> HttpServer * {
        auto *server = new HttpServer(address, port, settings);
        if (server->start(error))
          return server;
        delete server;
        return nullptr;
      });
}

HttpServer::HttpServer(std::string address, int port, ServerSettings settings)
    : address_(std::move(address)),
      port_(port),
      settings_(std::move(settings)),
      context_(g_main_context_new()),
      loop_(g_main_loop_new(context_, FALSE)) {}

HttpServer::~HttpServer() {
  if (thread_.joinable()) {
    invoke_sync([this] {
      for (auto &entry : mounts_.all())
        entry.second->detach();
      g_main_loop_quit(loop_);
    });
    thread_.join();
  }
  client_poller_.reset();
  g_main_loop_unref(loop_);
  g_main_context_unref(context_);
}

bool HttpServer::on_server_thread() const {
  return std::this_thread::get_id() == thread_.get_id();
}

bool HttpServer::start(GError **error) {
  if (!(client_poller_ = EpollSource::create(context_, error)))
    return false;
  GTlsCertificate *certificate = nullptr;
  if (settings_.tls.enabled() && !(certificate = load_tls_certificate(settings_.tls, error)))
    return false;
  std::promise<GError *> started;
  auto result = started.get_future();
  thread_ = std::thread([this, &started, certificate] {
    g_main_context_push_thread_default(context_);
    // libsoup parses requests and writes answers; the connections are ours (connections.h).
    soup_ = soup_server_new("server-header", "camcast/" PACKAGE_VERSION " ", nullptr);
    soup_server_add_handler(soup_, nullptr, &HttpServer::handle_request, this, nullptr);
    soup_server_add_early_handler(soup_, nullptr, &HttpServer::handle_request_head, this, nullptr);
    connections_ =
        std::make_unique<Connections>(context_, soup_, client_poller_.get(), settings_.limits);
    access_ = make_access(AccessPolicy());
    GError *err = nullptr;
    port_ = connections_->listen(address_, port_, certificate, &err);
    if (port_ >= 0 && settings_.tls.http_port >= 0)
      http_port_ = connections_->listen(address_, settings_.tls.http_port, nullptr, &err);
    if (err) {
      connections_.reset();
      g_object_unref(soup_);
      soup_ = nullptr;
      g_main_context_pop_thread_default(context_);
      started.set_value(err);
      return;
    }
    tick_source_ = g_timeout_source_new(250);
    g_source_set_callback(tick_source_, &HttpServer::tick, this, nullptr);
    g_source_attach(tick_source_, context_);
    GST_INFO("serving %s://%s:%d/", certificate ? "https" : "http", address_.c_str(), port_);
    if (http_port_ >= 0)
      GST_INFO("serving http://%s:%d/", address_.c_str(), http_port_);
    started.set_value(nullptr);
    run();
  });
  GError *err = result.get();
  if (certificate)
    g_object_unref(certificate);
  if (!err)
    return true;
  thread_.join();
  g_propagate_error(error, err);
  return false;
}

void HttpServer::run() {
  g_main_loop_run(loop_);
  g_source_destroy(tick_source_);
  g_source_unref(tick_source_);
  connections_->close_all();
  soup_server_disconnect(soup_);
  access_.reset();  // waits for a password check under way; its answer finds nobody
  // Let libsoup finish closing what it was closing, and TLS handshakes that were cut short
  // answer (for a moment at most).
  GSource *wake = g_timeout_source_new(20);
  g_source_set_callback(wake, G_SOURCE_FUNC(+[](gpointer) { return G_SOURCE_CONTINUE; }), nullptr,
                        nullptr);
  g_source_attach(wake, context_);
  const gint64 until = g_get_monotonic_time() + G_USEC_PER_SEC;
  while (connections_->handshakes() > 0 && g_get_monotonic_time() < until)
    g_main_context_iteration(context_, TRUE);
  g_source_destroy(wake);
  g_source_unref(wake);
  while (g_main_context_iteration(context_, FALSE)) {
  }
  connections_.reset();
  g_object_unref(soup_);
  soup_ = nullptr;
  g_main_context_pop_thread_default(context_);
  GST_INFO("stopped serving http://%s:%d/", address_.c_str(), port_);
}

void HttpServer::invoke_sync(const std::function<void()> &fn) {
  if (on_server_thread()) {
    fn();
    return;
  }
  struct Call {
    const std::function<void()> &fn;
    std::mutex lock;
    std::condition_variable cond;
    bool done = false;
  } call{fn};
  GSource *source = g_idle_source_new();
  g_source_set_priority(source, G_PRIORITY_HIGH);
  g_source_set_callback(
      source,
      +[](gpointer data) -> gboolean {
        auto *c = static_cast<Call *>(data);
        c->fn();
        std::lock_guard<std::mutex> lk(c->lock);
        c->done = true;
        c->cond.notify_one();
        return G_SOURCE_REMOVE;
      },
      &call, nullptr);
  g_source_attach(source, context_);
  g_source_unref(source);
  std::unique_lock<std::mutex> lk(call.lock);
  call.cond.wait(lk, [&] { return call.done; });
}

std::shared_ptr<Mount> HttpServer::add_mount(const std::shared_ptr<Mount> &mount,
                                             MountDelegate *delegate, GError **error) {
  std::shared_ptr<Mount> serving;
  invoke_sync([&] {
    std::shared_ptr<Mount> found;
    std::string_view rest;
    const bool taken = mounts_.match(mount->path(), &found, &rest) && rest.empty();
    if (taken && lingering_.count(mount->path())) {
      lingering_.erase(mount->path());
      if (found->kind() == mount->kind()) {
        GST_INFO("%s: taken over with %zu viewers", mount->path().c_str(), found->n_clients());
        found->set_settings(mount->settings());
        found->adopt(delegate);
        serving = found;
        return;
      }
      drop_mount(found);  // another kind of stream: its viewers could not play this one
    } else if (taken) {
      return;
    }
    mounts_.add(mount->path(), mount);
    mount->attach(this, delegate);
    serving = mount;
  });
  if (!serving)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                "path %s on port %d is already served by another sink in this process "
                "(give each sink its own path)",
                mount->path().c_str(), port_);
  return serving;
}

void HttpServer::drop_mount(const std::shared_ptr<Mount> &mount) {
  mount->detach();
  mounts_.remove(mount->path());
  lingering_.erase(mount->path());
}

void HttpServer::remove_mount(const std::shared_ptr<Mount> &mount, gint64 linger_us) {
  invoke_sync([&] {
    std::shared_ptr<Mount> found;
    std::string_view rest;
    if (!mounts_.match(mount->path(), &found, &rest) || found != mount || !rest.empty())
      return;
    if (linger_us <= 0 || mount->n_clients() == 0) {
      drop_mount(mount);
      return;
    }
    GST_INFO("%s: keeping %zu viewers for %" G_GINT64_FORMAT " ms for a sink to take over",
             mount->path().c_str(), mount->n_clients(), linger_us / 1000);
    mount->release();
    lingering_[mount->path()] = g_get_monotonic_time() + linger_us;
    if (!self_hold_)
      self_hold_ = shared_from_this();
  });
}

std::vector<MountStats> HttpServer::all_stats() {
  std::vector<MountStats> out;
  invoke_sync([&] {
    for (auto &entry : mounts_.all())
      out.push_back(entry.second->stats());
  });
  return out;
}

void HttpServer::report_output(const std::string &name, const std::string &state,
                               const std::string &why) {
  invoke_sync([&] {
    auto at = outputs_.find(name);
    if (at == outputs_.end()) {
      if (outputs_.size() >= kMaxOutputs)
        return;
      at = outputs_.emplace(name, OutputReport{name, "", "", 0}).first;
    }
    if (at->second.state != state)
      at->second.since_us = g_get_monotonic_time();
    at->second.state = state;
    at->second.why = why;
  });
}

std::vector<OutputReport> HttpServer::all_outputs() const {
  std::vector<OutputReport> out;
  for (const auto &entry : outputs_)
    out.push_back(entry.second);
  return out;
}

gboolean HttpServer::tick(gpointer self) {
  auto *server = static_cast<HttpServer *>(self);
  const gint64 now = g_get_monotonic_time();
  server->connections_->tick(now);
  server->access_->tick(g_get_real_time() / G_USEC_PER_SEC);
  for (auto &entry : server->mounts_.all())
    entry.second->tick(now);
  std::vector<std::string> expired;
  for (const auto &[path, until] : server->lingering_)
    if (now >= until)
      expired.push_back(path);
  for (const std::string &path : expired) {
    std::shared_ptr<Mount> mount;
    std::string_view rest;
    if (server->mounts_.match(path, &mount, &rest))
      server->drop_mount(mount);
    GST_INFO("%s: no sink took the viewers over; closed", path.c_str());
  }
  // Nothing lingers: let the server go if nobody else holds it. Not from this thread, which
  // the server's destructor joins.
  if (server->lingering_.empty() && server->self_hold_)
    std::thread([hold = std::move(server->self_hold_)]() mutable { hold.reset(); }).detach();
  return G_SOURCE_CONTINUE;
}

bool HttpServer::set_policy(const AccessPolicy &policy, GError **error) {
  if (policy.empty())
    return true;  // this sink sets nothing: it serves under whatever the server has
  std::string differences;
  invoke_sync([&] {
    const AccessPolicy &current = access_->policy();
    if (current == policy)
      return;
    // Another policy is taken while no sink serves under the old one (a restarted pipeline,
    // a changed token or users file): the old sessions end with it.
    bool serving = false;
    for (const auto &entry : mounts_.all())
      serving = serving || entry.second->delegate();
    if (!current.empty() && serving) {
      differences = current.differences(policy);
      return;
    }
    access_ = make_access(policy);
  });
  if (differences.empty())
    return true;
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
              "port %d already serves other sinks with another %s (every camcast element on one "
              "port needs the same access-token, users-file, allowed-origins, allowed-hosts, "
              "metrics-token and sessions-file)",
              port_, differences.c_str());
  return false;
}

std::unique_ptr<Access> HttpServer::make_access(const AccessPolicy &policy) {
  // Password checks report back on this thread; stream tokens are made for mounts' paths.
  GMainContext *context = context_;
  return std::make_unique<Access>(
      policy, [context](std::function<void()> fn) { run_soon(context, std::move(fn)); },
      [this](std::string_view path) {
        std::shared_ptr<Mount> mount;
        std::string_view rest;
        return mounts_.match(path, &mount, &rest) && rest.empty() && path != "/";
      });
}

}  // namespace camcast
