// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses framing, fanout, formats.
// One viewer on the server thread: its socket, its cursor into the mount's unit queue (of the
// rendition it is on), and its connection's protocol.
//
// - WebSocket: each unit is one message; the client's frames are parsed (with limits), pings
//   keep it alive, and in Pull delivery a text message `next` asks for one more unit.
// - Multipart: an HTTP response of parts; the client has nothing more to say, only its end
//   matters.
//
// Units are written with one writev of {framing head, mapped payload chunks…, framing tail}
// straight from the shared units (framing/framer.h says what goes around them); control data
// (pong, ping, close) goes between units, never inside one. The socket has TCP_NOTSENT_LOWAT set,
// so "writable" means the kernel's unsent queue is short and a client's lag is visible to the lag
// policy instead of hiding in the kernel.
//
// A stream may come in several renditions (a ladder, fanout/rung_policy.h): a WebSocket viewer
// starts on the one its link carries — before anything of the stream it gets a probe (padding
// it ignores, eight of the connection's segments: TCP's first window takes them at once, and an
// even number is acknowledged without a delayed ACK), timed until acknowledged; a link too
// narrow for the top starts below it, at that rung's next keyframe (asked for at once) —, and
// moves down and up by itself as its link allows — every tick it
// measures its link (its lag, and TCP's delivery rate) and asks its policy; a move waits for the
// new rung's next keyframe (asked for at once), then the new rung's header (its description and
// init segment) and its units follow, so the player sees one stream change size. A viewer may
// pin a rung with the text message "rung N" ("rung auto" lets it go).
//
// A client knows its mount only as a ClientHost, so it can be run (and tested) on any thread
// that has a main context and an epoll set, no server needed.
#pragma once

#include "fanout/rung_policy.h"
#include "fanout/unit_queue.h"
#include "formats/ws_frame.h"
#include "framing/framer.h"
#include "net/epoll_source.h"
#include "net/tcp_link.h"

#include <gio/gio.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace camcast {

// Why a client went away; the nicks match multihandlesink's GstClientStatus where shared.
enum class ClientStatus { Ok, Closed, Removed, Slow, Error, Timeout };
const char *client_status_nick(ClientStatus status);

// How long a client may be stuck or silent, and how much it may send.
struct ClientSettings {
  guint keepalive_interval = 10;      // s between pings, 0 = no pings
  guint keepalive_pong_timeout = 20;  // s without the pong before the client is dropped
  guint64 timeout = 0;                // ns a client may make no write progress, 0 = no limit
  ws::ParserLimits client_limits{4 * 1024, 16 * 1024, 16};  // control messages are small
};

struct ClientStats {
  uint64_t id = 0;
  std::string peer;
  gint64 connect_time = 0;  // real time, µs since the epoch
  gint64 connected_us = 0;  // how long it has been connected
  uint64_t bytes_sent = 0;
  uint64_t units_sent = 0;
  uint64_t units_skipped = 0;
  uint64_t recoveries = 0;
  int64_t lag_units = 0;  // in buffers
  int64_t lag_bytes = 0;
  int64_t lag_time = 0;   // ns
  gint64 rtt_us = -1;     // from the last ping/pong, -1 = not measured yet
  size_t rung = 0;        // the rendition it is on
  int pinned = -1;        // the rung it asked for, -1 = none (it moves by itself)
  uint64_t link_bps = 0;  // its link as TCP measured it lately, 0 = not known
  uint64_t rung_changes = 0;
};

class Client;

// What a client needs of the mount it belongs to. Called on the client's thread only.
class ClientHost {
public:
  // The queue of rendition `rung` (0, the top, always exists).
  virtual UnitQueue &queue(size_t rung) = 0;
  virtual size_t n_rungs() const = 0;
  // Each rung's bitrate (bits/s, 0 = not known yet), top first.
  virtual const std::vector<uint64_t> &rung_bitrates() const = 0;
  // The client moves to `rung`: its next keyframe should come now.
  virtual void keyframe_wanted(size_t rung) = 0;
  virtual const ClientSettings &client_settings() const = 0;
  virtual EpollSource *poller() = 0;
  virtual void sent(size_t bytes) = 0;
  // A message the client's protocol does not answer itself (a sink's control protocol).
  virtual void message(uint64_t id, const ws::ClientMessage &msg) = 0;
  // The client has closed: the host deletes it once the current dispatch returns.
  virtual void closed(Client *client, ClientStatus status) = 0;

protected:
  ~ClientHost() = default;
};

class Client : public FdWatcher {
public:
  // The framer's preamble (the HTTP response head of a multipart client) is written first.
  // `pinned` >= 0: a WebSocket viewer's rung to stay on, from the start (its ?rung=N).
  Client(ClientHost *host, uint64_t id, GIOStream *stream, GSocket *socket, std::string peer,
         std::unique_ptr<Framer> framer, Delivery delivery, int pinned = -1);
  ~Client() override;
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  uint64_t id() const { return id_; }
  const std::string &peer() const { return peer_; }
  ClientCursor cursor;

  // Starts reading and writing (the host has attached the cursor).
  void start();
  // Writes as much as the socket takes; does nothing while waiting for it to drain.
  void flush();
  bool blocked() const { return want_write_; }
  bool closed() const { return closed_; }
  // Keepalive, pong timeout and write timeout.
  void tick(gint64 now);
  // Best-effort close frame, then the socket is closed and the host retires this client.
  void close(ClientStatus status, uint16_t code, const char *reason);
  // The rendition it is on, and the one it is moving to (or the same).
  size_t rung() const { return rung_; }
  size_t next_rung() const { return next_ ? next_rung_ : rung_; }
  // Detaches its cursors from the queues (the host, as it retires the client).
  void leave_queues();

  void fill_stats(ClientStats *out) const;

private:
  // One thing to write, whole: control bytes, or a unit with its framing.
  struct Pending {
    std::string control;   // a control frame (or a preamble); empty for a unit
    UnitRef unit;          // null for control data alone
    bool padding = false;  // a probe of the link, not counted against the control budget
    Framed framed;         // the unit's head and tail on this connection
    size_t offset = 0;     // bytes of it already written
    size_t size() const;
  };
  void on_fd_events(uint32_t events) override;
  void on_readable();
  void read_messages();
  bool take_message_token();
  void handle(const ws::ClientMessage &msg);
  // Queues control bytes to go between units; false (and the client closed) past its budget.
  bool queue_control(std::string frame);
  void set_want_write(bool want);
  // Tops the pending list up with units from the queue, then one writev; false when the client
  // must wait (socket full) or has closed.
  bool write_batch();
  // Adds the units the queue has for this client to the pending list, up to one batch.
  void top_up();
  // The pending bytes not yet written, as pieces for one writev (at most kMaxIov); their count.
  size_t gather(GOutputVector *iov) const;
  // Whether this client is a stream viewer of a WebSocket, whose link is measured; `link` gets
  // what the kernel knows of it now.
  bool read_link(TcpLink *link) const;
  // A ladder's viewer over TCP: the probe of its link that tells the rung it starts on.
  void begin_join();
  // The probe's measure (bits/s; 0: none, the top): the rung it starts on, a move to it.
  void start_on(uint64_t bps);
  // Asks the rung policy where this viewer should be, and starts or drops a move. `link`: as
  // read_link gave it (nullptr: unknown).
  void choose_rung(gint64 now, const TcpLink *link);
  // How far behind the viewer is, as far as the server can tell (µs): the age, against the newest
  // unit of its rung, of the oldest unit its TCP has not acknowledged, less a round trip — what
  // the kernel took (unsent, in flight, to be resent) hides its lag from the queue's.
  int64_t delivered_lag(const TcpLink &link);
  // Tells a player once when TCP has had to resend a share of what it sent (kLossyShare): on
  // such a link it plays better over WebRTC, where the stream has a WHEP endpoint.
  void note_loss(gint64 now, const TcpLink &link);
  void move_to(size_t rung);
  // A move whose keyframe has come: the client is on the new rung from now.
  void finish_move();
  // Sends `bytes` of padding the player ignores (an ISO BMFF 'free' box in a binary message): a
  // burst whose delivery shows the link's speed (RungPolicy::probe_size).
  void send_probe(size_t bytes);
  // Counts the spell of backlog under way (if any) up to now; `backlogged`: one goes on, or
  // begins, from now (a write came up short: the kernel holds more than it can send), else the
  // socket is writable again.
  void measure_backlog(bool backlogged);
  // A probe under way: whether the peer has acknowledged it all yet (then its time is the
  // link's speed, told to the policy).
  gboolean poll_train();
  void stop_train();

  ClientHost *host_;
  const uint64_t id_;
  const std::string peer_;
  const std::unique_ptr<Framer> framer_;
  const bool websocket_;
  GIOStream *stream_;
  GSocket *socket_;
  GPollableInputStream *in_;
  GPollableOutputStream *out_;
  EpollSource *poller_ = nullptr;  // the host's, while started and not closed
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
  struct Written {
    uint64_t end;     // in bytes_sent_
    GstClockTime ts;  // the unit's
  };
  std::deque<Written> written_;  // a ladder's viewer: units written, not known acknowledged
  double message_tokens_ = 200;  // see kMaxMessagesPerSecond
  gint64 tokens_updated_ = g_get_monotonic_time();
  // Renditions: the one it is on, a move under way (its cursor waits in the new rung's queue
  // for a keyframe), and what it asked for.
  size_t rung_ = 0;
  std::unique_ptr<ClientCursor> next_;
  size_t next_rung_ = 0;
  int pinned_ = -1;
  // Joining (begin_join): nothing of a rung goes until the rung it starts on is known and, below
  // the top, its keyframe has come (within kJoinMaxUs; then the top).
  bool joined_ = true;
  bool join_probed_ = false;
  gint64 join_since_ = 0;
  RungPolicy policy_;
  uint64_t link_bps_ = 0;
  uint64_t rung_changes_ = 0;
  int lowat_ = -1;  // TCP_NOTSENT_LOWAT as set for the link (a ladder's clients)
  // What TCP resent to it, counted over this many segments or this long; said to the player
  // once (note_loss()).
  static constexpr uint32_t kLossyWindowSegments = 500;
  static constexpr gint64 kLossyWindowUs = 10 * G_USEC_PER_SEC;
  LossWindow resends_{kLossyWindowSegments, kLossyWindowUs};
  bool said_lossy_ = false;
  // The link's speed as it shows while the kernel holds more than it can send (a keyframe, a
  // probe, a rung too wide): from a short write to the next writable event, the bytes the peer
  // acknowledged, summed over the spells since the last tick. TCP's own delivery-rate samples
  // are not used: taken a few packets at a time, a token bucket on the way (tc tbf; Wi-Fi
  // aggregation) made them read ten times the link and more.
  gint64 backlog_since_ = -1;  // the spell under way began then, with this much acknowledged
  uint64_t backlog_acked_ = 0;
  uint64_t backlog_bytes_ = 0;
  gint64 backlog_us_ = 0;
  bool backlog_queued_ = false;  // the round trip showed a queue in it
  // The kernel's count at the last tick (when, acknowledged, held): a tick through which it held
  // more than was acknowledged never ran dry (LinkSample::draining_bps).
  gint64 tick_at_ = -1;
  uint64_t tick_acked_ = 0;
  uint32_t tick_queued_ = 0;
  // The probe under way: sent then, the peer's acknowledged bytes from and to, and the source
  // that looks (null: none).
  gint64 train_since_ = 0;
  uint64_t train_from_ = 0;
  uint64_t train_to_ = 0;
  GSource *train_poll_ = nullptr;
  // When its first acknowledgement was seen, and how much was acknowledged then (-1: not yet).
  gint64 train_first_at_ = -1;
  uint64_t train_first_acked_ = 0;
};

}  // namespace camcast
