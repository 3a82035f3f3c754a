// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// One viewer on the server thread: its socket, its cursor into the mount's unit queue, and how
// units are framed on its connection.
//
// - WebSocket: each unit is one binary message; the client's frames are parsed (with limits),
//   pings keep it alive, and in Pull delivery a text message `next` asks for one more unit.
// - Multipart: an HTTP `multipart/x-mixed-replace` response (MJPEG for <img>): each unit is one
//   part. After each part the next boundary goes out at once: Chrome draws a part only when it
//   sees the next boundary (crbug 527446; µStreamer's "advance headers").
//
// Units are written with one writev of {framing, mapped payload chunks…} straight from the shared
// units; control data (pong, ping, close) goes between units, never inside one. The socket has
// TCP_NOTSENT_LOWAT set, so "writable" means the kernel's unsent queue is short and a client's
// lag is visible to the lag policy instead of hiding in the kernel.
#pragma once

#include "formats/ws_frame.h"
#include "net/epoll_source.h"
#include "net/mount.h"

#include <gio/gio.h>

#include <deque>
#include <string>

namespace camcast {

enum class Framing { WebSocket, Multipart };

// The multipart boundary (RFC 2046 §5.1.1) of every Multipart response.
constexpr const char *kMultipartBoundary = "camcast-frame";

class Client : public FdWatcher {
public:
  // `preamble` is written first (the HTTP response head of a Multipart client).
  Client(Mount *mount, uint64_t id, GIOStream *stream, GSocket *socket, std::string peer,
         Framing framing, Delivery delivery, std::string preamble = {});
  ~Client() override;
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  uint64_t id() const { return id_; }
  const std::string &peer() const { return peer_; }
  ClientCursor cursor;

  // Starts reading and writing (the mount has attached the cursor).
  void start();
  // Writes as much as the socket takes; does nothing while waiting for it to drain.
  void flush();
  bool blocked() const { return want_write_; }
  bool closed() const { return closed_; }
  // Keepalive, pong timeout and write timeout.
  void tick(gint64 now);
  // Best-effort close frame, then the socket is closed and the mount retires this client.
  void close(ClientStatus status, uint16_t code, const char *reason);

  void fill_stats(ClientStats *out) const;

private:
  // One thing to write, whole: control bytes, then a unit's payload, then the multipart tail.
  struct Pending {
    std::string control;  // a control frame, or the framing a unit needs on this connection
    UnitRef unit;         // null for control data alone
    bool tail = false;    // the next multipart boundary follows the unit
    size_t offset = 0;    // bytes of it already written
    size_t size() const;
  };
  Pending framed(UnitRef unit) const;
  void on_fd_events(uint32_t events) override;
  void on_readable();
  void read_messages();
  bool take_message_token();
  void handle(const ws::ClientMessage &msg);
  // Queues control bytes to go between units; false (and the client closed) past its budget.
  bool queue_control(std::string frame);
  void set_want_write(bool want);

  Mount *mount_;
  const uint64_t id_;
  const std::string peer_;
  const Framing framing_;
  GIOStream *stream_;
  GSocket *socket_;
  GPollableInputStream *in_;
  GPollableOutputStream *out_;
  EpollSource *poller_ = nullptr;  // the server's, while started and not closed
  bool want_write_ = false;
  bool closed_ = false;
  bool close_after_flush_ = false;
  ws::FrameParser parser_;
  std::deque<Pending> pending_;  // whole frames being written, in order

  const gint64 connect_time_;  // real time, µs
  const gint64 connect_mono_;  // monotonic, µs
  gint64 last_progress_;       // last successful write, monotonic µs
  gint64 ping_sent_ = 0;       // when the outstanding ping left, 0 = none outstanding
  gint64 last_ping_ = 0;
  gint64 rtt_us_ = -1;
  uint64_t bytes_sent_ = 0;
  double message_tokens_ = 200;  // see kMaxMessagesPerSecond
  gint64 tokens_updated_ = g_get_monotonic_time();
};

}  // namespace camcast
