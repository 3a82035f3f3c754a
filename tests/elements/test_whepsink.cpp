// whepsink over real HTTP: WHEP's answers to good and bad offers (offers made by a real
// webrtcbin as a WHEP client would), sessions ended by DELETE or freed when they never connect,
// access control with a bearer token, and the viewer limit. Playing in a browser is
// tests/browser/whepsink.test.mjs.
#include "resources.h"
#include "wait.h"
#include "whep_client.h"
#include "whep_offer.h"
#include "ws_test_client.h"

#include <gst/gst.h>
#include <gst/video/video.h>

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using camcast::test::Client;
using camcast::test::header_of;
using camcast::test::http_request;
using camcast::test::make_offer;
using camcast::test::Resources;
using camcast::test::wait_for;

namespace {

// A live H.264 stream into a whepsink; `props` on the sink.
struct Stream {
  GstElement *pipeline = nullptr;
  GstElement *sink = nullptr;
  int port = 0;
  // `high`: x264enc makes High profile (its ultrafast preset makes Constrained Baseline).
  // `audio`: a launch description linked to the sink's audio pad ("… ! sink.audio").
  explicit Stream(const std::string &props = "", bool high = false, const std::string &audio = "") {
    GError *error = nullptr;
    pipeline = gst_parse_launch(
        (std::string("videotestsrc is-live=true ! "
                     "video/x-raw,format=I420,width=320,height=240,framerate=30/1 "
                     "! x264enc name=enc tune=zerolatency key-int-max=30 speed-preset=") +
         (high ? "superfast ! video/x-h264,profile=high" : "ultrafast") +
         " ! h264parse ! whepsink name=sink port=0 " + props + " " + audio)
            .c_str(),
        &error);
    g_assert_no_error(error);
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    g_object_get(sink, "current-port", &port, nullptr);
    // The sink answers offers once it has seen the stream's caps.
    for (int i = 0; i < 100; i++) {
      GstPad *pad = gst_element_get_static_pad(sink, "sink");
      GstCaps *caps = gst_pad_get_current_caps(pad);
      gst_object_unref(pad);
      if (caps) {
        gst_caps_unref(caps);
        break;
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  ~Stream() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
  int request(const char *method, const std::string &path, const std::string &body,
              std::string *answer, std::string *head = nullptr, const std::string &headers = "",
              const char *type = "application/sdp") {
    return http_request(port, method, path, body, body.empty() ? "" : type, answer, head, headers,
                        10000);
  }
};

bool contains(const std::string &s, const char *what) {
  return s.find(what) != std::string::npos;
}

// What WHEP says to offers it cannot take, and to requests for sessions that do not exist.
void test_bad_offers_and_unknown_sessions() {
  Stream stream;
  std::string body, head;
  g_assert_cmpint(stream.request("POST", "/webrtc", "hello", &body), ==, 400);
  g_assert_true(contains(body, "not an SDP offer"));
  g_assert_cmpint(stream.request("POST", "/webrtc", make_offer("42e01f", "VP8"), &body), ==, 406);
  g_assert_true(contains(body, "no H.264"));
  {
    // A camera that sends High, and a viewer that takes Constrained Baseline only.
    Stream high("", true);
    g_assert_cmpint(high.request("POST", "/webrtc", make_offer("42e01f"), &body), ==, 406);
    g_assert_true(contains(body, "this camera's profile (high)"));
  }
  g_assert_cmpint(
      stream.request("POST", "/webrtc", make_offer("42e01f"), &body, nullptr, "", "text/plain"), ==,
      415);
  // A body past the limit is refused before it is read.
  g_assert_cmpint(stream.request("POST", "/webrtc", std::string(40 * 1024, 'v'), &body), ==, 413);
  for (const char *method : {"PATCH", "DELETE"})
    g_assert_cmpint(stream.request(method, "/webrtc/session/0123456789abcdef", "", &body), ==, 404);
  g_assert_cmpint(stream.request("OPTIONS", "/webrtc", "", &body, &head), ==, 204);
  g_assert_true(header_of(head, "Accept-Post") == "application/sdp");
  g_assert_true(contains(header_of(head, "Access-Control-Allow-Methods"), "POST"));
  g_assert_cmpint(stream.request("PUT", "/webrtc", "x", &body), ==, 405);
  // No WebSocket viewers here: an upgrade is not taken (it would wait for ever for nothing).
  g_assert_false(camcast::test::WsTestClient().connect(stream.port, "/webrtc"));
  // The page: the player, with its WebRTC backend.
  g_assert_cmpint(stream.request("GET", "/webrtc", "", &body, &head), ==, 302);
  g_assert_true(contains(header_of(head, "Location"), "backend=webrtc"));
}

// A session begins with 201, the answer and its Location; takes no trickled candidates (405);
// ends with DELETE, after which it is unknown. A High decoder takes Constrained Baseline too.
void test_session_lifecycle() {
  Stream stream;
  {
    std::string answer, head, body;
    const int status = stream.request("POST", "/webrtc", make_offer("64001f"), &answer, &head);
    g_assert_cmpint(status, ==, 201);
    g_assert_cmpint(stream.request("DELETE", header_of(head, "Location"), "", &body), ==, 200);
  }
  std::string answer, head, body;
  const int status = stream.request("POST", "/webrtc", make_offer("42e01f"), &answer, &head);
  if (status != 201)
    g_test_message("%s", answer.c_str());
  g_assert_cmpint(status, ==, 201);
  g_assert_true(contains(head, "Content-Type: application/sdp"));
  g_assert_true(contains(answer, "a=sendonly"));
  g_assert_true(contains(answer, "H264/90000"));
  g_assert_true(contains(answer, "a=candidate:"));  // every candidate in the answer
  const std::string location = header_of(head, "Location");
  g_assert_true(g_str_has_prefix(location.c_str(), "/webrtc/session/"));
  g_assert_cmpuint(location.size(), ==, strlen("/webrtc/session/") + 32);
  g_assert_cmpint(stream.request("PATCH", location, "a=end-of-candidates", &body, &head, "",
                                 "application/trickle-ice-sdpfrag"),
                  ==, 405);
  g_assert_cmpint(stream.request("DELETE", location, "", &body), ==, 200);
  g_assert_cmpint(stream.request("DELETE", location, "", &body), ==, 404);
}

// A client that offers and never connects costs nothing after 15 s.
void test_unconnected_session_is_freed() {
  Stream stream;
  std::string answer, head, body;
  g_assert_cmpint(stream.request("POST", "/webrtc", make_offer("42e01f"), &answer, &head), ==, 201);
  const std::string location = header_of(head, "Location");
  const auto start = std::chrono::steady_clock::now();
  while (stream.request("PATCH", location, "x", &body, nullptr, "", "text/plain") == 405 &&
         std::chrono::steady_clock::now() - start < 25s)
    std::this_thread::sleep_for(100ms);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  g_test_message("an offer that never connected was freed after %.1f s", seconds);
  g_assert_cmpfloat(seconds, <=, 16.5);
  g_assert_cmpint(stream.request("DELETE", location, "", &body), ==, 404);
}

// On a private server an offer needs a credential: the access token as a bearer token (WHEP
// clients cannot put it in the URL's query). Past max-viewers, a new offer takes the place of one
// that never connected; a connected viewer keeps its place, and the offer is answered 503.
void test_access_and_viewer_limit() {
  Stream stream("access-token=s3cret max-viewers=1");
  std::string body, head;
  const std::string offer = make_offer("42e01f");
  g_assert_cmpint(stream.request("POST", "/webrtc", offer, &body), ==, 401);
  g_assert_cmpint(
      stream.request("POST", "/webrtc", offer, &body, nullptr, "Authorization: Bearer no\r\n"), ==,
      401);
  const std::string bearer = "Authorization: Bearer s3cret\r\n";
  // From another site's page too: the bearer token is no ambient credential.
  g_assert_cmpint(stream.request("POST", "/webrtc", offer, &body, &head,
                                 bearer + "Origin: https://elsewhere.example\r\n"),
                  ==, 201);
  g_assert_true(header_of(head, "Access-Control-Allow-Origin") == "*");
  const std::string never_connects = header_of(head, "Location");
  g_assert_cmpint(stream.request("POST", "/webrtc", make_offer("42e01f"), &body, &head, bearer), ==,
                  201);
  g_assert_cmpint(stream.request("DELETE", never_connects, "", &body, nullptr, bearer), ==, 404);
  g_assert_cmpint(stream.request("DELETE", header_of(head, "Location"), "", &body), ==, 401);
  g_assert_cmpint(stream.request("DELETE", header_of(head, "Location"), "", &body, nullptr, bearer),
                  ==, 200);
  Client viewer;
  viewer.connect(stream.port, "/webrtc", false, nullptr, bearer);
  g_assert_cmpint(stream.request("POST", "/webrtc", make_offer("42e01f"), &body, nullptr, bearer),
                  ==, 503);
  g_assert_true(contains(body, "1 WebRTC viewers"));
  g_assert_cmpint(stream.request("DELETE", viewer.location(), "", &body, nullptr, bearer), ==, 200);
}

// A viewer over real ICE and DTLS: its picture-loss request reaches the encoder as a keyframe
// request; it leaves with DELETE.
void test_picture_loss_asks_the_encoder_for_a_keyframe() {
  Stream stream;
  std::atomic<int> requests{0};
  GstElement *enc = gst_bin_get_by_name(GST_BIN(stream.pipeline), "enc");
  GstPad *enc_src = gst_element_get_static_pad(enc, "src");
  gst_pad_add_probe(
      enc_src, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
      [](GstPad *, GstPadProbeInfo *info, gpointer n) {
        if (gst_video_event_is_force_key_unit(GST_PAD_PROBE_INFO_EVENT(info)))
          ++*static_cast<std::atomic<int> *>(n);
        return GST_PAD_PROBE_OK;
      },
      &requests, nullptr);
  Client client;
  client.connect(stream.port, "/webrtc");
  // The join's own request first; then the viewer's, asked again until the rate limit lets one
  // through (it never would if picture-loss requests did not reach the encoder).
  g_assert_true(camcast::test::wait_for([&] { return requests.load() > 0; }, 3000ms));
  const int before = requests.load(), packets = client.packets();
  auto asked = std::chrono::steady_clock::now() - 1s;
  g_assert_true(camcast::test::wait_for(
      [&] {
        if (std::chrono::steady_clock::now() - asked >= 200ms) {  // five a second
          client.request_keyframe();
          asked = std::chrono::steady_clock::now();
        }
        return requests.load() > before;
      },
      5000ms));
  g_test_message("%d RTP packets before; the encoder was asked for a keyframe", packets);
  std::string body;
  g_assert_cmpint(stream.request("DELETE", client.location(), "", &body), ==, 200);
  gst_object_unref(enc_src);
  gst_object_unref(enc);
}

// A viewer whose link is lost (its pipeline stops: no DELETE, no more packets) is gone from the
// stream's viewers at the silence bound (10 s after the last packet heard, which may come a
// second or two before the link is lost: not before 7 s, by 12.5 s — the tick and a busy
// machine's slack), and its session with it.
void test_lost_viewer_is_freed() {
  Stream stream;
  std::string location;
  {
    Client client;
    client.connect(stream.port, "/webrtc");
    location = client.location();
    g_assert_true(camcast::test::wait_for(
        [&] {
          guint viewers = 0;
          g_object_get(stream.sink, "num-clients", &viewers, nullptr);
          return viewers == 1;
        },
        2000ms));
  }
  const gint64 lost = g_get_monotonic_time();
  g_assert_true(camcast::test::wait_for(
      [&] {
        guint viewers = 1;
        g_object_get(stream.sink, "num-clients", &viewers, nullptr);
        return viewers == 0;
      },
      12500ms));
  const gint64 gone_ms = (g_get_monotonic_time() - lost) / 1000;
  g_test_message("gone %" G_GINT64_FORMAT " ms after its link was lost", gone_ms);
  g_assert_cmpint(gone_ms, >=, 7000);
  std::string streams, body;
  g_assert_cmpint(stream.request("GET", "/api/streams", "", &streams), ==, 200);
  g_assert_true(contains(streams, "\"clients\":[]"));
  g_assert_cmpint(stream.request("DELETE", location, "", &body), ==, 404);
}

// 100 viewers come and go: every one's pipeline, sockets and threads go with it, and its memory
// (the resident size in ordinary builds; under LeakSanitizer in CI, every allocation).
void test_hundred_joins_and_leaves() {
  Stream stream("max-connection-rate=0");  // 200 requests a few seconds: no client's rate
  const std::string offer = make_offer("42e01f");
  auto join_and_leave = [&] {
    std::string answer, head, body;
    g_assert_cmpint(stream.request("POST", "/webrtc", offer, &answer, &head), ==, 201);
    g_assert_cmpint(stream.request("DELETE", header_of(head, "Location"), "", &body), ==, 200);
  };
  for (int i = 0; i < 10; i++)
    join_and_leave();  // what the first viewers load for good (plugins, certificates, caches)
  const Resources before = Resources::now();
  for (int i = 0; i < 100; i++)
    join_and_leave();
  Resources::back_to(before);
  guint viewers = 1;
  g_object_get(stream.sink, "num-clients", &viewers, nullptr);
  g_assert_cmpuint(viewers, ==, 0);
}

// Bytes the process's allocator has handed out and not had back (one arena: see main()).
size_t heap_in_use() {
  return mallinfo2().uordblks;
}

// A thousand sessions come and go: each gives back all the memory it took. GLib's interned
// strings (quarks) are never freed, and webrtcbin interns a caps field name for each SSRC it
// answers with ("ssrc-N-cname"): an SSRC a session would keep ~100 bytes a session for as long
// as the camera runs. Counted exactly (the names GLib holds for the answers' SSRCs) and as the
// heap's growth.
void test_sessions_return_their_memory() {
  Stream stream("max-connection-rate=0");
  const std::string offer = make_offer("42e01f");
  std::set<guint> ssrcs;
  auto cycles = [&](int n) {
    for (int i = 0; i < n; i++) {
      std::string answer, head, body;
      g_assert_cmpint(stream.request("POST", "/webrtc", offer, &answer, &head), ==, 201);
      for (size_t at = answer.find("a=ssrc:"); at != std::string::npos;
           at = answer.find("a=ssrc:", at + 1))
        ssrcs.insert(guint(std::stoul(answer.substr(at + 7))));
      g_assert_cmpint(stream.request("DELETE", header_of(head, "Location"), "", &body), ==, 200);
    }
  };
  // What the first few hundred sessions load for good (plugins, certificates, caches that fill
  // up) is not what is asked: the heap's growth over the thousand after them is.
  // Under AddressSanitizer the heap says nothing and each session is slow: fewer sessions, the
  // names GLib keeps still counted.
  const int measured = camcast::test::kCheckRss ? 1000 : 100;
  cycles(camcast::test::kCheckRss ? 500 : 20);
  const size_t before = heap_in_use();
  cycles(measured);
  const double per_session = (double(heap_in_use()) - double(before)) / measured;
  int kept_names = 0;
  for (guint ssrc : ssrcs)
    kept_names += g_quark_try_string(("ssrc-" + std::to_string(ssrc) + "-cname").c_str()) != 0;
  g_test_message("%d SSRC names kept for good; the heap grew %.0f bytes a session", kept_names,
                 per_session);
  g_assert_cmpint(kept_names, <=, 2);  // the video's and the sound's, once for the process
  // Measured: 120-150 bytes a session with an SSRC a session; 30-50 without (the allocator's
  // caches still settling). Not under AddressSanitizer, whose allocator keeps what is freed.
  if (camcast::test::kCheckRss)
    g_assert_cmpfloat(per_session, <, 100);
}

// Viewers that really connect (ICE, DTLS, media) and leave: every one's pipeline, sockets and
// threads go with it, on both sides.
void test_connected_viewers_come_and_go() {
  Stream stream;
  {
    Client warm;  // what the first connection loads for good (DTLS keys, plugins)
    warm.connect(stream.port, "/webrtc");
    std::string body;
    g_assert_cmpint(stream.request("DELETE", warm.location(), "", &body), ==, 200);
  }
  const Resources before = Resources::now();
  for (int i = 0; i < 10; i++) {
    Client client;
    client.connect(stream.port, "/webrtc");
    std::string body;
    g_assert_cmpint(stream.request("DELETE", client.location(), "", &body), ==, 200);
  }
  Resources::back_to(before);
}

// Sound: a viewer whose offer takes Opus gets it on the same session (the answer sends it, RTP
// comes at 50 packets a second); one whose offer has no audio still gets the picture.
void test_sound_on_the_same_session() {
  Stream stream("", false,
                "audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=1 ! "
                "opusenc frame-size=20 ! sink.audio");
  // The sink describes sound to viewers who come once the audio pad has its caps.
  GstPad *pad = gst_element_get_static_pad(stream.sink, "audio");
  g_assert_nonnull(pad);
  g_assert_true(camcast::test::wait_for([&] { return gst_pad_has_current_caps(pad); }, 5000ms));
  gst_object_unref(pad);
  Client listener;
  std::string answer;
  listener.connect(stream.port, "/webrtc", true, &answer);
  g_assert_nonnull(strstr(answer.c_str(), "m=audio "));
  g_assert_nonnull(strstr(answer.c_str(), "a=rtpmap:111 OPUS/48000/2"));
  const size_t audio_at = answer.find("m=audio ");
  g_assert_cmpuint(answer.find("a=sendonly", audio_at), !=, std::string::npos);
  g_assert_true(camcast::test::wait_for([&] { return listener.audio_packets() >= 25; }, 5000ms));
  const int before = listener.audio_packets();
  std::this_thread::sleep_for(1000ms);
  g_test_message("%d Opus packets in a second", listener.audio_packets() - before);
  g_assert_cmpint(listener.audio_packets() - before, >=, 40);
  g_assert_cmpint(listener.packets(), >, 0);
  Client watcher;  // video only
  watcher.connect(stream.port, "/webrtc");
  g_assert_cmpint(watcher.audio_packets(), ==, 0);
}

// A ladder (320x240 on top, 160x120 on rung_1, as the presets feed msesink and whepsink from
// one set of encodes): a viewer starts on the top; one that asks for ?rung=1 gets the lower rung
// from its first picture and stays there; /api/streams says each viewer's rung and each rung's
// bitrate. (Moving by itself on a narrow link: tests/browser/ladder.test.mjs.)
void test_ladder_rungs() {
  Stream stream("", false,
                "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,"
                "framerate=30/1 ! x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast "
                "bitrate=100 ! h264parse ! sink.rung_1");
  Client top, low;
  top.watch_size();
  low.watch_size();
  top.connect(stream.port, "/webrtc");
  low.connect(stream.port, "/webrtc?rung=1");
  g_assert_true(camcast::test::wait_for([&] { return top.width() && low.width(); }, 5000ms));
  g_assert_cmpint(top.width(), ==, 320);
  g_assert_cmpint(low.width(), ==, 160);
  // Each viewer's first picture, as sent, is one a decoder can start at, on either rung.
  g_assert_cmpint(top.first_idr(), ==, 1);
  g_assert_cmpint(low.first_idr(), ==, 1);
  const int before = low.packets();
  std::this_thread::sleep_for(1500ms);
  g_test_message("rung 1: %d pictures in 1.5 s", low.packets() - before);
  g_assert_cmpint(low.packets() - before, >=, 20);
  g_assert_cmpint(low.width(), ==, 160);
  std::string body;
  g_assert_true(camcast::test::wait_for(
      [&] {
        stream.request("GET", "/api/streams", "", &body);
        return contains(body, "\"rung\":1,") && contains(body, "\"rung\":0,");
      },
      5000ms));
  g_assert_true(contains(body, "\"rung\":1,\"rung_pinned\":true"));
  g_assert_true(contains(body, "\"rungs\":[{"));
  g_test_message("%s", body.c_str());
}

// The ports of the UDP host candidates in an SDP answer.
std::vector<int> candidate_ports(const std::string &sdp) {
  std::vector<int> ports;
  for (size_t at = sdp.find("a=candidate:"); at != std::string::npos;
       at = sdp.find("a=candidate:", at + 1)) {
    // a=candidate:FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ TYPE ...
    char transport[8] = {}, type[16] = {};
    int port = 0;
    if (sscanf(sdp.c_str() + at, "a=candidate:%*s %*d %7s %*u %*s %d typ %15s", transport, &port,
               type) == 3 &&
        g_ascii_strcasecmp(transport, "UDP") == 0 && g_str_equal(type, "host"))
      ports.push_back(port);
  }
  return ports;
}

// min-port and max-port reach every viewer's session: its UDP host candidates (the ports a
// firewall must open) are all in the range.
void test_port_range_holds() {
  // A range of this run's own (a port of it that is taken is passed over).
  const int low = 40000 + int(getpid() % 400) * 50, high = low + 40;
  g_autofree char *props = g_strdup_printf("min-port=%d max-port=%d", low, high);
  Stream stream(props);
  for (int i = 0; i < 2; i++) {  // each viewer's session
    std::string answer, head;
    g_assert_cmpint(stream.request("POST", "/webrtc", make_offer("42e01f"), &answer, &head), ==,
                    201);
    const std::vector<int> ports = candidate_ports(answer);
    g_assert_false(ports.empty());
    for (int port : ports) {
      g_test_message("host candidate on UDP port %d (range %d-%d)", port, low, high);
      g_assert_cmpint(port, >=, low);
      g_assert_cmpint(port, <=, high);
    }
  }
}

}  // namespace

int main(int argc, char **argv) {
  mallopt(M_ARENA_MAX, 1);  // every thread's memory in the one arena heap_in_use() counts
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/whepsink/bad-offers-and-unknown-sessions",
                  test_bad_offers_and_unknown_sessions);
  g_test_add_func("/whepsink/session-lifecycle", test_session_lifecycle);
  g_test_add_func("/whepsink/port-range-holds", test_port_range_holds);
  g_test_add_func("/whepsink/ladder-rungs", test_ladder_rungs);
  g_test_add_func("/whepsink/sound-on-the-same-session", test_sound_on_the_same_session);
  g_test_add_func("/whepsink/unconnected-session-freed", test_unconnected_session_is_freed);
  g_test_add_func("/whepsink/access-and-viewer-limit", test_access_and_viewer_limit);
  g_test_add_func("/whepsink/lost-viewer-is-freed", test_lost_viewer_is_freed);
  g_test_add_func("/whepsink/hundred-joins-and-leaves", test_hundred_joins_and_leaves);
  g_test_add_func("/whepsink/sessions-return-their-memory", test_sessions_return_their_memory);
  g_test_add_func("/whepsink/connected-viewers-come-and-go", test_connected_viewers_come_and_go);
  g_test_add_func("/whepsink/picture-loss-asks-for-a-keyframe",
                  test_picture_loss_asks_the_encoder_for_a_keyframe);
  return g_test_run();
}
