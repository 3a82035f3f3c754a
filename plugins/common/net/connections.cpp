// The connections of one server: listening, accepting under the caps, timeouts, the end of
// each (connections.h).
#include "net/connections.h"

#include "formats/first_bytes.h"

#include <gst/gst.h>

#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);
#define GST_CAT_DEFAULT camcast_server_debug

namespace camcast {

namespace {

// Accepted per wake-up of a listener: a flood of connections takes its turn like everyone else.
constexpr int kAcceptsPerWake = 32;
// Connections refused at the caps that get their 503 with a lingering close; past this many at
// once, a refused connection is just closed.
constexpr size_t kMaxRefusedClosing = 64;
// After a burst of this many connections has ended, freed memory goes back to the system (at
// most every few seconds): glibc keeps what a thread freed in that thread's arena, and a flood
// of a thousand half-open requests would otherwise leave a Pi some 25 MB poorer for good.
constexpr size_t kTrimAfter = 64;
constexpr gint64 kTrimIntervalUs = 5 * G_USEC_PER_SEC;
// A connection we ended should be let go of at once; if it is still held this much later,
// something leaked it, and its descriptor is closed anyway.
constexpr gint64 kReleaseGraceUs = 5 * G_USEC_PER_SEC;

GSocketAddress *resolve(const std::string &address, int port, GError **error) {
  GInetAddress *inet = g_inet_address_new_from_string(address.c_str());
  if (!inet) {
    GList *found =
        g_resolver_lookup_by_name(g_resolver_get_default(), address.c_str(), nullptr, nullptr);
    if (!found) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "address \"%s\" is neither an IP address nor a name this machine can resolve",
                  address.c_str());
      return nullptr;
    }
    inet = G_INET_ADDRESS(g_object_ref(found->data));
    g_resolver_free_addresses(found);
  }
  GSocketAddress *sa = g_inet_socket_address_new(inet, static_cast<guint16>(port));
  g_object_unref(inet);
  return sa;
}

std::string peer_of(GSocket *socket) {
  GSocketAddress *remote = g_socket_get_remote_address(socket, nullptr);
  if (!remote)
    return "?";
  g_autofree char *text =
      g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
  g_object_unref(remote);
  return text;
}

// libsoup keeps no connection alive here (see connections.h); say so in every answer.
void on_request_started(SoupServer *, SoupServerMessage *msg, gpointer) {
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                               "close");
  g_signal_connect(msg, "got-headers", G_CALLBACK(+[](SoupServerMessage *m, gpointer) {
                     if (Connection *c = Connection::of(m))
                       c->head_received();
                   }),
                   nullptr);
}
}  // namespace

// The listening socket's inode from /proc/net/tcp{,6}, then the process that has it among its
// descriptors.
std::string port_holder(int port) {
  std::set<std::string> inodes;
  for (const char *table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    g_autofree char *text = nullptr;
    if (!g_file_get_contents(table, &text, nullptr, nullptr))
      continue;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **line = lines; *line; line++) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      g_auto(GStrv) f = g_strsplit_set(g_strstrip(*line), " ", -1);
      std::vector<const char *> fields;
      for (char **x = f; *x; x++)
        if (**x)
          fields.push_back(*x);
      const char *colon = fields.size() > 9 ? strrchr(fields[1], ':') : nullptr;
      if (colon && strtol(colon + 1, nullptr, 16) == port && strcmp(fields[3], "0A") == 0)
        inodes.insert(std::string("socket:[") + fields[9] + "]");
    }
  }
  GDir *proc = inodes.empty() ? nullptr : g_dir_open("/proc", 0, nullptr);
  std::string found;
  while (const char *pid = proc && found.empty() ? g_dir_read_name(proc) : nullptr) {
    if (!g_ascii_isdigit(pid[0]))
      continue;
    const std::string fd_dir = std::string("/proc/") + pid + "/fd";
    GDir *fds = g_dir_open(fd_dir.c_str(), 0, nullptr);
    while (const char *fd = fds && found.empty() ? g_dir_read_name(fds) : nullptr) {
      g_autofree char *target = g_file_read_link((fd_dir + "/" + fd).c_str(), nullptr);
      if (target && inodes.count(target)) {
        g_autofree char *comm = nullptr;
        g_file_get_contents((std::string("/proc/") + pid + "/comm").c_str(), &comm, nullptr,
                            nullptr);
        found = std::string(comm ? g_strstrip(comm) : "?") + " (process " + pid + ")";
      }
    }
    if (fds)
      g_dir_close(fds);
  }
  if (proc)
    g_dir_close(proc);
  return found;
}

Connections::Connections(GMainContext *context, SoupServer *soup, EpollSource *poller,
                         const ConnectionLimits &limits)
    : context_(context), soup_(soup), poller_(poller), limits_(limits) {
  g_signal_connect(soup_, "request-started", G_CALLBACK(on_request_started), nullptr);
}

Connections::~Connections() {
  close_all();
  for (auto &[id, c] : connections_) {
    if (c->stream_)
      g_object_weak_unref(c->stream_, &Connection::stream_released, c.get());
    if (c->watched_)
      poller_->remove(g_socket_get_fd(c->socket_));
    g_socket_close(c->socket_, nullptr);
  }
  connections_.clear();
  if (reap_source_) {
    g_source_destroy(reap_source_);
    g_source_unref(reap_source_);
  }
  g_signal_handlers_disconnect_by_func(soup_, gpointer(on_request_started), nullptr);
}

int Connections::listen(const std::string &address, int port, GTlsCertificate *certificate,
                        GError **error) {
  GError *err = nullptr;
  GSocketAddress *sa = resolve(address, port, error);
  if (!sa)
    return -1;
  GSocket *socket = g_socket_new(g_socket_address_get_family(sa), G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, &err);
  if (socket) {
    g_socket_set_blocking(socket, FALSE);
    // A thousand viewers reconnecting at once (after a restart, a network blip) would overflow
    // GLib's default backlog of 10 and wait for SYN retries.
    g_socket_set_listen_backlog(socket, SOMAXCONN);
    if (!g_socket_bind(socket, sa, TRUE, &err) || !g_socket_listen(socket, &err))
      g_clear_object(&socket);
  }
  g_object_unref(sa);
  const char *what = certificate ? "HTTPS " : "";
  if (!socket) {
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)) {
      const std::string holder = port_holder(port);
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                  "%sport %d on %s is already in use by %s (choose another port, or port 0 for "
                  "any free one)",
                  what, port, address.c_str(), holder.empty() ? "another program" : holder.c_str());
    } else if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                  "not allowed to listen on %sport %d of %s (ports below 1024 need privileges; "
                  "use 8080 or another port above 1023)",
                  what, port, address.c_str());
    else
      g_set_error(error, err->domain, err->code, "cannot listen on %s %sport %d: %s",
                  address.c_str(), what, port, err->message);
    g_error_free(err);
    return -1;
  }
  GSocketAddress *local = g_socket_get_local_address(socket, nullptr);
  const int bound = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
  g_object_unref(local);
  auto listener = std::make_unique<Listener>();
  listener->socket = socket;
  listener->certificate = certificate ? G_TLS_CERTIFICATE(g_object_ref(certificate)) : nullptr;
  listener->owner = this;
  listeners_.push_back(std::move(listener));
  watch(listeners_.back().get());
  return bound;
}

void Connections::watch(Listener *listener) {
  listener->source = g_socket_create_source(listener->socket, G_IO_IN, nullptr);
  g_source_set_callback(listener->source, G_SOURCE_FUNC(&Connections::on_incoming), listener,
                        nullptr);
  g_source_attach(listener->source, context_);
}

gboolean Connections::on_incoming(GSocket *, GIOCondition, gpointer data) {
  auto *listener = static_cast<Listener *>(data);
  listener->owner->accept_from(listener);
  return G_SOURCE_CONTINUE;
}

void Connections::accept_from(Listener *listener) {
  for (int i = 0; i < kAcceptsPerWake && listener->source; i++) {
    GError *error = nullptr;
    GSocket *socket = g_socket_accept(listener->socket, nullptr, &error);
    if (!socket) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES)) {
        const gint64 now = g_get_monotonic_time();
        if (now - last_full_warning_ > 10 * G_USEC_PER_SEC) {
          last_full_warning_ = now;
          GST_WARNING(
              "no descriptor left for a new connection (%zu open here): not accepting "
              "for a moment; raise the process's limit (ulimit -n, LimitNOFILE=) or "
              "lower max-connections",
              connections_.size());
        }
        pause_accepting();
      }
      g_error_free(error);
      return;
    }
    g_socket_set_blocking(socket, FALSE);
    const std::string peer = peer_of(socket);
    const bool tls = listener->certificate != nullptr;
    if (!take_token(peer, g_get_monotonic_time())) {
      // Past its rate an address is likely flooding: closed at once, costing no more than the
      // accept (a 503 and a lingering close would be work done for the flood).
      g_socket_close(socket, nullptr);
      rate_refused_++;
    } else if (per_address_[peer] >= limits_.max_per_address && !make_room(&peer)) {
      refuse_at_cap(socket, peer, tls, "max-connections-per-address");
    } else if (open_count() >= limits_.max_connections && !make_room(nullptr)) {
      refuse_at_cap(socket, peer, tls, "this server's max-connections");
    } else {
      admit(socket, peer, listener->certificate);
    }
    g_object_unref(socket);
  }
}

size_t Connections::open_count() const {
  return connections_.size() - refused_closing_ - dead_.size();
}

bool Connections::make_room(const std::string *peer) {
  Connection *oldest = nullptr;
  for (auto &[id, entry] : connections_) {
    Connection *c = entry.get();
    const bool before_request = c->state_ == Connection::State::Heading ||
                                c->state_ == Connection::State::Sniffing ||
                                c->state_ == Connection::State::Handshaking;
    if (before_request && c->counted_ && !c->dead_ && (!peer || c->peer_ == *peer) &&
        (!oldest || c->accepted_ < oldest->accepted_))
      oldest = c;
  }
  if (!oldest)
    return false;
  GST_INFO("%s: closed to make room, no request after %.1f s", oldest->peer_.c_str(),
           double(g_get_monotonic_time() - oldest->accepted_) / G_USEC_PER_SEC);
  oldest->finish();  // ours alone: its count goes at once
  return true;
}

void Connections::admit(GSocket *socket, const std::string &peer, GTlsCertificate *certificate) {
  const uint64_t id = next_id_++;
  auto *c = new Connection(this, id, socket, peer);
  connections_.emplace(id, c);
  per_address_[peer]++;
  c->counted_ = true;
  if (certificate) {
    // Woken only once there is enough to tell what the client speaks (or it hung up).
    int needed = int(first_bytes::kNeeded);
    setsockopt(g_socket_get_fd(socket), SOL_SOCKET, SO_RCVLOWAT, &needed, sizeof needed);
    c->certificate_ = certificate;
    c->state_ = Connection::State::Sniffing;
    poller_->add(g_socket_get_fd(socket), c, false);
    c->watched_ = true;
    return;
  }
  c->state_ = Connection::State::Heading;
  poller_->add(g_socket_get_fd(socket), c, false);
  c->watched_ = true;
}

bool Connections::take_token(const std::string &peer, gint64 now) {
  if (limits_.max_rate == 0)
    return true;
  const double burst = 2.0 * limits_.max_rate;
  auto found = rates_.find(peer);
  if (found == rates_.end())
    found = rates_.emplace(peer, Bucket{burst, now}).first;
  Bucket &b = found->second;
  b.tokens =
      std::min(burst, b.tokens + double(now - b.updated) / G_USEC_PER_SEC * limits_.max_rate);
  b.updated = now;
  if (b.tokens < 1)
    return false;
  b.tokens -= 1;
  return true;
}

void Connections::refuse_at_cap(GSocket *socket, const std::string &peer, bool tls,
                                const char *why) {
  GST_INFO("%s: connection refused: %s reached", peer.c_str(), why);
  if (tls || refused_closing_ >= kMaxRefusedClosing) {
    // A 503 over TLS would need a handshake, the work a flood wants us to do: just close.
    g_socket_close(socket, nullptr);
    return;
  }
  const uint64_t id = next_id_++;
  auto *c = new Connection(this, id, socket, peer);
  connections_.emplace(id, c);
  refused_closing_++;
  c->answer_and_close(nullptr,
                      Connection::http_answer(SOUP_STATUS_SERVICE_UNAVAILABLE,
                                              "Too many connections; try again in a moment.\n",
                                              {{"Retry-After", "5"}}));
}

void Connections::pause_accepting() {
  for (auto &listener : listeners_)
    if (listener->source) {
      g_source_destroy(listener->source);
      g_clear_pointer(&listener->source, g_source_unref);
    }
  if (resume_source_)
    return;
  resume_source_ = g_timeout_source_new(250);
  g_source_set_callback(
      resume_source_,
      +[](gpointer self) -> gboolean {
        auto *owner = static_cast<Connections *>(self);
        g_clear_pointer(&owner->resume_source_, g_source_unref);
        for (auto &listener : owner->listeners_)
          if (!listener->source && listener->socket)
            owner->watch(listener.get());
        return G_SOURCE_REMOVE;
      },
      this, nullptr);
  g_source_attach(resume_source_, context_);
}

void Connections::forget(Connection *c) {
  if (c->counted_) {
    auto it = per_address_.find(c->peer_);
    if (it != per_address_.end() && --it->second == 0)
      per_address_.erase(it);
  } else {
    refused_closing_--;
  }
  dead_.push_back(c->id_);
  if (!reap_source_) {
    // Deleted once the dispatch that ended it has returned.
    reap_source_ = g_idle_source_new();
    g_source_set_priority(reap_source_, G_PRIORITY_HIGH);
    g_source_set_callback(reap_source_, &Connections::reap, this, nullptr);
    g_source_attach(reap_source_, context_);
  }
}

gboolean Connections::reap(gpointer self) {
  auto *owner = static_cast<Connections *>(self);
  for (uint64_t id : owner->dead_)
    owner->connections_.erase(id);
  owner->dead_.clear();
  g_clear_pointer(&owner->reap_source_, g_source_unref);
  return G_SOURCE_REMOVE;
}

void Connections::tick(gint64 now) {
  if (rate_refused_) {
    GST_INFO("%" G_GUINT64_FORMAT
             " connections closed at once: their addresses were past "
             "max-connection-rate",
             rate_refused_);
    rate_refused_ = 0;
  }
  // Buckets that have filled up again are forgotten: memory follows the addresses seen lately.
  for (auto it = rates_.begin(); it != rates_.end();)
    it = double(now - it->second.updated) / G_USEC_PER_SEC * limits_.max_rate >=
                 2.0 * limits_.max_rate
             ? rates_.erase(it)
             : std::next(it);
  peak_ = std::max(peak_, connections_.size());
  if (peak_ - connections_.size() >= kTrimAfter && now - last_trim_ >= kTrimIntervalUs) {
    malloc_trim(0);
    last_trim_ = now;
    peak_ = connections_.size();
  }
  const gint64 header_us = gint64(limits_.header_timeout_s) * G_USEC_PER_SEC;
  const gint64 request_us = gint64(limits_.request_timeout_s) * G_USEC_PER_SEC;
  for (auto &[id, entry] : connections_) {
    Connection *c = entry.get();
    if (c->dead_)
      continue;
    switch (c->state_) {
    case Connection::State::Heading:
    case Connection::State::Sniffing:
    case Connection::State::Handshaking:
    case Connection::State::Head:
      if (header_us > 0 && now - c->accepted_ > header_us) {
        GST_INFO("%s: no request within %u s; closed", c->peer_.c_str(), limits_.header_timeout_s);
        c->shut_down();
      }
      break;
    case Connection::State::Request:
      if (request_us > 0 && now - c->since_ > request_us) {
        GST_INFO("%s: request not done within %u s; closed", c->peer_.c_str(),
                 limits_.request_timeout_s);
        c->shut_down();
      }
      break;
    case Connection::State::Closing:
      if (now - c->since_ > Connection::kLingerUs)
        c->finish();
      break;
    case Connection::State::ShutDown:
      if (now - c->since_ > kReleaseGraceUs) {
        GST_WARNING("%s: connection %" G_GUINT64_FORMAT
                    " still held %d s after it ended; "
                    "closing its descriptor anyway",
                    c->peer_.c_str(), c->id_, int(kReleaseGraceUs / G_USEC_PER_SEC));
        c->finish();
      }
      break;
    case Connection::State::Streaming:
    case Connection::State::Stolen: break;
    }
  }
}

void Connections::close_all() {
  for (auto &listener : listeners_) {
    if (listener->source) {
      g_source_destroy(listener->source);
      g_clear_pointer(&listener->source, g_source_unref);
    }
    if (listener->socket) {
      g_socket_close(listener->socket, nullptr);
      g_clear_object(&listener->socket);
    }
    g_clear_object(&listener->certificate);
  }
  if (resume_source_) {
    g_source_destroy(resume_source_);
    g_clear_pointer(&resume_source_, g_source_unref);
  }
  for (auto &[id, c] : connections_) {
    const auto s = c->state_;
    if (s == Connection::State::Heading || s == Connection::State::Sniffing ||
        s == Connection::State::Handshaking || s == Connection::State::Closing)
      c->finish();
  }
}

}  // namespace camcast
