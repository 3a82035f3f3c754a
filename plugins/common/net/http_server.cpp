#include "net/http_server.h"

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

// The process-wide registry: address:port → the server running there.
// An entry whose server is being destroyed stays (expired) until its port is closed, so a new
// acquire() of the same port waits for that instead of failing to bind.
std::mutex registry_lock;
std::condition_variable registry_changed;
std::map<std::string, std::weak_ptr<HttpServer>> registry;

std::string registry_key(const std::string &address, int port) {
  return address + "|" + std::to_string(port);
}

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
  std::unique_lock<std::mutex> lk(registry_lock);
  if (port != 0) {
    const std::string key = registry_key(address, port);
    while (true) {
      auto it = registry.find(key);
      if (it == registry.end())
        break;
      if (auto server = it->second.lock()) {
        const bool same_tls = server->settings_.tls == settings.tls;
        if (same_tls && server->settings_.limits == settings.limits)
          return server;
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                    "port %d on %s already serves other sinks with other %s (give sinks on one "
                    "port the same %s)",
                    port, address.c_str(), same_tls ? "connection limits" : "TLS settings",
                    same_tls ? "max-connections, max-connections-per-address, header-timeout "
                               "and request-timeout"
                             : "tls-certificate, tls-key and http-port");
        return nullptr;
      }
      registry_changed.wait(lk);  // the previous server on this port is still closing it
    }
  }
  auto *server = new HttpServer(address, port, settings);
  if (!server->start(error)) {
    delete server;
    return nullptr;
  }
  const std::string key = registry_key(address, server->port_);
  std::shared_ptr<HttpServer> shared(server, [key](HttpServer *s) {
    delete s;
    std::lock_guard<std::mutex> lk(registry_lock);
    auto it = registry.find(key);
    if (it != registry.end() && it->second.expired())
      registry.erase(it);
    registry_changed.notify_all();
  });
  registry[key] = shared;
  return shared;
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

gboolean HttpServer::tick(gpointer self) {
  auto *server = static_cast<HttpServer *>(self);
  const gint64 now = g_get_monotonic_time();
  server->connections_->tick(now);
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

namespace {

// The login form is a user name and a password: nothing larger is read.
constexpr goffset kMaxFormBytes = 4096;

void respond(SoupServerMessage *msg, guint status, const char *content_type,
             const std::string &body) {
  soup_server_message_set_status(msg, status, nullptr);
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
                               "no-store");
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, body.data(), body.size());
}

bool wants_websocket(SoupServerMessage *msg) {
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  return soup_message_headers_header_contains(h, "Upgrade", "websocket");
}

}  // namespace

void HttpServer::handle_request(SoupServer *, SoupServerMessage *msg, const char *path,
                                GHashTable *, gpointer self) {
  static_cast<HttpServer *>(self)->route(msg, path);
}

// Before a request's body is read: libsoup would otherwise keep all of it in memory, however
// large. A body is read only where one is wanted: a small login form, or an upload a mount takes
// (a relay's publisher), which reads it as it comes. Everything else is answered now.
void HttpServer::handle_request_head(SoupServer *, SoupServerMessage *msg, const char *path,
                                     GHashTable *, gpointer data) {
  auto *self = static_cast<HttpServer *>(data);
  SoupMessageHeaders *request = soup_server_message_get_request_headers(msg);
  const bool chunked = soup_message_headers_get_encoding(request) == SOUP_ENCODING_CHUNKED;
  const goffset length = soup_message_headers_get_content_length(request);
  // Refused before its body: nothing of it is read (see Connection::refuse).
  auto refuse = [msg](guint status, const std::string &text,
                      const std::vector<std::pair<std::string, std::string>> &headers = {}) {
    if (Connection *connection = Connection::of(msg))
      connection->refuse(msg, status, text, headers);
    else
      respond(msg, status, "text/plain", text);
  };
  const char *method = soup_server_message_get_method(msg);
  if (method == SOUP_METHOD_GET || method == SOUP_METHOD_HEAD) {
    if (chunked || length > 0)
      refuse(SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "a GET or HEAD request takes no body\n");
    return;
  }
  const std::string_view p(path);
  if (method == SOUP_METHOD_POST && !self->policy_.users_file.empty() && p == "/login") {
    if (chunked)
      refuse(SOUP_STATUS_LENGTH_REQUIRED, "send the login form with a Content-Length\n");
    else if (length > kMaxFormBytes)
      refuse(SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "form too large\n");
    return;
  }
  std::shared_ptr<Mount> mount;
  std::string_view rest;
  if ((method == SOUP_METHOD_POST || method == SOUP_METHOD_PUT) &&
      self->mounts_.match(p, &mount, &rest) && mount->delegate() &&
      mount->delegate()->upload(msg, rest)) {
    g_object_set_data(G_OBJECT(msg), "camcast-upload", GINT_TO_POINTER(1));
    return;
  }
  refuse(SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET and HEAD are served here\n",
         {{"Allow", "GET, HEAD"}});
}

bool HttpServer::set_policy(const auth::Policy &policy, GError **error) {
  bool ok = true;
  invoke_sync([&] {
    if (!policy_.enabled() && policy_.metrics_token.empty()) {
      policy_ = policy;
      if (policy_.signing_key.empty())
        policy_.signing_key = auth::random_token() + auth::random_token();
    } else {
      ok = policy_ == policy;
    }
  });
  if (!ok)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                "port %d already serves other sinks with another access token or origins "
                "(give sinks on one port the same access settings)",
                port_);
  return ok;
}

// Applies the access policy; answers the request itself when it is refused.
namespace {

// The login page: a plain form, no script. `next` is where to go after.
std::string login_page(const std::string &next, const char *problem) {
  g_autofree char *escaped = g_markup_escape_text(next.c_str(), -1);
  return std::string(
             "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             "<title>camcast: log in</title><style>body{font:16px "
             "system-ui,sans-serif;background:#111;"
             "color:#eee;display:flex;justify-content:center;margin-top:15vh}form{display:grid;gap:"
             ".6em;"
             "min-width:16em}input,button{font:inherit;padding:.4em}.problem{color:#f88}</style></"
             "head>"
             "<body><form method=\"post\" action=\"/login\"><h1>camcast</h1>") +
         (problem ? std::string("<p class=\"problem\">") + problem + "</p>" : "") +
         "<label>User <input name=\"user\" autocomplete=\"username\" required autofocus></label>"
         "<label>Password <input name=\"password\" type=\"password\" "
         "autocomplete=\"current-password\" required></label>"
         "<input type=\"hidden\" name=\"next\" value=\"" +
         escaped +
         "\">"
         "<button type=\"submit\">Log in</button></form></body></html>\n";
}

// Only a path on this server: never "//elsewhere" or "https://…" (no open redirect).
std::string local_path(const std::string &next) {
  return next.size() > 0 && next[0] == '/' && (next.size() < 2 || next[1] != '/') &&
                 next.find_first_of("\\\r\n") == std::string::npos
             ? next
             : "/";
}

void redirect(SoupServerMessage *msg, const std::string &location) {
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Location",
                               location.c_str());
  soup_server_message_set_status(msg, SOUP_STATUS_SEE_OTHER, nullptr);
}

}  // namespace

// GET /login: the form. POST /login: check the password, slowed per address after failures.
// GET /logout: end the session.
void HttpServer::login(SoupServerMessage *msg) {
  const char *method = soup_server_message_get_method(msg);
  GUri *uri = soup_server_message_get_uri(msg);
  const bool tls = g_strcmp0(g_uri_get_scheme(uri), "https") == 0;
  const int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  if (g_str_equal(g_uri_get_path(uri), "/logout")) {
    soup_message_headers_append(soup_server_message_get_response_headers(msg), "Set-Cookie",
                                auth::session_cookie(policy_, now, tls, 0).c_str());
    redirect(msg, "/login");
    return;
  }
  const char *query = g_uri_get_query(uri);
  if (method != SOUP_METHOD_POST) {
    respond(msg, SOUP_STATUS_OK, "text/html; charset=utf-8",
            login_page(local_path(auth::query_param(query ? query : "", "next")), nullptr));
    return;
  }
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  const std::string form =
      body->length <= kMaxFormBytes ? std::string(body->data, body->length) : "";
  const std::string user = auth::query_param(form, "user");
  const std::string next = local_path(auth::query_param(form, "next"));
  const char *host = soup_server_message_get_remote_host(msg);
  const std::string address = host ? host : "?";
  if (!throttle_.allowed(address, now)) {
    GST_WARNING("%s: login refused: too many failures", address.c_str());
    respond(msg, 429, "text/html; charset=utf-8",
            login_page(next, "Too many failed logins from here: wait a minute."));
    return;
  }
  auto found = policy_.users.find(user);
  if (found == policy_.users.end() ||
      !users::verify_password(found->second, auth::query_param(form, "password"))) {
    throttle_.failed(address, now);
    GST_INFO("%s: failed login as \"%s\"", address.c_str(), user.c_str());
    respond(msg, SOUP_STATUS_UNAUTHORIZED, "text/html; charset=utf-8",
            login_page(next, "Wrong user name or password."));
    return;
  }
  throttle_.succeeded(address);
  GST_INFO("%s: %s logged in", address.c_str(), user.c_str());
  soup_message_headers_append(
      soup_server_message_get_response_headers(msg), "Set-Cookie",
      auth::session_cookie(policy_, now, tls, policy_.session_seconds).c_str());
  redirect(msg, next);
}

bool HttpServer::allowed(SoupServerMessage *msg, const char *path, bool websocket) {
  SoupMessageHeaders *request = soup_server_message_get_request_headers(msg);
  // /metrics for a scraper: its own bearer token, required whenever one is set.
  if (g_str_equal(path, "/metrics") && !policy_.metrics_token.empty()) {
    const char *authorization = soup_message_headers_get_one(request, "Authorization");
    if (authorization &&
        auth::constant_time_equal(authorization, "Bearer " + policy_.metrics_token))
      return true;
    if (!policy_.enabled()) {
      respond(msg, SOUP_STATUS_UNAUTHORIZED, "text/plain",
              "/metrics needs Authorization: Bearer <metrics-token>\n");
      return false;
    }
  }
  if (!policy_.enabled())
    return true;
  std::shared_ptr<Mount> mount;
  std::string_view rest;
  if (mounts_.match(path, &mount, &rest) && mount->is_public())
    return true;
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  auto header = [&](const char *name) {
    const char *v = soup_message_headers_get_one(h, name);
    return std::string_view(v ? v : "");
  };
  GUri *uri = soup_server_message_get_uri(msg);
  const char *query = g_uri_get_query(uri);
  const bool tls = g_strcmp0(g_uri_get_scheme(uri), "https") == 0;
  const auth::Decision d =
      auth::check(policy_, path, query ? query : "", header("Cookie"), header("Origin"),
                  header("Host"), websocket, tls, g_get_real_time() / G_USEC_PER_SEC);
  if (d.allowed) {
    if (!d.set_cookie.empty())
      soup_message_headers_append(soup_server_message_get_response_headers(msg), "Set-Cookie",
                                  d.set_cookie.c_str());
    return true;
  }
  const char *host = soup_server_message_get_remote_host(msg);
  GST_INFO("%s %s refused (%u): %s", host ? host : "?", path, d.status, d.reason.c_str());
  if (d.login && !websocket) {
    g_autofree char *next = g_uri_escape_string(path, "/", FALSE);
    redirect(msg, std::string("/login?next=") + next);
    return false;
  }
  respond(msg, d.status, "text/html; charset=utf-8",
          d.status == 403
              ? "<!doctype html><p>This stream does not accept connections from that page.</p>\n"
              : "<!doctype html><title>camcast</title><p>This camera is private. Open it with "
                "the link camcast printed when it started (the one with <code>?token=</code>)."
                "</p>\n");
  return false;
}

void HttpServer::route(SoupServerMessage *msg, const char *path) {
  // Other methods than GET and HEAD got here only for the login form or an upload: the early
  // handler answered the rest (libsoup skips this handler once a status is set).
  const std::string_view p(path);
  if (!policy_.users_file.empty() && (p == "/login" || p == "/logout")) {
    login(msg);
    return;
  }
  if (g_object_get_data(G_OBJECT(msg), "camcast-upload")) {
    respond(msg, SOUP_STATUS_OK, "text/plain", "received\n");  // the publisher ended its upload
    return;
  }
  if (!allowed(msg, path, wants_websocket(msg)))
    return;
  if (p == "/api/token" && policy_.enabled()) {
    // A stream token for embedding: GET /api/token?path=/video&ttl=300 (seconds, at most a day).
    GUri *uri = soup_server_message_get_uri(msg);
    const std::string query = g_uri_get_query(uri) ? g_uri_get_query(uri) : "";
    std::string scope = auth::query_param(query, "path");
    std::string canonical;
    const std::string ttl_text = auth::query_param(query, "ttl");
    const long ttl = ttl_text.empty() ? 300 : strtol(ttl_text.c_str(), nullptr, 10);
    if (!normalize_mount_path(scope, &canonical) || ttl <= 0 || ttl > 86400) {
      respond(msg, SOUP_STATUS_BAD_REQUEST, "text/plain",
              "usage: /api/token?path=/video&ttl=300 (ttl in seconds, 1 to 86400)\n");
      return;
    }
    const int64_t expires = g_get_real_time() / G_USEC_PER_SEC + ttl;
    const std::string token = auth::sign(policy_.key(), canonical, expires);
    respond(msg, SOUP_STATUS_OK, "application/json",
            "{\"token\":\"" + token + "\",\"path\":\"" + canonical +
                "\",\"expires\":" + std::to_string(expires) + "}\n");
    return;
  }
  if (p == "/api/streams") {
    respond(msg, SOUP_STATUS_OK, "application/json", render_streams_json(all_stats()));
    return;
  }
  if (p == "/metrics") {
    respond(msg, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
            render_metrics(all_stats()));
    return;
  }
  std::shared_ptr<Mount> mount;
  std::string_view rest;
  if (mounts_.match(p, &mount, &rest)) {
    if (rest.empty() && wants_websocket(msg)) {
      upgrade(msg, mount);
      return;
    }
    MountDelegate *delegate = mount->delegate();
    if (!wants_websocket(msg) && delegate && delegate->serve_http(msg, rest))
      return;
  } else if (p == "/") {
    respond(msg, SOUP_STATUS_OK, "text/html; charset=utf-8", render_index(all_stats()));
    return;
  }
  respond(msg, SOUP_STATUS_NOT_FOUND, "text/plain", "no stream here; see / for the list\n");
}

namespace {

// Once the 101 is out: the connection leaves libsoup for the mount's WebSocket client.
void complete_upgrade(SoupServerMessage *msg, gpointer data) {
  auto *mount_ref = static_cast<std::weak_ptr<Mount> *>(data);
  Connection *connection = Connection::of(msg);
  GIOStream *stream = connection ? connection->steal(msg) : nullptr;
  auto mount = mount_ref->lock();
  if (mount && mount->server() && stream &&
      G_IS_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream)))
    mount->accept_websocket(stream, connection->socket(), connection->peer());
  else if (stream)
    g_io_stream_close(stream, nullptr, nullptr);
  if (stream)
    g_object_unref(stream);
}

}  // namespace

void HttpServer::upgrade(SoupServerMessage *msg, const std::shared_ptr<Mount> &mount) {
  // No extensions are offered: permessage-deflate would cost CPU per client on incompressible
  // video and defeat zero-copy (protocol-facts §2.1).
  if (!soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr))
    return;  // libsoup has set the 400 and the reason
  g_signal_connect_data(
      msg, "wrote-informational", G_CALLBACK(complete_upgrade), new std::weak_ptr<Mount>(mount),
      [](gpointer data, GClosure *) { delete static_cast<std::weak_ptr<Mount> *>(data); },
      GConnectFlags(0));
}

}  // namespace camcast
