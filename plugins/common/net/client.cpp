#include "net/client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);
#define GST_CAT_DEFAULT camcast_server_debug

namespace camcast {

namespace {

// Below this much unsent data the kernel reports the socket writable (tcp(7)): enough to keep a
// fast link busy between two wake-ups, small enough that a slow client's lag stays in our queue,
// where the lag policy can see it and skip to a keyframe.
constexpr int kNotSentLowat = 16 * 1024;
// Newest and Pull delivery pick a frame when the socket reports writable, so it should mean
// "drained": a frame picked while the last one's tail still waits in the kernel would be that
// much older when it arrives at a slow viewer.
constexpr int kNewestNotSentLowat = 1024;
// A link on which TCP resends this share of its segments loses packets (2 % lost each way gave
// MSE a p95 of 250 ms against WebRTC's 98: docs/benchmarks.md, "Loss and a long round trip").
constexpr double kLossyShare = 0.01;
// A probe is timed by looking this often whether the peer has acknowledged it all.
constexpr guint kTrainPollMs = 2;
// A joining viewer's probe (Client::begin_join): this many segments, and given up after this
// long — then what was acknowledged by then is the link's measure (a link that took less than
// 8 × 1448 bytes in 0.6 s is narrower than 160 kbit/s). A lower rung's first keyframe is waited
// for kJoinMaxUs from the start at most; then the viewer starts on the top.
constexpr uint32_t kJoinProbeSegments = 8;
constexpr uint32_t kJoinProbeMss = 1448;
constexpr gint64 kJoinProbeMaxUs = 600000;
constexpr gint64 kJoinMaxUs = 2500000;
// A tick's draining measure (LinkSample::draining_bps) spans this long at least (a viewer's
// "rung" message asks for a choice between ticks).
constexpr gint64 kMinDrainTickUs = 100000;
// One writev takes at most this many vectors. A unit joins a batch only while the batch is
// smaller than what the kernel takes anyway (kNotSentLowat): a unit taken into a batch is
// committed to the client, so a bigger batch would hide lag from the lag policy.
constexpr size_t kMaxIov = 64;
constexpr size_t kMaxBatchBytes = kNotSentLowat;
// Units written and not yet acknowledged that a ladder's viewer keeps track of: a few seconds'
// worth (more would be a peer that takes nothing, which the write timeout closes).
constexpr size_t kMaxWritten = 512;

// What one client may take of the server thread and of memory, whatever it sends: bytes read
// per wake-up (the rest waits for the next turn), and control replies (pongs, the close echo)
// queued behind a socket it does not read — past that it is closed (1008): a client that pings
// as fast as it can and never reads would otherwise grow its queue without end.
constexpr size_t kMaxReadPerWake = 64 * 1024;
constexpr size_t kMaxControlBytes = 16 * 1024;
// Messages a client may send a second, twice that in a burst: a player asks for at most one
// picture per frame it shows (pull delivery) and browsers send no pings; a flood of pings would
// otherwise cost the server thread a pong each until the budget above filled.
constexpr double kMaxMessagesPerSecond = 100;

}  // namespace

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

Client::Client(ClientHost *host, uint64_t id, GIOStream *stream, GSocket *socket, std::string peer,
               std::unique_ptr<Framer> framer, Delivery delivery, int pinned)
    : host_(host),
      id_(id),
      peer_(std::move(peer)),
      framer_(std::move(framer)),
      websocket_(framer_->kind() == Framer::Kind::WebSocket),
      stream_(G_IO_STREAM(g_object_ref(stream))),
      socket_(G_SOCKET(g_object_ref(socket))),
      in_(G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream))),
      out_(G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream))),
      parser_(host->client_settings().client_limits),
      connect_time_(g_get_real_time()),
      connect_mono_(g_get_monotonic_time()),
      last_progress_(connect_mono_),
      pinned_(pinned) {
  const int fd = g_socket_get_fd(socket_);
  int one = 1, lowat = delivery == Delivery::Stream ? kNotSentLowat : kNewestNotSentLowat;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
  g_socket_set_blocking(socket_, FALSE);
  last_ping_ = connect_mono_;
  cursor.delivery = delivery;
  // The stream header (player metadata, init segments) is WebSocket protocol.
  cursor.wants_header = websocket_;
  std::string preamble = framer_->preamble();
  if (!preamble.empty())
    queue_control(std::move(preamble));
}

size_t Client::Pending::size() const {
  return control.size() + (unit ? framed.head_len + unit->size() + framed.tail.size() : 0);
}

Client::~Client() {
  stop_train();
  if (poller_)
    poller_->remove(g_socket_get_fd(socket_));
  g_io_stream_close(stream_, nullptr, nullptr);
  g_object_unref(stream_);
  g_object_unref(socket_);
}

void Client::start() {
  poller_ = host_->poller();
  poller_->add(g_socket_get_fd(socket_), this, false);
  GST_DEBUG("client %" G_GUINT64_FORMAT ": connected from %s", id_, peer_.c_str());
  begin_join();
  // libsoup may already have read bytes the client sent right after the handshake.
  on_readable();
  if (!closed_)
    flush();
}

void Client::on_fd_events(uint32_t events) {
  if (!closed_ && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
    on_readable();
  if (!closed_ && (events & EPOLLOUT))
    flush();
}

void Client::set_want_write(bool want) {
  if (want == want_write_ || !poller_)
    return;
  want_write_ = want;
  poller_->modify(g_socket_get_fd(socket_), this, want);
}

bool Client::queue_control(std::string frame) {
  size_t queued = 0;
  for (const Pending &p : pending_)
    if (!p.unit && !p.padding)
      queued += p.size() - p.offset;
  if (queued + frame.size() > kMaxControlBytes) {
    GST_INFO("client %" G_GUINT64_FORMAT ": %zu bytes of control replies unread; closing", id_,
             queued);
    close(ClientStatus::Error, ws::kClosePolicyViolation, "control frames not read");
    return false;
  }
  // Pending holds whole frames only, so anything appended starts at a frame boundary.
  Pending p;
  p.control = std::move(frame);
  pending_.push_back(std::move(p));
  return true;
}

void Client::flush() {
  while (!closed_ && write_batch()) {
  }
}

void Client::top_up() {
  // Control frames were queued after whole frames; top the batch up with data frames.
  size_t batch = 0;
  for (const Pending &p : pending_)
    batch += p.size() - p.offset;
  if (next_ && !next_->waiting)
    finish_move();  // the new rung's keyframe is here
  if (!joined_)
    return;  // the rung it starts on is not known yet, or its first keyframe has not come
  UnitQueue &queue = host_->queue(rung_);
  // (on a link measured narrow, no more than the kernel is let hold: committed units hide their
  // lag as much as the kernel's — 16 KB of each made a 360p viewer 0.6 s late at 500 kbit/s with
  // no lag to see)
  const size_t max_batch = lowat_ > 0 ? size_t(lowat_) : kMaxBatchBytes;
  while (pending_.size() < kMaxIov / 4 && batch < max_batch) {
    UnitRef unit = queue.next(&cursor);
    if (!unit)
      break;
    Pending p;
    framer_->frame(*unit, &p.framed);
    p.unit = std::move(unit);
    batch += p.size();
    pending_.push_back(std::move(p));
  }
}

size_t Client::gather(GOutputVector *iov) const {
  size_t n_iov = 0;
  for (const Pending &p : pending_) {
    size_t skip = p.offset;
    auto add = [&](const void *data, size_t len) {
      if (skip >= len) {
        skip -= len;
        return;
      }
      if (n_iov < kMaxIov)
        iov[n_iov++] = {static_cast<const uint8_t *>(data) + skip, len - skip};
      skip = 0;
    };
    add(p.control.data(), p.control.size());
    if (p.unit) {
      add(p.framed.head, p.framed.head_len);
      for (size_t i = 0; i < p.unit->n_chunks(); i++)
        add(p.unit->chunk_data(i), p.unit->chunk_size(i));
      add(p.framed.tail.data(), p.framed.tail.size());
    }
    if (n_iov == kMaxIov)
      break;
  }
  return n_iov;
}

bool Client::write_batch() {
  top_up();
  if (pending_.empty()) {
    set_want_write(false);
    if (close_after_flush_)
      close(ClientStatus::Closed, 0, nullptr);
    return false;
  }

  GOutputVector iov[kMaxIov];
  const size_t n_iov = gather(iov);

  gsize written = 0;
  GError *error = nullptr;
  GPollableReturn ret =
      g_pollable_output_stream_writev_nonblocking(out_, iov, n_iov, &written, nullptr, &error);
  if (ret == G_POLLABLE_RETURN_WOULD_BLOCK) {
    measure_backlog(true);
    set_want_write(true);
    return false;
  }
  if (ret == G_POLLABLE_RETURN_FAILED) {
    GST_DEBUG("client %" G_GUINT64_FORMAT ": write failed: %s", id_, error->message);
    g_error_free(error);
    close(ClientStatus::Error, 0, nullptr);
    return false;
  }
  last_progress_ = g_get_monotonic_time();
  // The kernel took more: a spell of backlog ended; and another begins if it did not take all.
  size_t wanted = 0;
  for (size_t i = 0; i < n_iov; i++)
    wanted += iov[i].size;
  measure_backlog(written < wanted);
  const uint64_t before = bytes_sent_;
  bytes_sent_ += written;
  host_->sent(written);
  size_t total = 0;
  while (written > 0 && !pending_.empty()) {
    Pending &p = pending_.front();
    size_t take = std::min<size_t>(p.size() - p.offset, written);
    p.offset += take;
    written -= take;
    total += take;
    if (p.offset == p.size()) {
      // A ladder's viewer: where the unit ends, to know when the peer has it (delivered_lag()).
      if (p.unit && lowat_ >= 0 && written_.size() < kMaxWritten)
        written_.push_back({before + total, p.unit->ts()});
      pending_.pop_front();
    }
  }
  // A short write means the kernel's queue is full: wait until it drains.
  if (total < wanted) {
    set_want_write(true);
    return false;
  }
  return true;
}

bool Client::take_message_token() {
  const gint64 now = g_get_monotonic_time();
  message_tokens_ = std::min(
      2 * kMaxMessagesPerSecond,
      message_tokens_ + double(now - tokens_updated_) / G_USEC_PER_SEC * kMaxMessagesPerSecond);
  tokens_updated_ = now;
  if (message_tokens_ < 1)
    return false;
  message_tokens_ -= 1;
  return true;
}

void Client::on_readable() {
  read_messages();
  // What the messages asked for (pongs, the close echo, pictures) goes out once, after them.
  if (!closed_)
    flush();
}

void Client::read_messages() {
  uint8_t buf[4096];
  std::vector<ws::ClientMessage> messages;
  for (size_t taken = 0; !closed_ && taken < kMaxReadPerWake; taken += sizeof buf) {
    GError *error = nullptr;
    gssize n = g_pollable_input_stream_read_nonblocking(in_, buf, sizeof buf, nullptr, &error);
    if (n < 0) {
      bool would_block = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      if (!would_block)
        GST_DEBUG("client %" G_GUINT64_FORMAT ": read failed: %s", id_, error->message);
      g_error_free(error);
      if (!would_block)
        close(ClientStatus::Error, 0, nullptr);
      return;
    }
    if (n == 0) {
      GST_DEBUG("client %" G_GUINT64_FORMAT ": connection closed by peer", id_);
      close(ClientStatus::Closed, 0, nullptr);
      return;
    }
    if (!websocket_)
      continue;  // an HTTP client has nothing more to say; only the end of it matters
    messages.clear();
    bool ok = parser_.feed(buf, static_cast<size_t>(n), messages);
    for (const ws::ClientMessage &msg : messages) {
      if (!take_message_token()) {
        GST_INFO("client %" G_GUINT64_FORMAT ": more than %.0f messages a second; closing", id_,
                 kMaxMessagesPerSecond);
        close(ClientStatus::Error, ws::kClosePolicyViolation, "too many messages");
        return;
      }
      handle(msg);
      if (closed_)
        return;
    }
    if (!ok) {
      GST_INFO("client %" G_GUINT64_FORMAT ": %s; closing (%u)", id_, parser_.error_reason(),
               parser_.error_code());
      close(ClientStatus::Error, parser_.error_code(), parser_.error_reason());
      return;
    }
  }
}

void Client::handle(const ws::ClientMessage &msg) {
  switch (msg.opcode) {
  case ws::Opcode::Ping:
    queue_control(ws::server_frame(ws::Opcode::Pong, msg.payload.data(), msg.payload.size()));
    break;
  case ws::Opcode::Pong:
    if (ping_sent_) {
      rtt_us_ = g_get_monotonic_time() - ping_sent_;
      ping_sent_ = 0;
    }
    break;
  case ws::Opcode::Close:
    // Echo the close (§5.5.1) once the frame in progress is out, then hang up.
    GST_DEBUG("client %" G_GUINT64_FORMAT ": sent close %u", id_, msg.close_code);
    if (queue_control(ws::close_frame(
            msg.close_code == 1005 ? uint16_t(ws::kCloseNormal) : msg.close_code, "")))
      close_after_flush_ = true;
    break;
  default:
    // Pull delivery: "next" asks for one more unit (two may be outstanding, so a player can ask
    // ahead while it draws).
    if (cursor.delivery == Delivery::Pull && msg.opcode == ws::Opcode::Text &&
        msg.payload == "next") {
      cursor.credits = std::min<uint32_t>(cursor.credits + 1, 2);
    } else if (msg.opcode == ws::Opcode::Text && msg.payload.rfind("rung ", 0) == 0) {
      // "rung N" pins a rendition, "rung auto" lets the policy choose again.
      const std::string arg = msg.payload.substr(5);
      // (the policy keeps it to the rungs there are)
      pinned_ = arg == "auto"
                    ? -1
                    : int(std::min<guint64>(g_ascii_strtoull(arg.c_str(), nullptr, 10), 255));
      TcpLink link;
      choose_rung(g_get_monotonic_time(), read_link(&link) ? &link : nullptr);
    } else {
      host_->message(id_, msg);
    }
    break;
  }
}

void Client::tick(gint64 now) {
  const ClientSettings &s = host_->client_settings();
  if (ping_sent_ && s.keepalive_pong_timeout &&
      now - ping_sent_ >= gint64(s.keepalive_pong_timeout) * G_USEC_PER_SEC) {
    GST_INFO("client %" G_GUINT64_FORMAT ": no pong for %u s; closing", id_,
             s.keepalive_pong_timeout);
    close(ClientStatus::Timeout, ws::kCloseGoingAway, "no pong");
    return;
  }
  if (s.timeout && want_write_ && (now - last_progress_) * 1000 >= gint64(s.timeout)) {
    GST_INFO("client %" G_GUINT64_FORMAT ": no write progress for %" G_GINT64_FORMAT " ms; closing",
             id_, (now - last_progress_) / 1000);
    close(ClientStatus::Slow, 0, nullptr);
    return;
  }
  // A client that takes nothing of what waits for it is as gone as one that does not answer a
  // ping: that covers the clients without pings (MJPEG over HTTP), whose lag never grows (they
  // are always handed the newest frame) and so never reaches units-max.
  if (s.keepalive_pong_timeout && want_write_ &&
      now - last_progress_ >= gint64(s.keepalive_pong_timeout) * G_USEC_PER_SEC) {
    GST_INFO("client %" G_GUINT64_FORMAT ": took nothing for %u s; closing", id_,
             s.keepalive_pong_timeout);
    close(ClientStatus::Timeout, 0, nullptr);
    return;
  }
  // The kernel's view of the link, read once a tick for both.
  TcpLink link;
  const bool known = read_link(&link);
  choose_rung(now, known ? &link : nullptr);
  if (known)
    note_loss(now, link);
  if (websocket_ && s.keepalive_interval && !ping_sent_ &&
      now - last_ping_ >= gint64(s.keepalive_interval) * G_USEC_PER_SEC) {
    last_ping_ = ping_sent_ = now;
    if (queue_control(ws::server_frame(ws::Opcode::Ping, &now, sizeof now)))
      flush();
  }
}

void Client::close(ClientStatus status, uint16_t code, const char *reason) {
  if (closed_)
    return;
  closed_ = true;
  stop_train();
  // A close frame can only go at a frame boundary; mid-frame, the connection just ends.
  const bool at_boundary = pending_.empty() || pending_.front().offset == 0;
  if (code && at_boundary && websocket_) {
    std::string frame = ws::close_frame(code, reason ? reason : "");
    g_pollable_output_stream_write_nonblocking(out_, frame.data(), frame.size(), nullptr, nullptr);
  }
  pending_.clear();
  if (poller_) {
    poller_->remove(g_socket_get_fd(socket_));
    poller_ = nullptr;
  }
  // Half-close first so the peer reads everything sent before it sees the end.
  g_socket_shutdown(socket_, FALSE, TRUE, nullptr);
  GST_DEBUG("client %" G_GUINT64_FORMAT ": closed (%s)", id_, client_status_nick(status));
  host_->closed(this, status);
}

bool Client::read_link(TcpLink *link) const {
  return !closed_ && websocket_ && cursor.delivery == Delivery::Stream &&
         read_tcp_link(g_socket_get_fd(socket_), link);
}

void Client::begin_join() {
  if (!websocket_ || cursor.delivery != Delivery::Stream || host_->n_rungs() < 2)
    return;
  joined_ = false;
  join_since_ = g_get_monotonic_time();
  // (a viewer that asked for a rung is probed too: what the kernel may hold is the link's)
  TcpLink link;
  if (read_link(&link) && link.mss)
    // The whole WebSocket frame (a 4-byte head) in whole segments, of at most an Ethernet
    // segment's size (loopback's are 64 KB).
    send_probe(kJoinProbeSegments * std::min(link.mss, kJoinProbeMss) - 4);
  if (!train_poll_)
    start_on(0);  // a link that cannot be timed
}

void Client::start_on(uint64_t bps) {
  join_probed_ = true;
  const size_t found = policy_.start_rung(host_->rung_bitrates(), bps, g_get_monotonic_time());
  const size_t rung = pinned_ >= 0 ? std::min<size_t>(pinned_, host_->n_rungs() - 1) : found;
  GST_DEBUG("client %" G_GUINT64_FORMAT ": its link %" G_GUINT64_FORMAT
            " kbit/s as probed: starts on rung %zu%s",
            id_, bps / 1000, rung, pinned_ >= 0 ? ", as asked" : "");
  move_to(rung);
  if (!next_)
    joined_ = true;
  flush();
}

void Client::choose_rung(gint64 now, const TcpLink *link) {
  if (closed_ || !websocket_ || cursor.delivery != Delivery::Stream || host_->n_rungs() < 2)
    return;
  if (!joined_ && join_probed_ && now - join_since_ >= kJoinMaxUs) {
    GST_INFO("client %" G_GUINT64_FORMAT ": no keyframe of rung %zu in %" G_GINT64_FORMAT
             " ms; it starts on rung %zu",
             id_, next_rung_, kJoinMaxUs / 1000, rung_);
    move_to(rung_);
    joined_ = true;
  }
  if (!joined_ && pinned_ < 0)
    return;  // where it starts is the probe's to say
  LinkSample sample;
  sample.now_us = now;
  sample.lag_us = host_->queue(rung_).lag_in(&cursor, UnitFormat::Time) / 1000;
  if (link)  // (what waits in the network is in the lag then: no round trip for the policy)
    sample.lag_us = std::max(sample.lag_us, delivered_lag(*link));
  // The link's speed, where it showed since the last tick: bytes acknowledged while more waited
  // (a spell under way counted up to now, and on from now).
  if (backlog_since_ >= 0)
    measure_backlog(true);
  if (backlog_us_ >= link_measure::kMinSpellUs && backlog_bytes_ >= link_measure::kMinBytes) {
    sample.delivery_bps = backlog_bytes_ * 8 * G_USEC_PER_SEC / uint64_t(backlog_us_);
    sample.app_limited = !backlog_queued_;  // else TCP's window, a lower bound
    GST_LOG("client %" G_GUINT64_FORMAT ": link %" G_GUINT64_FORMAT " kbit/s (%" G_GUINT64_FORMAT
            " bytes in %" G_GINT64_FORMAT " us%s)",
            id_, sample.delivery_bps / 1000, backlog_bytes_, backlog_us_,
            backlog_queued_ ? ", a queue on the way" : ", no queue: a lower bound");
  }
  backlog_bytes_ = 0;
  backlog_us_ = 0;
  backlog_queued_ = false;
  if (link) {
    // What the kernel delivered since the last tick, where it held more than that all along and
    // a queue showed: the link, at least under loss (TCP resending a wider link's burst).
    const uint64_t acked = link->bytes_acked - tick_acked_;
    if (tick_at_ >= 0 && now - tick_at_ >= kMinDrainTickUs && tick_queued_ > acked &&
        acked >= link_measure::kMinBytes &&
        link->rtt_us >= link->min_rtt_us + link_measure::kQueueShownUs)
      sample.draining_bps = acked * 8 * G_USEC_PER_SEC / uint64_t(now - tick_at_);
    tick_at_ = now, tick_acked_ = link->bytes_acked, tick_queued_ = link->queued;
  }
  const std::vector<uint64_t> &bitrates = host_->rung_bitrates();
  size_t want = policy_.choose(rung_, bitrates, sample, pinned_);
  if (next_ && want == rung_ && pinned_ < 0)
    want = next_rung_;  // a lag that shrank for a tick does not call off a move under way
  link_bps_ = policy_.link_bps();
  // What the kernel holds unsent is delay the lag cannot see: on a link measured narrow, no more
  // than about 40 ms of it (16 KB is 180 ms at 700 kbit/s).
  const uint64_t known = policy_.last_link_bps();
  const int lowat =
      known ? int(std::clamp<uint64_t>(known / 8 / 25, 2048, kNotSentLowat)) : kNotSentLowat;
  if (lowat != lowat_) {
    lowat_ = lowat;
    setsockopt(g_socket_get_fd(socket_), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
  }
  move_to(want);
  if (want == rung_ && !next_)
    if (const size_t bytes = policy_.probe_size(rung_, bitrates, now))
      send_probe(bytes);
}

int64_t Client::delivered_lag(const TcpLink &link) {
  // What the peer has acknowledged of what was written here: all but what the kernel still
  // holds (unsent, in flight, or to be resent).
  const uint64_t delivered = bytes_sent_ - std::min<uint64_t>(link.queued, bytes_sent_);
  while (!written_.empty() && written_.front().end <= delivered)
    written_.pop_front();
  GstClockTime oldest = GST_CLOCK_TIME_NONE;
  if (!written_.empty())
    oldest = written_.front().ts;
  else
    for (const Pending &p : pending_)
      if (p.unit) {
        oldest = p.unit->ts();
        break;
      }
  const UnitRef newest = host_->queue(rung_).newest();
  if (!GST_CLOCK_TIME_IS_VALID(oldest) || !newest || !GST_CLOCK_TIME_IS_VALID(newest->ts()) ||
      newest->ts() <= oldest)
    return 0;
  // Its acknowledgement comes a round trip after the peer got it.
  return std::max<int64_t>(0, int64_t(newest->ts() - oldest) / 1000 - int64_t(link.min_rtt_us));
}

void Client::note_loss(gint64 now, const TcpLink &link) {
  double share;
  if (said_lossy_ || !resends_.add(now, link.data_segments, int32_t(link.resent), &share) ||
      share < kLossyShare)
    return;
  said_lossy_ = true;
  GST_INFO("client %" G_GUINT64_FORMAT ": its link loses packets (%.1f %% resent)", id_,
           share * 100);
  char text[64];
  g_snprintf(text, sizeof text, "{\"type\":\"link\",\"lossy\":true,\"resent\":%.3f}", share);
  if (queue_control(ws::server_frame(ws::Opcode::Text, text, strlen(text))))
    flush();
}

void Client::measure_backlog(bool backlogged) {
  if (lowat_ < 0 || (!backlogged && backlog_since_ < 0))
    return;  // not a ladder's viewer; no spell to end
  TcpLink link;
  if (!read_tcp_link(g_socket_get_fd(socket_), &link))
    return;
  const gint64 now = g_get_monotonic_time();
  if (backlog_since_ >= 0) {
    backlog_bytes_ += link.bytes_acked - backlog_acked_;
    backlog_us_ += now - backlog_since_;
    backlog_queued_ =
        backlog_queued_ || link.rtt_us >= link.min_rtt_us + link_measure::kQueueShownUs;
  }
  backlog_since_ = backlogged ? now : -1;
  backlog_acked_ = link.bytes_acked;
}

void Client::send_probe(size_t bytes) {
  for (const Pending &p : pending_)
    if (p.padding)
      return;  // the last one is still on its way
  std::string box(bytes, '\0');
  box[0] = char(bytes >> 24), box[1] = char(bytes >> 16), box[2] = char(bytes >> 8);
  box[3] = char(bytes);
  box.replace(4, 4, "free");
  Pending p;
  p.control = ws::server_frame(ws::Opcode::Binary, box.data(), box.size());
  p.padding = true;
  pending_.push_back(std::move(p));
  flush();
  // Timed while it goes: from now until the peer has acknowledged all the kernel took.
  TcpLink link;
  if (closed_ || !pending_.empty() || train_poll_ ||
      !read_tcp_link(g_socket_get_fd(socket_), &link))
    return;
  train_since_ = g_get_monotonic_time();
  train_from_ = link.bytes_acked;
  train_to_ = link.bytes_acked + link.queued;
  train_first_at_ = -1;
  GST_LOG("client %" G_GUINT64_FORMAT ": a probe of %zu bytes, %" G_GUINT64_FORMAT
          " to be acknowledged",
          id_, bytes, train_to_ - train_from_);
  train_poll_ = g_timeout_source_new(kTrainPollMs);
  g_source_set_callback(
      train_poll_, [](gpointer self) { return static_cast<Client *>(self)->poll_train(); }, this,
      nullptr);
  g_source_attach(train_poll_, g_main_context_get_thread_default());
}

gboolean Client::poll_train() {
  TcpLink link;
  const gint64 now = g_get_monotonic_time();
  const bool joining = !join_probed_ && !joined_;
  const bool read = read_tcp_link(g_socket_get_fd(socket_), &link);
  if (!read || now - train_since_ > (joining ? kJoinProbeMaxUs : link_measure::kProbeMaxUs)) {
    stop_train();
    // A joining viewer's link is at most what it took of the probe so far (at least 1 bit/s:
    // measured, the lowest rung).
    if (joining)
      start_on(read ? std::max<uint64_t>((link.bytes_acked - train_from_) * 8 * G_USEC_PER_SEC /
                                             uint64_t(now - train_since_),
                                         1)
                    : 0);
    return G_SOURCE_REMOVE;
  }
  if (train_first_at_ < 0 && link.bytes_acked > train_from_) {
    train_first_at_ = now;
    train_first_acked_ = link.bytes_acked;
  }
  if (link.bytes_acked < train_to_)
    return G_SOURCE_CONTINUE;
  // The link's rate is how fast the acknowledgements came, from the first seen to the last: what
  // a token bucket on the way (tc tbf, an ISP's shaper) or Wi-Fi's aggregation let through at
  // once is acknowledged by the first look and left out. Counted from the send less a round
  // trip, a 4 KB bucket made 8 KB probes read a 500 kbit/s link as ~650 and send viewers up to
  // a 360p rung it could not carry (13-17 s behind in two runs of five; none in eight since,
  // docs/benchmarks.md). All at one look: from the send, less a round trip.
  const uint64_t spread = train_to_ - train_first_acked_;
  const bool dispersed =
      train_first_at_ >= 0 && now - train_first_at_ >= 1000 && spread >= link_measure::kMinBytes;
  const gint64 took =
      dispersed ? now - train_first_at_ : now - train_since_ - gint64(link.min_rtt_us);
  const uint64_t bytes = dispersed ? spread : train_to_ - train_from_;
  uint64_t bps = 0;  // 0: as fast as it can be looked at
  if (took > 0 && bytes >= link_measure::kMinBytes) {
    bps = bytes * 8 * G_USEC_PER_SEC / uint64_t(std::max<gint64>(took, 1000));
    GST_LOG("client %" G_GUINT64_FORMAT ": a probe of %" G_GUINT64_FORMAT
            " bytes in %" G_GINT64_FORMAT " us: %" G_GUINT64_FORMAT " kbit/s",
            id_, bytes, took, bps / 1000);
  }
  stop_train();
  if (joining)
    start_on(bps);
  else if (bps)
    policy_.probed(rung_, host_->rung_bitrates(), bps, now);
  return G_SOURCE_REMOVE;
}

void Client::stop_train() {
  if (!train_poll_)
    return;
  g_source_destroy(train_poll_);
  g_source_unref(train_poll_);
  train_poll_ = nullptr;
}

void Client::move_to(size_t rung) {
  if (next_ && next_rung_ == rung)
    return;  // under way
  if (next_) {
    host_->queue(next_rung_).detach(next_.get());
    next_.reset();
  }
  if (rung == rung_)
    return;
  GST_DEBUG("client %" G_GUINT64_FORMAT ": moving from rung %zu to %zu (lag %" G_GINT64_FORMAT
            " ms, link %" G_GUINT64_FORMAT " kbit/s)",
            id_, rung_, rung, host_->queue(rung_).lag_in(&cursor, UnitFormat::Time) / 1000000,
            link_bps_ / 1000);
  next_ = std::make_unique<ClientCursor>();
  next_->delivery = cursor.delivery;
  next_->wants_header = cursor.wants_header;
  next_rung_ = rung;
  host_->queue(rung).attach(next_.get(), true);
  host_->keyframe_wanted(rung);
}

void Client::finish_move() {
  UnitQueue &from = host_->queue(rung_);
  // What it had still to send of the old rung is skipped: the new rung's keyframe is newer (a
  // joining viewer's first rung is no move, and nothing of the top was its to skip).
  const uint64_t abandoned = joined_ ? uint64_t(from.lag_in(&cursor, UnitFormat::Buffers)) : 0;
  from.detach(&cursor);
  ClientCursor moved = *next_;
  moved.units_sent += cursor.units_sent;
  moved.units_skipped += cursor.units_skipped + abandoned;
  moved.recoveries += cursor.recoveries;
  moved.header_gen = 0;  // the new rung's description and init segment go first
  moved.header_pos = 0;
  cursor = moved;
  host_->queue(next_rung_).replace(next_.get(), &cursor);
  next_.reset();
  rung_ = next_rung_;
  rung_changes_ += joined_;
  joined_ = true;
  GST_DEBUG("client %" G_GUINT64_FORMAT ": on rung %zu", id_, rung_);
}

void Client::leave_queues() {
  host_->queue(rung_).detach(&cursor);
  if (next_)
    host_->queue(next_rung_).detach(next_.get());
  next_.reset();
}

void Client::fill_stats(ClientStats *out) const {
  const UnitQueue &queue = host_->queue(rung_);
  out->id = id_;
  out->peer = peer_;
  out->connect_time = connect_time_;
  out->connected_us = g_get_monotonic_time() - connect_mono_;
  out->bytes_sent = bytes_sent_;
  out->units_sent = cursor.units_sent;
  out->units_skipped = cursor.units_skipped;
  out->recoveries = cursor.recoveries;
  out->lag_units = queue.lag_in(&cursor, UnitFormat::Buffers);
  out->lag_bytes = queue.lag_in(&cursor, UnitFormat::Bytes);
  out->lag_time = queue.lag_in(&cursor, UnitFormat::Time);
  out->rtt_us = rtt_us_;
  out->rung = rung_;
  out->pinned = pinned_;
  out->link_bps = link_bps_;
  out->rung_changes = rung_changes_;
}

}  // namespace camcast
