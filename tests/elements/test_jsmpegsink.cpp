// jsmpegsink: what a joining client receives in each mode — the jsmp header, then one picture
// per message from a sequence header and I-picture; or PAT/PMT, then whole TS packets from a
// video entry point — from framed and unframed input, across a size change; and a clear error
// when the mode does not match the input.
#include "element_error.h"
#include "formats/mpeg1.h"
#include "formats/mpegts.h"
#include "idle_watch.h"
#include "mpeg_decode.h"
#include "ws_test_client.h"

#include <gst/app/gstappsink.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

using camcast::test::Frame;
using camcast::test::WsTestClient;
using namespace camcast;
using namespace std::chrono_literals;

namespace {

void push_frame(GstHarness *h, int i, int width = 320, int height = 240) {
  GstBuffer *b = gst_harness_create_buffer(h, size_t(width) * height * 3 / 2);
  gst_buffer_memset(b, 0, 100, gst_buffer_get_size(b));
  gst_buffer_memset(b, size_t(i % 100), 200, 16);
  GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
  GST_BUFFER_DURATION(b) = GST_SECOND / 30;
  g_assert_cmpint(gst_harness_push(h, b), ==, GST_FLOW_OK);
}

int port_of(GstHarness *h) {
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  gst_object_unref(sink);
  return port;
}

void wait_queued(GstHarness *h, guint want) {
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  guint queued = 0;
  for (int i = 0; i < 1000 && queued < want; i++) {
    std::this_thread::sleep_for(2ms);
    g_object_get(sink, "buffers-queued", &queued, nullptr);
  }
  gst_object_unref(sink);
  g_assert_cmpuint(queued, >=, want);
}

std::vector<mpeg1::PictureStart> pictures_of(const std::string &s) {
  return mpeg1::find_pictures(reinterpret_cast<const uint8_t *>(s.data()), s.size());
}

bool is_jsmp_header(const Frame &f, int width, int height) {
  const auto h = mpeg1::jsmp_header(width, height);
  return f.opcode == 2 && f.payload == std::string(h.begin(), h.end());
}

// The messages that follow a join in jsmp mode: each exactly one picture, the first an entry
// point. Returns how many arrived, and appends their bytes to `bytes` if given.
int read_pictures(WsTestClient *client, bool first_is_entry, std::string *bytes = nullptr) {
  int n = 0;
  for (Frame f; (f = client->read_frame(300)).opcode != 0; n++) {
    if (bytes)
      *bytes += f.payload;
    g_assert_cmpint(f.opcode, ==, 2);
    const auto p = pictures_of(f.payload);
    g_assert_cmpuint(p.size(), ==, 1);
    g_assert_cmpuint(p[0].offset, ==, 0);
    if (n == 0 && first_is_entry)
      g_assert_true(mpeg1::is_entry_point(p[0]));
  }
  return n;
}

void test_jsmp_join_and_size_change() {
  GstHarness *h = gst_harness_new_parse(
      "videoscale ! capsfilter name=size caps=video/x-raw,width=320,height=240 ! "
      "mpeg1enc key-int-max=10 ! jsmpegsink name=sink mode=jsmp port=0 path=/j "
      "keyframe-on-join=false");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=320,height=240,framerate=30/1");
  for (int i = 0; i < 15; i++)
    push_frame(h, i);
  wait_queued(h, 5);
  WsTestClient client;
  g_assert_true(client.connect(port_of(h), "/j"));
  g_assert_true(is_jsmp_header(client.read_frame(), 320, 240));
  std::string joined;
  g_assert_cmpint(read_pictures(&client, true, &joined), ==, 5);  // frames 10..14: the newest GOP
  // What the viewer got decodes from its first byte with a decoder not camcast's own.
  const auto decoded = test::decode_mpeg1(joined, false);
  g_assert_cmpuint(decoded.size(), ==, 5);
  g_assert_cmpint(decoded[0].width, ==, 320);

  // A new size: every client gets the new header, then pictures from the new sequence.
  GstElement *size = gst_bin_get_by_name(GST_BIN(h->element), "size");
  GstCaps *smaller = gst_caps_from_string("video/x-raw,width=160,height=120");
  g_object_set(size, "caps", smaller, nullptr);
  gst_caps_unref(smaller);
  gst_object_unref(size);
  for (int i = 15; i < 18; i++)
    push_frame(h, i);
  g_assert_true(is_jsmp_header(client.read_frame(), 160, 120));
  g_assert_cmpint(read_pictures(&client, true), ==, 3);
  gst_harness_teardown(h);
}

// Unframed MPEG-1 (as from a file or a pipe) in odd-sized chunks still leaves one picture per
// message, and the header takes its size from the sequence header.
void test_jsmp_unframed_input() {
  GstElement *enc = gst_parse_launch(
      "videotestsrc num-buffers=25 pattern=smpte ! "
      "video/x-raw,format=I420,width=176,height=144,framerate=25/1 ! mpeg1enc key-int-max=10 ! "
      "appsink name=out sync=false",
      nullptr);
  GstElement *out = gst_bin_get_by_name(GST_BIN(enc), "out");
  gst_element_set_state(enc, GST_STATE_PLAYING);
  std::string es;
  while (GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 5 * GST_SECOND)) {
    GstBuffer *b = gst_sample_get_buffer(s);
    const size_t at = es.size();
    es.resize(at + gst_buffer_get_size(b));
    gst_buffer_extract(b, 0, &es[at], gst_buffer_get_size(b));
    gst_sample_unref(s);
  }
  gst_element_set_state(enc, GST_STATE_NULL);
  gst_object_unref(out);
  gst_object_unref(enc);
  const auto all = pictures_of(es);
  g_assert_cmpuint(all.size(), ==, 25);

  GstHarness *h = gst_harness_new_parse(
      "jsmpegsink name=sink mode=jsmp port=0 path=/j "
      "keyframe-on-join=false");
  gst_harness_set_src_caps_str(h, "video/mpeg,mpegversion=1,systemstream=false");
  // A byte stream, as fdsrc or filesrc make it: a BYTES segment, and timestamps or not, in a
  // pipeline with a clock.
  gst_harness_use_systemclock(h);
  gst_harness_play(h);
  GstSegment bytes;
  gst_segment_init(&bytes, GST_FORMAT_BYTES);
  g_assert_true(gst_harness_push_event(h, gst_event_new_segment(&bytes)));
  WsTestClient client;
  g_assert_true(client.connect(port_of(h), "/j"));
  for (size_t pos = 0; pos < es.size(); pos += 1000) {
    const size_t n = std::min<size_t>(1000, es.size() - pos);
    GstBuffer *chunk = gst_buffer_new_memdup(es.data() + pos, n);
    GST_BUFFER_PTS(chunk) = pos * GST_USECOND;
    g_assert_cmpint(gst_harness_push(h, chunk), ==, GST_FLOW_OK);
  }
  g_assert_true(is_jsmp_header(client.read_frame(), 176, 144));
  // The last picture stays until the next one begins; the rest arrive whole and in order.
  std::string got;
  g_assert_cmpint(read_pictures(&client, true, &got), ==, 24);
  g_assert_true(got == es.substr(0, all.back().offset));
  gst_harness_teardown(h);
}

void test_mpegts_join() {
  GstHarness *h = gst_harness_new_parse(
      "mpeg1enc key-int-max=10 ! mpegtsmux ! jsmpegsink name=sink port=0 "
      "keyframe-on-join=false");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=320,height=240,framerate=30/1");
  for (int i = 0; i < 15; i++)
    push_frame(h, i);
  wait_queued(h, 3);
  WsTestClient client;
  g_assert_true(client.connect(port_of(h), "/jsmpeg"));
  // The stream header first: PAT (PID 0) and PMT, whole packets.
  Frame pat = client.read_frame();
  g_assert_cmpint(pat.opcode, ==, 2);
  g_assert_cmpuint(pat.payload.size() % mpegts::kPacketSize, ==, 0);
  g_assert_true(pat.payload.compare(0, 3, std::string("\x47\x40\x00", 3)) == 0);
  int messages = 0, entries = 0;
  bool first_data = true;
  std::string stream = pat.payload;
  for (Frame f; (f = client.read_frame(500)).opcode != 0; messages++) {
    g_assert_cmpint(f.opcode, ==, 2);
    stream += f.payload;
    g_assert_cmpuint(f.payload.size() % mpegts::kPacketSize, ==, 0);
    const auto *bytes = reinterpret_cast<const uint8_t *>(f.payload.data());
    for (size_t pos = 0; pos < f.payload.size(); pos += mpegts::kPacketSize) {
      g_assert_cmpint(bytes[pos], ==, mpegts::kSyncByte);
      const bool entry = mpegts::starts_video_entry_point(bytes + pos);
      entries += entry;
      // An entry point only ever starts a message, so a joiner can start there.
      if (entry)
        g_assert_cmpuint(pos, ==, 0);
    }
    // After the stream header (PAT/PMT packets), the first data starts at an entry point.
    const uint16_t pid = uint16_t((bytes[1] & 0x1F) << 8 | bytes[2]);
    if (first_data && pid != 0 && f.payload.size() > 2 * mpegts::kPacketSize) {
      g_assert_true(mpegts::starts_video_entry_point(bytes));
      first_data = false;
    }
  }
  g_assert_false(first_data);
  g_assert_cmpint(entries, ==, 1);  // the keyframe of frame 10
  g_assert_cmpint(messages, >=, 5);
  // A real demuxer and decoder show the newest GOP from the joiner's first message.
  const auto decoded = test::decode_mpeg1(stream, true);
  g_assert_cmpuint(decoded.size(), ==, 5);
  gst_harness_teardown(h);
}

void test_mode_mismatch_says_what_to_do() {
  test::expect_caps_refused("jsmpegsink mode=jsmp port=0",
                            "video/mpegts,systemstream=true,packetsize=188", "cannot take MPEG-TS",
                            "set mode=mpegts");
  test::expect_caps_refused("jsmpegsink port=0", "video/mpeg,mpegversion=1,systemstream=false",
                            "cannot take MPEG-1 video", "set mode=jsmp");
}

// A parser between mpeg1enc and the sink costs a frame of latency: the sink says so, naming
// both, in either mode; without one it says nothing.
void test_parser_after_the_encoder_is_named() {
  const std::string source =
      "videotestsrc num-buffers=5 ! "
      "video/x-raw,width=160,height=120,framerate=30/1 ! mpeg1enc name=enc ! ";
  std::string w =
      test::warnings_of(source + "mpegvideoparse name=habit ! mpegtsmux ! jsmpegsink port=0");
  g_assert_nonnull(strstr(w.c_str(),
                          "habit holds each picture from enc until the next one "
                          "begins"));
  w = test::warnings_of(source + "queue ! mpegvideoparse ! jsmpegsink mode=jsmp port=0");
  g_assert_nonnull(strstr(w.c_str(), "holds each picture"));
  w = test::warnings_of(source + "mpegtsmux ! jsmpegsink port=0");
  g_assert_cmpstr(w.c_str(), ==, "");
}

// Pictures and sound muxed into one MPEG-TS: both encoders idle while nobody watches and a viewer
// wakes both. A muxer input whose way cannot idle (its encode also feeds a recorder) keeps the
// whole muxer's branch awake: starving some of a muxer's inputs could stall it.
void test_idles_through_the_muxer() {
  for (const bool recorder : {false, true}) {
    const std::string launch =
        std::string(
            "videotestsrc is-live=true ! "
            "video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! "
            "mpeg1enc name=venc ! mpegtsmux name=ts latency=0 ! "
            "jsmpegsink name=sink port=0 path=/j idle-after=1 "
            "audiotestsrc is-live=true ! audio/x-raw,rate=44100,channels=1 ! "
            "avenc_mp2 name=aenc ! ") +
        (recorder ? "tee name=mp2 mp2. ! queue ! ts. mp2. ! queue ! fakesink" : "queue ! ts.");
    GstElement *pipeline = gst_parse_launch(launch.c_str(), nullptr);
    g_assert_nonnull(pipeline);
    test::BufferCounts counts(pipeline, {"venc", "aenc"});
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=,
                    GST_STATE_CHANGE_FAILURE);
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    int port = -1;
    g_object_get(sink, "current-port", &port, nullptr);
    g_assert_true(test::wait_for([&] { return counts[0] > 0 && counts[1] > 0; }));
    const bool idle = test::wait_for([&] { return test::api_says_idle(port); }, 3000ms);
    const std::vector<int> n = counts.during(1000ms);
    g_test_message("%s: idle %d, %d pictures and %d sound frames encoded in 1 s",
                   recorder ? "with a recorder" : "alone", idle, n[0], n[1]);
    if (recorder) {
      g_assert_false(idle);
      g_assert_cmpint(n[0], >=, 20);
      g_assert_cmpint(n[1], >=, 20);
    } else {
      g_assert_true(idle);
      g_assert_cmpint(n[0], ==, 0);
      g_assert_cmpint(n[1], ==, 0);
      WsTestClient viewer;
      g_assert_true(viewer.connect(port, "/j"));
      g_assert_true(test::wait_for([&] { return !test::api_says_idle(port); }, 3000ms));
      const std::vector<int> woken = counts.during(1000ms, 0ms);
      g_test_message("a viewer: %d pictures and %d sound frames encoded in 1 s", woken[0],
                     woken[1]);
      g_assert_cmpint(woken[0], >=, 20);
      g_assert_cmpint(woken[1], >=, 20);
    }
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
}

// A muxer whose pictures come through a tee shared with another output never idles: its sound
// dropped while the shared pictures flow on for the other output's viewer would starve the muxer,
// and the muxer's full queue would hold back the shared encode (measured in the latency bench:
// 3 pictures a second for the other output's viewer).
void test_muxer_beside_a_watched_output() {
  GstElement *pipeline = gst_parse_launch(
      "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! "
      "mpeg1enc name=venc ! tee name=m "
      "m. ! queue ! mpegtsmux name=ts latency=0 ! jsmpegsink name=sink port=0 path=/j "
      "idle-after=1 "
      "m. ! queue ! jsmpegsink name=other mode=jsmp port=0 path=/p idle-after=1 "
      "audiotestsrc is-live=true ! audio/x-raw,rate=44100,channels=1 ! avenc_mp2 name=aenc ! "
      "queue ! ts.",
      nullptr);
  g_assert_nonnull(pipeline);
  test::BufferCounts counts(pipeline, {"venc", "aenc"});
  g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  GstElement *other = gst_bin_get_by_name(GST_BIN(pipeline), "other");
  int port = -1, other_port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  g_object_get(other, "current-port", &other_port, nullptr);
  WsTestClient viewer;
  g_assert_true(viewer.connect(other_port, "/p"));
  // /j, which nobody watches, stays awake past its idle-after: its muxer also feeds /p.
  const bool idle = !test::holds_for([&] { return !test::api_says_idle(port); }, 2000ms);
  const std::vector<int> n = counts.during(1000ms);
  g_test_message("/j unwatched (idle %d), /p watched: %d pictures and %d sound frames in 1 s", idle,
                 n[0], n[1]);
  g_assert_false(idle);
  g_assert_cmpint(n[0], >=, 20);
  g_assert_cmpint(n[1], >=, 20);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(other);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/jsmpegsink/jsmp-join-and-size-change", test_jsmp_join_and_size_change);
  g_test_add_func("/jsmpegsink/jsmp-unframed-input", test_jsmp_unframed_input);
  g_test_add_func("/jsmpegsink/mpegts-join", test_mpegts_join);
  g_test_add_func("/jsmpegsink/mode-mismatch", test_mode_mismatch_says_what_to_do);
  g_test_add_func("/jsmpegsink/parser-after-encoder", test_parser_after_the_encoder_is_named);
  g_test_add_func("/jsmpegsink/idles-through-the-muxer", test_idles_through_the_muxer);
  g_test_add_func("/jsmpegsink/muxer-beside-a-watched-output", test_muxer_beside_a_watched_output);
  return g_test_run();
}
