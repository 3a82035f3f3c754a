// wssink end to end: GstHarness pushes frames, real WebSocket clients on loopback receive them.
// Covers the fan-out (identical bytes, join points), the lag policy with a really slow socket,
// hostile clients, keepalive, connect/disconnect leaks, the shared server and its status pages.
#include "access/users.h"
#include "ws_test_client.h"

#include <glib/gstdio.h>

#include <gst/check/gstharness.h>
#include <gst/gst.h>

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using camcast::test::Frame;
using camcast::test::WsTestClient;
using namespace std::chrono_literals;

namespace {

constexpr GstClockTime kFrame = GST_SECOND / 30;

struct Harness {
  GstHarness *h;
  explicit Harness(const char *launch) {
    GstElement *element = gst_parse_launch(launch, nullptr);
    h = gst_harness_new_with_element(element, "sink", nullptr);
    gst_object_unref(element);
  }
  ~Harness() { gst_harness_teardown(h); }
  GstElement *sink() { return h->element; }
  int port() {
    int port = -1;
    g_object_get(sink(), "current-port", &port, nullptr);
    return port;
  }
  guint clients() {
    guint n = 0;
    g_object_get(sink(), "num-clients", &n, nullptr);
    return n;
  }
};

// Waits for a condition with a deadline (never sleep-and-hope).
template <typename F>
bool wait_for(F cond, std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Frame i: its index in the first 4 bytes, then a pattern; keyframe every `gop`.
GstBuffer *make_frame(uint32_t i, uint32_t gop, size_t size) {
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, size, nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (size_t k = 0; k < size; k++)
    map.data[k] = uint8_t(i * 31 + k);
  memcpy(map.data, &i, sizeof i);
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = i * kFrame;
  GST_BUFFER_DURATION(buf) = kFrame;
  if (i % gop != 0)
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  return buf;
}

uint32_t frame_index(const Frame &f) {
  uint32_t i = UINT32_MAX;
  if (f.payload.size() >= 4)
    memcpy(&i, f.payload.data(), 4);
  return i;
}

void set_caps_with_header(Harness &h, const std::string &header) {
  GstCaps *caps = gst_caps_new_empty_simple("application/x-camcast-test");
  GValue array = G_VALUE_INIT, value = G_VALUE_INIT;
  g_value_init(&array, GST_TYPE_ARRAY);
  g_value_init(&value, GST_TYPE_BUFFER);
  GstBuffer *hb = gst_buffer_new_memdup(header.data(), header.size());
  GST_BUFFER_FLAG_SET(hb, GST_BUFFER_FLAG_HEADER);
  gst_value_set_buffer(&value, hb);
  gst_value_array_append_value(&array, &value);
  gst_structure_set_value(gst_caps_get_structure(caps, 0), "streamheader", &array);
  g_value_unset(&value);
  g_value_unset(&array);
  gst_harness_set_src_caps(h.h, caps);
  // The header buffer also flows in-band, as muxers send it: it must not be sent twice.
  g_assert_cmpint(gst_harness_push(h.h, hb), ==, GST_FLOW_OK);
}

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

  struct Attack {
    const char *what;
    std::string bytes;
    int close_code;
  };
  std::string endless(
      "\x01\x80"
      "abcd",
      6);  // text, not final, empty, masked
  for (int k = 0; k < 100; k++)
    endless += std::string(
        "\x00\x80"
        "abcd",
        6);
  const Attack attacks[] = {
      {"random garbage", std::string("\x13\x37\xde\xad\xbe\xef garbage", 14), 1002},
      {"unmasked frame", std::string("\x81\x02hi", 4), 1002},
      {"oversized frame",
       std::string("\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00"
                   "abcd",
                   14),
       1009},
      {"endless fragments", endless, 1009},
  };
  for (const Attack &a : attacks) {
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

// Takes a pipeline to READY, which must fail, and returns the error it posted ("" if none).
std::string ready_error(const std::string &launch) {
  GstElement *e = gst_parse_launch(launch.c_str(), nullptr);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(e, bus);
  std::string message;
  if (gst_element_set_state(e, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE) {
    if (GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError *err = nullptr;
      gst_message_parse_error(msg, &err, nullptr);
      message = err->message;
      g_error_free(err);
      gst_message_unref(msg);
    }
  }
  gst_element_set_state(e, GST_STATE_NULL);
  gst_element_set_bus(e, nullptr);
  gst_object_unref(bus);
  gst_object_unref(e);
  g_test_message("%s: %s", launch.c_str(), message.c_str());
  return message;
}

void test_shared_server_paths_and_errors() {
  Harness a("wssink port=0 path=/a");
  const int port = a.port();
  g_assert_cmpint(port, >, 0);
  g_autofree char *launch_b = g_strdup_printf("wssink port=%d path=/b", port);
  Harness b(launch_b);
  g_assert_cmpint(b.port(), ==, port);
  WsTestClient ca, cb;
  g_assert_true(ca.connect(port, "/a"));
  g_assert_true(cb.connect(port, "/b"));
  gst_harness_set_src_caps_str(a.h, "application/x-camcast-test");
  gst_harness_set_src_caps_str(b.h, "application/x-camcast-test");
  g_assert_true(wait_for([&] { return a.clients() == 1 && b.clients() == 1; }));
  gst_harness_push(a.h, make_frame(1, 1, 100));
  gst_harness_push(b.h, make_frame(2, 1, 100));
  g_assert_cmpuint(frame_index(ca.read_frame()), ==, 1);
  g_assert_cmpuint(frame_index(cb.read_frame()), ==, 2);

  std::string body;
  g_assert_cmpint(camcast::test::http_get(port, "/", &body), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "href=\"/a\""));
  g_assert_nonnull(strstr(body.c_str(), "href=\"/b\""));
  g_assert_cmpint(camcast::test::http_get(port, "/a", &body), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "WebSocket"));
  g_assert_cmpint(camcast::test::http_get(port, "/a/nothing", &body), ==, 404);
  g_assert_cmpint(camcast::test::http_get(port, "/c", &body), ==, 404);
  // Only GET is served: a POST (to a stream, or to /login where no login is set up) is refused
  // before its body is read.
  g_assert_cmpint(camcast::test::http_post(port, "/a", "x=1", &body), ==, 405);
  g_assert_cmpint(camcast::test::http_post(port, "/login", "user=a", &body), ==, 405);
  g_assert_cmpint(camcast::test::http_get(port, "/metrics", &body), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "camcast_stream_clients{stream=\"/a\"} 1"));
  g_assert_nonnull(strstr(body.c_str(), "camcast_client_frames_sent_total{stream=\"/b\""));
  WsTestClient nowhere;
  g_assert_false(nowhere.connect(port, "/c"));
  g_assert_true(nowhere.response().rfind("HTTP/1.1 404", 0) == 0);

  // Same path twice on one server: a clear error, and the first sink is untouched.
  const std::string dup = ready_error("wssink path=/a port=" + std::to_string(port));
  g_assert_nonnull(strstr(dup.c_str(), "/a"));
  g_assert_nonnull(strstr(dup.c_str(), "already served"));
  gst_harness_push(a.h, make_frame(3, 1, 100));
  g_assert_cmpuint(frame_index(ca.read_frame()), ==, 3);

  // A port held by another program.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  g_assert_cmpint(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), ==, 0);
  g_assert_cmpint(listen(fd, 1), ==, 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
  const std::string busy =
      ready_error("wssink address=127.0.0.1 port=" + std::to_string(ntohs(addr.sin_port)));
  g_assert_nonnull(strstr(busy.c_str(), "already in use by another program"));
  close(fd);
}

// A signal handler that blocks the server thread (an application's mistake) must cost frames,
// not memory: the inbox is bounded and resumes at a keyframe.
void test_stalled_server_thread_drops_to_a_keyframe() {
  Harness h("wssink port=0 path=/t units-soft-max=-1 units-max=-1");
  gst_harness_set_src_caps_str(h.h, "application/x-camcast-test");
  struct Gate {
    std::mutex lock;
    std::condition_variable cond;
    bool entered = false, open = false;
  } gate;
  g_signal_connect(h.sink(), "client-added", G_CALLBACK(+[](GstElement *, guint64, Gate *g) {
                     std::unique_lock<std::mutex> lk(g->lock);
                     g->entered = true;
                     g->cond.notify_all();
                     g->cond.wait(lk, [&] { return g->open; });
                   }),
                   &gate);
  WsTestClient c;
  g_assert_true(c.connect(h.port(), "/t"));
  {
    std::unique_lock<std::mutex> lk(gate.lock);
    g_assert_true(gate.cond.wait_for(lk, 5s, [&] { return gate.entered; }));
  }
  const uint32_t pushed = 1000;
  for (uint32_t i = 0; i < pushed; i++)
    gst_harness_push(h.h, make_frame(i, 10, 1000));
  {
    std::lock_guard<std::mutex> lk(gate.lock);
    gate.open = true;
    gate.cond.notify_all();
  }
  std::vector<uint32_t> got;
  for (Frame f; (f = c.read_frame(500)).opcode == 2;)
    got.push_back(frame_index(f));
  g_assert_cmpuint(got.size(), >, 0);
  g_assert_cmpuint(got.size(), <=, 256);
  g_assert_cmpuint(got.front() % 10, ==, 0);  // resumes at a keyframe
  g_assert_cmpuint(got.back(), ==, pushed - 1);
  for (size_t k = 1; k < got.size(); k++)
    g_assert_cmpuint(got[k], ==, got[k - 1] + 1);
  std::string json;
  g_assert_cmpint(camcast::test::http_get(h.port(), "/api/streams", &json), ==, 200);
  g_autofree char *expect = g_strdup_printf("\"frames_in\":%zu,", got.size());
  g_assert_nonnull(strstr(json.c_str(), expect));
  g_autofree char *dropped = g_strdup_printf("\"frames_dropped_in\":%zu,", pushed - got.size());
  g_assert_nonnull(strstr(json.c_str(), dropped));
}

void test_ready_accepts_viewers_and_stop_closes_them() {
  GstElement *sink = gst_element_factory_make("wssink", nullptr);
  g_object_set(sink, "port", 0, "path", "/ready", nullptr);
  g_assert_cmpint(gst_element_set_state(sink, GST_STATE_READY), ==, GST_STATE_CHANGE_SUCCESS);
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  WsTestClient c;
  g_assert_true(c.connect(port, "/ready"));  // the camera may still be off
  guint n = 0;
  g_assert_true(wait_for([&] {
    g_object_get(sink, "num-clients", &n, nullptr);
    return n == 1;
  }));
  g_assert_cmpint(gst_element_set_state(sink, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
  g_assert_cmpint(c.wait_closed(), ==, 1001);  // "going away"
  g_object_get(sink, "current-port", &port, nullptr);
  g_assert_cmpint(port, ==, -1);
  gst_object_unref(sink);
}

// A restarted pipeline keeps its viewers: with linger, the viewers of a stopped sink stay
// connected and a new sink at the same port and path takes them over; without a taker they are
// closed when the linger time is up.
void test_linger_lets_a_restarted_sink_keep_viewers() {
  auto start = [](int port) {
    g_autofree char *launch =
        g_strdup_printf("wssink name=sink port=%d path=/cam linger=1 keyframe-on-join=false", port);
    GstHarness *h = gst_harness_new_parse(launch);
    gst_harness_set_src_caps_str(h, "application/x-test");
    return h;
  };
  auto port_of = [](GstHarness *h) {
    GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
    int port = -1;
    g_object_get(sink, "current-port", &port, nullptr);
    gst_object_unref(sink);
    return port;
  };
  GstHarness *first = start(0);
  const int port = port_of(first);
  WsTestClient viewer;
  g_assert_true(viewer.connect(port, "/cam"));
  gst_harness_push(first, make_frame(0, 1, 100));
  g_assert_cmpuint(frame_index(viewer.read_frame()), ==, 0);

  gst_harness_teardown(first);                       // the pipeline stops (an error, a restart)
  g_assert_cmpint(viewer.wait_closed(300), ==, -1);  // still connected
  GstHarness *second = start(port);
  g_assert_cmpint(port_of(second), ==, port);
  gst_harness_push(second, make_frame(7, 1, 100));
  Frame f = viewer.read_frame();
  g_assert_cmpint(f.opcode, ==, 2);
  g_assert_cmpuint(frame_index(f), ==, 7);  // the same connection, the new pipeline's frames

  // Nobody takes over: closed when the second is up.
  gst_harness_teardown(second);
  const gint64 stopped = g_get_monotonic_time();
  g_assert_cmpint(viewer.wait_closed(5000), ==, 1001);
  g_assert_cmpint(g_get_monotonic_time() - stopped, >=, 900 * 1000);
}

// With an access token, nothing is served without credentials — pages, streams, reports —
// and what a credential opens is exactly what it should.
void test_access_token_protects_everything() {
  GstHarness *h = gst_harness_new_parse(
      "wssink name=sink port=0 path=/cam access-token=s3cret keyframe-on-join=false");
  gst_harness_set_src_caps_str(h, "application/x-test");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  std::string body, head;
  for (const char *path : {"/", "/cam", "/api/streams", "/metrics", "/api/token?path=/cam"})
    g_assert_cmpint(camcast::test::http_get(port, path, &body), ==, 401);
  WsTestClient refused;
  g_assert_false(refused.connect(port, "/cam"));
  g_assert_true(refused.response().rfind("HTTP/1.1 401", 0) == 0);

  // The access token opens the page and hands out a session cookie.
  g_assert_cmpint(camcast::test::http_get(port, "/cam?token=s3cret", &body, 3000, &head), ==, 200);
  const size_t at = head.find("Set-Cookie: ");
  g_assert_cmpuint(at, !=, std::string::npos);
  const std::string set_cookie = head.substr(at + 12, head.find("\r\n", at) - at - 12);
  g_assert_nonnull(strstr(set_cookie.c_str(), "HttpOnly"));
  g_assert_nonnull(strstr(set_cookie.c_str(), "SameSite=Strict"));
  const std::string cookie = "Cookie: " + set_cookie.substr(0, set_cookie.find(';')) + "\r\n";
  g_assert_cmpint(camcast::test::http_get(port, "/api/streams", &body, 3000, nullptr, cookie), ==,
                  200);
  // The page's WebSocket with the cookie, from the server's own origin: in.
  WsTestClient viewer;
  viewer.set_headers(cookie);
  g_assert_true(viewer.connect(port, "/cam"));
  // The same cookie ridden by another site's page: refused.
  WsTestClient hijack;
  hijack.set_headers(cookie + "Origin: http://evil.example\r\n");
  g_assert_false(hijack.connect(port, "/cam"));
  g_assert_true(hijack.response().rfind("HTTP/1.1 403", 0) == 0);
  // Another site may open it only when listed in allowed-origins, scheme and all.
  {
    GstHarness *dash = gst_harness_new_parse(
        "wssink name=dash port=0 path=/dash access-token=s3cret "
        "allowed-origins=https://dash.example");
    GstElement *dash_sink = gst_bin_get_by_name(GST_BIN(dash->element), "dash");
    int dash_port = -1;
    g_object_get(dash_sink, "current-port", &dash_port, nullptr);
    WsTestClient listed, other_scheme;
    listed.set_headers("Origin: https://dash.example\r\n");
    g_assert_true(listed.connect(dash_port, "/dash?token=s3cret"));
    other_scheme.set_headers("Origin: http://dash.example\r\n");
    g_assert_false(other_scheme.connect(dash_port, "/dash?token=s3cret"));
    g_assert_true(other_scheme.response().rfind("HTTP/1.1 403", 0) == 0);
    gst_object_unref(dash_sink);
    gst_harness_teardown(dash);
  }

  // A stream token from /api/token opens its path, and only that.
  g_assert_cmpint(camcast::test::http_get(port, "/api/token?path=/cam&ttl=60&token=s3cret", &body),
                  ==, 200);
  const size_t t = body.find("\"token\":\"") + 9;
  const std::string token = body.substr(t, body.find('"', t) - t);
  WsTestClient embedded;
  g_assert_true(embedded.connect(port, "/cam?token=" + token));
  g_assert_cmpint(camcast::test::http_get(port, "/api/streams?token=" + token, &body), ==, 401);
  std::string forged = token;
  forged[forged.size() - 1] = forged.back() == '0' ? '1' : '0';
  WsTestClient forger;
  g_assert_false(forger.connect(port, "/cam?token=" + forged));
  gst_harness_push(h, make_frame(0, 1, 100));
  g_assert_cmpuint(frame_index(viewer.read_frame()), ==, 0);
  g_assert_cmpuint(frame_index(embedded.read_frame()), ==, 0);

  // A public stream on the same private server needs nothing; the others still do.
  g_autofree char *launch = g_strdup_printf("wssink port=%d path=/open public=true", port);
  GstHarness *open = gst_harness_new_parse(launch);
  gst_harness_set_src_caps_str(open, "application/x-test");
  g_assert_cmpint(camcast::test::http_get(port, "/open", &body), ==, 200);
  WsTestClient anyone;
  g_assert_true(anyone.connect(port, "/open"));
  g_assert_cmpint(camcast::test::http_get(port, "/cam", &body), ==, 401);
  gst_harness_teardown(open);
  gst_object_unref(sink);
  gst_harness_teardown(h);
}

// metrics-token: a scraper's bearer token for /metrics, required once set.
void test_metrics_token() {
  GstHarness *h = gst_harness_new_parse("wssink name=sink port=0 path=/cam metrics-token=scrape");
  gst_harness_set_src_caps_str(h, "application/x-test");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  std::string body;
  g_assert_cmpint(camcast::test::http_get(port, "/metrics", &body), ==, 401);
  g_assert_cmpint(camcast::test::http_get(port, "/metrics", &body, 3000, nullptr,
                                          "Authorization: Bearer wrong\r\n"),
                  ==, 401);
  g_assert_cmpint(camcast::test::http_get(port, "/metrics", &body, 3000, nullptr,
                                          "Authorization: Bearer scrape\r\n"),
                  ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "camcast_"));
  g_assert_cmpint(camcast::test::http_get(port, "/cam", &body), ==, 200);  // the rest stays open
  gst_object_unref(sink);
  gst_harness_teardown(h);
}

// With a users file: pages redirect to the login page; a wrong password is refused and
// repeated failures slow that address down; the right one gives a session for everything.
void test_login() {
  const camcast::test::TempDir dir("camcast-login");
  const std::string users = dir.file("users");
  std::string error;
  g_assert_true(camcast::users::set_user(users, "alice", "correct horse", &error));
  g_autofree char *launch =
      g_strdup_printf("wssink name=sink port=0 path=/cam users-file=%s", users.c_str());
  GstHarness *h = gst_harness_new_parse(launch);
  gst_harness_set_src_caps_str(h, "application/x-test");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  std::string body, head;
  g_assert_cmpint(camcast::test::http_get(port, "/cam", &body, 3000, &head), ==, 303);
  g_assert_nonnull(strstr(head.c_str(), "Location: /login?next=/cam"));
  g_assert_cmpint(camcast::test::http_get(port, "/login?next=/cam", &body), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "type=\"password\""));
  WsTestClient refused;
  g_assert_false(refused.connect(port, "/cam"));

  g_assert_cmpint(
      camcast::test::http_post(port, "/login", "user=alice&password=wrong&next=%2Fcam", &body), ==,
      401);
  g_assert_cmpint(
      camcast::test::http_post(port, "/login", "user=alice&password=correct+horse&next=%2Fcam",
                               &body, &head),
      ==, 303);
  g_assert_nonnull(strstr(head.c_str(), "Location: /cam\r\n"));
  const size_t at = head.find("Set-Cookie: ");
  g_assert_cmpuint(at, !=, std::string::npos);
  const std::string cookie =
      "Cookie: " + head.substr(at + 12, head.find(';', at) - at - 12) + "\r\n";
  g_assert_cmpint(camcast::test::http_get(port, "/cam", &body, 3000, nullptr, cookie), ==, 200);
  WsTestClient viewer;
  viewer.set_headers(cookie);
  g_assert_true(viewer.connect(port, "/cam"));
  // An open redirect is not on offer: "next" stays on this server.
  g_assert_cmpint(
      camcast::test::http_post(
          port, "/login", "user=alice&password=correct+horse&next=//evil.example", &body, &head),
      ==, 303);
  g_assert_nonnull(strstr(head.c_str(), "Location: /\r\n"));
  // Guessing is slowed: after five failures this address is refused even the right password.
  for (int i = 0; i < 5; i++)
    g_assert_cmpint(camcast::test::http_post(port, "/login", "user=alice&password=guess", &body),
                    ==, 401);
  g_assert_cmpint(
      camcast::test::http_post(port, "/login", "user=alice&password=correct+horse", &body), ==,
      429);
  gst_object_unref(sink);
  gst_harness_teardown(h);
}

// With tls-certificate and tls-key the port speaks HTTPS and WSS (cookies Secure), http-port
// adds plain HTTP beside it, and bad files are refused at READY with the reason.
void test_tls() {
  const camcast::test::TempDir dir("camcast-tls");
  const std::string &d = dir.path();
  g_assert_true(camcast::test::make_certificate(d, "a"));
  g_assert_true(camcast::test::make_certificate(d, "b"));
  const std::string tls_a = " tls-certificate=" + d + "/a.crt tls-key=" + d + "/a.key";
  Harness h(
      ("wssink port=0 http-port=0 path=/cam access-token=s3cret keyframe-on-join=false" + tls_a)
          .c_str());
  const int port = h.port();
  int http_port = -1;
  g_object_get(h.sink(), "current-http-port", &http_port, nullptr);
  g_assert_cmpint(port, >, 0);
  g_assert_cmpint(http_port, >, 0);
  g_assert_cmpint(http_port, !=, port);
  gst_harness_set_src_caps_str(h.h, "application/x-camcast-test");

  // HTTPS: refused without the token, in with it, and the session cookie is Secure.
  std::string body, head;
  const auto https = camcast::test::tls(port);
  g_assert_cmpint(camcast::test::http_get(https, "/cam", &body), ==, 401);
  g_assert_cmpint(camcast::test::http_get(https, "/cam?token=s3cret", &body, 3000, &head), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "WebSocket"));
  const size_t at = head.find("Set-Cookie: ");
  g_assert_cmpuint(at, !=, std::string::npos);
  const std::string set_cookie = head.substr(at + 12, head.find("\r\n", at) - at - 12);
  g_assert_nonnull(strstr(set_cookie.c_str(), "; Secure"));
  // Plain HTTP on the HTTPS port gets no page; on http-port it does, and its cookie is not
  // Secure (the browser would not send it back over HTTP).
  g_assert_cmpint(camcast::test::http_get(port, "/cam?token=s3cret", &body), !=, 200);
  g_assert_cmpint(camcast::test::http_get(http_port, "/cam?token=s3cret", &body, 3000, &head), ==,
                  200);
  g_assert_null(strstr(head.c_str(), "Secure"));

  // WSS: refused without credentials; with them the frames arrive, as they do over plain WS.
  WsTestClient refused, secure, plain;
  g_assert_false(refused.connect(https, "/cam"));
  g_assert_true(refused.response().rfind("HTTP/1.1 401", 0) == 0);
  g_assert_true(secure.connect(https, "/cam?token=s3cret"));
  g_assert_true(plain.connect(http_port, "/cam?token=s3cret"));
  g_assert_true(wait_for([&] { return h.clients() == 2; }));
  for (uint32_t i = 0; i < 30; i++)
    gst_harness_push(h.h, make_frame(i, 10, 50000));
  for (uint32_t i = 0; i < 30; i++) {
    Frame f = secure.read_frame();
    g_assert_cmpuint(frame_index(f), ==, i);
    g_assert_cmpuint(f.payload.size(), ==, 50000);
    g_assert_cmpuint(frame_index(plain.read_frame()), ==, i);
  }
  // A client that closes is noticed over TLS too.
  secure.close();
  g_assert_true(wait_for([&] { return h.clients() == 1; }));

  // Another sink on the same port must bring the same TLS settings.
  const std::string other = ready_error("wssink path=/other port=" + std::to_string(port));
  g_assert_nonnull(strstr(other.c_str(), "other TLS settings"));

  // Files that cannot serve: each refused with what is wrong.
  const std::string mismatched =
      ready_error("wssink port=0 tls-certificate=" + d + "/a.crt tls-key=" + d + "/b.key");
  g_assert_nonnull(strstr(mismatched.c_str(), "does not belong to the certificate"));
  const std::string missing =
      ready_error("wssink port=0 tls-certificate=" + d + "/none.crt tls-key=" + d + "/a.key");
  g_assert_nonnull(strstr(missing.c_str(), "cannot read the TLS certificate"));
  g_assert_nonnull(strstr(missing.c_str(), "none.crt"));
  const std::string swapped =
      ready_error("wssink port=0 tls-certificate=" + d + "/a.key tls-key=" + d + "/a.crt");
  g_assert_nonnull(strstr(swapped.c_str(), "cannot use"));
  const std::string half = ready_error("wssink port=0 tls-certificate=" + d + "/a.crt");
  g_assert_nonnull(strstr(half.c_str(), "needs both a certificate and its key"));
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
  g_test_add_func("/wssink/shared-server", test_shared_server_paths_and_errors);
  g_test_add_func("/wssink/stalled-server-thread", test_stalled_server_thread_drops_to_a_keyframe);
  g_test_add_func("/wssink/ready-and-stop", test_ready_accepts_viewers_and_stop_closes_them);
  g_test_add_func("/wssink/linger", test_linger_lets_a_restarted_sink_keep_viewers);
  g_test_add_func("/wssink/access-token", test_access_token_protects_everything);
  g_test_add_func("/wssink/login", test_login);
  g_test_add_func("/wssink/metrics-token", test_metrics_token);
  g_test_add_func("/wssink/tls", test_tls);
  return g_test_run();
}
