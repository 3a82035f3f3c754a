// The relay's publish point without an element: a real server on loopback, a mount whose
// delegate is the PublishPoint, publishers by hand over real sockets (MPEG-TS packets written
// out here from ISO/IEC 13818-1), and time moved on by calling tick() with later clocks. What
// relaysrc adds (the stream it makes of the packets) is tests/elements/test_relay.cpp's.
#include "http_push.h"
#include "net/http_server.h"
#include "relay/publish_point.h"
#include "wait.h"

#include <gst/gst.h>

#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);

using namespace camcast;
using camcast::test::closed_by_relay;
using camcast::test::expect_answer_before_body;
using camcast::test::raw_publisher;
using camcast::test::send_chunk;
using camcast::test::wait_for;

namespace {

constexpr gint64 kStallUs = 5 * G_USEC_PER_SEC;
constexpr gint64 kKeyframeUs = 10 * G_USEC_PER_SEC;
constexpr gint64 kShortKeyframeUs = 2 * G_USEC_PER_SEC;  // shorter than the stall timeout

// A packet of PID 0x100 (§2.4.3.2): sync byte, header, 184 bytes of payload. With `keyframe` it
// starts a video PES (§2.4.3.6: 00 00 01 E0, no PES header data) whose H.264 begins with an IDR
// slice's NAL header (type 5).
std::string packet(bool keyframe, char fill = '\xff') {
  std::string p = {'\x47', char(keyframe ? 0x41 : 0x01), '\x00', '\x10'};
  if (keyframe)
    p += std::string("\x00\x00\x01\xe0\x00\x00\x80\x00\x00\x00\x00\x00\x01\x65", 14);
  p.resize(188, fill);
  return p;
}

// A server with one mount at /publish served by a PublishPoint, and what the point handed on.
struct Fixture {
  std::shared_ptr<HttpServer> server;
  std::shared_ptr<Mount> mount;
  std::unique_ptr<PublishPoint> point;
  std::mutex lock;
  std::string received;  // the packets passed on, in order
  std::vector<bool> disconts;
  std::vector<std::string> events;  // "live", "gone: why", "refused: why"
  explicit Fixture(gint64 keyframe_timeout_us = kKeyframeUs) {
    PublishPoint::Settings settings;
    settings.secret = "s3cret";
    settings.stall_timeout_us = kStallUs;
    settings.keyframe_timeout_us = keyframe_timeout_us;
    point = std::make_unique<PublishPoint>(
        settings,
        [this](std::vector<uint8_t> &&packets, bool discont) {
          std::lock_guard<std::mutex> lk(lock);
          received.append(packets.begin(), packets.end());
          disconts.push_back(discont);
        },
        [this](PublishPoint::Event event, const std::string &, const std::string &what) {
          std::lock_guard<std::mutex> lk(lock);
          events.push_back(event == PublishPoint::Event::Live   ? std::string("live")
                           : event == PublishPoint::Event::Gone ? "gone: " + what
                                                                : "refused: " + what);
        });
    GError *error = nullptr;
    server = HttpServer::acquire("127.0.0.1", 0, ServerSettings(), &error);
    g_assert_no_error(error);
    mount = server->add_mount(std::make_shared<Mount>("/publish", "relaysrc"), point.get(), &error);
    g_assert_no_error(error);
  }
  ~Fixture() {
    server->remove_mount(mount);
    server->invoke_sync([this] { point.reset(); });
  }
  bool live() {
    bool is;
    server->invoke_sync([&] { is = point->live(); });
    return is;
  }
  void tick(gint64 now) {
    server->invoke_sync([&] { point->tick(now); });
  }
  std::string got() {
    std::lock_guard<std::mutex> lk(lock);
    return received;
  }
  std::string last_event() {
    std::lock_guard<std::mutex> lk(lock);
    return events.empty() ? "" : events.back();
  }
};

// Packets split anywhere by the publisher's chunks come out whole and in order, the first of a
// publisher marked as a discontinuity; a second publisher, or a wrong secret, is answered before
// its body is read; the slot is free again when the publisher ends its upload.
void test_whole_packets_and_one_publisher() {
  Fixture f;
  const int fd = raw_publisher(f.server->port(), "/publish", "Authorization: Bearer s3cret\r\n");
  g_assert_true(wait_for([&] { return f.live(); }));
  const std::string sent = packet(true) + packet(false, 'a') + packet(false, 'b');
  const size_t cuts[] = {0, 100, 290, 500, sent.size()};  // chunks of 100, 190, 210, 64 bytes
  for (size_t i = 0; i + 1 < G_N_ELEMENTS(cuts); i++)
    g_assert_true(send_chunk(fd, sent.substr(cuts[i], cuts[i + 1] - cuts[i])));
  g_assert_true(wait_for([&] { return f.got().size() == sent.size(); }));
  g_assert_true(f.got() == sent);
  {
    std::lock_guard<std::mutex> lk(f.lock);
    g_assert_true(f.disconts.front());
    for (size_t i = 1; i < f.disconts.size(); i++)
      g_assert_false(f.disconts[i]);
  }
  expect_answer_before_body(f.server->port(), "/publish/s3cret", "HTTP/1.1 409 ");
  expect_answer_before_body(f.server->port(), "/publish/guess", "HTTP/1.1 403 ");
  g_assert_true(wait_for([&] { return f.last_event().rfind("refused: ", 0) == 0; }));
  const std::string end = "0\r\n\r\n";
  g_assert_cmpint(send(fd, end.data(), end.size(), MSG_NOSIGNAL), ==, ssize_t(end.size()));
  g_assert_true(wait_for([&] { return !f.live(); }));
  g_assert_true(f.last_event() == "gone: it ended its upload");
  close(fd);
  const int next = raw_publisher(f.server->port(), "/publish/s3cret");
  g_assert_true(wait_for([&] { return f.live(); }));
  close(next);
}

// A publisher that falls silent loses the slot after the stall timeout, one that sends packets
// but never a keyframe after the keyframe timeout, one that sends no MPEG-TS after kMaxGarbage
// bytes; each is cut off (its connection closed) and nobody before its time.
void test_silent_trickling_and_garbage_publishers_lose_the_slot() {
  Fixture f;
  int fd = raw_publisher(f.server->port(), "/publish/s3cret");
  g_assert_true(wait_for([&] { return f.live(); }));
  const gint64 start = g_get_monotonic_time();
  f.tick(start + kStallUs - G_USEC_PER_SEC);
  g_assert_true(f.live());
  f.tick(start + kStallUs + G_USEC_PER_SEC);
  g_assert_false(f.live());
  g_assert_true(f.last_event() == "gone: it sent nothing for 5 s");
  g_assert_true(closed_by_relay(fd, 3000));
  close(fd);

  Fixture g(kShortKeyframeUs);
  fd = raw_publisher(g.server->port(), "/publish/s3cret");
  g_assert_true(wait_for([&] { return g.live(); }));
  g_assert_true(send_chunk(fd, packet(false)));
  g_assert_true(wait_for([&] { return !g.got().empty(); }));
  const gint64 since = g_get_monotonic_time();
  g.tick(since + kShortKeyframeUs - G_USEC_PER_SEC);
  g_assert_true(g.live());
  g.tick(since + kShortKeyframeUs + G_USEC_PER_SEC);  // (not stalled at this clock)
  g_assert_false(g.live());
  g_assert_true(g.last_event() == "gone: it sent no keyframe for 2 s");
  g_assert_true(closed_by_relay(fd, 3000));
  close(fd);

  fd = raw_publisher(f.server->port(), "/publish/s3cret");
  g_assert_true(wait_for([&] { return f.live(); }));
  const std::string junk(8192, '\x01');  // never a sync byte
  for (uint64_t sent = 0; sent <= PublishPoint::kMaxGarbage + junk.size() && f.live();
       sent += junk.size())
    send_chunk(fd, junk);
  g_assert_true(wait_for([&] { return !f.live(); }));
  g_assert_true(f.last_event() == "gone: it sends no MPEG-TS");
  g_assert_true(closed_by_relay(fd, 3000));
  close(fd);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  GST_DEBUG_CATEGORY_INIT(camcast_server_debug, "camcastserver", 0, "camcast server");
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/publish-point/whole-packets-and-one-publisher",
                  test_whole_packets_and_one_publisher);
  g_test_add_func("/publish-point/silent-trickling-and-garbage-publishers",
                  test_silent_trickling_and_garbage_publishers_lose_the_slot);
  return g_test_run();
}
