#include "net/mount.h"

#include "net/client.h"
#include "net/connections.h"
#include "net/http_server.h"

#include <cstring>

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);
#define GST_CAT_DEFAULT camcast_server_debug

namespace camcast {

const char *client_status_nick(ClientStatus status) {
  switch (status) {
  case ClientStatus::Ok: return "ok";
  case ClientStatus::Closed: return "closed";
  case ClientStatus::Removed: return "removed";
  case ClientStatus::Slow: return "slow";
  case ClientStatus::Error: return "error";
  case ClientStatus::Timeout: return "timeout";
  }
  return "unknown";
}

struct Mount::Command {
  GstBuffer *buffer = nullptr;      // a unit, or
  std::vector<GstBuffer *> header;  // a new stream header (when buffer is null)
  std::string header_text;          // sent first, as a text message, when not empty
  bool keyframe = false;
  GstClockTime ts = GST_CLOCK_TIME_NONE;
  int64_t capture_us = -1;
  bool drop_units = false;  // instead of a header: forget the queued units
};

namespace {

// Client ids are unique in the process, so log lines and signals never confuse two clients.
std::atomic<uint64_t> next_client_id{1};

// A source the producer makes ready from any thread (g_source_set_ready_time is thread-safe).
GSourceFuncs inbox_source_funcs = {
    nullptr,
    nullptr,
    [](GSource *source, GSourceFunc callback, gpointer data) -> gboolean {
      g_source_set_ready_time(source, -1);
      return callback(data);
    },
    nullptr,
    nullptr,
    nullptr};

// A queued unit whose wire prefix is its WebSocket frame header (the same for every client, so
// computed once). Takes the caller's reference to `buffer`. With `info`, the message starts with
// the capture time and number `seq` (see MountSettings::ws_delivery).
std::shared_ptr<Unit> websocket_unit(GstBuffer *buffer, bool keyframe, GstClockTime ts,
                                     ws::Opcode opcode, int64_t capture_us = -1,
                                     const uint64_t *seq = nullptr) {
  auto unit = std::make_shared<Unit>(buffer, keyframe, ts);
  gst_buffer_unref(buffer);
  unit->capture_us = capture_us;
  const size_t info = seq ? 16 : 0;
  unit->prefix_len = ws::write_server_header(unit->prefix, opcode, unit->size() + info);
  if (seq) {
    const uint64_t fields[2] = {GUINT64_TO_BE(uint64_t(capture_us)), GUINT64_TO_BE(*seq)};
    memcpy(unit->prefix + unit->prefix_len, fields, info);
    unit->prefix_len += info;
  }
  return unit;
}

}  // namespace

Mount::Mount(std::string path, std::string kind) : path_(std::move(path)), kind_(std::move(kind)) {}

Mount::~Mount() {
  g_assert(!inbox_source_);
  for (Command &c : inbox_) {
    if (c.buffer)
      gst_buffer_unref(c.buffer);
    for (GstBuffer *b : c.header)
      gst_buffer_unref(b);
  }
}

void Mount::push(GstBuffer *buffer, bool keyframe, GstClockTime ts, int64_t capture_us) {
  std::lock_guard<std::mutex> lk(lock_);
  if (!inbox_source_)
    return;  // not served: nobody could receive it
  if (inbox_units_ >= kMaxInboxUnits && !inbox_overflowed_) {
    GST_WARNING(
        "%s: the server thread is %zu frames behind; dropping them up to the next "
        "keyframe",
        path_.c_str(), inbox_units_);
    drop_inbox_units();
    inbox_overflowed_ = true;
  }
  if (inbox_overflowed_) {
    if (!keyframe) {
      units_dropped_in_++;
      return;
    }
    inbox_overflowed_ = false;
  }
  Command c;
  c.buffer = gst_buffer_ref(buffer);
  c.keyframe = keyframe;
  c.ts = ts;
  c.capture_us = capture_us;
  inbox_.push_back(std::move(c));
  inbox_units_++;
  g_source_set_ready_time(inbox_source_, 0);
}

void Mount::drop_inbox_units() {
  std::vector<Command> kept;
  for (Command &c : inbox_) {
    if (c.buffer) {
      gst_buffer_unref(c.buffer);
      units_dropped_in_++;
    } else {
      kept.push_back(std::move(c));  // headers stay: they describe what comes next
    }
  }
  inbox_.swap(kept);
  inbox_units_ = 0;
}

void Mount::set_stream_header(const std::vector<GstBuffer *> &header, const std::string &text) {
  std::lock_guard<std::mutex> lk(lock_);
  if (!inbox_source_)
    return;
  Command c;
  c.header_text = text;
  for (GstBuffer *b : header)
    c.header.push_back(gst_buffer_ref(b));
  inbox_.push_back(std::move(c));
  g_source_set_ready_time(inbox_source_, 0);
}

void Mount::drop_units() {
  std::lock_guard<std::mutex> lk(lock_);
  if (!inbox_source_)
    return;
  Command c;
  c.drop_units = true;
  inbox_.push_back(std::move(c));
  g_source_set_ready_time(inbox_source_, 0);
}

void Mount::set_settings(const MountSettings &settings) {
  std::lock_guard<std::mutex> lk(lock_);
  pending_settings_ = std::make_unique<MountSettings>(settings);
  if (inbox_source_)
    g_source_set_ready_time(inbox_source_, 0);
  else
    settings_ = settings, queue_.set_policy(settings.policy);  // not attached: nobody reads them
}

void Mount::attach(HttpServer *server, MountDelegate *delegate) {
  GSource *source = g_source_new(&inbox_source_funcs, sizeof(GSource));
  g_source_set_priority(source, G_PRIORITY_HIGH);
  g_source_set_callback(source, &Mount::inbox_dispatch, this, nullptr);
  g_source_attach(source, server->context());
  std::lock_guard<std::mutex> lk(lock_);
  server_ = server;
  delegate_ = delegate;
  inbox_source_ = source;
}

void Mount::release() {
  std::lock_guard<std::mutex> lk(lock_);
  delegate_ = nullptr;
}

void Mount::adopt(MountDelegate *delegate) {
  std::lock_guard<std::mutex> lk(lock_);
  delegate_ = delegate;
}

void Mount::detach() {
  std::vector<Client *> all;
  for (auto &entry : clients_)
    all.push_back(entry.second.get());
  for (Client *client : all)
    client->close(ClientStatus::Removed, ws::kCloseGoingAway, "stream stopped");
  GSource *source;
  {
    std::lock_guard<std::mutex> lk(lock_);
    source = inbox_source_;
    inbox_source_ = nullptr;
    delegate_ = nullptr;
  }
  if (source) {
    g_source_destroy(source);
    g_source_unref(source);
  }
  if (reap_source_) {
    g_source_destroy(reap_source_);
    g_source_unref(reap_source_);
    reap_source_ = nullptr;
  }
  retired_.clear();
  server_ = nullptr;
}

gboolean Mount::inbox_dispatch(gpointer self) {
  static_cast<Mount *>(self)->drain_inbox();
  return G_SOURCE_CONTINUE;
}

void Mount::drain_inbox() {
  std::vector<Command> commands;
  std::unique_ptr<MountSettings> settings;
  {
    std::lock_guard<std::mutex> lk(lock_);
    commands.swap(inbox_);
    inbox_units_ = 0;
    settings.swap(pending_settings_);
  }
  if (settings) {
    settings_ = *settings;
    queue_.set_policy(settings_.policy);
  }
  for (Command &c : commands) {
    if (c.drop_units) {
      queue_.drop_units();
      continue;
    }
    if (!c.buffer) {
      std::vector<UnitRef> header;
      if (!c.header_text.empty()) {
        GstBuffer *b = gst_buffer_new_memdup(c.header_text.data(), c.header_text.size());
        header.push_back(websocket_unit(b, true, GST_CLOCK_TIME_NONE, ws::Opcode::Text));
      }
      for (GstBuffer *b : c.header)
        header.push_back(websocket_unit(b, true, GST_CLOCK_TIME_NONE, ws::Opcode::Binary));
      queue_.set_stream_header(std::move(header));
      continue;
    }
    const uint64_t seq = queue_.units_pushed();  // the number this unit gets
    const bool info = settings_.ws_delivery == Delivery::Pull;
    queue_.push(websocket_unit(c.buffer, c.keyframe, c.ts, ws::Opcode::Binary, c.capture_us,
                               info ? &seq : nullptr));
  }
  fan_out();
  update_gauges();
}

void Mount::update_gauges() {
  queued_units_ = queue_.queued_units();
  queued_bytes_ = queue_.queued_bytes();
}

void Mount::fan_out() {
  std::vector<Client *> all;
  all.reserve(clients_.size());
  for (auto &entry : clients_)
    all.push_back(entry.second.get());
  for (Client *client : all) {
    if (client->cursor.slow) {
      GST_INFO("client %" G_GUINT64_FORMAT ": more than units-max behind; dropping it",
               client->id());
      client->close(ClientStatus::Slow, ws::kClosePolicyViolation, "too slow");
    } else if (!client->blocked()) {
      client->flush();
    }
  }
}

void Mount::accept_websocket(GIOStream *stream, GSocket *socket, const std::string &peer) {
  add_client(std::make_unique<Client>(this, next_client_id++, stream, socket, peer,
                                      Framing::WebSocket, settings_.ws_delivery));
}

void Mount::accept_multipart(SoupServerMessage *msg) {
  const std::string type = std::string("multipart/x-mixed-replace;boundary=") + kMultipartBoundary;
  const char *no_store = "no-store, no-cache, must-revalidate, max-age=0";
  if (soup_server_message_get_method(msg) == SOUP_METHOD_HEAD) {
    // The head of the stream without the stream (libsoup writes it; nothing to take over).
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
                                 no_store);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    soup_server_message_set_response(msg, type.c_str(), SOUP_MEMORY_STATIC, "", 0);
    return;
  }
  Connection *connection = Connection::of(msg);
  if (!connection) {
    soup_server_message_set_status(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, nullptr);
    return;
  }
  GIOStream *stream = connection->steal(msg);
  if (stream && G_IS_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream))) {
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nCache-Control: " + no_store +
        "\r\nPragma: no-cache\r\nConnection: close\r\n\r\n--" + kMultipartBoundary + "\r\n";
    add_client(std::make_unique<Client>(this, next_client_id++, stream, connection->socket(),
                                        connection->peer(), Framing::Multipart, Delivery::Latest,
                                        std::move(head)));
  } else if (stream) {
    g_io_stream_close(stream, nullptr, nullptr);
  }
  if (stream)
    g_object_unref(stream);
}

void Mount::add_client(std::unique_ptr<Client> client) {
  const uint64_t id = client->id();
  Client *raw = client.get();
  queue_.attach(&raw->cursor);
  clients_.emplace(id, std::move(client));
  clients_total_++;
  n_clients_++;
  if (delegate_)
    delegate_->client_added(id);
  if (!raw->closed())
    raw->start();
}

void Mount::retire(Client *client, ClientStatus status) {
  auto it = clients_.find(client->id());
  if (it == clients_.end())
    return;
  queue_.detach(&client->cursor);
  update_gauges();
  retired_.push_back(std::move(it->second));
  clients_.erase(it);
  n_clients_--;
  if (delegate_)
    delegate_->client_removed(client->id(), status);
  if (!reap_source_ && server_) {
    // Deleted once the dispatch that closed it has returned.
    reap_source_ = g_idle_source_new();
    g_source_set_priority(reap_source_, G_PRIORITY_HIGH);
    g_source_set_callback(reap_source_, &Mount::reap, this, nullptr);
    g_source_attach(reap_source_, server_->context());
  }
}

gboolean Mount::reap(gpointer self) {
  auto *mount = static_cast<Mount *>(self);
  mount->retired_.clear();
  g_source_unref(mount->reap_source_);
  mount->reap_source_ = nullptr;
  return G_SOURCE_REMOVE;
}

void Mount::tick(gint64 now) {
  std::vector<Client *> all;
  for (auto &entry : clients_)
    all.push_back(entry.second.get());
  for (Client *client : all)
    client->tick(now);
  if (delegate_)
    delegate_->tick(now);
}

MountStats Mount::stats_on_server_thread() {
  MountStats s;
  s.path = path_;
  s.kind = kind_;
  s.units_in = queue_.units_pushed();
  s.bytes_in = queue_.bytes_pushed();
  s.queued_units = queue_.queued_units();
  s.queued_bytes = queue_.queued_bytes();
  s.clients_total = clients_total_;
  s.units_dropped_in = units_dropped_in_;
  for (auto &entry : clients_) {
    ClientStats c;
    entry.second->fill_stats(&c);
    s.clients.push_back(std::move(c));
  }
  return s;
}

bool Mount::run_on_server(const std::function<void()> &fn) {
  HttpServer *server;
  {
    std::lock_guard<std::mutex> lk(lock_);
    server = inbox_source_ ? server_ : nullptr;
  }
  if (!server)
    return false;
  server->invoke_sync(fn);
  return true;
}

MountStats Mount::stats() {
  MountStats s;
  if (!run_on_server([&] { s = stats_on_server_thread(); })) {
    s.path = path_;
    s.kind = kind_;
  }
  return s;
}

bool Mount::client_stats(uint64_t id, ClientStats *out) {
  bool found = false;
  run_on_server([&] {
    auto it = clients_.find(id);
    if (it != clients_.end()) {
      it->second->fill_stats(out);
      found = true;
    }
  });
  return found;
}

bool Mount::remove_client(uint64_t id) {
  bool found = false;
  run_on_server([&] {
    auto it = clients_.find(id);
    if (it != clients_.end()) {
      it->second->close(ClientStatus::Removed, ws::kCloseNormal, "removed");
      found = true;
    }
  });
  return found;
}

}  // namespace camcast
