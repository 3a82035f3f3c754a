// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses framing, fanout, formats.
// A mount: one stream at one path of a server, with its clients.
//
// The producer (a sink's streaming thread) only appends GstBuffer refs to the mount's inbox and
// wakes the server thread; everything else — the unit queue, the lag policy, every client and
// every socket write — lives on the server thread. The inbox keeps headers and units in the
// order they were produced.
//
// A mount knows the server it runs on only as a MountContext (a main context, an epoll set, a
// way to run code there), so it can be run (and tested) without one.
#pragma once

#include "access/access.h"
#include "fanout/bitrate_meter.h"
#include "fanout/drop_gate.h"
#include "fanout/unit_queue.h"
#include "formats/ws_frame.h"
#include "net/client.h"
#include "net/connections.h"

#include <libsoup/soup.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace camcast {

class Mount;

struct MountSettings : ClientSettings {
  LagPolicy policy;
  // How WebSocket clients are fed; with Delivery::Pull each binary message starts with the
  // unit's capture time and number (framing/framer.h, WebSocketFramer).
  Delivery ws_delivery = Delivery::Stream;
};

// One rendition of a mount's stream, as statistics see it.
struct RungStats {
  uint64_t bitrate = 0;  // bits/s over the last seconds it ran (the last it had, when idle)
  size_t viewers = 0;    // clients on it, or switching to it
};

struct MountStats {
  std::string path;
  std::string kind;
  std::vector<RungStats> rungs;  // one per rendition; a stream without a ladder has one
  uint64_t units_in = 0;
  uint64_t bytes_in = 0;
  size_t queued_units = 0;
  uint64_t queued_bytes = 0;
  uint64_t clients_total = 0;
  uint64_t units_dropped_in = 0;  // dropped before the fan-out: the server thread fell behind
  bool idle = false;              // the output does no work while nobody watches
  std::vector<ClientStats> clients;
  // What the delegate adds to the stream's entry in /api/streams (fill_stats): name → a JSON
  // value (a recording's state: "recording" → {"writing":…,"gaps":…}).
  std::map<std::string, std::string> json_fields;
};

// What a mount asks of its owner (the sink element). Called on the server thread only; what is
// not overridden does nothing.
class MountDelegate {
public:
  virtual ~MountDelegate() = default;
  // The mount serves through this delegate from now (attach, adopt), or no longer (null: detach,
  // release; what the delegate holds of the mount's goes now, while the mount still hears it).
  virtual void serving(Mount *mount) {}
  virtual void client_added(uint64_t id) {}
  virtual void client_removed(uint64_t id, ClientStatus status) {}
  // Serves GET <path><rest> without a WebSocket upgrade ("" is the mount itself), and the
  // methods body_limit() takes. Returns false for 404.
  virtual bool serve_http(SoupServerMessage *msg, std::string_view rest) = 0;
  // A request for the server's root with a query (`/?QUERY`) that this stream answers in place
  // of the index: mjpg-streamer's `/?action=stream` and `/?action=snapshot`, which 3D-printer
  // hosts ask for. The first mount (in path order) that answers, does. Default: none.
  virtual bool serve_root(SoupServerMessage *msg, std::string_view query) { return false; }
  // A request to /api/<name>[/…] that the server does not answer itself (/api/streams and
  // /api/token are its own): recordsink's /api/recordings. `rest` is what follows /api
  // ("/recordings"). The first mount (in path order) that answers, does; the request has
  // passed access control as one for a private page. Default: none.
  virtual bool serve_api(SoupServerMessage *msg, std::string_view rest) { return false; }
  // A text or binary message from a client (control protocols); the default ignores it.
  virtual void client_message(uint64_t id, const ws::ClientMessage &msg) {}
  // A POST or PUT to <path><rest>, before its body is read (libsoup's early handler). Return
  // false to refuse uploads here (405). To take the body, turn off its accumulation and read
  // it from the message's got-chunk signal; or set a status to refuse it without reading it.
  virtual bool upload(SoupServerMessage *msg, std::string_view rest) { return false; }
  // Methods besides GET and HEAD that serve_http() answers at <path><rest> (a WHEP endpoint's
  // POST, PATCH, DELETE and OPTIONS): the largest body such a request may bring, which is read
  // whole once access control has let it in; -1 refuses the method (405).
  virtual goffset body_limit(std::string_view method, std::string_view rest) { return -1; }
  // Whether WebSocket viewers may join (a WebRTC endpoint has none to feed them).
  virtual bool takes_websocket() const { return true; }
  // Whether the delegate checks each request's credentials itself (ONVIF signs every request
  // with WS-Security): the server's access control then lets requests to it in as it does a
  // public stream's, the Host check still made.
  virtual bool checks_access() const { return false; }
  // The name the mount of a stream at `path` goes by in its server's table: the path itself, or,
  // for a stream served over another protocol on a port of its own (RTSP), its address there
  // (`rtsp://:8554/video`), which no HTTP request reaches, so that a browser stream can have
  // the same path. Asked once, before the mount is added.
  virtual std::string listed_at(const std::string &path) const { return path; }
  // Every server tick (a quarter second): timeouts of the delegate's own.
  virtual void tick(gint64 now) {}
  // A client is moving to rendition `rung`: its next keyframe should come now, not a GOP later.
  virtual void keyframe_wanted(size_t rung) {}
  // A request waits for the next unit (serve_next): an idle producer should wake for it.
  virtual void unit_wanted() {}
  // Adds what the mount does not see itself to its statistics (a publish point: what came in).
  virtual void fill_stats(MountStats *stats) {}
};

// Runs fn on the thread of `context` soon (at once when called there), or never if the context
// goes first (fn is destroyed unrun then).
void run_soon(GMainContext *context, std::function<void()> fn);

// How access control let `msg` in (HttpServer::admit): a delegate that changes something asks
// who is asking (a stream token only watches).
Admission admission_of(SoupServerMessage *msg);

// `?rung=N` in a viewer's request (the player's ?rung=N): the rung of a ladder it stays on from
// the start, -1 if none (it moves by itself). Up to 255; the mount keeps it to the rungs there are.
int pinned_rung(SoupServerMessage *msg);

// Where a mount runs: a thread's main context, the epoll set its clients' sockets join there, and
// a way for other threads to run code on it. HttpServer is one.
class MountContext {
public:
  virtual GMainContext *context() const = 0;
  virtual EpollSource *poller() = 0;
  // Runs fn on the context's thread and returns when it has run.
  virtual void invoke_sync(const std::function<void()> &fn) = 0;

protected:
  ~MountContext() = default;
};

class Mount final : private ClientHost {
public:
  Mount(std::string path, std::string kind);
  ~Mount();
  Mount(const Mount &) = delete;
  Mount &operator=(const Mount &) = delete;

  // Units waiting for the server thread beyond these bounds are dropped, and so is everything up
  // to the next keyframe (fanout/drop_gate.h): a stalled server thread costs frames, never
  // unbounded memory.
  static constexpr size_t kMaxInboxUnits = 256;
  static constexpr uint64_t kMaxInboxBytes = 64 * 1024 * 1024;
  // Renditions of the stream (a ladder, rung 0 the top) at most: units for rung N go to a queue
  // of their own, and each client is on one rung at a time (fanout/rung_policy.h).
  static constexpr size_t kMaxRungs = 4;

  const std::string &path() const { return path_; }
  const std::string &kind() const { return kind_; }

  // ---- any thread ----
  // Queues one message of rendition `rung` (below kMaxRungs); the buffer is referenced, never
  // copied. `capture_us`: the wall-clock capture time (µs since the epoch), -1 when unknown.
  void push(GstBuffer *buffer, bool keyframe, GstClockTime ts, int64_t capture_us = -1,
            size_t rung = 0);
  // Replaces the stream header of rendition `rung` (an empty list removes it), optionally
  // preceded by one text message (stream metadata as JSON, say). Ordered with push(). A client
  // that moves to another rung gets that rung's header first.
  void set_stream_header(const std::vector<GstBuffer *> &header, const std::string &text = {},
                         size_t rung = 0);
  void set_settings(const MountSettings &settings);
  // Forgets the queued units (not the stream header): clients wait for the next keyframe.
  // Ordered with push().
  void drop_units();
  // Stats of one client (false if unknown) or of the whole mount; safe from any thread.
  bool client_stats(uint64_t id, ClientStats *out);
  MountStats stats();
  // Its viewers: the clients it feeds and those served elsewhere (add_viewer).
  size_t n_clients() const { return n_clients_.load(); }
  // Everyone the stream is for now: its viewers, and the requests waiting for a unit.
  size_t n_viewers() const { return n_clients_.load() + n_waiting_.load(); }
  // The clients on rendition `rung` or moving to it, as of the last tick (a rung nobody is on
  // need not be encoded).
  size_t n_viewers_on(size_t rung) const {
    return rung < kMaxRungs ? rung_viewers_[rung].load() : 0;
  }
  uint64_t bytes_served() const { return bytes_served_.load(); }
  // What the shared queue holds now (all clients together).
  size_t queued_units() const { return queued_units_.load(); }
  uint64_t queued_bytes() const { return queued_bytes_.load(); }
  // Closes one client with status Removed.
  bool remove_client(uint64_t id);
  // Runs fn on the mount's thread and waits (at once on that thread); false, without running it,
  // when the mount is not served.
  bool run_on_server(const std::function<void()> &fn);
  // Runs fn on the mount's thread soon, or never (destroyed unrun) if the mount is not served
  // by then. Called on that thread, it runs at once.
  void invoke(std::function<void()> fn);
  // A public mount needs no credentials on a private server (its page, files and stream).
  void set_public(bool is_public) { public_ = is_public; }
  bool is_public() const { return public_.load(); }

  // ---- server thread (called by HttpServer) ----
  void attach(MountContext *context, MountDelegate *delegate);
  bool attached() const { return context_ != nullptr; }
  // Closes every client (status Removed) and stops calling the delegate.
  void detach();
  // Stops calling the delegate; clients stay connected (the mount lingers). adopt() gives it a
  // new delegate, whose stream header and units the clients then receive.
  void release();
  void adopt(MountDelegate *delegate);
  // A new viewer on a connection taken from libsoup, fed units framed by `framer`.
  // `pinned` >= 0: the rung it stays on from the start (pinned_rung()).
  void accept(const Connection::Handoff &connection, std::unique_ptr<Framer> framer,
              Delivery delivery, int pinned = -1);
  // A WebSocket viewer, after its 101 (fed per MountSettings::ws_delivery).
  void accept_websocket(const Connection::Handoff &connection, int pinned = -1);
  // Answers a GET with a multipart/x-mixed-replace stream of this mount's units as parts of
  // `part_type`, each the newest when the client's socket has drained (Delivery::Newest),
  // taking the connection from libsoup; a HEAD with the same head and no body.
  void accept_multipart(SoupServerMessage *msg, const char *part_type);
  // Answers a request for one unit (a snapshot) with the first unit captured after the request
  // came — never one queued before it, which an output that idled may have kept for hours — or
  // with null after `wait_us`. The message is paused meanwhile, and forgotten if its client
  // leaves; the delegate hears that a unit is wanted (unit_wanted()). A mount that stops serving
  // (detach, release) answers every waiting request with null.
  using UnitAnswer = std::function<void(SoupServerMessage *msg, const UnitRef &unit)>;
  void serve_next(SoupServerMessage *msg, gint64 wait_us, UnitAnswer answer);
  void tick(gint64 now);
  // Viewers the mount does not feed itself (a WebRTC peer, say): counted as its clients are
  // (n_clients, n_viewers, n_viewers_on, stats, the delegate's client_added and
  // client_removed). add_viewer() gives its id; update_viewer() what statistics show of it
  // (by stats.id) and the rung it is moving to.
  uint64_t add_viewer(const std::string &peer);
  void update_viewer(const ClientStats &stats, size_t next_rung);
  void remove_viewer(uint64_t id, ClientStatus status);
  MountDelegate *delegate() const { return delegate_; }
  const MountSettings &settings() const { return settings_; }
  // The newest unit queued of the top rendition, or null (server thread).
  UnitRef newest() const { return rungs_[0]->queue.newest(); }

private:
  // One rendition: its queue, and its bitrate as measured.
  struct Rung {
    UnitQueue queue;
    BitrateMeter bitrate;
  };
  Rung &rung(size_t r);  // made on first use
  void apply_settings(const MountSettings &settings);
  void measure_rungs(gint64 now);

  // ClientHost
  UnitQueue &queue(size_t rung) override { return this->rung(rung).queue; }
  size_t n_rungs() const override { return rungs_.size(); }
  const std::vector<uint64_t> &rung_bitrates() const override { return bitrates_; }
  void keyframe_wanted(size_t rung) override;
  const ClientSettings &client_settings() const override { return settings_; }
  EpollSource *poller() override { return context_->poller(); }
  void sent(size_t bytes) override { bytes_served_ += bytes; }
  void message(uint64_t id, const ws::ClientMessage &msg) override;
  void closed(Client *client, ClientStatus status) override;  // deleted once dispatch returns

  struct Command;
  static gboolean inbox_dispatch(gpointer self);
  void drain_inbox();
  void add_client(std::unique_ptr<Client> client);
  void fan_out();
  static gboolean reap(gpointer self);
  MountStats stats_on_server_thread();
  // Answers the waiting requests `unit` was captured for, and with null those whose time is up
  // at `now` (monotonic µs; G_MAXINT64: every one).
  void answer_waiting(const UnitRef &unit, gint64 now);
  static void waiter_left(SoupServerMessage *msg, gpointer self);
  // Tells the delegate it no longer serves, and forgets the viewers served elsewhere.
  void stop_serving();

  const std::string path_;
  const std::string kind_;

  // Producer side. `lock_` protects inbox_ and pending_settings_; never held while calling
  // into libsoup, GStreamer or the delegate.
  std::mutex lock_;
  std::vector<Command> inbox_;
  DropGate inbox_gate_{kMaxInboxUnits, kMaxInboxBytes};  // the units (not headers) in inbox_
  std::unique_ptr<MountSettings> pending_settings_;
  GSource *inbox_source_ = nullptr;  // wakes the server thread; set while attached

  // Server thread only.
  MountContext *context_ = nullptr;
  MountDelegate *delegate_ = nullptr;
  MountSettings settings_;
  std::vector<std::unique_ptr<Rung>> rungs_;  // at least one
  std::vector<uint64_t> bitrates_;            // each rung's, for the clients' policies
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Client>> retired_;
  GSource *reap_source_ = nullptr;
  uint64_t clients_total_ = 0;
  struct Waiting {
    SoupServerMessage *msg;  // a reference of ours, paused
    int64_t since_us;        // wall clock: the unit must have been captured since
    gint64 until;            // monotonic µs: answered with null then
    UnitAnswer answer;
    gulong left;  // its "disconnected" handler
  };
  std::vector<Waiting> waiting_;
  struct Outside {
    ClientStats stats;
    size_t next_rung = 0;
  };
  std::map<uint64_t, Outside> outside_;  // viewers served elsewhere, by id

  void update_gauges();
  std::atomic<size_t> n_clients_{0};
  std::atomic<size_t> n_waiting_{0};
  std::array<std::atomic<size_t>, kMaxRungs> rung_viewers_{};
  std::atomic<size_t> queued_units_{0};
  std::atomic<uint64_t> queued_bytes_{0};
  std::atomic<uint64_t> bytes_served_{0};
  std::atomic<bool> public_{false};
};

}  // namespace camcast
