// mjpegsink: the snapshot is the current frame as a valid JPEG; an independent multipart parser
// reads whole JPEGs with the next boundary sent at once; pull clients on a fast and a throttled
// link each get the newest frame at their own rate, and the sink holds only the newest frame.
#include "ws_test_client.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using camcast::test::Frame;
using camcast::test::WsTestClient;
using namespace std::chrono_literals;

namespace {

const char *kCaps = "image/jpeg,width=320,height=240,framerate=15/1";

// JPEG frames made by GStreamer's jpegenc from `launch` (a raw video source description).
std::vector<std::string> encode(const char *launch, int n) {
  g_autofree char *desc = g_strdup_printf(
      "%s num-buffers=%d ! video/x-raw,width=320,height=240 ! jpegenc ! appsink name=out "
      "sync=false",
      launch, n);
  GstElement *pipeline = gst_parse_launch(desc, nullptr);
  GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  std::vector<std::string> frames;
  while (GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 5 * GST_SECOND)) {
    GstBuffer *b = gst_sample_get_buffer(s);
    std::string bytes(gst_buffer_get_size(b), '\0');
    gst_buffer_extract(b, 0, bytes.data(), bytes.size());
    frames.push_back(std::move(bytes));
    gst_sample_unref(s);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(out);
  gst_object_unref(pipeline);
  g_assert_cmpuint(frames.size(), ==, size_t(n));
  return frames;
}

// The centre pixel of a JPEG, decoded by jpegdec: proof the bytes are a whole, valid picture.
std::vector<int> decode_centre(const std::string &jpeg) {
  GstElement *pipeline = gst_parse_launch(
      "appsrc name=in caps=image/jpeg ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! "
      "appsink name=out sync=false",
      nullptr);
  GstElement *in = gst_bin_get_by_name(GST_BIN(pipeline), "in");
  GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  gst_app_src_push_buffer(GST_APP_SRC(in), gst_buffer_new_memdup(jpeg.data(), jpeg.size()));
  gst_app_src_end_of_stream(GST_APP_SRC(in));
  std::vector<int> rgb;
  if (GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 5 * GST_SECOND)) {
    GstVideoInfo info;
    gst_video_info_from_caps(&info, gst_sample_get_caps(s));
    GstMapInfo map;
    gst_buffer_map(gst_sample_get_buffer(s), &map, GST_MAP_READ);
    const uint8_t *p = map.data + (info.height / 2) * info.stride[0] + (info.width / 2) * 3;
    rgb = {p[0], p[1], p[2]};
    gst_buffer_unmap(gst_sample_get_buffer(s), &map);
    gst_sample_unref(s);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(in);
  gst_object_unref(out);
  gst_object_unref(pipeline);
  return rgb;
}

GstHarness *start_sink(int *port) {
  GstHarness *h = gst_harness_new_parse("mjpegsink name=sink port=0 path=/m");
  gst_harness_set_src_caps_str(h, kCaps);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  g_object_get(sink, "current-port", port, nullptr);
  gst_object_unref(sink);
  return h;
}

// The `i`th frame at 15 a second; without a time (i < 0), captured as it comes.
void push(GstHarness *h, const std::string &jpeg, int i) {
  GstBuffer *b = gst_buffer_new_memdup(jpeg.data(), jpeg.size());
  GST_BUFFER_PTS(b) = i < 0 ? GST_CLOCK_TIME_NONE : i * GST_SECOND / 15;
  g_assert_cmpint(gst_harness_push(h, b), ==, GST_FLOW_OK);
}

bool has_header(const std::string &head, const char *line) {
  return head.find(line) != std::string::npos;
}

// A snapshot is the first frame captured after it was asked for: never one queued before (red),
// the next to come (blue); 503 if none comes within two seconds.
void test_snapshot_is_the_next_frame() {
  int port = 0;
  GstHarness *h = start_sink(&port);
  std::string body, head;
  const auto asked = std::chrono::steady_clock::now();
  g_assert_cmpint(camcast::test::http_get(port, "/m/snapshot.jpg", &body, 4000, &head), ==, 503);
  g_assert_cmpint((std::chrono::steady_clock::now() - asked) / 1ms, >=, 1900);
  g_assert_true(has_header(head, "Retry-After: 1"));
  const auto red = encode("videotestsrc pattern=red", 1);
  const auto blue = encode("videotestsrc pattern=blue", 1);
  push(h, red[0], -1);
  std::atomic<int> status{0};
  std::thread asker(
      [&] { status = camcast::test::http_get(port, "/m/snapshot.jpg", &body, 3000, &head); });
  // Blue from now on, until the snapshot is answered.
  for (int i = 0; i < 300 && !status; i++) {
    push(h, blue[0], -1);
    std::this_thread::sleep_for(10ms);
  }
  asker.join();
  g_assert_cmpint(status, ==, 200);
  g_assert_true(body == blue[0]);
  g_assert_true(has_header(head, "Content-Type: image/jpeg"));
  g_assert_true(has_header(head, "Cache-Control: no-store"));
  g_assert_true(has_header(head, "X-Timestamp: "));
  const auto rgb = decode_centre(body);
  g_assert_cmpuint(rgb.size(), ==, 3);
  g_assert_cmpint(rgb[0], <, 60);
  g_assert_cmpint(rgb[2], >, 200);
  gst_harness_teardown(h);
}

// An output nobody watches idles (its encoder gets nothing); a snapshot wakes it and is answered
// with a fresh frame instead of 503 — also for many pollers at once.
void test_snapshot_of_an_idle_output() {
  GstElement *pipeline = gst_parse_launch(
      "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=15/1 ! tee ! "
      "queue ! jpegenc ! mjpegsink name=sink port=0 path=/m idle-after=1",
      nullptr);
  g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  std::string streams;
  for (int i = 0; i < 100 && streams.find("\"idle\":true") == std::string::npos; i++) {
    std::this_thread::sleep_for(50ms);
    camcast::test::http_get(port, "/api/streams", &streams);
  }
  g_assert_nonnull(strstr(streams.c_str(), "\"idle\":true"));
  std::vector<std::thread> pollers;
  std::atomic<int> fresh{0};
  for (int i = 0; i < 20; i++)
    pollers.emplace_back([&] {
      std::string body, head;
      const int status = camcast::test::http_get(port, "/m/snapshot.jpg", &body, 4000, &head);
      const size_t at = head.find("X-Timestamp: ");
      const double taken = at == std::string::npos ? 0 : atof(head.c_str() + at + 13);
      if (status == 200 && body.rfind("\xff\xd8", 0) == 0 &&
          double(g_get_real_time()) / 1e6 - taken < 1.0)
        fresh++;
    });
  for (auto &t : pollers)
    t.join();
  g_assert_cmpint(fresh, ==, 20);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}

// Reads exactly n bytes (with what is already in `buf` first).
bool read_n(int fd, std::string *buf, size_t n, int timeout_ms = 3000) {
  while (buf->size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0)
      return false;
    char tmp[65536];
    ssize_t got = recv(fd, tmp, sizeof tmp, 0);
    if (got <= 0)
      return false;
    buf->append(tmp, size_t(got));
  }
  return true;
}

// Parses the multipart stream as a browser would, independently of the server's code: each part
// is "--boundary CRLF headers CRLF CRLF body CRLF", the boundary taken from the Content-Type.
void test_multipart_parts_are_whole_jpegs() {
  int port = 0;
  GstHarness *h = start_sink(&port);
  const auto frames = encode("videotestsrc pattern=ball", 10);
  push(h, frames[0], 0);
  std::string head, buf;
  int fd = camcast::test::http_open(port, "/m/stream.mjpg", &head, &buf);
  g_assert_cmpint(fd, >=, 0);
  g_assert_true(head.rfind("HTTP/1.1 200", 0) == 0);
  const size_t at = head.find("boundary=");
  g_assert_cmpuint(at, !=, std::string::npos);
  const std::string boundary = "--" + head.substr(at + 9, head.find("\r\n", at) - at - 9);
  g_assert_true(has_header(head, "Cache-Control: no-store"));

  size_t parts = 0, next_frame = 1;
  while (parts < 6) {
    // The boundary line, then the part's headers.
    g_assert_true(read_n(fd, &buf, boundary.size() + 2));
    g_assert_true(buf.compare(0, boundary.size() + 2, boundary + "\r\n") == 0);
    buf.erase(0, boundary.size() + 2);
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
      g_assert_true(read_n(fd, &buf, buf.size() + 1));
    const std::string headers = buf.substr(0, end + 2);
    buf.erase(0, end + 4);
    g_assert_true(has_header(headers, "Content-Type: image/jpeg\r\n"));
    g_assert_true(has_header(headers, "X-Timestamp: "));
    const size_t cl = headers.find("Content-Length: ");
    g_assert_cmpuint(cl, !=, std::string::npos);
    const size_t length = std::stoul(headers.substr(cl + 16));
    // The body and, at once, the next boundary: no further frame is pushed before it is read,
    // so a browser can draw this part without waiting for the next (crbug 527446).
    g_assert_true(read_n(fd, &buf, length + 2 + boundary.size() + 2));
    const std::string jpeg = buf.substr(0, length);
    buf.erase(0, length);
    g_assert_true(buf.compare(0, 2, "\r\n") == 0);
    buf.erase(0, 2);
    g_assert_cmpuint(uint8_t(jpeg[0]), ==, 0xFF);
    g_assert_cmpuint(uint8_t(jpeg[1]), ==, 0xD8);
    g_assert_cmpuint(uint8_t(jpeg[length - 2]), ==, 0xFF);
    g_assert_cmpuint(uint8_t(jpeg[length - 1]), ==, 0xD9);
    g_assert_true(std::find(frames.begin(), frames.end(), jpeg) != frames.end());
    parts++;
    push(h, frames[next_frame], int(next_frame));
    next_frame++;
  }
  ::close(fd);
  gst_harness_teardown(h);
}

// Two pull clients, one on a link with a quarter of the stream's bitrate: each asks for a frame
// when it has the last and gets the newest; the slow one gets fewer, never old ones; the sink
// never holds more than the newest frame or two.
void test_pull_clients_at_their_own_rate() {
  int port = 0;
  GstHarness *h = start_sink(&port);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  const auto frames = encode("videotestsrc pattern=snow", 45);  // 3 s at 15 fps
  size_t total = 0;
  for (const auto &f : frames)
    total += f.size();
  const size_t stream_bytes_per_s = total / 3;

  std::atomic<int> pushed{0};
  std::atomic<bool> done{false};
  guint64 max_queued_bytes = 0;
  size_t max_frame = 0;
  std::thread producer([&] {
    push(h, frames[0], 0);
    pushed = 1;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 1; i < int(frames.size()); i++) {
      std::this_thread::sleep_until(start + i * std::chrono::microseconds(1000000 / 15));
      push(h, frames[size_t(i)], i);
      pushed = i + 1;
      guint64 queued = 0;
      g_object_get(sink, "bytes-queued", &queued, nullptr);
      max_queued_bytes = std::max(max_queued_bytes, queued);
      max_frame = std::max(max_frame, frames[size_t(i)].size());
    }
    done = true;
  });

  struct Result {
    int frames = 0, stale = 0;
    int64_t last_seq = -1;
    bool ordered = true;
  };
  auto pull = [&](size_t rate, Result *r) {
    WsTestClient c;
    g_assert_true(c.connect(port, "/m", rate ? 8192 : 0));
    c.set_read_rate(rate);
    Frame desc = c.read_frame();
    g_assert_cmpint(desc.opcode, ==, 1);  // the stream description
    g_assert_nonnull(strstr(desc.payload.c_str(), "\"format\":\"jpeg\""));
    while (!done) {
      const int newest_before = pushed - 1;
      g_assert_true(c.send_frame(1, "next"));
      Frame f = c.read_frame(2000);
      if (f.opcode == 0)
        break;
      g_assert_cmpint(f.opcode, ==, 2);
      g_assert_cmpuint(f.payload.size(), >, 16);
      uint64_t seq_be;
      memcpy(&seq_be, f.payload.data() + 8, 8);
      const int64_t seq = int64_t(GUINT64_FROM_BE(seq_be));
      g_assert_cmpint(seq, <, int64_t(frames.size()));
      // Frame numbers count from 0, as the frames were pushed: the newest when asked, or one
      // the server had not yet seen when the request arrived.
      if (seq < newest_before)
        r->stale++;
      if (seq <= r->last_seq)
        r->ordered = false;
      r->last_seq = seq;
      g_assert_true(f.payload.compare(16, std::string::npos, frames[size_t(seq)]) == 0);
      r->frames++;
    }
  };
  Result fast, slow;
  std::thread slow_thread(pull, stream_bytes_per_s / 4, &slow);
  pull(0, &fast);
  slow_thread.join();
  producer.join();
  g_test_message("fast client: %d frames, throttled client: %d frames of %zu", fast.frames,
                 slow.frames, frames.size());
  g_assert_cmpint(fast.frames, >=, 35);
  g_assert_cmpint(slow.frames, >=, 3);
  g_assert_cmpint(slow.frames, <=, fast.frames / 2);
  g_assert_true(fast.ordered && slow.ordered);
  g_assert_cmpint(fast.stale, <=, 1);
  g_assert_cmpint(slow.stale, <=, 1);
  // Memory: the newest frame (and the one a client is still being sent), never a backlog.
  g_assert_cmpuint(max_queued_bytes, <=, 2 * max_frame);
  gst_object_unref(sink);
  gst_harness_teardown(h);
}

// mjpg-streamer's addresses, as 3D-printer hosts ask for them: `?action=snapshot` and
// `?action=stream` at the root of the port and after the sink's path; another action, or none,
// leaves the root to the index.
void test_mjpg_streamer_addresses() {
  int port = 0;
  GstHarness *h = start_sink(&port);
  const auto frames = encode("videotestsrc pattern=ball", 2);
  std::atomic<bool> done{false};
  std::thread feeder([&] {  // a frame every 50 ms, for the snapshots to wait for
    for (int i = 0; !done; i++) {
      push(h, frames[size_t(i) % 2], i);
      std::this_thread::sleep_for(50ms);
    }
  });
  for (const char *path : {"/?action=snapshot", "/m/?action=snapshot", "/m?action=snapshot"}) {
    std::string body, head;
    g_assert_cmpint(camcast::test::http_get(port, path, &body, 3000, &head), ==, 200);
    g_assert_true(has_header(head, "Content-Type: image/jpeg"));
    g_assert_true(std::find(frames.begin(), frames.end(), body) != frames.end());
  }
  for (const char *path : {"/?action=stream", "/m/?action=stream"}) {
    std::string head, rest;
    const int fd = camcast::test::http_open(port, path, &head, &rest);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(head.rfind("HTTP/1.1 200", 0) == 0);
    g_assert_true(has_header(head, "Content-Type: multipart/x-mixed-replace"));
    ::close(fd);
  }
  for (const char *path : {"/?action=dance", "/"}) {
    std::string body, head;
    g_assert_cmpint(camcast::test::http_get(port, path, &body, 3000, &head), ==, 200);
    g_assert_true(has_header(head, "Content-Type: text/html"));
  }
  done = true;
  feeder.join();
  gst_harness_teardown(h);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/mjpegsink/snapshot", test_snapshot_is_the_next_frame);
  g_test_add_func("/mjpegsink/snapshot-of-an-idle-output", test_snapshot_of_an_idle_output);
  g_test_add_func("/mjpegsink/multipart", test_multipart_parts_are_whole_jpegs);
  g_test_add_func("/mjpegsink/pull-at-own-rate", test_pull_clients_at_their_own_rate);
  g_test_add_func("/mjpegsink/mjpg-streamer-addresses", test_mjpg_streamer_addresses);
  return g_test_run();
}
