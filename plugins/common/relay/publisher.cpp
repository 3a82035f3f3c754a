#include "relay/publisher.h"

#include "access/tls.h"
#include "net/backoff.h"
#include "net/client_url.h"

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

void unref_all(std::vector<GstBuffer *> *buffers) {
  for (GstBuffer *b : *buffers)
    gst_buffer_unref(b);
  buffers->clear();
}

// One HTTP/1.1 chunk holding `buffers` back to back (one write: the push is one connection of a
// few Mbit/s, and over TLS each write is a record).
std::string chunk(const std::vector<GstBuffer *> &buffers) {
  size_t size = 0;
  for (GstBuffer *b : buffers)
    size += gst_buffer_get_size(b);
  char line[32];
  const int n = g_snprintf(line, sizeof line, "%zx\r\n", size);
  std::string out(line, size_t(n));
  out.reserve(out.size() + size + 2);
  for (GstBuffer *b : buffers) {
    GstMapInfo map;
    if (gst_buffer_map(b, &map, GST_MAP_READ)) {
      out.append(reinterpret_cast<const char *>(map.data), map.size);
      gst_buffer_unmap(b, &map);
    }
  }
  return out + "\r\n";
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

bool write_all(GOutputStream *out, const std::string &data, GCancellable *cancellable,
               std::string *why) {
  GError *error = nullptr;
  if (g_output_stream_write_all(out, data.data(), data.size(), nullptr, cancellable, &error))
    return true;
  *why = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
             ? "the relay took nothing for the timeout"
             : std::string("sending failed: ") + error->message;
  g_error_free(error);
  return false;
}

}  // namespace

RelayPublisher::RelayPublisher(Settings settings, EventFn event)
    : settings_(std::move(settings)),
      event_(std::move(event)),
      cancellable_(g_cancellable_new()),
      gate_(SIZE_MAX, settings_.max_queued_bytes) {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(camcast_push_debug, "camcastpush", 0, "camcast relay push");
    g_once_init_leave(&once, 1);
  }
}

RelayPublisher::~RelayPublisher() {
  stop();
  unref_all(&header_);
  unref_all(&queue_);
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

void RelayPublisher::push(GstBuffer *buffer, bool keyframe) {
  std::lock_guard<std::mutex> lk(lock_);
  if (!connected_) {
    stats_.units_dropped++;
    gate_.interrupt();  // a decoder at the relay can only start at a keyframe
    return;
  }
  // The link is slower than the stream: what is queued is stale, go on from a keyframe.
  const DropGate::Verdict verdict = gate_.admit(gst_buffer_get_size(buffer), keyframe);
  if (verdict.flush)
    unref_all(&queue_);
  if (!verdict.queue)
    return;
  queue_.push_back(gst_buffer_ref(buffer));
  wake_.notify_all();
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
    if (g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE))
      *why += ca_ ? " (not signed by tls-ca-file, or not for this host)"
                  : " (a relay with its own certificate needs tls-ca-file)";
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

std::string RelayPublisher::stream(GInputStream *in, GOutputStream *out) {
  std::string why;
  std::vector<GstBuffer *> batch;
  while (why.empty()) {
    bool ending;
    {
      std::unique_lock<std::mutex> lk(lock_);
      wake_.wait_for(lk, std::chrono::milliseconds(200),
                     [this] { return stopping_ || !queue_.empty(); });
      batch.swap(queue_);
      gate_.taken_all();
      ending = stopping_;
    }
    // The relay says something only to refuse the stream, or to end it.
    why = read_answer(in);
    std::string data = batch.empty() || !why.empty() ? "" : chunk(batch);
    unref_all(&batch);
    if (ending && why.empty()) {
      data += "0\r\n\r\n";  // the last chunk: a clean end of the upload
      why = "stopped";
    }
    if (!data.empty()) {
      std::string failed;
      if (!write_all(out, data, cancellable_, &failed))
        why = failed;
      std::lock_guard<std::mutex> lk(lock_);
      stats_.bytes_sent += data.size();
    }
  }
  return why;
}

std::string RelayPublisher::connect_and_stream() {
  std::string why;
  GSocketConnection *conn = connect(&why);
  if (!conn)
    return why;
  // Each chunk goes at once: with Nagle's algorithm a frame waits for the relay to acknowledge
  // the one before, which its delayed ACK holds back (10 ms more for one frame in twenty).
  g_socket_set_option(g_socket_connection_get_socket(conn), IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
  std::string head = request_head();
  if (write_all(out, head, cancellable_, &why))
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
    write_all(out, head, cancellable_, &why);
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
    why = stream(in, out);
  }
  g_io_stream_close(G_IO_STREAM(conn), nullptr, nullptr);
  g_object_unref(conn);
  std::lock_guard<std::mutex> lk(lock_);
  connected_ = false;
  unref_all(&queue_);
  gate_.taken_all();
  wake_.notify_all();
  return why;
}

}  // namespace camcast
