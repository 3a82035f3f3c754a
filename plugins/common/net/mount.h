// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// A mount: one stream at one path of a server, with its clients.
//
// The producer (a sink's streaming thread) only appends GstBuffer refs to the mount's inbox and
// wakes the server thread; everything else — the unit queue, the lag policy, every client and
// every socket write — lives on the server thread. The inbox keeps headers and units in the
// order they were produced.
#pragma once

#include "fanout/unit_queue.h"
#include "formats/ws_frame.h"

#include <libsoup/soup.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace camcast {

class HttpServer;
class Client;

// Why a client went away; the nicks match multihandlesink's GstClientStatus where shared.
enum class ClientStatus { Ok, Closed, Removed, Slow, Error, Timeout };
const char *client_status_nick(ClientStatus status);

struct MountSettings {
  LagPolicy policy;
  guint keepalive_interval = 10;      // s between pings, 0 = no pings
  guint keepalive_pong_timeout = 20;  // s without the pong before the client is dropped
  guint64 timeout = 0;                // ns a client may make no write progress, 0 = no limit
  ws::ParserLimits client_limits{4 * 1024, 16 * 1024, 16};  // control messages are small
  // How WebSocket clients are fed. With Delivery::Pull every binary message starts with 16
  // bytes: the unit's capture time (µs since the epoch, -1 unknown) and its number, both
  // big-endian 64-bit, so a player can show latency and count what it skipped.
  Delivery ws_delivery = Delivery::Stream;
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
  int64_t lag_time = 0;  // ns
  gint64 rtt_us = -1;    // from the last ping/pong, -1 = not measured yet
};

struct MountStats {
  std::string path;
  std::string kind;
  uint64_t units_in = 0;
  uint64_t bytes_in = 0;
  size_t queued_units = 0;
  uint64_t queued_bytes = 0;
  uint64_t clients_total = 0;
  uint64_t units_dropped_in = 0;  // dropped before the fan-out: the server thread fell behind
  std::vector<ClientStats> clients;
};

// What a mount asks of its owner (the sink element). Called on the server thread only.
class MountDelegate {
public:
  virtual ~MountDelegate() = default;
  virtual void client_added(uint64_t id) = 0;
  virtual void client_removed(uint64_t id, ClientStatus status) = 0;
  // Serves GET <path><rest> without a WebSocket upgrade ("" is the mount itself). Returns false
  // for 404.
  virtual bool serve_http(SoupServerMessage *msg, std::string_view rest) = 0;
  // A text or binary message from a client (control protocols); the default ignores it.
  virtual void client_message(uint64_t id, const ws::ClientMessage &msg) {}
  // A POST or PUT to <path><rest>, before its body is read (libsoup's early handler). Return
  // false to refuse uploads here (405). To take the body, turn off its accumulation and read
  // it from the message's got-chunk signal; or set a status to refuse it without reading it.
  virtual bool upload(SoupServerMessage *msg, std::string_view rest) { return false; }
  // Every server tick (a quarter second): timeouts of the delegate's own.
  virtual void tick(gint64 now) {}
};

class Mount {
public:
  Mount(std::string path, std::string kind);
  ~Mount();
  Mount(const Mount &) = delete;
  Mount &operator=(const Mount &) = delete;

  // Units waiting for the server thread beyond this many are dropped, and so is everything up
  // to the next keyframe: a stalled server thread costs frames, never unbounded memory.
  static constexpr size_t kMaxInboxUnits = 256;

  const std::string &path() const { return path_; }
  const std::string &kind() const { return kind_; }

  // ---- any thread ----
  // Queues one message; the buffer is referenced, never copied. `capture_us`: the wall-clock
  // capture time (µs since the epoch), -1 when unknown.
  void push(GstBuffer *buffer, bool keyframe, GstClockTime ts, int64_t capture_us = -1);
  // Replaces the stream header (an empty list removes it), optionally preceded by one text
  // message (stream metadata as JSON, say). Ordered with push().
  void set_stream_header(const std::vector<GstBuffer *> &header, const std::string &text = {});
  void set_settings(const MountSettings &settings);
  // Forgets the queued units (not the stream header): clients wait for the next keyframe.
  // Ordered with push().
  void drop_units();
  // Stats of one client (false if unknown) or of the whole mount; safe from any thread.
  bool client_stats(uint64_t id, ClientStats *out);
  MountStats stats();
  size_t n_clients() const { return n_clients_.load(); }
  uint64_t bytes_served() const { return bytes_served_.load(); }
  // What the shared queue holds now (all clients together).
  size_t queued_units() const { return queued_units_.load(); }
  uint64_t queued_bytes() const { return queued_bytes_.load(); }
  // Closes one client with status Removed.
  bool remove_client(uint64_t id);
  // A public mount needs no credentials on a private server (its page, files and stream).
  void set_public(bool is_public) { public_ = is_public; }
  bool is_public() const { return public_.load(); }

  // ---- server thread (called by HttpServer) ----
  void attach(HttpServer *server, MountDelegate *delegate);
  // Closes every client (status Removed) and stops calling the delegate.
  void detach();
  // Stops calling the delegate; clients stay connected (the mount lingers). adopt() gives it a
  // new delegate, whose stream header and units the clients then receive.
  void release();
  void adopt(MountDelegate *delegate);
  void accept_websocket(GIOStream *stream, GSocket *socket, const std::string &peer);
  // Answers a GET with a multipart/x-mixed-replace stream of this mount's units, each the newest
  // when the client's socket has drained (Delivery::Latest), taking the connection from libsoup;
  // a HEAD with the same head and no body.
  void accept_multipart(SoupServerMessage *msg);
  void tick(gint64 now);
  MountDelegate *delegate() const { return delegate_; }
  HttpServer *server() const { return server_; }
  const MountSettings &settings() const { return settings_; }
  UnitQueue &queue() { return queue_; }
  // Called by a client that has closed: it is deleted once the current dispatch returns.
  void retire(Client *client, ClientStatus status);
  void count_bytes_sent(size_t n) { bytes_served_ += n; }

private:
  struct Command;
  static gboolean inbox_dispatch(gpointer self);
  void drain_inbox();
  void add_client(std::unique_ptr<Client> client);
  void drop_inbox_units();  // with lock_ held
  void fan_out();
  static gboolean reap(gpointer self);
  MountStats stats_on_server_thread();
  // Runs fn on the server thread and waits; false when the mount is not served.
  bool run_on_server(const std::function<void()> &fn);

  const std::string path_;
  const std::string kind_;

  // Producer side. `lock_` protects inbox_ and pending_settings_; never held while calling
  // into libsoup, GStreamer or the delegate.
  std::mutex lock_;
  std::vector<Command> inbox_;
  size_t inbox_units_ = 0;         // units (not headers) in inbox_
  bool inbox_overflowed_ = false;  // dropping until the next keyframe
  std::unique_ptr<MountSettings> pending_settings_;
  GSource *inbox_source_ = nullptr;  // wakes the server thread; set while attached

  // Server thread only.
  HttpServer *server_ = nullptr;
  MountDelegate *delegate_ = nullptr;
  MountSettings settings_;
  UnitQueue queue_;
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Client>> retired_;
  GSource *reap_source_ = nullptr;
  uint64_t clients_total_ = 0;

  void update_gauges();
  std::atomic<uint64_t> units_dropped_in_{0};
  std::atomic<size_t> n_clients_{0};
  std::atomic<size_t> queued_units_{0};
  std::atomic<uint64_t> queued_bytes_{0};
  std::atomic<uint64_t> bytes_served_{0};
  std::atomic<bool> public_{false};
};

}  // namespace camcast
