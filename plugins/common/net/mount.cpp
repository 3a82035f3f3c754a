#include "net/mount.h"

#include "framing/framer.h"

#include <cstring>

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);
#define GST_CAT_DEFAULT camcast_server_debug

namespace camcast {

struct Mount::Command {
  GstBuffer *buffer = nullptr;      // a unit, or
  std::vector<GstBuffer *> header;  // a new stream header (when buffer is null)
  std::string header_text;          // sent first, as a text message, when not empty
  bool keyframe = false;
  GstClockTime ts = GST_CLOCK_TIME_NONE;
  int64_t capture_us = -1;
  bool drop_units = false;  // instead of a header: forget the queued units
  size_t rung = 0;          // the rendition it belongs to
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

// A queued unit; takes the caller's reference to `buffer`.
std::shared_ptr<Unit> make_unit(GstBuffer *buffer, bool keyframe, GstClockTime ts,
                                int64_t capture_us) {
  auto unit = std::make_shared<Unit>(buffer, keyframe, ts);
  gst_buffer_unref(buffer);
  unit->capture_us = capture_us;
  return unit;
}

// A unit of the stream header (binary, or text).
UnitRef header_unit(GstBuffer *buffer, bool text) {
  auto unit = std::make_shared<Unit>(buffer, true, GST_CLOCK_TIME_NONE);
  gst_buffer_unref(buffer);
  unit->header = true;
  unit->text = text;
  return unit;
}

}  // namespace

Mount::Mount(std::string path, std::string kind) : path_(std::move(path)), kind_(std::move(kind)) {
  rung(0);
}

void Mount::apply_settings(const MountSettings &settings) {
  settings_ = settings;
  for (auto &r : rungs_)
    r->queue.set_policy(settings_.policy);
}

Mount::Rung &Mount::rung(size_t r) {
  while (rungs_.size() <= r) {
    rungs_.push_back(std::make_unique<Rung>());
    rungs_.back()->queue.set_policy(settings_.policy);
    bitrates_.push_back(0);
  }
  return *rungs_[r];
}

Mount::~Mount() {
  g_assert(!inbox_source_);
  for (Command &c : inbox_) {
    if (c.buffer)
      gst_buffer_unref(c.buffer);
    for (GstBuffer *b : c.header)
      gst_buffer_unref(b);
  }
}

void Mount::push(GstBuffer *buffer, bool keyframe, GstClockTime ts, int64_t capture_us,
                 size_t rung) {
  std::lock_guard<std::mutex> lk(lock_);
  if (!inbox_source_ || rung >= kMaxRungs)
    return;  // not served: nobody could receive it
  const DropGate::Verdict verdict = inbox_gate_.admit(gst_buffer_get_size(buffer), keyframe);
  if (verdict.flush) {
    GST_WARNING("%s: the server thread is too far behind; dropping frames up to the next keyframe",
                path_.c_str());
    std::vector<Command> kept;  // headers stay: they describe what comes next
    for (Command &c : inbox_) {
      if (c.buffer)
        gst_buffer_unref(c.buffer);
      else
        kept.push_back(std::move(c));
    }
    inbox_.swap(kept);
  }
  if (!verdict.queue)
    return;
  Command c;
  c.buffer = gst_buffer_ref(buffer);
  c.keyframe = keyframe;
  c.ts = ts;
  c.capture_us = capture_us;
  c.rung = rung;
  inbox_.push_back(std::move(c));
  g_source_set_ready_time(inbox_source_, 0);
}

void Mount::set_stream_header(const std::vector<GstBuffer *> &header, const std::string &text,
                              size_t rung) {
  std::lock_guard<std::mutex> lk(lock_);
  if (!inbox_source_ || rung >= kMaxRungs)
    return;
  Command c;
  c.header_text = text;
  c.rung = rung;
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
    apply_settings(settings);  // not attached: nobody reads them
}

void Mount::attach(MountContext *context, MountDelegate *delegate) {
  GSource *source = g_source_new(&inbox_source_funcs, sizeof(GSource));
  g_source_set_priority(source, G_PRIORITY_HIGH);
  g_source_set_callback(source, &Mount::inbox_dispatch, this, nullptr);
  g_source_attach(source, context->context());
  {
    std::lock_guard<std::mutex> lk(lock_);
    context_ = context;
    delegate_ = delegate;
    inbox_source_ = source;
  }
  if (delegate)
    delegate->serving(this);
}

void Mount::stop_serving() {
  if (delegate_)
    delegate_->serving(nullptr);
  while (!outside_.empty())
    remove_viewer(outside_.begin()->first, ClientStatus::Removed);
}

void Mount::release() {
  answer_waiting(nullptr, G_MAXINT64);  // their answers are the delegate's, which is going
  stop_serving();
  std::lock_guard<std::mutex> lk(lock_);
  delegate_ = nullptr;
}

void Mount::adopt(MountDelegate *delegate) {
  {
    std::lock_guard<std::mutex> lk(lock_);
    delegate_ = delegate;
  }
  if (delegate)
    delegate->serving(this);
}

void Mount::detach() {
  answer_waiting(nullptr, G_MAXINT64);
  stop_serving();
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
  context_ = nullptr;
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
    inbox_gate_.taken_all();
    settings.swap(pending_settings_);
  }
  if (settings)
    apply_settings(*settings);
  UnitRef newest;  // the newest unit of the top rung that came now
  for (Command &c : commands) {
    if (c.drop_units) {
      for (auto &r : rungs_)
        r->queue.drop_units();
      newest = nullptr;
      continue;
    }
    if (!c.buffer) {
      std::vector<UnitRef> header;
      if (!c.header_text.empty())
        header.push_back(
            header_unit(gst_buffer_new_memdup(c.header_text.data(), c.header_text.size()), true));
      for (GstBuffer *b : c.header)
        header.push_back(header_unit(b, false));
      rung(c.rung).queue.set_stream_header(std::move(header));
      continue;
    }
    auto unit = make_unit(c.buffer, c.keyframe, c.ts, c.capture_us);
    rung(c.rung).queue.push(unit);
    if (c.rung == 0)
      newest = unit;
  }
  fan_out();
  update_gauges();
  if (newest && !waiting_.empty())
    answer_waiting(newest, g_get_monotonic_time());
}

void Mount::serve_next(SoupServerMessage *msg, gint64 wait_us, UnitAnswer answer) {
  Waiting w{SOUP_SERVER_MESSAGE(g_object_ref(msg)), g_get_real_time(),
            g_get_monotonic_time() + wait_us, std::move(answer), 0};
  w.left = g_signal_connect(msg, "disconnected", G_CALLBACK(&Mount::waiter_left), this);
  soup_server_message_pause(msg);
  waiting_.push_back(std::move(w));
  n_waiting_ = waiting_.size();
  if (delegate_)
    delegate_->unit_wanted();
}

void Mount::waiter_left(SoupServerMessage *msg, gpointer self) {
  auto *mount = static_cast<Mount *>(self);
  for (auto it = mount->waiting_.begin(); it != mount->waiting_.end(); ++it)
    if (it->msg == msg) {
      g_signal_handler_disconnect(msg, it->left);
      g_object_unref(msg);
      mount->waiting_.erase(it);
      mount->n_waiting_ = mount->waiting_.size();
      return;
    }
}

void Mount::answer_waiting(const UnitRef &unit, gint64 now) {
  // A unit without a known capture time came just now.
  const int64_t captured = !unit ? 0 : unit->capture_us >= 0 ? unit->capture_us : g_get_real_time();
  std::vector<Waiting> answered, kept;
  for (Waiting &w : waiting_)
    ((unit && captured >= w.since_us) || now >= w.until ? answered : kept).push_back(std::move(w));
  waiting_.swap(kept);
  n_waiting_ = waiting_.size();
  for (Waiting &w : answered) {
    g_signal_handler_disconnect(w.msg, w.left);
    w.answer(w.msg, unit && captured >= w.since_us ? unit : nullptr);
    soup_server_message_unpause(w.msg);
    g_object_unref(w.msg);
  }
}

void Mount::update_gauges() {
  size_t units = 0;
  uint64_t bytes = 0;
  for (auto &r : rungs_) {
    units += r->queue.queued_units();
    bytes += r->queue.queued_bytes();
  }
  queued_units_ = units;
  queued_bytes_ = bytes;
}

// Each rung's bitrate over the last two seconds, measured only while it has units all along: an
// idle rung keeps what it had (not a rate that fades as the window slides into its idleness).
void Mount::measure_rungs(gint64 now) {
  for (size_t i = 0; i < rungs_.size(); i++)
    bitrates_[i] = rungs_[i]->bitrate.measure(now, rungs_[i]->queue.bytes_pushed());
}

void Mount::keyframe_wanted(size_t rung) {
  if (delegate_)
    delegate_->keyframe_wanted(rung);
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

void Mount::accept(const Connection::Handoff &connection, std::unique_ptr<Framer> framer,
                   Delivery delivery, int pinned) {
  ClientHost *host = this;  // a private base: converted here, where it is accessible
  add_client(std::make_unique<Client>(host, next_client_id++, connection.stream, connection.socket,
                                      connection.peer, std::move(framer), delivery, pinned));
}

void Mount::accept_websocket(const Connection::Handoff &connection, int pinned) {
  const Delivery delivery = settings_.ws_delivery;
  accept(connection, std::make_unique<WebSocketFramer>(delivery == Delivery::Pull), delivery,
         pinned);
}

int pinned_rung(SoupServerMessage *msg) {
  const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
  GHashTable *params =
      query ? g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, nullptr) : nullptr;
  const char *value =
      params ? static_cast<const char *>(g_hash_table_lookup(params, "rung")) : nullptr;
  guint64 rung = 0;
  const bool pinned = value && g_ascii_string_to_unsigned(value, 10, 0, 255, &rung, nullptr);
  if (params)
    g_hash_table_unref(params);
  return pinned ? int(rung) : -1;
}

void Mount::accept_multipart(SoupServerMessage *msg, const char *part_type) {
  if (soup_server_message_get_method(msg) == SOUP_METHOD_HEAD) {
    // The head of the stream without the stream (libsoup writes it; nothing to take over).
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
                                 kNoStore);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    soup_server_message_set_response(msg, MultipartFramer::content_type().c_str(),
                                     SOUP_MEMORY_STATIC, "", 0);
    return;
  }
  auto framer = std::make_unique<MultipartFramer>(part_type);
  const bool ours = Connection::hand_off(msg, [&](const Connection::Handoff &connection) {
    accept(connection, std::move(framer), Delivery::Newest);
  });
  if (!ours)
    soup_server_message_set_status(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, nullptr);
}

void Mount::add_client(std::unique_ptr<Client> client) {
  const uint64_t id = client->id();
  Client *raw = client.get();
  rungs_[0]->queue.attach(&raw->cursor);
  clients_.emplace(id, std::move(client));
  clients_total_++;
  n_clients_++;
  if (delegate_)
    delegate_->client_added(id);
  if (!raw->closed())
    raw->start();
}

void Mount::closed(Client *client, ClientStatus status) {
  auto it = clients_.find(client->id());
  if (it == clients_.end())
    return;
  client->leave_queues();
  update_gauges();
  retired_.push_back(std::move(it->second));
  clients_.erase(it);
  n_clients_--;
  if (delegate_)
    delegate_->client_removed(client->id(), status);
  if (!reap_source_ && context_) {
    // Deleted once the dispatch that closed it has returned.
    reap_source_ = g_idle_source_new();
    g_source_set_priority(reap_source_, G_PRIORITY_HIGH);
    g_source_set_callback(reap_source_, &Mount::reap, this, nullptr);
    g_source_attach(reap_source_, context_->context());
  }
}

gboolean Mount::reap(gpointer self) {
  auto *mount = static_cast<Mount *>(self);
  mount->retired_.clear();
  g_source_unref(mount->reap_source_);
  mount->reap_source_ = nullptr;
  return G_SOURCE_REMOVE;
}

uint64_t Mount::add_viewer(const std::string &peer) {
  const uint64_t id = next_client_id++;
  Outside &viewer = outside_[id];
  viewer.stats.id = id;
  viewer.stats.peer = peer;
  viewer.stats.connect_time = g_get_real_time();
  clients_total_++;
  n_clients_++;
  if (delegate_)
    delegate_->client_added(id);
  return id;
}

void Mount::update_viewer(const ClientStats &stats, size_t next_rung) {
  auto it = outside_.find(stats.id);
  if (it == outside_.end())
    return;
  ClientStats &kept = it->second.stats;
  const std::string peer = kept.peer;
  const gint64 since = kept.connect_time;
  kept = stats;
  kept.peer = peer;
  kept.connect_time = since;
  it->second.next_rung = next_rung;
}

void Mount::remove_viewer(uint64_t id, ClientStatus status) {
  if (!outside_.erase(id))
    return;
  n_clients_--;
  if (delegate_)
    delegate_->client_removed(id, status);
}

void Mount::tick(gint64 now) {
  if (!waiting_.empty())
    answer_waiting(nullptr, now);
  measure_rungs(now);
  std::array<size_t, kMaxRungs> on{};
  auto count = [&on](size_t rung, size_t next_rung) {
    on[std::min(rung, kMaxRungs - 1)]++;
    if (next_rung != rung)
      on[std::min(next_rung, kMaxRungs - 1)]++;
  };
  for (auto &entry : clients_)
    count(entry.second->rung(), entry.second->next_rung());
  for (auto &[id, viewer] : outside_)
    count(viewer.stats.rung, viewer.next_rung);
  for (size_t r = 0; r < kMaxRungs; r++)
    rung_viewers_[r] = on[r];
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
  const UnitQueue &top = rungs_[0]->queue;
  s.units_in = top.units_pushed();
  s.bytes_in = top.bytes_pushed();
  s.queued_units = queued_units_;
  s.queued_bytes = queued_bytes_;
  s.rungs.resize(rungs_.size());
  for (size_t i = 0; i < rungs_.size(); i++)
    s.rungs[i].bitrate = rungs_[i]->bitrate.bitrate();
  s.clients_total = clients_total_;
  {
    std::lock_guard<std::mutex> lk(lock_);
    s.units_dropped_in = inbox_gate_.dropped();
  }
  for (auto &entry : clients_) {
    ClientStats c;
    entry.second->fill_stats(&c);
    s.clients.push_back(std::move(c));
  }
  const gint64 now = g_get_real_time();
  for (auto &[id, viewer] : outside_) {
    s.clients.push_back(viewer.stats);
    s.clients.back().connected_us = now - viewer.stats.connect_time;
  }
  for (const ClientStats &c : s.clients) {
    const size_t r = std::min(c.rung, kMaxRungs - 1);
    if (s.rungs.size() <= r)
      s.rungs.resize(r + 1);
    s.rungs[r].viewers++;
  }
  if (delegate_)
    delegate_->fill_stats(&s);
  return s;
}

bool Mount::run_on_server(const std::function<void()> &fn) {
  MountContext *context;
  {
    std::lock_guard<std::mutex> lk(lock_);
    context = inbox_source_ ? context_ : nullptr;
  }
  if (!context)
    return false;
  context->invoke_sync(fn);
  return true;
}

void Mount::message(uint64_t id, const ws::ClientMessage &msg) {
  if (delegate_)
    delegate_->client_message(id, msg);
}

void Mount::invoke(std::function<void()> fn) {
  GMainContext *context;
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (!inbox_source_)
      return;
    context = context_->context();
  }
  run_soon(context, std::move(fn));
}

void run_soon(GMainContext *context, std::function<void()> fn) {
  g_main_context_invoke_full(
      context, G_PRIORITY_DEFAULT,
      [](gpointer data) -> gboolean {
        (*static_cast<std::function<void()> *>(data))();
        return G_SOURCE_REMOVE;
      },
      new std::function<void()>(std::move(fn)),
      [](gpointer data) { delete static_cast<std::function<void()> *>(data); });
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
    if (auto it = clients_.find(id); it != clients_.end()) {
      it->second->fill_stats(out);
      found = true;
    } else if (auto o = outside_.find(id); o != outside_.end()) {
      *out = o->second.stats;
      out->connected_us = g_get_real_time() - out->connect_time;
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
