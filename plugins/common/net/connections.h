// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// Every TCP connection of a server, from accept() until its descriptor is released.
//
// This is where camcast works around libsoup 3.2.3 (Debian 12, Raspberry Pi OS Bookworm), and the
// only place:
//
// - libsoup 3.2.3 leaks every keep-alive connection that the client closes. After a response the
//   connection waits for the next request on a message that has no completion callback; when the
//   client closes instead, nothing disconnects it, and the socket stays in CLOSE-WAIT for ever
//   (upstream fix d20c6601, "server: do not leak idle connections closed by the client", first in
//   3.3.0; measured here: 200 page loads, 200 descriptors gone; ~1,000 and the port is dead).
//   A SoupServer without listeners of its own never keeps a connection alive (request_finished()
//   in soup-server.c disconnects unless the server has listeners), and disconnecting is the path
//   that frees everything. So we listen and accept ourselves and hand each connection over with
//   soup_server_accept_iostream(): libsoup serves exactly one request on it, then lets it go.
//   Every response says "Connection: close" so clients know. The cost is one TCP connection per
//   request (docs/benchmarks.md); viewers' streams are unaffected (they are one connection each).
// - libsoup reads a request's whole body before any handler can refuse it, even when an early
//   handler has set the answer: refuse() takes the connection from libsoup, answers it itself
//   and closes, reading nothing of the body.
// - libsoup has no timeouts and no limits: this layer caps connections per server and per client
//   address (503 beyond them), and how many one address may open a second (a client that
//   reconnects as fast as it can would otherwise take the server thread for itself: its CPU
//   share is bounded too), and ends a connection whose TLS handshake and request head take
//   longer than `header_timeout_s`, or whose request and answer take longer than
//   `request_timeout_s` (uploads and viewers' streams excepted: their owners bound them).
// - A request's head is waited for here, in the server's epoll set, and only a whole one (16 KiB at
//   most) goes to libsoup: GLib polls every source on every turn of the server's loop, and a few
//   hundred half-open requests in libsoup's hands would slow every frame to every viewer.
// - TLS is ours too, before libsoup: the first bytes are looked at (first_bytes.h): plain HTTP on
//   an HTTPS port is answered in plain words, a client that offers nothing newer than TLS 1.1 gets
//   a protocol_version alert; the rest are handshaken here, under the header timeout.
//
// A connection is ours until its stream is released — libsoup is done with it, or whoever took it
// (a WebSocket or MJPEG viewer, an upload) closed it: a weak reference on the stream says when,
// and only then is the descriptor freed and the connection forgotten. So the count here is the
// count of descriptors in use, and a leak anywhere shows up as a connection that never ends.
//
// Server thread only.
#pragma once

#include "net/epoll_source.h"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace camcast {

// Who listens on TCP `port` of this machine: "NAME (process N)", or "" when it cannot be seen (a
// process of another user, no /proc). Looked up only to explain a port in use.
std::string port_holder(int port);

// Sized for a Raspberry Pi serving a household; see README "Running it on a network".
struct ConnectionLimits {
  guint max_connections = 256;   // open connections per server, viewers included
  guint max_per_address = 32;    // open connections from one client address
  guint header_timeout_s = 10;   // from connect: TLS handshake and the request head complete
  guint request_timeout_s = 30;  // from the head: body and answer (not uploads, not streams)
  guint max_rate = 20;           // new connections a second from one address (twice in a burst)
  bool operator==(const ConnectionLimits &o) const {
    return max_connections == o.max_connections && max_per_address == o.max_per_address &&
           header_timeout_s == o.header_timeout_s && request_timeout_s == o.request_timeout_s &&
           max_rate == o.max_rate;
  }
  bool operator!=(const ConnectionLimits &o) const { return !(*this == o); }
};

class Connections;

class Connection final : public FdWatcher {
public:
  // The connection a request arrived on; null for a request that did not come through here.
  static Connection *of(SoupServerMessage *msg);

  uint64_t id() const { return id_; }
  GSocket *socket() const { return socket_; }
  // The client's address (an IP address, no port).
  const std::string &peer() const { return peer_; }
  bool tls() const { return is_tls_; }

  // The request's head has been read: from now on its request timeout counts.
  void head_received();
  // The request streams in (an upload): its owner bounds its time, not the request timeout.
  void streaming();
  // A connection taken from libsoup for good, for a viewer: its stream (pollable both ways; the
  // taker keeps a reference of its own), socket and client address.
  struct Handoff {
    GIOStream *stream;
    GSocket *socket;
    const std::string &peer;
  };
  // Takes the connection of `msg` from libsoup (a WebSocket after its 101, a stream of our own)
  // and gives it to `take`; when `take` is empty or the stream is not pollable, closes it. False
  // when the connection was not libsoup's to give. Call from a handler of `msg`.
  static bool hand_off(SoupServerMessage *msg, const std::function<void(const Handoff &)> &take);
  // Answers `msg` without libsoup — "HTTP/1.1 status", a short `body` and `headers` — and
  // closes: for refusals before a body, which libsoup would otherwise read whole first.
  void refuse(SoupServerMessage *msg, guint status, const std::string &body,
              const std::vector<std::pair<std::string, std::string>> &headers = {},
              const char *content_type = "text/plain; charset=utf-8");
  // Ends it now: the peer sees the end, and whoever has the connection cleans up.
  void shut_down();

  ~Connection() override;

private:
  friend class Connections;
  enum class State {
    Heading,      // HTTP: the request head arriving, watched here until it has all come
    Sniffing,     // HTTPS: waiting for the first bytes
    Handshaking,  // HTTPS: TLS handshake under way
    Head,         // libsoup has it, reading the request head
    Request,      // libsoup has it, the head read
    Streaming,    // libsoup has it, an upload its owner bounds
    Stolen,       // someone else has it (a viewer) until they release the stream
    Closing,      // ours: an answer written, the rest of what the client sends read and dropped
    ShutDown,     // ended by us; waiting for libsoup or the owner to release it
  };

  // A lingering close reads and drops what the client still sends for at most this long and
  // this much, so that the client reads our answer rather than a reset (RFC 9112 §9.6).
  static constexpr gint64 kLingerUs = 2 * G_USEC_PER_SEC;
  static constexpr size_t kLingerBytes = 64 * 1024;
  // "HTTP/1.1 STATUS REASON" with a short text body, closing the connection.
  static std::string http_answer(
      guint status, const std::string &body,
      const std::vector<std::pair<std::string, std::string>> &headers = {},
      const char *content_type = "text/plain; charset=utf-8");

  Connection(Connections *owner, uint64_t id, GSocket *socket, std::string peer);
  void on_fd_events(uint32_t events) override;
  void sniff();
  void read_head();
  void handshake(GTlsCertificate *certificate);
  static void handshake_done(GObject *source, GAsyncResult *result, gpointer data);
  void hand_to_soup(GIOStream *stream);
  // Writes `answer` on `stream` (or the raw socket when null) and closes lingering: what the
  // client still sends is read and dropped for a moment, so that it reads the answer instead of
  // a reset.
  void answer_and_close(GIOStream *stream, const std::string &answer);
  void finish();  // the end: descriptor closed, forgotten at the next reap
  static void stream_released(gpointer self, GObject *stream);

  Connections *owner_;
  const uint64_t id_;
  GSocket *socket_;
  const std::string peer_;
  State state_ = State::Head;
  gint64 since_;           // when the current state began (monotonic µs)
  const gint64 accepted_;  // monotonic µs
  bool counted_ = false;   // counted against the caps (not a refusal at the cap)
  bool is_tls_ = false;
  GTlsCertificate *certificate_ = nullptr;  // Sniffing: the listener's (it outlives us)
  GTlsConnection *handshaking_ = nullptr;   // Handshaking: the connection being set up
  GCancellable *cancellable_ = nullptr;
  GSocketAddress *remote_ = nullptr;  // handed to libsoup; maps its messages back here
  GObject *stream_ = nullptr;         // weakly: the stream libsoup or a stealer holds
  GIOStream *closing_ = nullptr;      // Closing: the stream we answered on, closed at the end
  size_t drained_ = 0;                // Closing: bytes read and dropped
  bool watched_ = false;              // in the server's epoll set
  bool dead_ = false;
};

class Connections {
public:
  Connections(GMainContext *context, SoupServer *soup, EpollSource *poller,
              const ConnectionLimits &limits);
  ~Connections();
  Connections(const Connections &) = delete;
  Connections &operator=(const Connections &) = delete;

  // Listens on address:port (0: any free port); with `certificate`, HTTPS. Returns the port, or -1
  // with `error` in words a person can act on.
  int listen(const std::string &address, int port, GTlsCertificate *certificate, GError **error);
  // Timeouts; every server tick.
  void tick(gint64 now);
  // Stops accepting and ends every connection still ours (before the server goes).
  void close_all();
  size_t count() const { return connections_.size(); }
  // TLS handshakes still to hear back from (the server waits for them before it goes).
  int handshakes() const { return handshakes_; }

private:
  friend class Connection;
  struct Listener {
    GSocket *socket = nullptr;
    GSource *source = nullptr;
    GTlsCertificate *certificate = nullptr;
    Connections *owner = nullptr;
  };
  void watch(Listener *listener);
  static gboolean on_incoming(GSocket *socket, GIOCondition, gpointer listener);
  void accept_from(Listener *listener);
  void admit(GSocket *socket, const std::string &peer, GTlsCertificate *certificate);
  void refuse_at_cap(GSocket *socket, const std::string &peer, bool tls, const char *why);
  // Connections counted against the caps, open now.
  size_t open_count() const;
  // At a cap: closes the oldest connection (of `peer`, if given) that has not sent its request
  // yet and is ours alone (its head arriving, its TLS hello, its handshake), so that connections
  // left half-open cannot keep new ones out; false when there is none.
  bool make_room(const std::string *peer);
  // Takes one of `peer`'s new-connection tokens (a bucket of max_rate a second, twice that at
  // most); false when it has none left.
  bool take_token(const std::string &peer, gint64 now);
  void forget(Connection *c);  // at the next reap
  static gboolean reap(gpointer self);
  void pause_accepting();

  GMainContext *context_;
  SoupServer *soup_;
  EpollSource *poller_;
  const ConnectionLimits limits_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::map<std::string, guint> per_address_;
  struct Bucket {
    double tokens;
    gint64 updated;  // monotonic µs
  };
  std::map<std::string, Bucket> rates_;
  std::vector<uint64_t> dead_;
  GSource *reap_source_ = nullptr;
  GSource *resume_source_ = nullptr;  // accepting again after running out of descriptors
  gint64 last_full_warning_ = 0;
  uint64_t next_id_ = 1;
  size_t refused_closing_ = 0;  // connections refused at the caps, being closed
  size_t peak_ = 0;             // most connections since memory was last given back
  uint64_t rate_refused_ = 0;   // closed at accept past max-connection-rate (logged each tick)
  gint64 last_trim_ = 0;
  int handshakes_ = 0;
};

}  // namespace camcast
