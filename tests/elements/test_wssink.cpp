// wssink end to end: GstHarness pushes frames, real WebSocket clients on loopback receive them.
// Covers the fan-out (identical bytes, join points), the lag policy with a really slow socket,
// hostile clients, keepalive, connect/disconnect leaks, the shared server and its status pages.
#include "wssink_harness.h"

using namespace wssink_test;

namespace {

void test_many_clients_receive_identical_bytes() {
  // No lag limits: every client must get every frame, however late it reads.
  Harness h("wssink port=0 path=/t units-soft-max=-1 units-max=-1");
  set_caps_with_header(h, "HDR1");
  const int n_clients = 20;
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < n_clients; i++) {
    clients.push_back(std::make_unique<WsTestClient>());
    g_assert_true(clients.back()->connect(h.port(), "/t"));
  }
  g_assert_true(wait_for([&] { return h.clients() == n_clients; }));
  // Sizes cross the 7-bit, 16-bit and 64-bit length encodings.
  const size_t sizes[] = {10, 125, 126, 1000, 65535, 65536, 200000};
  const uint32_t n_frames = 42;
  for (uint32_t i = 0; i < n_frames; i++)
    g_assert_cmpint(gst_harness_push(h.h, make_frame(i, 10, sizes[i % 7])), ==, GST_FLOW_OK);
  std::vector<std::string> streams(n_clients);
  for (int c = 0; c < n_clients; c++) {
    Frame header = clients[c]->read_frame();
    g_assert_cmpint(header.opcode, ==, 2);
    g_assert_cmpstr(header.payload.c_str(), ==, "HDR1");
    for (uint32_t i = 0; i < n_frames; i++) {
      Frame f = clients[c]->read_frame();
      g_assert_cmpint(f.opcode, ==, 2);
      g_assert_true(f.fin);
      g_assert_cmpuint(frame_index(f), ==, i);
      g_assert_cmpuint(f.payload.size(), ==, sizes[i % 7]);
      streams[c] += f.payload;
    }
  }
  for (int c = 1; c < n_clients; c++)
    g_assert_true(streams[c] == streams[0]);
  GstBuffer *expect = make_frame(41, 10, sizes[41 % 7]);
  g_assert_cmpint(
      gst_buffer_memcmp(expect, 0, streams[0].data() + streams[0].size() - sizes[41 % 7],
                        sizes[41 % 7]),
      ==, 0);
  gst_buffer_unref(expect);
}

void test_join_gets_header_then_latest_keyframe() {
  Harness h("wssink port=0 path=/cam/main");
  set_caps_with_header(h, "HEADER");
  for (uint32_t i = 0; i < 25; i++)
    gst_harness_push(h.h, make_frame(i, 10, 500));
  guint queued = 0;
  // Only the newest GOP is kept for joiners when nobody is watching.
  g_assert_true(wait_for([&] {
    g_object_get(h.sink(), "buffers-queued", &queued, nullptr);
    return queued == 5;
  }));
  WsTestClient c;
  g_assert_true(c.connect(h.port(), "/cam/main"));
  Frame f = c.read_frame();
  g_assert_cmpstr(f.payload.c_str(), ==, "HEADER");
  for (uint32_t i = 20; i < 25; i++)
    g_assert_cmpuint(frame_index(c.read_frame()), ==, i);
  gst_harness_push(h.h, make_frame(25, 10, 500));
  g_assert_cmpuint(frame_index(c.read_frame()), ==, 25);
  // Nothing else: no frame was sent twice.
  g_assert_cmpint(c.read_frame(200).opcode, ==, 0);
}

// Reads frames until `last` arrives or the deadline passes, throttled to `bytes_per_s`.
struct Reader {
  std::vector<uint32_t> got;
  std::thread thread;
  std::atomic<bool> stop{false};
  void run(WsTestClient *c, uint32_t last, double bytes_per_s) {
    thread = std::thread([=] {
      auto start = std::chrono::steady_clock::now();
      size_t bytes = 0;
      while (!stop) {
        Frame f = c->read_frame(5000);
        if (f.opcode != 2)
          break;
        got.push_back(frame_index(f));
        bytes += f.payload.size();
        if (got.back() == last)
          break;
        if (bytes_per_s > 0)
          std::this_thread::sleep_until(
              start + std::chrono::microseconds(int64_t(bytes / bytes_per_s * 1e6)));
      }
    });
  }
  ~Reader() {
    stop = true;
    if (thread.joinable())
      thread.join();
  }
};

void test_slow_client_skips_to_keyframes_and_stays_bounded() {
  // Time limits: recover after 0.5 s of lag, drop after 2 s.
  Harness h("wssink port=0 path=/t units-soft-max=500000000 units-max=2000000000");
  gst_harness_set_src_caps_str(h.h, "application/x-camcast-test");
  const uint32_t gop = 15, n_frames = 300;
  const size_t frame_size = 16 * 1024;
  const auto interval = 4ms;  // 250 frames/s of 16 KiB: 4 MB/s
  const double stream_rate = frame_size / 0.004;
  WsTestClient fast, slow;
  g_assert_true(fast.connect(h.port(), "/t"));
  g_assert_true(slow.connect(h.port(), "/t", 4096));  // a small window: lag stays visible
  g_assert_true(wait_for([&] { return h.clients() == 2; }));
  gst_harness_push(h.h, make_frame(0, gop, frame_size));
  Reader fast_reader, slow_reader;
  fast_reader.run(&fast, n_frames - 1, 0);
  slow_reader.run(&slow, n_frames - 1, stream_rate / 10);
  guint64 max_queued = 0;
  auto next = std::chrono::steady_clock::now();
  for (uint32_t i = 1; i < n_frames; i++) {
    next += interval;
    std::this_thread::sleep_until(next);
    gst_harness_push(h.h, make_frame(i, gop, frame_size));
    guint64 queued = 0;
    g_object_get(h.sink(), "bytes-queued", &queued, nullptr);
    max_queued = MAX(max_queued, queued);
  }
  fast_reader.thread.join();
  // The fast client got every frame in order: the slow one cost it nothing.
  g_assert_cmpuint(fast_reader.got.size(), ==, n_frames);
  for (uint32_t i = 0; i < n_frames; i++)
    g_assert_cmpuint(fast_reader.got[i], ==, i);
  // Server memory for everyone together stays under units-max (2 s = 60 frames here).
  g_test_message("largest queue: %" G_GUINT64_FORMAT " bytes", max_queued);
  g_assert_cmpuint(max_queued, <=, 61 * frame_size);
  // The slow client stays connected and resumes only at keyframes.
  g_assert_true(wait_for(
      [&] { return !slow_reader.got.empty() && slow_reader.got.back() == n_frames - 1; }, 15000ms));
  slow_reader.thread.join();
  uint32_t jumps = 0;
  for (size_t k = 1; k < slow_reader.got.size(); k++) {
    if (slow_reader.got[k] != slow_reader.got[k - 1] + 1) {
      g_assert_cmpuint(slow_reader.got[k], >, slow_reader.got[k - 1]);
      g_assert_cmpuint(slow_reader.got[k] % gop, ==, 0);
      jumps++;
    }
  }
  g_test_message("slow client: %zu of %u frames, %u jumps", slow_reader.got.size(), n_frames,
                 jumps);
  g_assert_cmpuint(jumps, >, 0);
  g_assert_cmpuint(slow_reader.got.size(), <, n_frames / 2);
  g_assert_cmpuint(h.clients(), ==, 2);
  // get-stats counts what it skipped; the fast client skipped nothing.
  std::string json;
  g_assert_cmpint(camcast::test::http_get(h.port(), "/api/streams", &json), ==, 200);
  g_assert_nonnull(strstr(json.c_str(), "\"frames_skipped\":0"));
  g_assert_true(g_regex_match_simple("\"frames_skipped\":[1-9]", json.c_str(),
                                     GRegexCompileFlags(0), GRegexMatchFlags(0)));
}

struct RemovedLog {
  std::vector<std::pair<guint64, int>> removed;
  std::atomic<int> added{0};
  std::mutex lock;
  static void on_added(GstElement *, guint64, gpointer self) {
    static_cast<RemovedLog *>(self)->added++;
  }
  static void on_removed(GstElement *, guint64 id, gint status, gpointer self) {
    auto *log = static_cast<RemovedLog *>(self);
    std::lock_guard<std::mutex> lk(log->lock);
    log->removed.emplace_back(id, status);
  }
  size_t n_removed() {
    std::lock_guard<std::mutex> lk(lock);
    return removed.size();
  }
  int status_of_last() {
    std::lock_guard<std::mutex> lk(lock);
    return removed.empty() ? -1 : removed.back().second;
  }
  void connect(GstElement *sink) {
    g_signal_connect(sink, "client-added", G_CALLBACK(on_added), this);
    g_signal_connect(sink, "client-removed", G_CALLBACK(on_removed), this);
  }
};

int status_value(const char *nick) {
  GEnumClass *klass = G_ENUM_CLASS(g_type_class_ref(g_type_from_name("GstWsClientStatus")));
  int v = g_enum_get_value_by_nick(klass, nick)->value;
  g_type_class_unref(klass);
  return v;
}

// recover-policy=none: a viewer that falls units-max behind is dropped, with status "slow", and
// the others go on.
void test_units_max_drops_a_slow_viewer() {
  RemovedLog log;  // outlives the sink, which reports its last clients when it stops
  Harness h(
      "wssink port=0 path=/t recover-policy=none unit-format=buffers units-max=20 "
      "keepalive-interval=0");
  log.connect(h.sink());
  gst_harness_set_src_caps_str(h.h, "application/x-camcast-test");
  WsTestClient reader, sleeper;
  g_assert_true(reader.connect(h.port(), "/t"));
  g_assert_true(sleeper.connect(h.port(), "/t", 4096));  // never reads, a small window
  g_assert_true(wait_for([&] { return h.clients() == 2; }));
  uint32_t i = 0;
  for (; i < 200 && log.n_removed() == 0; i++) {
    gst_harness_push(h.h, make_frame(i, 10, 16 * 1024));
    g_assert_cmpuint(frame_index(reader.read_frame()), ==, i);
  }
  g_assert_true(wait_for([&] { return log.n_removed() == 1; }));
  g_assert_cmpint(log.status_of_last(), ==, status_value("slow"));
  g_test_message("dropped after %u frames", i);
  g_assert_cmpuint(h.clients(), ==, 1);
  gst_harness_push(h.h, make_frame(i, 10, 16 * 1024));
  g_assert_cmpuint(frame_index(reader.read_frame()), ==, i);
}

// The action signals: get-stats describes a viewer by its id (from client-added), remove
// disconnects it with status "removed"; an unknown id gets an empty structure and FALSE.
void test_get_stats_and_remove_actions() {
  RemovedLog log;
  Harness h("wssink port=0 path=/t");
  log.connect(h.sink());
  std::atomic<guint64> id{0};
  g_signal_connect(h.sink(), "client-added",
                   G_CALLBACK(+[](GstElement *, guint64 added, gpointer data) {
                     *static_cast<std::atomic<guint64> *>(data) = added;
                   }),
                   &id);
  gst_harness_set_src_caps_str(h.h, "application/x-camcast-test");
  WsTestClient viewer;
  g_assert_true(viewer.connect(h.port(), "/t"));
  g_assert_true(wait_for([&] { return id != 0; }));
  for (uint32_t i = 0; i < 5; i++) {
    gst_harness_push(h.h, make_frame(i, 10, 1000));
    g_assert_cmpuint(frame_index(viewer.read_frame()), ==, i);
  }
  GstStructure *stats = nullptr;
  g_signal_emit_by_name(h.sink(), "get-stats", guint64(id), &stats);
  guint64 frames = 0, bytes = 0;
  g_assert_true(gst_structure_get_uint64(stats, "frames-sent", &frames));
  g_assert_true(gst_structure_get_uint64(stats, "bytes-sent", &bytes));
  g_assert_cmpuint(frames, ==, 5);
  g_assert_cmpuint(bytes, >=, 5 * 1000);
  g_assert_cmpstr(gst_structure_get_string(stats, "peer"), ==, "127.0.0.1");
  gst_structure_free(stats);
  g_signal_emit_by_name(h.sink(), "get-stats", guint64(999999), &stats);
  g_assert_cmpint(gst_structure_n_fields(stats), ==, 0);
  gst_structure_free(stats);
  gboolean removed = FALSE;
  g_signal_emit_by_name(h.sink(), "remove", guint64(999999), &removed);
  g_assert_false(removed);
  g_signal_emit_by_name(h.sink(), "remove", guint64(id), &removed);
  g_assert_true(removed);
  g_assert_true(wait_for([&] { return log.n_removed() == 1; }));
  g_assert_cmpint(log.status_of_last(), ==, status_value("removed"));
  g_assert_cmpint(viewer.wait_closed(), ==, 1000);
  g_assert_cmpuint(h.clients(), ==, 0);
}

// Malformed frames and what the server must close with (RFC 6455 §7.4.1).
struct Attack {
  const char *what;
  std::string bytes;
  int close_code;
};
std::vector<Attack> frame_attacks() {
  std::string endless(
      "\x01\x80"
      "abcd",
      6);  // text, not final, empty, masked
  for (int k = 0; k < 100; k++)
    endless += std::string(
        "\x00\x80"
        "abcd",
        6);
  return {
      {"random garbage", std::string("\x13\x37\xde\xad\xbe\xef garbage", 14), 1002},
      {"unmasked frame", std::string("\x81\x02hi", 4), 1002},
      {"oversized frame",
       std::string("\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00"
                   "abcd",
                   14),
       1009},
      {"endless fragments", endless, 1009},
  };
}

void test_hostile_clients_are_closed_and_nobody_notices() {
  RemovedLog log;  // outlives the sink, which reports its last clients when it stops
  Harness h("wssink port=0 path=/t");
  log.connect(h.sink());
  gst_harness_set_src_caps_str(h.h, "application/x-camcast-test");
  WsTestClient good;
  g_assert_true(good.connect(h.port(), "/t"));
  g_assert_true(wait_for([&] { return h.clients() == 1; }));
  uint32_t i = 0;
  auto push_and_check = [&] {
    gst_harness_push(h.h, make_frame(i, 10, 3000));
    g_assert_cmpuint(frame_index(good.read_frame()), ==, i);
    i++;
  };
  push_and_check();

  for (const Attack &a : frame_attacks()) {
    g_test_message("%s", a.what);
    const size_t removed_before = log.n_removed();
    WsTestClient bad;
    g_assert_true(bad.connect(h.port(), "/t"));
    g_assert_true(bad.send_raw(a.bytes));
    g_assert_cmpint(bad.wait_closed(), ==, a.close_code);
    // This attacker, and only it, was removed, as a protocol error.
    g_assert_true(wait_for([&] { return log.n_removed() == removed_before + 1; }));
    g_assert_cmpint(log.status_of_last(), ==, status_value("error"));
    g_assert_cmpuint(h.clients(), ==, 1);
    push_and_check();
  }
  // Many fragments that add up past the message limit.
  {
    WsTestClient bad;
    g_assert_true(bad.connect(h.port(), "/t"));
    bool ok = bad.send_frame(0x2, std::string(4000, 'x'), false);
    for (int k = 0; ok && k < 10; k++)
      ok = bad.send_frame(0x0, std::string(4000, 'x'), false);
    g_assert_cmpint(bad.wait_closed(), ==, 1009);
    push_and_check();
  }
  // A client that disappears mid-handshake or half-way through a frame.
  {
    WsTestClient bad;
    g_assert_true(bad.connect(h.port(), "/t"));
    bad.send_raw(
        std::string("\x82\xfe\x10\x00"
                    "abcd"
                    "xx",
                    10));
    bad.close();
    push_and_check();
  }
  // A polite client: ping answered with the same payload, close echoed.
  {
    WsTestClient polite;
    g_assert_true(polite.connect(h.port(), "/t"));
    g_assert_true(polite.send_frame(0x9, "are you there"));
    Frame pong;
    do
      pong = polite.read_frame();
    while (pong.opcode == 2);
    g_assert_cmpint(pong.opcode, ==, 0xA);
    g_assert_cmpstr(pong.payload.c_str(), ==, "are you there");
    g_assert_true(polite.send_frame(0x8, std::string("\x03\xe8"
                                                     "bye",
                                                     5)));
    g_assert_cmpint(polite.wait_closed(), ==, 1000);
    g_assert_true(wait_for([&] { return log.status_of_last() == status_value("closed"); }));
  }
  push_and_check();
  g_assert_cmpuint(h.clients(), ==, 1);
}

void test_unanswered_pings_close_the_client() {
  RemovedLog log;  // outlives the sink, which reports its last clients when it stops
  Harness h("wssink port=0 path=/t keepalive-interval=1 keepalive-pong-timeout=1");
  log.connect(h.sink());
  WsTestClient mute, alive;
  g_assert_true(mute.connect(h.port(), "/t"));
  g_assert_true(alive.connect(h.port(), "/t"));
  g_assert_true(wait_for([&] { return h.clients() == 2; }));
  std::atomic<bool> stop{false};
  std::atomic<int> pongs{0};
  std::thread answerer([&] {
    while (!stop) {
      Frame f = alive.read_frame(100);
      if (f.opcode == 0x9) {
        alive.send_frame(0xA, f.payload);
        pongs++;
      }
    }
  });
  // The mute client sees a ping, never answers, and is closed about a second later.
  Frame ping = mute.read_frame(3000);
  g_assert_cmpint(ping.opcode, ==, 0x9);
  g_assert_cmpint(mute.wait_closed(4000), ==, 1001);
  g_assert_true(wait_for([&] { return log.n_removed() == 1; }));
  g_assert_cmpint(log.status_of_last(), ==, status_value("timeout"));
  // The one that answers stays, ping after ping (each past the pong timeout of the one before).
  g_assert_true(wait_for([&] { return pongs >= 3; }, 6000ms));
  stop = true;
  answerer.join();
  g_assert_cmpuint(h.clients(), ==, 1);
  g_assert_cmpuint(log.n_removed(), ==, 1);
  // Its round-trip time is measured from the pings.
  std::string json;
  g_assert_cmpint(camcast::test::http_get(h.port(), "/api/streams", &json), ==, 200);
  g_assert_null(strstr(json.c_str(), "\"rtt_ms\":null"));
}

size_t open_fds() {
  size_t n = 0;
  DIR *dir = opendir("/proc/self/fd");
  while (readdir(dir))
    n++;
  closedir(dir);
  return n;
}

void test_connect_disconnect_cycles_leak_nothing() {
  RemovedLog log;  // outlives the sink, which reports its last clients when it stops
  // A thousand clients from one address in quick succession: not what the caps are tested with.
  Harness h("wssink port=0 path=/t max-connections-per-address=1000 max-connection-rate=0");
  log.connect(h.sink());
  gst_harness_set_src_caps_str(h.h, "application/x-camcast-test");
  gst_harness_push(h.h, make_frame(0, 10, 2000));
  // One connection first, so lazily created things (resolver, TLS backend…) exist already.
  {
    WsTestClient c;
    g_assert_true(c.connect(h.port(), "/t"));
    c.read_frame();
  }
  g_assert_true(wait_for([&] { return log.n_removed() == 1 && h.clients() == 0; }));
  const size_t fds_before = open_fds();
  const int cycles = 1000;
  for (int k = 0; k < cycles; k++) {
    WsTestClient c;
    g_assert_true(c.connect(h.port(), "/t"));
    switch (k % 3) {
    case 0:  // reads the keyframe, then hangs up
      g_assert_cmpuint(frame_index(c.read_frame()), ==, 0);
      break;
    case 1:  // closes politely
      c.send_frame(0x8, std::string("\x03\xe8", 2));
      c.wait_closed();
      break;
    default:  // vanishes at once
      break;
    }
  }
  g_assert_true(wait_for([&] { return log.n_removed() == cycles + 1; }, 10000ms));
  g_assert_cmpint(log.added.load(), ==, cycles + 1);
  g_assert_cmpuint(h.clients(), ==, 0);
  g_assert_true(wait_for([&] { return open_fds() == fds_before; }));
  guint64 queued = 0;
  g_object_get(h.sink(), "bytes-queued", &queued, nullptr);
  g_assert_cmpuint(queued, ==, 2000);  // just the join point
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/wssink/identical-bytes", test_many_clients_receive_identical_bytes);
  g_test_add_func("/wssink/join-header-then-keyframe", test_join_gets_header_then_latest_keyframe);
  g_test_add_func("/wssink/slow-client", test_slow_client_skips_to_keyframes_and_stays_bounded);
  g_test_add_func("/wssink/units-max-drops", test_units_max_drops_a_slow_viewer);
  g_test_add_func("/wssink/get-stats-and-remove", test_get_stats_and_remove_actions);
  g_test_add_func("/wssink/hostile-clients", test_hostile_clients_are_closed_and_nobody_notices);
  g_test_add_func("/wssink/unanswered-pings", test_unanswered_pings_close_the_client);
  g_test_add_func("/wssink/connect-cycles", test_connect_disconnect_cycles_leak_nothing);
  add_server_tests();
  return g_test_run();
}
