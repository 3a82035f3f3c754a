// A mount and its clients without a server: the test's own main context and epoll set stand in
// for the server thread (MountContext), and each viewer is one end of a socket pair whose other
// end the test reads byte for byte. Expected bytes are written out here by hand from RFC 6455
// and RFC 2046, not with the code under test.
#include "framing/framer.h"
#include "net/mount.h"

#include <gio/gio.h>
#include <gst/gst.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);

using namespace camcast;

namespace {

// The server thread: this thread's main context, with an epoll set.
class TestContext final : public MountContext {
public:
  TestContext() : context_(g_main_context_new()) {
    g_main_context_push_thread_default(context_);
    poller_ = EpollSource::create(context_, nullptr);
    g_assert_nonnull(poller_);
  }
  ~TestContext() {
    poller_.reset();
    g_main_context_pop_thread_default(context_);
    g_main_context_unref(context_);
  }
  GMainContext *context() const override { return context_; }
  EpollSource *poller() override { return poller_.get(); }
  void invoke_sync(const std::function<void()> &fn) override { fn(); }
  void iterate() {
    while (g_main_context_iteration(context_, FALSE)) {
    }
  }

private:
  GMainContext *context_;
  std::unique_ptr<EpollSource> poller_;
};

struct Recorder final : MountDelegate {
  std::vector<uint64_t> added;
  std::vector<std::pair<uint64_t, ClientStatus>> removed;
  std::vector<std::string> messages;
  void client_added(uint64_t id) override { added.push_back(id); }
  void client_removed(uint64_t id, ClientStatus status) override {
    removed.emplace_back(id, status);
  }
  bool serve_http(SoupServerMessage *, std::string_view) override { return false; }
  void client_message(uint64_t, const ws::ClientMessage &msg) override {
    messages.push_back(msg.payload);
  }
  std::vector<size_t> keyframes_wanted;
  void keyframe_wanted(size_t rung) override { keyframes_wanted.push_back(rung); }
};

// One viewer: the mount gets one end of a socket pair, the test keeps the other.
struct Peer {
  int fd = -1;
  explicit Peer(const std::function<void(const Connection::Handoff &)> &accept) {
    int fds[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
    fd = fds[1];
    GSocket *socket = g_socket_new_from_fd(fds[0], nullptr);
    g_assert_nonnull(socket);
    GSocketConnection *stream = g_socket_connection_factory_create_connection(socket);
    const std::string peer = "test-peer";
    accept({G_IO_STREAM(stream), socket, peer});
    g_object_unref(stream);
    g_object_unref(socket);
  }
  ~Peer() { close(fd); }
  void send(const std::string &bytes) const {
    g_assert_cmpint(write(fd, bytes.data(), bytes.size()), ==, ssize_t(bytes.size()));
  }
  // Reads what arrives within `ms` while the context runs, up to `want` bytes; stops early at
  // `want` or at the end of the stream.
  std::string read(TestContext &cx, size_t want, int ms = 2000, bool *eof = nullptr) const {
    std::string got;
    const gint64 end = g_get_monotonic_time() + ms * 1000;
    while (got.size() < want && g_get_monotonic_time() < end) {
      cx.iterate();
      pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 5) <= 0)
        continue;
      char buf[65536];
      const ssize_t n = ::read(fd, buf, std::min(sizeof buf, want - got.size()));
      if (n <= 0) {
        if (eof)
          *eof = true;
        break;
      }
      got.append(buf, size_t(n));
    }
    return got;
  }
  // Exactly `expected`, and then nothing more for a moment.
  void expect(TestContext &cx, const std::string &expected) const {
    const std::string got = read(cx, expected.size());
    g_assert_cmpuint(got.size(), ==, expected.size());
    g_assert_true(got == expected);
    g_assert_cmpuint(read(cx, 1, 50).size(), ==, 0);
  }
};

GstBuffer *bytes(const std::string &s) {
  return gst_buffer_new_memdup(s.data(), s.size());
}

void push(Mount &mount, const std::string &payload, bool keyframe, int64_t capture_us = -1,
          size_t rung = 0) {
  GstBuffer *b = bytes(payload);
  mount.push(b, keyframe, GST_CLOCK_TIME_NONE, capture_us, rung);
  gst_buffer_unref(b);
}

void set_header(Mount &mount, const std::string &binary, const std::string &text, size_t rung = 0) {
  GstBuffer *b = bytes(binary);
  mount.set_stream_header({b}, text, rung);
  gst_buffer_unref(b);
}

// A server's unmasked frame with a payload under 126 bytes (RFC 6455 §5.2): FIN + opcode, length.
std::string server_frame(uint8_t opcode, const std::string &payload) {
  return std::string{char(0x80 | opcode), char(payload.size())} + payload;
}

// A client's masked frame (RFC 6455 §5.3).
std::string client_frame(uint8_t opcode, const std::string &payload) {
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  std::string f{char(0x80 | opcode), char(0x80 | payload.size())};
  f.append(mask, 4);
  for (size_t i = 0; i < payload.size(); i++)
    f += char(payload[i] ^ mask[i % 4]);
  return f;
}

std::string be64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; i--, v >>= 8)
    s[size_t(i)] = char(v & 0xff);
  return s;
}

void accept_websocket(Mount &mount, std::unique_ptr<Peer> *peer) {
  *peer = std::make_unique<Peer>([&](const Connection::Handoff &h) { mount.accept_websocket(h); });
}

// A WebSocket viewer gets the metadata text, the binary header, then the stream from the newest
// keyframe, each unit one message; closing the mount sends 1001 and reports Removed.
void test_websocket_header_then_keyframe() {
  TestContext cx;
  Recorder delegate;
  Mount mount("/t", "test");
  mount.attach(&cx, &delegate);
  set_header(mount, "HDR", "{}");
  push(mount, "P0", false);
  push(mount, "K1", true);
  push(mount, "P2", false);
  cx.iterate();
  std::unique_ptr<Peer> peer;
  accept_websocket(mount, &peer);
  peer->expect(cx, server_frame(0x1, "{}") + server_frame(0x2, "HDR") + server_frame(0x2, "K1") +
                       server_frame(0x2, "P2"));
  push(mount, "P3", false);
  peer->expect(cx, server_frame(0x2, "P3"));
  g_assert_cmpuint(delegate.added.size(), ==, 1);
  g_assert_cmpuint(mount.n_clients(), ==, 1);

  mount.detach();
  bool eof = false;
  const std::string close = peer->read(cx, 64, 2000, &eof);
  g_assert_cmpuint(close.size(), >=, 4);
  g_assert_cmpint(uint8_t(close[0]), ==, 0x88);                           // close
  g_assert_cmpint(uint8_t(close[2]) << 8 | uint8_t(close[3]), ==, 1001);  // going away
  g_assert_cmpuint(delegate.removed.size(), ==, 1);
  g_assert_true(delegate.removed[0].second == ClientStatus::Removed);
  g_assert_cmpuint(mount.n_clients(), ==, 0);
}

// Pull delivery: nothing until the client asks; each `next` gets the newest unit it has not
// seen, prefixed with its capture time and number; the stream header carries neither.
void test_pull_delivery_with_info() {
  TestContext cx;
  Recorder delegate;
  Mount mount("/t", "test");
  MountSettings settings;
  settings.ws_delivery = Delivery::Pull;
  mount.set_settings(settings);
  mount.attach(&cx, &delegate);
  set_header(mount, "HDR", "");
  push(mount, "J0", true, 1000);
  push(mount, "J1", true, 1001);
  cx.iterate();
  std::unique_ptr<Peer> peer;
  accept_websocket(mount, &peer);
  peer->expect(cx, server_frame(0x2, "HDR"));
  peer->send(client_frame(0x1, "next"));
  peer->expect(cx, server_frame(0x2, be64(1001) + be64(1) + "J1"));
  push(mount, "J2", true, 1002);
  push(mount, "J3", true, 1003);
  g_assert_cmpuint(peer->read(cx, 1, 100).size(), ==, 0);  // not asked for
  peer->send(client_frame(0x1, "next"));
  peer->expect(cx, server_frame(0x2, be64(1003) + be64(3) + "J3"));
  mount.detach();
}

// A multipart viewer gets its response head, then the newest unit as a part with its headers and
// the next boundary at once; never the stream header.
void test_multipart_newest_part() {
  TestContext cx;
  Recorder delegate;
  Mount mount("/t", "test");
  mount.attach(&cx, &delegate);
  set_header(mount, "HDR", "{}");
  push(mount, "JPEG0", true);
  push(mount, "JPEG1", true, 1700000000123456);
  cx.iterate();
  Peer peer([&](const Connection::Handoff &h) {
    mount.accept(h, std::make_unique<MultipartFramer>("image/jpeg"), Delivery::Newest);
  });
  const std::string head =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: multipart/x-mixed-replace;boundary=camcast-frame\r\n"
      "Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\n"
      "Pragma: no-cache\r\n"
      "Connection: close\r\n"
      "\r\n"
      "--camcast-frame\r\n";
  peer.expect(cx, head +
                      "Content-Type: image/jpeg\r\nContent-Length: 5\r\n"
                      "X-Timestamp: 1700000000.123456\r\n\r\nJPEG1\r\n--camcast-frame\r\n");
  push(mount, "JPEG2", true);
  peer.expect(cx,
              "Content-Type: image/jpeg\r\nContent-Length: 5\r\n\r\nJPEG2\r\n--camcast-frame\r\n");
  mount.detach();
}

// Pings are answered with the same payload, other messages go to the delegate, and a close is
// echoed before the connection ends (status Closed).
void test_control_messages() {
  TestContext cx;
  Recorder delegate;
  Mount mount("/t", "test");
  mount.attach(&cx, &delegate);
  std::unique_ptr<Peer> peer;
  accept_websocket(mount, &peer);
  peer->send(client_frame(0x9, "abc"));
  peer->expect(cx, server_frame(0xA, "abc"));
  peer->send(client_frame(0x1, "hello"));
  peer->read(cx, 1, 100);
  g_assert_cmpuint(delegate.messages.size(), ==, 1);
  g_assert_cmpstr(delegate.messages[0].c_str(), ==, "hello");
  peer->send(client_frame(0x8, std::string("\x03\xe8", 2)));  // 1000
  bool eof = false;
  const std::string echo = peer->read(cx, 64, 2000, &eof);
  g_assert_true(echo == server_frame(0x8, std::string("\x03\xe8", 2)));
  peer->read(cx, 1, 2000, &eof);
  g_assert_true(eof);
  g_assert_cmpuint(delegate.removed.size(), ==, 1);
  g_assert_true(delegate.removed[0].second == ClientStatus::Closed);
  mount.detach();
}

// A client that never reads falls behind the hard limit and is dropped (status Slow) while the
// mount's queue stays bounded; the viewer sees its connection end.
void test_slow_client_dropped() {
  TestContext cx;
  Recorder delegate;
  Mount mount("/t", "test");
  MountSettings settings;
  settings.policy.unit_format = UnitFormat::Buffers;
  settings.policy.units_soft_max = -1;
  settings.policy.units_max = 8;
  mount.set_settings(settings);
  mount.attach(&cx, &delegate);
  std::unique_ptr<Peer> peer;
  accept_websocket(mount, &peer);
  const std::string big(64 * 1024, 'x');
  for (int i = 0; i < 200 && delegate.removed.empty(); i++) {
    push(mount, big, i == 0);
    cx.iterate();
  }
  g_assert_cmpuint(delegate.removed.size(), ==, 1);
  g_assert_true(delegate.removed[0].second == ClientStatus::Slow);
  g_assert_cmpuint(mount.n_clients(), ==, 0);
  g_assert_cmpuint(mount.queued_units(), <=, 9);
  bool eof = false;
  while (!eof && peer->read(cx, 1 << 20, 2000, &eof).size() > 0) {
  }
  g_assert_true(eof);
  mount.detach();
}

// A part type too long for a part's head is refused, not written past the head's end.
void test_multipart_part_type_bound() {
  g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*longer than 48 characters*");
  MultipartFramer framer(std::string(200, 'x'));
  g_test_assert_expected_messages();
  GstBuffer *b = bytes("JPEG");
  Unit unit(b, true, GST_CLOCK_TIME_NONE);
  gst_buffer_unref(b);
  unit.capture_us = INT64_MAX;
  Framed framed;
  framer.frame(unit, &framed);
  const std::string head(reinterpret_cast<const char *>(framed.head), framed.head_len);
  g_assert_cmpstr(head.c_str(), ==,
                  "Content-Type: application/octet-stream\r\nContent-Length: 4\r\n"
                  "X-Timestamp: 9223372036854.775807\r\n\r\n");
}

// A ladder: a viewer starts on the top rung; "rung 1" moves it — on at the top until rung 1's
// next keyframe (asked for at once), then rung 1's description, init segment and units, and
// nothing more of the top; the statistics say where it is.
void test_rung_move() {
  TestContext cx;
  Recorder delegate;
  Mount mount("/t", "test");
  mount.attach(&cx, &delegate);
  set_header(mount, "H0", "{0}", 0);
  set_header(mount, "H1", "{1}", 1);
  push(mount, "K0", true, -1, 0);
  push(mount, "k0", true, -1, 1);
  cx.iterate();
  std::unique_ptr<Peer> peer;
  accept_websocket(mount, &peer);
  peer->expect(cx, server_frame(0x1, "{0}") + server_frame(0x2, "H0") + server_frame(0x2, "K0"));
  peer->send(client_frame(0x1, "rung 1"));
  cx.iterate();
  g_assert_cmpuint(delegate.keyframes_wanted.size(), ==, 1);
  g_assert_cmpuint(delegate.keyframes_wanted[0], ==, 1);
  push(mount, "P1", false, -1, 0);
  push(mount, "p1", false, -1, 1);  // not a place to start
  peer->expect(cx, server_frame(0x2, "P1"));
  push(mount, "k2", true, -1, 1);
  peer->expect(cx, server_frame(0x1, "{1}") + server_frame(0x2, "H1") + server_frame(0x2, "k2"));
  push(mount, "P3", false, -1, 0);
  push(mount, "p3", false, -1, 1);
  peer->expect(cx, server_frame(0x2, "p3"));
  mount.tick(g_get_monotonic_time());
  const MountStats stats = mount.stats();
  g_assert_cmpuint(stats.rungs.size(), ==, 2);
  g_assert_cmpuint(stats.rungs[1].viewers, ==, 1);
  g_assert_cmpuint(stats.clients.size(), ==, 1);
  g_assert_cmpuint(stats.clients[0].rung, ==, 1);
  g_assert_cmpint(stats.clients[0].pinned, ==, 1);
  g_assert_cmpuint(mount.n_viewers_on(1), ==, 1);
  g_assert_cmpuint(mount.n_viewers_on(0), ==, 0);
  mount.detach();
}

// Viewers served elsewhere (WebRTC peers) are the mount's as its own clients are: counted, on
// their rungs, in the statistics, heard by the delegate, and gone when the mount stops serving.
void test_viewers_served_elsewhere() {
  TestContext cx;
  Recorder delegate;
  Mount mount("/t", "test");
  mount.attach(&cx, &delegate);
  const uint64_t a = mount.add_viewer("webrtc");
  const uint64_t b = mount.add_viewer("webrtc");
  g_assert_cmpuint(a, !=, b);
  g_assert_cmpuint(delegate.added.size(), ==, 2);
  g_assert_cmpuint(mount.n_clients(), ==, 2);
  g_assert_cmpuint(mount.n_viewers(), ==, 2);
  ClientStats moving;
  moving.id = b;
  moving.rung = 1;
  moving.bytes_sent = 1234;
  moving.peer = "not kept";
  mount.update_viewer(moving, 2);  // on rung 1, moving to 2
  mount.tick(g_get_monotonic_time());
  g_assert_cmpuint(mount.n_viewers_on(0), ==, 1);
  g_assert_cmpuint(mount.n_viewers_on(1), ==, 1);
  g_assert_cmpuint(mount.n_viewers_on(2), ==, 1);
  MountStats stats = mount.stats();
  g_assert_cmpuint(stats.clients.size(), ==, 2);
  g_assert_cmpuint(stats.clients_total, ==, 2);
  g_assert_cmpuint(stats.rungs.size(), ==, 2);
  g_assert_cmpuint(stats.rungs[1].viewers, ==, 1);
  ClientStats one;
  g_assert_true(mount.client_stats(b, &one));
  g_assert_cmpuint(one.bytes_sent, ==, 1234);
  g_assert_cmpstr(one.peer.c_str(), ==, "webrtc");
  mount.remove_viewer(a, ClientStatus::Closed);
  mount.remove_viewer(a, ClientStatus::Closed);  // once only
  g_assert_cmpuint(delegate.removed.size(), ==, 1);
  g_assert_true(delegate.removed[0] == std::make_pair(a, ClientStatus::Closed));
  g_assert_cmpuint(mount.n_clients(), ==, 1);
  mount.detach();
  g_assert_cmpuint(delegate.removed.size(), ==, 2);
  g_assert_true(delegate.removed[1] == std::make_pair(b, ClientStatus::Removed));
  g_assert_cmpuint(mount.n_clients(), ==, 0);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  GST_DEBUG_CATEGORY_INIT(camcast_server_debug, "camcastserver", 0, "camcast server");
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/mount/websocket-header-then-keyframe", test_websocket_header_then_keyframe);
  g_test_add_func("/mount/pull-delivery-with-info", test_pull_delivery_with_info);
  g_test_add_func("/mount/multipart-newest-part", test_multipart_newest_part);
  g_test_add_func("/mount/control-messages", test_control_messages);
  g_test_add_func("/mount/slow-client-dropped", test_slow_client_dropped);
  g_test_add_func("/mount/multipart-part-type-bound", test_multipart_part_type_bound);
  g_test_add_func("/mount/rung-move", test_rung_move);
  g_test_add_func("/mount/viewers-served-elsewhere", test_viewers_served_elsewhere);
  return g_test_run();
}
