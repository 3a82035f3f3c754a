// relaysink → relaysrc over real loopback sockets: a camera's push arrives as H.264 frames at the
// relay; a wrong secret and a second publisher are refused with the reason; a publisher that
// stops, sends garbage or stalls mid-request loses its slot and the next one is served; ffmpeg's
// push plays too; and all of it over HTTPS, the relay's certificate trusted with tls-ca-file.
// With a ladder, a camera behind an upload narrower than its stream moves to the rung that fits.
#include "connection_events.h"
#include "h264_wire.h"
#include "http_push.h"
#include "narrow_link.h"
#include "wait.h"
#include "ws_test_client.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using camcast::test::closed_by_relay;
using camcast::test::expect_answer_before_body;
using camcast::test::raw_publisher;
using camcast::test::send_chunk;
using camcast::test::wait_for;

namespace {

// The relay: relaysrc → tsdemux → h264parse → appsink (as documented), counting the frames.
struct Relay {
  GstElement *pipeline;
  GstElement *src;
  std::atomic<int> frames{0};
  int port = -1;

  // Whether the first access unit out of the demuxer (as the camera sent it, before a parser
  // that would drop what comes before a keyframe) holds an IDR: -1 until one came.
  std::atomic<int> first_idr{-1};
  std::atomic<bool> last_wire_idr{false};

  // The width of the pictures as they come, and whether the first at a new width held an IDR on
  // the wire (-1 until the width changed).
  std::atomic<int> width{0};
  std::atomic<int> idr_at_new_width{-1};
  std::atomic<bool> width_changed{false};

  explicit Relay(const char *extra = "", int at_port = 0) {
    g_autofree char *launch = g_strdup_printf(
        "relaysrc name=src port=%d secret=s3cret stall-timeout=1 %s ! tsdemux latency=0 ! "
        "capssetter name=wire caps=video/x-h264,alignment=au ! h264parse name=parse ! "
        "video/x-h264,stream-format=avc,alignment=au ! appsink name=out sync=false",
        at_port, extra);
    pipeline = gst_parse_launch(launch, nullptr);
    src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
    GstAppSinkCallbacks callbacks{};
    callbacks.new_sample = [](GstAppSink *sink, gpointer self) {
      auto *relay = static_cast<Relay *>(self);
      GstSample *sample = gst_app_sink_pull_sample(sink);
      relay->frames++;
      gst_sample_unref(sample);
      return GST_FLOW_OK;
    };
    gst_app_sink_set_callbacks(GST_APP_SINK(out), &callbacks, this, nullptr);
    gst_object_unref(out);
    GstElement *wire = gst_bin_get_by_name(GST_BIN(pipeline), "wire");
    GstPad *demuxed = gst_element_get_static_pad(wire, "sink");
    camcast::test::watch_first_access_unit(demuxed, &first_idr);
    // The wire's access units, each marked by whether it holds an IDR, and the parser's width:
    // the first unit the parser gives at a new width is the one read last on the wire.
    gst_pad_add_probe(
        demuxed, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *, GstPadProbeInfo *info, gpointer self) {
          GstMapInfo map;
          GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
          bool idr = false;
          if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
            for (int type : camcast::test::annexb_nal_types(map.data, map.size))
              idr = idr || type == 5;
            gst_buffer_unmap(buffer, &map);
          }
          static_cast<Relay *>(self)->last_wire_idr = idr;
          return GST_PAD_PROBE_OK;
        },
        this, nullptr);
    gst_object_unref(demuxed);
    GstElement *parse = gst_bin_get_by_name(GST_BIN(pipeline), "parse");
    GstPad *parsed = gst_element_get_static_pad(parse, "src");
    gst_pad_add_probe(
        parsed, GstPadProbeType(GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_BUFFER),
        [](GstPad *, GstPadProbeInfo *info, gpointer data) {
          auto *self = static_cast<Relay *>(data);
          if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
            if (self->width_changed.exchange(false))
              self->idr_at_new_width = self->last_wire_idr ? 1 : 0;
            return GST_PAD_PROBE_OK;
          }
          GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
          GstCaps *caps;
          int w = 0;
          if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
            gst_event_parse_caps(event, &caps);
            gst_structure_get_int(gst_caps_get_structure(caps, 0), "width", &w);
            if (self->width && w != self->width)
              self->width_changed = true;
            self->width = w;
          }
          return GST_PAD_PROBE_OK;
        },
        this, nullptr);
    gst_object_unref(parsed);
    gst_object_unref(parse);
    gst_object_unref(wire);
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=,
                    GST_STATE_CHANGE_FAILURE);
    g_object_get(src, "current-port", &port, nullptr);
    g_assert_cmpint(port, >, 0);
  }
  ~Relay() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(pipeline);
  }
  bool publishing() {
    gboolean live = FALSE;
    g_object_get(src, "publishing", &live, nullptr);
    return live;
  }
  std::string url(const std::string &secret = "s3cret", const char *scheme = "http") {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/publish/" + secret;
  }
};

// A camera: a live test pattern as H.264 in MPEG-TS, pushed by relaysink.
struct Camera : camcast::test::PublishingPipeline {
  explicit Camera(const std::string &location, const std::string &extra = "")
      : PublishingPipeline(
            "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1 ! "
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
            "h264parse config-interval=-1 ! mpegtsmux latency=0 ! relaysink name=push "
            "location=" +
                location + " " + extra,
            "relaysink") {}
};

void test_push_refusals_and_reconnect() {
  Relay relay;
  bool up = false;
  std::string reason;
  {
    auto camera = std::make_unique<Camera>(relay.url());
    g_assert_true(camera->next_event(&up, &reason));
    g_assert_true(up);
    g_assert_true(wait_for([&] { return relay.frames >= 30; }));
    g_assert_true(relay.publishing());
    // The status API counts what the publisher sent on the publish path's row.
    std::string streams;
    g_assert_cmpint(camcast::test::http_get(relay.port, "/api/streams", &streams), ==, 200);
    const size_t row = streams.find("\"path\":\"/publish\"");
    g_assert_cmpuint(row, !=, std::string::npos);
    const size_t frames = streams.find("\"frames_in\":", row);
    const size_t bytes = streams.find("\"bytes_in\":", row);
    g_assert_cmpuint(frames, !=, std::string::npos);
    g_assert_cmpuint(bytes, !=, std::string::npos);
    g_assert_cmpint(atoll(streams.c_str() + frames + 12), >, 0);
    g_assert_cmpint(atoll(streams.c_str() + bytes + 11), >, 10000);

    // What ffmpeg and curl send (chunked, no "Expect: 100-continue"): the answer comes without
    // waiting for the body — 409 while a camera is live, 403 for a wrong secret.
    expect_answer_before_body(relay.port, "/publish/s3cret", "HTTP/1.1 409 ");
    expect_answer_before_body(relay.port, "/publish/guess", "HTTP/1.1 403 ");

    // A second camera while the first is live: refused, with the reason; the first goes on.
    Camera second(relay.url());
    g_assert_true(second.next_event(&up, &reason));
    if (up)  // connected, then the relay's verdict
      g_assert_true(second.next_event(&up, &reason));
    g_assert_false(up);
    g_test_message("second publisher: %s", reason.c_str());
    g_assert_nonnull(strstr(reason.c_str(), "409"));
    g_assert_nonnull(strstr(reason.c_str(), "another camera is publishing there"));
    const int before = relay.frames;
    g_assert_true(wait_for([&] { return relay.frames >= before + 15; }));

    // The wrong secret: refused, and told to check it.
    Camera wrong(relay.url("guess"));
    g_assert_true(wrong.next_event(&up, &reason));
    if (up)
      g_assert_true(wrong.next_event(&up, &reason));
    g_assert_false(up);
    g_assert_nonnull(strstr(reason.c_str(), "403"));
    g_assert_nonnull(strstr(reason.c_str(), "check the secret"));
    // A refusal no retry fixes is also a warning, which gst-launch-1.0 prints.
    GstMessage *warning =
        gst_bus_timed_pop_filtered(wrong.bus, 2 * GST_SECOND, GST_MESSAGE_WARNING);
    g_assert_nonnull(warning);
    GError *error = nullptr;
    gst_message_parse_warning(warning, &error, nullptr);
    g_assert_nonnull(strstr(error->message, "check the secret"));
    g_error_free(error);
    gst_message_unref(warning);
  }
  // The camera stopped: the relay waits for the next, and frames flow again soon after it comes.
  g_assert_true(wait_for([&] { return !relay.publishing(); }));
  const int before = relay.frames;
  const auto back = std::chrono::steady_clock::now();
  Camera again(relay.url());
  g_assert_true(wait_for([&] { return relay.frames > before; }, 3000ms));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - back).count();
  g_test_message("frames again %.3f s after the camera came back", seconds);
  g_assert_cmpfloat(seconds, <, 2.0);
}

// While the relay is down the camera tries again with a back-off that doubles, drops (and counts)
// what it cannot send, and once the relay is up its stream begins at a keyframe; so it does again
// when the relay goes away mid-stream and comes back (the GOP under way is not resumed).
void test_relay_down_back_off_and_resume_at_a_keyframe() {
  int port = 0;
  {
    Relay probe;  // a port nobody listens on once this is gone
    port = probe.port;
  }
  Camera camera("http://127.0.0.1:" + std::to_string(port) + "/publish/s3cret");
  std::vector<gint64> failures;
  bool up = true;
  std::string reason;
  while (failures.size() < 4) {
    g_assert_true(camera.next_event(&up, &reason, 5000));
    g_assert_false(up);
    failures.push_back(g_get_monotonic_time());
  }
  g_test_message("%s", reason.c_str());
  g_assert_nonnull(strstr(reason.c_str(), "cannot connect"));
  // 250 ms, then 500, then 1000: each wait about twice the one before.
  for (size_t k = 2; k < failures.size(); k++) {
    const gint64 before = failures[k - 1] - failures[k - 2], now = failures[k] - failures[k - 1];
    g_test_message("waited %" G_GINT64_FORMAT " ms after %" G_GINT64_FORMAT " ms", now / 1000,
                   before / 1000);
    g_assert_cmpint(now, >, before * 3 / 2);
  }
  GstElement *push = gst_bin_get_by_name(GST_BIN(camera.pipeline), "push");
  guint64 dropped = 0;
  g_object_get(push, "buffers-dropped", &dropped, nullptr);
  g_assert_cmpuint(dropped, >, 0);
  // The relay comes up on that port: the camera gets in at its next try, and the relay's first
  // frame is a keyframe.
  {
    Relay relay("", port);
    g_assert_true(camera.next_event(&up, &reason, 10000));
    g_assert_true(up);
    g_assert_true(wait_for([&] { return relay.frames >= 10; }));
    g_assert_cmpint(relay.first_idr, ==, 1);
  }
  // Gone mid-GOP (the camera's GOP is 30 frames; 10 came) and back: a keyframe first again.
  g_assert_true(camera.next_event(&up, &reason, 10000));
  g_assert_false(up);
  Relay again("", port);
  while (!up)
    g_assert_true(camera.next_event(&up, &reason, 10000));
  g_assert_true(wait_for([&] { return again.frames >= 10; }));
  g_assert_cmpint(again.first_idr, ==, 1);
  gst_object_unref(push);
}

// The secret as a bearer token (relaysink secret=) instead of in the path.
void test_bearer_secret() {
  Relay relay;
  Camera camera("http://127.0.0.1:" + std::to_string(relay.port) + "/publish", "secret=s3cret");
  bool up = false;
  std::string reason;
  g_assert_true(camera.next_event(&up, &reason));
  g_assert_true(up);
  g_assert_true(wait_for([&] { return relay.frames >= 10; }));
  Camera wrong("http://127.0.0.1:" + std::to_string(relay.port) + "/publish", "secret=guess");
  g_assert_true(wrong.next_event(&up, &reason));
  if (up)
    g_assert_true(wrong.next_event(&up, &reason));
  g_assert_false(up);
  g_assert_nonnull(strstr(reason.c_str(), "403"));
}

void test_garbage_and_stalled_publishers_lose_the_slot() {
  Relay relay;
  // Garbage: bytes that never line up as MPEG-TS. Cut off; nothing else is disturbed.
  int fd = raw_publisher(relay.port, "/publish/s3cret");
  g_assert_true(wait_for([&] { return relay.publishing(); }));
  std::mt19937 rng(7);
  std::string junk(8192, '\0');
  for (int i = 0; i < 40 && !closed_by_relay(fd, 1); i++) {
    for (char &c : junk)
      c = char(rng() % 0x47);  // never a sync byte
    send_chunk(fd, junk);
  }
  g_assert_true(closed_by_relay(fd, 3000));
  close(fd);
  g_assert_true(wait_for([&] { return !relay.publishing(); }));

  // Stalled: the request head and then nothing. Cut off after stall-timeout (1 s).
  fd = raw_publisher(relay.port, "/publish/s3cret");
  g_assert_true(wait_for([&] { return relay.publishing(); }));
  g_assert_true(closed_by_relay(fd, 4000));
  close(fd);
  g_assert_true(wait_for([&] { return !relay.publishing(); }));

  // A broken chunked body: libsoup ends that request; the slot is free again.
  fd = raw_publisher(relay.port, "/publish/s3cret");
  g_assert_true(wait_for([&] { return relay.publishing(); }));
  const std::string broken = "zz-not-a-chunk-size\r\n";
  send(fd, broken.data(), broken.size(), MSG_NOSIGNAL);
  g_assert_true(closed_by_relay(fd, 4000));
  close(fd);
  g_assert_true(wait_for([&] { return !relay.publishing(); }));

  // Then a real camera is served.
  Camera camera(relay.url());
  g_assert_true(wait_for([&] { return relay.frames >= 15; }));
  std::string page;
  g_assert_cmpint(camcast::test::http_get(relay.port, "/publish", &page), ==, 200);
  g_assert_nonnull(strstr(page.c_str(), "A publisher is live now"));
}

// What `ffmpeg -f mpegts http://relay/...` sends (no Expect, chunked) plays at the relay.
void test_ffmpeg_push() {
  Relay relay;
  g_autofree char *ffmpeg = g_find_program_in_path("ffmpeg");
  g_assert_nonnull(ffmpeg);  // .ci/setup installs it
  const std::string cmd =
      std::string(ffmpeg) +
      " -hide_banner -loglevel error -re -f lavfi -i testsrc=size=160x120:rate=30 -t 3 "
      "-c:v libx264 -tune zerolatency -preset ultrafast -g 30 -f mpegts " +
      relay.url();
  int status = -1;
  g_assert_true(g_spawn_command_line_sync(cmd.c_str(), nullptr, nullptr, &status, nullptr));
  g_assert_true(g_spawn_check_wait_status(status, nullptr));
  g_test_message("ffmpeg's push: %d frames at the relay", relay.frames.load());
  g_assert_cmpint(relay.frames, >=, 60);
}

// The relay serves HTTPS: a camera that trusts its certificate (tls-ca-file) pushes; one that
// doesn't is told why, and is never connected.
void test_https_push() {
  const camcast::test::TempDir dir("camcast-relay-tls");
  g_assert_true(camcast::test::make_certificate(dir.path(), "relay"));
  const std::string tls =
      "tls-certificate=" + dir.file("relay.crt") + " tls-key=" + dir.file("relay.key");
  Relay relay(tls.c_str());
  bool up = true;
  std::string reason;
  {
    Camera untrusting(relay.url("s3cret", "https"));
    g_assert_true(untrusting.next_event(&up, &reason));
    g_test_message("without tls-ca-file: %s", reason.c_str());
    g_assert_false(up);
    g_assert_nonnull(strstr(reason.c_str(), "needs tls-ca-file"));
    g_assert_cmpint(relay.frames, ==, 0);
  }
  Camera camera(relay.url("s3cret", "https"), "tls-ca-file=" + dir.file("relay.crt"));
  g_assert_true(camera.next_event(&up, &reason));
  g_assert_true(up);
  g_assert_true(wait_for([&] { return relay.frames >= 30; }));
}

}  // namespace

// A camera with a ladder (its top 320x240 at 1.5 Mbit/s, a 160x120 rung at 150 kbit/s) behind a
// 400 kbit/s upload: relaysink moves to the rung, the relay's next picture is the rung's,
// starting at its keyframe as it came off the wire, and the relay gets frames at the camera's
// rate again.
void test_ladder_narrow_upload() {
  Relay relay;
  camcast::test::NarrowLink link(relay.port, 50 * 1000);  // 400 kbit/s up
  const std::string location = "http://127.0.0.1:" + std::to_string(link.port) + "/publish/s3cret";
  camcast::test::PublishingPipeline camera(
      "videotestsrc is-live=true pattern=snow ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "tee name=cam cam. ! queue ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500 "
      "key-int-max=60 ! h264parse config-interval=-1 ! mpegtsmux latency=0 ! relaysink name=push "
      "location=" +
          location +
          " cam. ! queue leaky=downstream max-size-buffers=2 ! videoscale ! "
          "video/x-raw,width=160,height=120 ! x264enc tune=zerolatency speed-preset=ultrafast "
          "bitrate=150 vbv-buf-capacity=200 key-int-max=60 ! h264parse config-interval=-1 ! "
          "mpegtsmux latency=0 ! push.rung_1",
      "relaysink");
  GstElement *push = gst_bin_get_by_name(GST_BIN(camera.pipeline), "push");
  auto rung = [push] {
    guint r = 0;
    g_object_get(push, "rung", &r, nullptr);
    return r;
  };
  g_assert_true(wait_for([&] { return relay.frames > 0; }, 15s));
  g_assert_cmpint(relay.width, ==, 320);
  g_assert_true(wait_for([&] { return rung() == 1; }, 20s));
  g_assert_true(wait_for([&] { return relay.width == 160; }, 10s));
  g_assert_true(wait_for([&] { return relay.idr_at_new_width >= 0; }, 5s));
  g_assert_cmpint(relay.idr_at_new_width, ==, 1);
  // The rung fits: the relay's frames come at about the camera's rate (30 a second; the top
  // could not have passed at more than a quarter of its size).
  const int before = relay.frames;
  std::this_thread::sleep_for(3s);
  const int got = relay.frames - before;
  g_test_message("on the rung: %d frames in 3 s", got);
  g_assert_cmpint(got, >=, 45);
  g_assert_cmpuint(rung(), ==, 1);
  gst_object_unref(push);
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/relay/push-refusals-reconnect", test_push_refusals_and_reconnect);
  g_test_add_func("/relay/garbage-and-stalls", test_garbage_and_stalled_publishers_lose_the_slot);
  g_test_add_func("/relay/relay-down", test_relay_down_back_off_and_resume_at_a_keyframe);
  g_test_add_func("/relay/bearer-secret", test_bearer_secret);
  g_test_add_func("/relay/ffmpeg-push", test_ffmpeg_push);
  g_test_add_func("/relay/tls", test_https_push);
  g_test_add_func("/relay/ladder-narrow-upload", test_ladder_narrow_upload);
  return g_test_run();
}
