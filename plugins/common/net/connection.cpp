// One connection: its request head, TLS, the hand-over to libsoup or a viewer, its end
// (connections.h).
#include "net/connections.h"

#include "formats/first_bytes.h"
#include "net/status_phrase.h"

#include <gst/gst.h>

#include <sys/socket.h>

#include <cerrno>

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);
#define GST_CAT_DEFAULT camcast_server_debug

namespace camcast {

namespace {

// A request head larger than this is refused (431); nginx allows 4 × 8 KiB by default.
constexpr size_t kMaxHead = 16 * 1024;

GQuark connection_quark() {
  static GQuark quark = g_quark_from_static_string("camcast-connection");
  return quark;
}

}  // namespace

std::string Connection::http_answer(guint status, const std::string &body,
                                    const std::vector<std::pair<std::string, std::string>> &headers,
                                    const char *content_type) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + status_phrase(status) +
                    "\r\nContent-Type: " + content_type +
                    "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  for (const auto &[name, value] : headers)
    out += name + ": " + value + "\r\n";
  return out + "\r\n" + body;
}

Connection *Connection::of(SoupServerMessage *msg) {
  GSocketAddress *remote = soup_server_message_get_remote_address(msg);
  return remote
             ? static_cast<Connection *>(g_object_get_qdata(G_OBJECT(remote), connection_quark()))
             : nullptr;
}

Connection::Connection(Connections *owner, uint64_t id, GSocket *socket, std::string peer)
    : owner_(owner),
      id_(id),
      socket_(G_SOCKET(g_object_ref(socket))),
      peer_(std::move(peer)),
      since_(g_get_monotonic_time()),
      accepted_(since_) {}

Connection::~Connection() {
  if (remote_) {
    g_object_set_qdata(G_OBJECT(remote_), connection_quark(), nullptr);
    g_object_unref(remote_);
  }
  if (cancellable_)
    g_object_unref(cancellable_);
  g_object_unref(socket_);
}

void Connection::head_received() {
  if (state_ != State::Head)
    return;
  state_ = State::Request;
  since_ = g_get_monotonic_time();
}

void Connection::streaming() {
  if (state_ == State::Head || state_ == State::Request)
    state_ = State::Streaming;
}

bool Connection::hand_off(SoupServerMessage *msg,
                          const std::function<void(const Handoff &)> &take) {
  Connection *c = of(msg);
  GIOStream *stream = c ? soup_server_message_steal_connection(msg) : nullptr;
  if (!stream)
    return false;
  c->state_ = State::Stolen;
  if (take && G_IS_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream)) &&
      G_IS_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream)))
    take({stream, c->socket_, c->peer_});
  else
    g_io_stream_close(stream, nullptr, nullptr);
  g_object_unref(stream);
  return true;
}

void Connection::refuse(SoupServerMessage *msg, guint status, const std::string &body,
                        const std::vector<std::pair<std::string, std::string>> &headers,
                        const char *content_type) {
  GIOStream *stream = soup_server_message_steal_connection(msg);
  if (!stream) {  // not libsoup's to give: let it answer (it reads the body first)
    set_answer(msg, status, content_type, body);
    return;
  }
  answer_and_close(stream, http_answer(status, body, headers, content_type));
}

void Connection::shut_down() {
  if (dead_)
    return;
  switch (state_) {
  case State::Heading:
  case State::Sniffing:
  case State::Handshaking:
  case State::Closing: finish(); return;  // ours alone
  case State::ShutDown: return;
  default: break;
  }
  g_socket_shutdown(socket_, TRUE, TRUE, nullptr);
  state_ = State::ShutDown;
  since_ = g_get_monotonic_time();
}

void Connection::on_fd_events(uint32_t) {
  if (dead_)
    return;
  if (state_ == State::Heading) {
    read_head();
    return;
  }
  if (state_ == State::Sniffing) {
    sniff();
    return;
  }
  if (state_ != State::Closing)
    return;
  // Drop what the client still sends; its end (or enough of it) ends the connection.
  char buf[4096];
  for (int i = 0; i < 4; i++) {
    const ssize_t n = recv(g_socket_get_fd(socket_), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (n <= 0 || (drained_ += size_t(n)) > kLingerBytes) {
      finish();
      return;
    }
  }
}

// Looks at what has come of the request head without taking it (libsoup reads it afterwards);
// until it has all come, waits for more than is there now (SO_RCVLOWAT), however slowly it comes.
void Connection::read_head() {
  uint8_t head[kMaxHead];
  const int fd = g_socket_get_fd(socket_);
  const ssize_t n = recv(fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    finish();
    return;
  }
  if (first_bytes::head_end(head, size_t(n))) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    GIOStream *stream = G_IO_STREAM(g_socket_connection_factory_create_connection(socket_));
    hand_to_soup(stream);
    g_object_unref(stream);
  } else if (size_t(n) >= kMaxHead) {
    answer_and_close(nullptr, http_answer(431, "The request's head is too large.\n"));
  } else {
    int more = int(n) + 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &more, sizeof more);
  }
}

void Connection::sniff() {
  uint8_t first[first_bytes::kNeeded];
  const ssize_t n = recv(g_socket_get_fd(socket_), first, sizeof first, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    finish();
    return;
  }
  switch (first_bytes::classify(first, size_t(n))) {
  case first_bytes::Kind::Tls: {
    int one = 1;
    setsockopt(g_socket_get_fd(socket_), SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    handshake(certificate_);
    return;
  }
  case first_bytes::Kind::TlsTooOld: {
    GST_INFO("%s: refused a client that offers nothing newer than TLS 1.1", peer_.c_str());
    uint8_t alert[7];
    first_bytes::protocol_version_alert(first, size_t(n), alert);
    answer_and_close(nullptr, std::string(reinterpret_cast<char *>(alert), sizeof alert));
    return;
  }
  case first_bytes::Kind::Http:
    answer_and_close(nullptr,
                     http_answer(SOUP_STATUS_BAD_REQUEST,
                                 "This port speaks HTTPS: use https:// in the address.\n"));
    return;
  case first_bytes::Kind::Unknown:
    if (size_t(n) < first_bytes::kNeeded)
      return;  // too little to tell yet (the header timeout bounds the wait)
    finish();
    return;
  }
}

void Connection::handshake(GTlsCertificate *certificate) {
  if (watched_) {
    owner_->poller_->remove(g_socket_get_fd(socket_));
    watched_ = false;
  }
  GIOStream *base = G_IO_STREAM(g_socket_connection_factory_create_connection(socket_));
  GError *error = nullptr;
  // "database" NULL: we ask no client for a certificate, so there is nothing to verify. Left
  // unset, glib-networking (2.74) parses the system's whole CA bundle into a trust list for
  // every connection it is asked to set up: 7 ms of this thread per handshake here (strace),
  // more than the handshake itself (docs/benchmarks.md, "Keep-alive off"). libsoup's own
  // listener sets it to NULL too.
  auto *tls = static_cast<GIOStream *>(g_initable_new(
      g_tls_backend_get_server_connection_type(g_tls_backend_get_default()), nullptr, &error,
      "base-io-stream", base, "certificate", certificate, "database", nullptr, nullptr));
  g_object_unref(base);
  if (!tls) {
    GST_WARNING("%s: cannot start TLS: %s", peer_.c_str(), error->message);
    g_error_free(error);
    finish();
    return;
  }
  handshaking_ = G_TLS_CONNECTION(tls);
  is_tls_ = true;
  // As libsoup sets up its own: browsers often end TLS connections without close_notify.
  g_tls_connection_set_require_close_notify(handshaking_, FALSE);
  const char *protocols[] = {"http/1.1", nullptr};
  g_tls_connection_set_advertised_protocols(handshaking_, protocols);
  cancellable_ = g_cancellable_new();
  state_ = State::Handshaking;
  owner_->handshakes_++;
  // The answer finds the connection by its id: it may have ended meanwhile.
  g_tls_connection_handshake_async(handshaking_, G_PRIORITY_DEFAULT, cancellable_,
                                   &Connection::handshake_done,
                                   new std::pair<Connections *, uint64_t>(owner_, id_));
}

void Connection::handshake_done(GObject *source, GAsyncResult *result, gpointer data) {
  auto *ticket = static_cast<std::pair<Connections *, uint64_t> *>(data);
  Connections *owner = ticket->first;
  const uint64_t id = ticket->second;
  delete ticket;
  owner->handshakes_--;
  GError *error = nullptr;
  const bool ok = g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), result, &error);
  auto it = owner->connections_.find(id);
  Connection *c = it == owner->connections_.end() ? nullptr : it->second.get();
  if (!c || c->dead_) {
    g_clear_error(&error);
    g_object_unref(source);
    return;
  }
  c->handshaking_ = nullptr;
  if (!ok) {
    GST_DEBUG("%s: TLS handshake failed: %s", c->peer_.c_str(), error->message);
    g_error_free(error);
    g_object_unref(source);
    c->finish();
    return;
  }
  // TLS 1.2 and 1.3 only. sniff() turns away hellos that offer nothing newer, but a hello split
  // across records hides its version from it, and GnuTLS's default priorities on Debian 12 still
  // negotiate TLS 1.0 and 1.1: what was negotiated is checked here.
  const GTlsProtocolVersion version =
      g_tls_connection_get_protocol_version(G_TLS_CONNECTION(source));
  if (version != G_TLS_PROTOCOL_VERSION_TLS_1_2 && version != G_TLS_PROTOCOL_VERSION_TLS_1_3) {
    GST_INFO("%s: closed a connection that negotiated a TLS older than 1.2", c->peer_.c_str());
    g_object_unref(source);
    c->finish();
    return;
  }
  c->hand_to_soup(G_IO_STREAM(source));
  g_object_unref(source);
}

void Connection::hand_to_soup(GIOStream *stream) {
  if (watched_) {
    owner_->poller_->remove(g_socket_get_fd(socket_));
    watched_ = false;
  }
  GSocketAddress *local = g_socket_get_local_address(socket_, nullptr);
  remote_ = g_socket_get_remote_address(socket_, nullptr);
  if (!local || !remote_) {  // the client is already gone
    g_clear_object(&local);
    finish();
    return;
  }
  // libsoup keeps this address object and gives it back with every message: of() reads it.
  g_object_set_qdata(G_OBJECT(remote_), connection_quark(), this);
  stream_ = G_OBJECT(stream);
  g_object_weak_ref(stream_, &Connection::stream_released, this);
  state_ = State::Head;
  since_ = g_get_monotonic_time();
  soup_server_accept_iostream(owner_->soup_, stream, local, remote_, nullptr);
  g_object_unref(local);
}

void Connection::answer_and_close(GIOStream *stream, const std::string &answer) {
  if (stream) {
    // On a stream taken from libsoup (TLS included): the answer goes through it.
    closing_ = stream;
    g_pollable_output_stream_write_nonblocking(
        G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream)), answer.data(),
        answer.size(), nullptr, nullptr);
  } else {
    send(g_socket_get_fd(socket_), answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  shutdown(g_socket_get_fd(socket_), SHUT_WR);
  state_ = State::Closing;
  since_ = g_get_monotonic_time();
  if (!watched_) {
    owner_->poller_->add(g_socket_get_fd(socket_), this, false);
    watched_ = true;
  }
}

void Connection::stream_released(gpointer self, GObject *) {
  auto *c = static_cast<Connection *>(self);
  c->stream_ = nullptr;
  c->finish();
}

void Connection::finish() {
  if (dead_)
    return;
  dead_ = true;
  if (watched_) {
    owner_->poller_->remove(g_socket_get_fd(socket_));
    watched_ = false;
  }
  if (cancellable_)
    g_cancellable_cancel(cancellable_);  // a handshake under way: its answer finds us dead
  if (stream_) {
    g_object_weak_unref(stream_, &Connection::stream_released, this);
    stream_ = nullptr;
  }
  if (closing_) {
    g_io_stream_close(closing_, nullptr, nullptr);
    g_clear_object(&closing_);
  }
  g_socket_close(socket_, nullptr);
  owner_->forget(this);
}

/* ---- Connections ---- */

}  // namespace camcast
