// One WebSocket viewer on the server thread: its socket, its cursor into the mount's unit queue,
// the client frames it sends, and keepalive.
//
// Data frames are written with one writev of {frame header, mapped payload chunks…} straight
// from the shared units; control frames (pong, ping, close) go between data frames, never inside
// one. The socket has TCP_NOTSENT_LOWAT set, so "writable" means the kernel's unsent queue is
// short and a client's lag is visible to the lag policy instead of hiding in the kernel.
#pragma once

#include "mount.h"
#include "ws_frame.h"

#include <gio/gio.h>

#include <deque>
#include <string>

namespace camcast {

class WsClient {
public:
  WsClient(Mount *mount, uint64_t id, GIOStream *stream, GSocket *socket, std::string peer);
  ~WsClient();
  WsClient(const WsClient &) = delete;
  WsClient &operator=(const WsClient &) = delete;

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
  // Queues a text message to this client (control protocols).
  void send_text(const std::string &text);

  void fill_stats(ClientStats *out) const;

private:
  struct Pending {
    UnitRef unit;          // a data frame, or
    std::string control;   // a whole control frame
    size_t offset = 0;     // bytes of it already written
    size_t size() const { return unit ? unit->wire_size() : control.size(); }
  };
  void on_readable();
  void handle(const ws::ClientMessage &msg);
  void queue_control(std::string frame);
  void set_want_write(bool want);

  Mount *mount_;
  const uint64_t id_;
  const std::string peer_;
  GIOStream *stream_;
  GSocket *socket_;
  GPollableInputStream *in_;
  GPollableOutputStream *out_;
  GSource *source_ = nullptr;
  gpointer fd_tag_ = nullptr;
  bool want_write_ = false;
  bool closed_ = false;
  bool close_after_flush_ = false;
  ws::FrameParser parser_;
  std::deque<Pending> pending_;       // whole frames being written, in order

  const gint64 connect_time_;         // real time, µs
  const gint64 connect_mono_;         // monotonic, µs
  gint64 last_progress_;              // last successful write, monotonic µs
  gint64 ping_sent_ = 0;              // when the outstanding ping left, 0 = none outstanding
  gint64 last_ping_ = 0;
  gint64 rtt_us_ = -1;
  uint64_t bytes_sent_ = 0;
};

}  // namespace camcast
