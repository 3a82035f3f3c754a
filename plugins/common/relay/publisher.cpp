#include "relay/publisher.h"

#include "access/tls.h"
#include "formats/mpegts.h"
#include "net/backoff.h"
#include "net/client_url.h"
#include "net/tcp_link.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <chrono>
#include <cstring>

GST_DEBUG_CATEGORY_STATIC(camcast_push_debug);
#define GST_CAT_DEFAULT camcast_push_debug

namespace camcast {

namespace {

// How long stop() lets the push thread finish the request cleanly before cancelling its I/O.
constexpr auto kStopGrace = std::chrono::seconds(1);

// The ladder: how often the policy decides; what is written at once (between two pieces the
// link is timed and a move may begin), smaller while a probe's end is awaited; a write that took
// this long waited for the kernel, so the bytes acknowledged meanwhile are the link's (as far as
// net/tcp_link.h's link_measure allows).
constexpr gint64 kTickUs = 250000;
constexpr size_t kPieceBytes = 16 * 1024;
constexpr size_t kProbingPieceBytes = 2048;
constexpr gint64 kWaitedUs = 2000;
// A move: its keyframe asked again after this long without one; the old rung's units wait for
// the cut-over at most this long once the new rung's keyframe is here (an old rung gone quiet);
// the new rung's units held meanwhile at most this many bytes.
constexpr gint64 kMoveRetryUs = 2000000;
constexpr gint64 kCutWaitUs = 300000;
constexpr uint64_t kMaxMovingBytes = 1024 * 1024;

void unref_all(std::vector<GstBuffer *> *buffers) {
  for (GstBuffer *b : *buffers)
    gst_buffer_unref(b);
  buffers->clear();
}

// One HTTP/1.1 chunk of `size` bytes that `append` puts in place.
template <typename Append>
std::string chunk_of(size_t size, Append append) {
  char line[32];
  const int n = g_snprintf(line, sizeof line, "%zx\r\n", size);
  std::string out(line, size_t(n));
  out.reserve(out.size() + size + 2);
  append(&out);
  return out + "\r\n";
}

// One HTTP/1.1 chunk holding `buffers` back to back (one write: the push is one connection of a
// few Mbit/s, and over TLS each write is a record).
std::string chunk(const std::vector<GstBuffer *> &buffers) {
  size_t size = 0;
  for (GstBuffer *b : buffers)
    size += gst_buffer_get_size(b);
  return chunk_of(size, [&buffers](std::string *out) {
    for (GstBuffer *b : buffers) {
      GstMapInfo map;
      if (gst_buffer_map(b, &map, GST_MAP_READ)) {
        out->append(reinterpret_cast<const char *>(map.data), map.size);
        gst_buffer_unmap(b, &map);
      }
    }
  });
}

// A probe: at least `bytes` of null packets (PID 0x1FFF, ISO/IEC 13818-1 2.4.3.3), which every
// demuxer skips, as one chunk.
std::string null_packets(size_t bytes) {
  const size_t n = (bytes + mpegts::kPacketSize - 1) / mpegts::kPacketSize;
  return chunk_of(n * mpegts::kPacketSize, [n](std::string *out) {
    for (size_t i = 0; i < n; i++) {
      out->append("\x47\x1f\xff\x10", 4);
      out->append(mpegts::kPacketSize - 4, '\xff');
    }
  });
}

// Waiting for "100 Continue" no longer than this: a relay that ignores Expect (older servers)
// answers nothing, and the stream then just goes.
constexpr int kContinueWaitMs = 1000;

// The relay's answer so far ("" while it has said nothing), or why reading it failed.
std::string read_answer(GInputStream *in) {
  char buf[256];
  GError *error = nullptr;
  const gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(in), buf,
                                                            sizeof buf, nullptr, &error);
  if (n == 0)
    return "the relay closed the connection";
  if (n > 0)
    return describe_relay_answer(std::string_view(buf, size_t(n)));
  const bool again = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  std::string why = again ? "" : std::string("reading from the relay failed: ") + error->message;
  g_error_free(error);
  return why;
}

// Waits up to `ms` for the relay's verdict on the request head: "" to go on (100 Continue, or
// no answer from a server that ignores Expect), or why it refused.
std::string await_continue(GInputStream *in, int ms) {
  std::string head;
  const gint64 until = g_get_monotonic_time() + gint64(ms) * 1000;
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 4096 &&
         g_get_monotonic_time() < until) {
    char buf[512];
    GError *error = nullptr;
    const gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(in), buf,
                                                              sizeof buf, nullptr, &error);
    if (n > 0) {
      head.append(buf, size_t(n));
      continue;
    }
    const bool again = n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
    g_clear_error(&error);
    if (!again)
      return "the relay closed the connection";
    g_usleep(5000);
  }
  return head.empty() ? "" : describe_relay_answer(head);
}

}  // namespace

std::string describe_relay_answer(std::string_view answer) {
  // Interim answers ("100 Continue") say go on; what follows them, if anything, is the verdict.
  int code = 0;
  std::string_view line;
  while (true) {
    line = answer.substr(0, std::min(answer.find_first_of("\r\n"), size_t(120)));
    code = 0;
    if (line.size() >= 12 && line.substr(0, 7) == "HTTP/1." && line[8] == ' ')
      for (size_t i = 9; i < 12 && g_ascii_isdigit(line[i]); i++)
        code = code * 10 + (line[i] - '0');
    const size_t end = answer.find("\r\n\r\n");
    if (code < 100 || code > 199 || end == std::string_view::npos)
      break;
    answer.remove_prefix(end + 4);
  }
  if ((code >= 100 && code <= 199) || answer.empty())
    return "";
  // Only printable ASCII of it reaches the log.
  std::string shown;
  for (char c : line)
    shown += g_ascii_isprint(c) ? c : '?';
  const char *hint =
      code == 403 || code == 401 ? " (check the secret)"
      : code == 409              ? " (another camera is publishing there)"
      : code == 404              ? " (check the path in location)"
      : code == 408              ? " (it limits how long a request lasts: Node's http server "
                                   "ends each after 5 minutes)"
      : code >= 200 && code <= 299
          ? " before the stream ended (JSMpeg's websocket-relay.js does so for a wrong secret)"
          : "";
  return "the relay answered \"" + shown + "\"" + hint;
}

namespace {

bool write_all(GOutputStream *out, const char *data, size_t size, GCancellable *cancellable,
               std::string *why) {
  GError *error = nullptr;
  if (g_output_stream_write_all(out, data, size, nullptr, cancellable, &error))
    return true;
  *why = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
             ? "the relay took nothing for the timeout"
             : std::string("sending failed: ") + error->message;
  g_error_free(error);
  return false;
}

}  // namespace

RelayPublisher::RelayPublisher(Settings settings, EventFn event, KeyframeFn keyframe_wanted)
    : settings_(std::move(settings)),
      event_(std::move(event)),
      keyframe_wanted_(std::move(keyframe_wanted)),
      cancellable_(g_cancellable_new()),
      gate_(SIZE_MAX, settings_.max_queued_bytes),
      rung_bytes_(1, 0) {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(camcast_push_debug, "camcastpush", 0, "camcast relay push");
    g_once_init_leave(&once, 1);
  }
}

RelayPublisher::~RelayPublisher() {
  stop();
  unref_all(&header_);
  clear_queue();
  cancel_move();
  if (uri_)
    g_uri_unref(uri_);
  if (ca_)
    g_object_unref(ca_);
  g_object_unref(cancellable_);
}

std::string RelayPublisher::where() const {
  return loggable_url(uri_);
}

bool RelayPublisher::start(GError **error) {
  if (!(uri_ = parse_client_url(settings_.location))) {
    // Not echoed: it may hold the secret.
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "location is not an http:// or https:// URL of a relay (like "
                "http://relay.example:8080/publish/SECRET)");
    return false;
  }
  if (!settings_.ca_file.empty() && !(ca_ = load_ca_file(settings_.ca_file, "the relay's", error)))
    return false;
  thread_ = std::thread([this] { run(); });
  return true;
}

void RelayPublisher::stop() {
  if (!thread_.joinable())
    return;
  std::unique_lock<std::mutex> lk(lock_);
  stopping_ = true;
  wake_.notify_all();
  // Let it send what is queued and the last chunk; then cut whatever it is blocked in.
  wake_.wait_for(lk, kStopGrace, [this] { return !connected_; });
  lk.unlock();
  g_cancellable_cancel(cancellable_);
  thread_.join();
}

void RelayPublisher::set_header(const std::vector<GstBuffer *> &header) {
  std::lock_guard<std::mutex> lk(lock_);
  unref_all(&header_);
  for (GstBuffer *b : header)
    header_.push_back(gst_buffer_ref(b));
}

void RelayPublisher::set_rungs(size_t n) {
  std::lock_guard<std::mutex> lk(lock_);
  n_rungs_ = std::max<size_t>(n, 1);
  rung_bytes_.resize(n_rungs_, 0);
  if (stats_.rung >= n_rungs_)
    stats_.rung = 0;
}

bool RelayPublisher::uses(size_t rung) {
  std::lock_guard<std::mutex> lk(lock_);
  return rung == stats_.rung || (moving_ && rung == next_rung_);
}

void RelayPublisher::push(GstBuffer *buffer, bool keyframe, size_t rung) {
  const gint64 now = g_get_monotonic_time();
  std::lock_guard<std::mutex> lk(lock_);
  if (rung >= n_rungs_)
    return;
  rung_bytes_[rung] += gst_buffer_get_size(buffer);
  if (!connected_) {
    if (rung == stats_.rung) {
      stats_.units_dropped++;
      gate_.interrupt();  // a decoder at the relay can only start at a keyframe
    }
    return;
  }
  if (moving_ && rung == next_rung_) {
    // The new rung from its keyframe on, held until the old one reaches the keyframe's time.
    if (moving_units_.empty()) {
      if (!keyframe)
        return;
      cut_pts_ = GST_BUFFER_PTS(buffer);
      cut_by_ = now + kCutWaitUs;
    }
    moving_units_.push_back({gst_buffer_ref(buffer), now, keyframe});
    moving_bytes_ += gst_buffer_get_size(buffer);
    if (moving_bytes_ > kMaxMovingBytes)
      finish_move();
    return;
  }
  if (rung != stats_.rung)
    return;
  // The old rung's frame at the new keyframe's time or later: the new rung goes on from here.
  if (moving_ && !moving_units_.empty() &&
      (!GST_CLOCK_TIME_IS_VALID(cut_pts_) || !GST_BUFFER_PTS_IS_VALID(buffer) ||
       GST_BUFFER_PTS(buffer) >= cut_pts_)) {
    finish_move();
    return;
  }
  queue_unit(buffer, keyframe, now);
}

void RelayPublisher::queue_unit(GstBuffer *buffer, bool keyframe, gint64 at) {
  // The link is slower than the stream: what is queued is stale, go on from a keyframe.
  const DropGate::Verdict verdict = gate_.admit(gst_buffer_get_size(buffer), keyframe);
  if (verdict.flush)
    clear_queue();
  if (!verdict.queue)
    return;
  queue_.push_back({gst_buffer_ref(buffer), at, keyframe});
  wake_.notify_all();
}

void RelayPublisher::finish_move() {
  GST_INFO("%s: now sending rung %zu (was %zu)", where().c_str(), next_rung_, stats_.rung);
  stats_.rung = next_rung_;
  stats_.rung_changes++;
  moving_ = false;
  // What waits of the old rung is late: only the rest of the frame being written goes (a
  // frame's packets share its time), so the relay's demuxer gets it whole.
  size_t keep = 0;
  while (keep < queue_.size() && GST_CLOCK_TIME_IS_VALID(writing_pts_) &&
         GST_BUFFER_PTS(queue_[keep].buffer) == writing_pts_)
    keep++;
  for (size_t i = keep; i < queue_.size(); i++) {
    gate_.taken(gst_buffer_get_size(queue_[i].buffer));
    gst_buffer_unref(queue_[i].buffer);
  }
  queue_.resize(keep);
  for (Unit &u : moving_units_) {
    queue_unit(u.buffer, u.keyframe, u.at);
    gst_buffer_unref(u.buffer);
  }
  moving_units_.clear();
  moving_bytes_ = 0;
}

void RelayPublisher::clear_queue() {
  for (Unit &u : queue_)
    gst_buffer_unref(u.buffer);
  queue_.clear();
}

void RelayPublisher::cancel_move() {
  moving_ = false;
  for (Unit &u : moving_units_)
    gst_buffer_unref(u.buffer);
  moving_units_.clear();
  moving_bytes_ = 0;
}

RelayPublisher::Stats RelayPublisher::stats() {
  std::lock_guard<std::mutex> lk(lock_);
  Stats s = stats_;
  s.units_dropped += gate_.dropped();
  s.connected = connected_;
  return s;
}

bool RelayPublisher::wait_backoff(int ms) {
  std::unique_lock<std::mutex> lk(lock_);
  return !wake_.wait_for(lk, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

void RelayPublisher::run() {
  Backoff backoff(settings_.backoff_initial_ms, settings_.backoff_max_ms);
  while (true) {
    {
      std::lock_guard<std::mutex> lk(lock_);
      if (stopping_)
        break;
    }
    const gint64 began = g_get_monotonic_time();
    const std::string why = connect_and_stream();
    {
      std::lock_guard<std::mutex> lk(lock_);
      if (stopping_)
        break;
    }
    const int wait = backoff.next(g_get_monotonic_time() - began);
    GST_WARNING("%s: %s; trying again in %d ms", where().c_str(), why.c_str(), wait);
    event_(false, why);
    if (!wait_backoff(wait))
      break;
  }
}

GSocketConnection *RelayPublisher::connect(std::string *why) {
  const bool https = g_strcmp0(g_uri_get_scheme(uri_), "https") == 0;
  const char *host = g_uri_get_host(uri_);
  const int port = g_uri_get_port(uri_) > 0 ? g_uri_get_port(uri_) : https ? 443 : 80;
  GSocketClient *client = g_socket_client_new();
  g_socket_client_set_timeout(client, guint(settings_.timeout_s));
  g_socket_client_set_tls(client, https);
  if (ca_)
    g_signal_connect(client, "event",
                     G_CALLBACK(+[](GSocketClient *, GSocketClientEvent event, GSocketConnectable *,
                                    GIOStream *connection, gpointer ca) {
                       if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING)
                         g_tls_connection_set_database(G_TLS_CONNECTION(connection),
                                                       G_TLS_DATABASE(ca));
                     }),
                     ca_);
  GError *error = nullptr;
  GSocketConnection *conn =
      g_socket_client_connect_to_host(client, host, guint16(port), cancellable_, &error);
  g_object_unref(client);
  if (!conn) {
    *why = std::string("cannot connect to ") + host + ":" + std::to_string(port) + ": " +
           error->message;
    *why += certificate_hint(error, ca_ != nullptr);
    g_error_free(error);
  }
  return conn;
}

std::string RelayPublisher::request_head() const {
  const bool https = g_strcmp0(g_uri_get_scheme(uri_), "https") == 0;
  const char *host = g_uri_get_host(uri_);
  const int port = g_uri_get_port(uri_) > 0 ? g_uri_get_port(uri_) : https ? 443 : 80;
  std::string path = *g_uri_get_path(uri_) ? g_uri_get_path(uri_) : "/";
  if (g_uri_get_query(uri_))
    path += std::string("?") + g_uri_get_query(uri_);
  std::string head = "POST " + path + " HTTP/1.1\r\nHost: " + host +
                     (g_uri_get_port(uri_) > 0 ? ":" + std::to_string(port) : "") +
                     "\r\nUser-Agent: camcast/" PACKAGE_VERSION
                     "\r\n"
                     "Content-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\n"
                     // A relay that refuses (wrong secret, another camera) says so before the
                     // stream: libsoup answers a request without this only after its body.
                     "Expect: 100-continue\r\n";
  if (!settings_.secret.empty())
    head += "Authorization: Bearer " + settings_.secret + "\r\n";
  head += "\r\n";
  return head;
}

std::string RelayPublisher::stream(GSocket *socket, GInputStream *in, GOutputStream *out) {
  std::string why;
  std::vector<Unit> batch;
  std::vector<GstBuffer *> buffers;
  while (why.empty()) {
    bool ending;
    {
      std::unique_lock<std::mutex> lk(lock_);
      // While a probe's end is awaited, it is looked for every few ms.
      wake_.wait_for(lk, std::chrono::milliseconds(probe_since_ ? 2 : 200),
                     [this] { return stopping_ || !queue_.empty(); });
      // A chunk at a time, so that what waits stays in the queue, where a move can drop it.
      size_t bytes = 0;
      while (!queue_.empty() && bytes < kPieceBytes) {
        bytes += gst_buffer_get_size(queue_.front().buffer);
        gate_.taken(gst_buffer_get_size(queue_.front().buffer));
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
      writing_since_ = batch.empty() ? 0 : batch.front().at;
      if (!batch.empty())
        writing_pts_ = GST_BUFFER_PTS(batch.back().buffer);
      ending = stopping_ && queue_.empty();
    }
    // The relay says something only to refuse the stream, or to end it.
    why = read_answer(in);
    for (Unit &u : batch)
      buffers.push_back(u.buffer);  // the batch's references, let go of below
    batch.clear();
    std::string data = buffers.empty() || !why.empty() ? "" : chunk(buffers);
    unref_all(&buffers);
    if (ending && why.empty()) {
      data += "0\r\n\r\n";  // the last chunk: a clean end of the upload
      why = "stopped";
    }
    if (!data.empty()) {
      std::string failed;
      if (!send(socket, out, data, &failed))
        why = failed;
      std::lock_guard<std::mutex> lk(lock_);
      stats_.bytes_sent += data.size();
      writing_since_ = 0;
    }
    if (why.empty() && !ending) {
      const size_t probe = tick(socket, true);
      if (probe) {
        data = null_packets(probe);
        TcpLink link;
        const bool known = read_tcp_link(g_socket_get_fd(socket), &link);
        if (!send(socket, out, data, &why))
          break;
        {
          std::lock_guard<std::mutex> lk(lock_);
          stats_.bytes_sent += data.size();
        }
        // It ends where what the kernel took ends (TLS records included).
        TcpLink sent;
        if (known && read_tcp_link(g_socket_get_fd(socket), &sent)) {
          probe_since_ = g_get_monotonic_time();
          probe_from_ = link.bytes_acked;
          probe_to_ = sent.bytes_acked + sent.queued;
        }
      }
    }
  }
  return why;
}

bool RelayPublisher::send(GSocket *socket, GOutputStream *out, const std::string &data,
                          std::string *why) {
  const int fd = g_socket_get_fd(socket);
  for (size_t at = 0; at < data.size();) {
    const size_t n = std::min(data.size() - at, probe_since_ ? kProbingPieceBytes : kPieceBytes);
    TcpLink before;
    const bool timed = ladder() && read_tcp_link(fd, &before);
    const gint64 began = g_get_monotonic_time();
    if (!write_all(out, data.data() + at, n, cancellable_, why))
      return false;
    at += n;
    const gint64 now = g_get_monotonic_time();
    TcpLink after;
    if (timed && now - began >= kWaitedUs && read_tcp_link(fd, &after)) {
      backlog_bytes_ += after.bytes_acked - before.bytes_acked;
      backlog_us_ += now - began;
      backlog_queued_ =
          backlog_queued_ || after.rtt_us >= after.min_rtt_us + link_measure::kQueueShownUs;
    }
    if (at < data.size())
      tick(socket, false);  // a move may begin while a long write goes on
  }
  return true;
}

bool RelayPublisher::ladder() {
  std::lock_guard<std::mutex> lk(lock_);
  return n_rungs_ > 1;
}

size_t RelayPublisher::tick(GSocket *socket, bool may_probe) {
  if (!ladder())
    return 0;
  const gint64 now = g_get_monotonic_time();
  const int fd = g_socket_get_fd(socket);
  TcpLink link;
  const bool known = read_tcp_link(fd, &link);
  // A probe's end: its last byte acknowledged a round trip after it left; the rest is the link's.
  size_t rung;
  {
    std::lock_guard<std::mutex> lk(lock_);
    rung = stats_.rung;
  }
  if (probe_since_ && known && link.bytes_acked >= probe_to_) {
    const gint64 took = now - probe_since_ - gint64(link.min_rtt_us);
    const uint64_t bytes = probe_to_ - probe_from_;
    if (took > 0 && bytes >= link_measure::kMinBytes) {
      const uint64_t bps = bytes * 8 * G_USEC_PER_SEC / uint64_t(std::max<gint64>(took, 1000));
      GST_LOG("%s: a probe of %" G_GUINT64_FORMAT " bytes in %" G_GINT64_FORMAT
              " us: %" G_GUINT64_FORMAT " kbit/s",
              where().c_str(), bytes, took, bps / 1000);
      policy_.probed(rung, bitrates_, bps, now);
    }
    probe_since_ = 0;
  } else if (probe_since_ && now - probe_since_ > link_measure::kProbeMaxUs) {
    probe_since_ = 0;
  }
  if (now < next_tick_)
    return 0;
  next_tick_ = now + kTickUs;

  LinkSample sample;
  sample.now_us = now;
  sample.rtt_us = known ? link.rtt_us : 0;
  std::vector<uint64_t> produced;
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (n_rungs_ < 2)
      return 0;
    const gint64 oldest = writing_since_ ? writing_since_ : queue_.empty() ? 0 : queue_.front().at;
    sample.lag_us = oldest ? now - oldest : 0;
    produced = rung_bytes_;
  }
  if (backlog_us_ >= link_measure::kMinSpellUs && backlog_bytes_ >= link_measure::kMinBytes) {
    sample.delivery_bps = backlog_bytes_ * 8 * G_USEC_PER_SEC / uint64_t(backlog_us_);
    sample.app_limited = !backlog_queued_;
  }
  backlog_bytes_ = 0;
  backlog_us_ = 0;
  backlog_queued_ = false;
  meters_.resize(produced.size());
  bitrates_.resize(produced.size());
  for (size_t i = 0; i < produced.size(); i++)
    bitrates_[i] = meters_[i].measure(now, produced[i]);
  size_t want = policy_.choose(rung, bitrates_, sample);

  bool ask = false;
  bool moving;
  {
    std::lock_guard<std::mutex> lk(lock_);
    stats_.link_bps = policy_.link_bps();
    if (moving_ && want == stats_.rung)
      want = next_rung_;  // a lag that shrank for a tick does not call off a move under way
    if (want != stats_.rung && (!moving_ || next_rung_ != want)) {
      GST_INFO("%s: moving from rung %zu to %zu (lag %" G_GINT64_FORMAT
               " ms, link %" G_GUINT64_FORMAT " kbit/s)",
               where().c_str(), stats_.rung, want, sample.lag_us / 1000, stats_.link_bps / 1000);
      cancel_move();
      moving_ = true;
      next_rung_ = want;
      move_asked_ = now;
      ask = true;
    } else if (moving_ && moving_units_.empty() && now - move_asked_ >= kMoveRetryUs) {
      move_asked_ = now;
      ask = true;
    } else if (moving_ && !moving_units_.empty() && now >= cut_by_) {
      finish_move();
    }
    moving = moving_;
    want = moving_ ? next_rung_ : stats_.rung;
  }
  if (ask && keyframe_wanted_)
    keyframe_wanted_(want);
  // What the kernel holds unsent is delay the lag cannot see: on a link measured narrow, no more
  // than about 40 ms of it.
  const uint64_t last = policy_.last_link_bps();
  const int lowat =
      last ? int(std::clamp<uint64_t>(last / 8 / 25, 2048, kPieceBytes)) : int(kPieceBytes);
  if (lowat != lowat_) {
    lowat_ = lowat;
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
  }
  if (moving || probe_since_ || !may_probe)
    return 0;
  return policy_.probe_size(rung, bitrates_, now);
}

std::string RelayPublisher::connect_and_stream() {
  std::string why;
  GSocketConnection *conn = connect(&why);
  if (!conn)
    return why;
  GSocket *socket = g_socket_connection_get_socket(conn);
  // Each chunk goes at once: with Nagle's algorithm a frame waits for the relay to acknowledge
  // the one before, which its delayed ACK holds back (10 ms more for one frame in twenty).
  g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
  // What the kernel holds unsent stays small, so that a link slower than the stream shows as
  // lag here, where the rung policy and the drop gate see it.
  lowat_ = int(kPieceBytes);
  setsockopt(g_socket_get_fd(socket), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat_, sizeof lowat_);
  probe_since_ = 0;
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
  std::string head = request_head();
  if (send(socket, out, head, &why))
    why = await_continue(in, kContinueWaitMs);
  if (why.empty()) {
    std::vector<GstBuffer *> batch;
    {
      std::lock_guard<std::mutex> lk(lock_);
      for (GstBuffer *b : header_)
        batch.push_back(gst_buffer_ref(b));
    }
    head = batch.empty() ? "" : chunk(batch);
    unref_all(&batch);
    send(socket, out, head, &why);
  }
  if (why.empty()) {
    {
      std::lock_guard<std::mutex> lk(lock_);
      connected_ = true;
      gate_.interrupt();
      stats_.connections++;
      stats_.bytes_sent += head.size();
    }
    GST_INFO("%s: connected", where().c_str());
    event_(true, "");
    why = stream(socket, in, out);
  }
  g_io_stream_close(G_IO_STREAM(conn), nullptr, nullptr);
  g_object_unref(conn);
  std::lock_guard<std::mutex> lk(lock_);
  connected_ = false;
  clear_queue();
  cancel_move();
  gate_.taken_all();
  wake_.notify_all();
  return why;
}

}  // namespace camcast
