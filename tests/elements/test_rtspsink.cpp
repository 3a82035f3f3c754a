// rtspsink with real RTSP clients: ffprobe and ffmpeg (what Home Assistant and Frigate run) and
// GStreamer's rtspsrc, over TCP and UDP; every client's first access unit on the wire a keyframe,
// soon after it joins mid-GOP; clients counted while they watch; the branch idle while nobody
// does; a browser stream at the same path; a stopped sink closes its clients and its port; ports
// and paths already taken are clear errors.
#include "access/users.h"
#include "idle_watch.h"
#include "programs.h"
#include "rtsp_player.h"
#include "wait.h"
#include "ws_test_client.h"

#include <glib/gstdio.h>
#include <gst/gst.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using camcast::test::http_get;
using camcast::test::run_program;
using camcast::test::wait_for;
using Clock = std::chrono::steady_clock;
using Player = camcast::test::RtspPlayer;

namespace {

// A live H.264 stream into an rtspsink (`props` on it) on free ports, a GOP of `gop` frames at
// 30 frames a second; `extra`, more of the launch line (another sink on the encode: `t.`).
struct Stream {
  GstElement *pipeline = nullptr;
  GstElement *sink = nullptr;
  int http_port = 0, rtsp_port = 0;
  explicit Stream(const std::string &props = "", int gop = 60, const std::string &extra = "") {
    GError *error = nullptr;
    pipeline = gst_parse_launch(
        ("videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,"
         "framerate=30/1 ! x264enc name=enc tune=zerolatency speed-preset=ultrafast "
         "key-int-max=" +
         std::to_string(gop) + " ! h264parse ! tee name=t ! queue ! rtspsink name=sink port=0 " +
         (props.find("rtsp-port") == std::string::npos ? "rtsp-port=0 " : "") + props + " " + extra)
            .c_str(),
        &error);
    g_assert_no_error(error);
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=,
                    GST_STATE_CHANGE_FAILURE);
    g_object_get(sink, "current-port", &http_port, nullptr);
    rtsp_port = this->port(props);
  }
  // The RTSP port: the one `props` gives, or the one found for 0.
  int port(const std::string &props) const {
    const size_t at = props.find("rtsp-port=");
    int n = at == std::string::npos ? 0 : atoi(props.c_str() + at + strlen("rtsp-port="));
    if (n == 0)
      g_object_get(sink, "current-rtsp-port", &n, nullptr);
    g_assert_cmpint(n, >, 0);
    return n;
  }
  ~Stream() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
  std::string url(const char *path = "/video") const {
    return "rtsp://127.0.0.1:" + std::to_string(rtsp_port) + path;
  }
  int clients() const {
    guint n = 0;
    g_object_get(sink, "num-clients", &n, nullptr);
    return int(n);
  }
};

// ffprobe sees H.264 at the camera's size, and ffmpeg decodes 100 frames (past the second
// keyframe) without a word of complaint — a first picture that is not whole makes it say
// "non-existing PPS" or "no frame", a keyframe cut in two "non monotonically increasing dts" —
// over TCP and over UDP; rtspsrc's first access unit is a keyframe, over both.
void test_real_clients_play() {
  Stream stream;
  for (const char *transport : {"tcp", "udp"}) {
    std::string said;
    g_assert_cmpint(
        run_program({"ffprobe", "-v", "error", "-rtsp_transport", transport, "-show_entries",
                     "stream=codec_name,width,height", "-of", "csv=p=0", stream.url()},
                    &said),
        ==, 0);
    g_test_message("ffprobe over %s: %s", transport, said.c_str());
    g_assert_true(said.find("h264,320,240") != std::string::npos);
    g_assert_cmpint(run_program({"ffmpeg", "-v", "error", "-rtsp_transport", transport, "-i",
                                 stream.url(), "-frames:v", "100", "-f", "null", "-"},
                                &said),
                    ==, 0);
    g_test_message("ffmpeg over %s said: \"%s\"", transport, said.c_str());
    g_assert_true(said.empty());
    Player player(stream.url(), transport);
    g_assert_true(wait_for([&] { return player.units >= 30; }, 10000ms));
    g_assert_cmpint(player.idr, ==, 1);
  }
}

// The sound, AAC or Opus, on the audio pad: ffprobe sees both streams over TCP and UDP, their
// starts within 100 ms of each other (the sound moved as the picture is: otherwise they would be
// as far apart as the camera's running time and the client's media's), and ffmpeg decodes both
// for 3 s (past a keyframe) without a word of complaint.
void test_sound() {
  for (const char *encoder : {"voaacenc", "opusenc"}) {
    Stream stream("", 30,
                  std::string("audiotestsrc is-live=true ! audioconvert ! audioresample ! "
                              "audio/x-raw,rate=48000,channels=2 ! ") +
                      encoder + " ! sink.audio");
    const std::string codec = g_str_equal(encoder, "voaacenc") ? "aac" : "opus";
    std::this_thread::sleep_for(1500ms);  // the camera's running time well ahead of any media's
    for (const char *transport : {"tcp", "udp"}) {
      std::string said;
      g_assert_cmpint(
          run_program({"ffprobe", "-v", "error", "-rtsp_transport", transport, "-show_entries",
                       "stream=codec_name,start_time", "-of", "csv=p=0", stream.url()},
                      &said),
          ==, 0);
      g_test_message("%s over %s: %s", encoder, transport, said.c_str());
      double video = -1, audio = -1;
      for (const auto &line : std::vector<std::string>{said.substr(0, said.find('\n')),
                                                       said.substr(said.find('\n') + 1)}) {
        const size_t comma = line.find(',');
        if (line.rfind("h264,", 0) == 0)
          video = g_ascii_strtod(line.c_str() + comma + 1, nullptr);
        else if (line.rfind(codec + ",", 0) == 0)
          audio = g_ascii_strtod(line.c_str() + comma + 1, nullptr);
      }
      g_assert_cmpfloat(video, >=, 0);
      g_assert_cmpfloat(audio, >=, 0);
      g_assert_cmpfloat(std::abs(video - audio), <, 0.1);
      g_assert_cmpint(run_program({"ffmpeg", "-v", "error", "-rtsp_transport", transport, "-i",
                                   stream.url(), "-t", "3", "-f", "null", "-"},
                                  &said),
                      ==, 0);
      g_test_message("ffmpeg said: \"%s\"", said.c_str());
      g_assert_true(said.empty());
    }
  }
}

// Clients joining a stream whose GOP is 4 s, one after another: each starts at a keyframe of its
// own, asked for when it came, not at the next one of the GOP.
void test_join_mid_gop() {
  Stream stream("", 120);
  for (int i = 0; i < 3; i++) {
    std::this_thread::sleep_for(700ms);  // somewhere in the GOP, and past the request limit
    Player player(stream.url(), i % 2 ? "udp" : "tcp");
    g_assert_true(wait_for([&] { return player.units > 0; }, 10000ms));
    g_test_message("client %d: its first access unit %.0f ms after PLAYING", i,
                   player.first_after_ms());
    g_assert_cmpint(player.idr, ==, 1);
    g_assert_cmpfloat(player.first_after_ms(), <, 3000);  // a GOP would be 4000 and more
  }
}

// Two clients joining within the limit on keyframe requests (one in 500 ms): the second's request
// waits, and its media waits with it — neither starts on the frames between.
void test_joins_close_together() {
  Stream stream("", 300);
  std::this_thread::sleep_for(1000ms);  // past the first keyframe, well inside the GOP
  Player first(stream.url(), "tcp");
  std::this_thread::sleep_for(150ms);
  Player second(stream.url(), "udp");
  g_assert_true(wait_for([&] { return first.units > 0 && second.units > 0; }, 10000ms));
  g_test_message("first access units %.0f and %.0f ms after PLAYING", first.first_after_ms(),
                 second.first_after_ms());
  g_assert_cmpint(first.idr, ==, 1);
  g_assert_cmpint(second.idr, ==, 1);
  g_assert_cmpfloat(second.first_after_ms(), <, 3000);  // the GOP would be 10 s
}

// A client is counted while it watches (num-clients, /api/streams under the stream's RTSP name)
// and no longer once it has gone; a browser stream at the same path plays beside it.
void test_counted_beside_a_browser_stream() {
  Stream stream("", 60, "t. ! queue ! msesink port=0 name=mse");
  GstElement *mse = gst_bin_get_by_name(GST_BIN(stream.pipeline), "mse");
  int mse_port = 0;
  g_object_get(mse, "current-port", &mse_port, nullptr);
  gst_object_unref(mse);
  g_assert_cmpint(stream.clients(), ==, 0);
  {
    Player player(stream.url(), "tcp");
    g_assert_true(wait_for([&] { return player.units > 0; }, 10000ms));
    g_assert_cmpint(stream.clients(), ==, 1);
    std::string streams;
    g_assert_cmpint(http_get(stream.http_port, "/api/streams", &streams), ==, 200);
    const std::string name = "\"path\":\"rtsp://:" + std::to_string(stream.rtsp_port) + "/video\"";
    const size_t at = streams.find(name);
    g_assert_true(at != std::string::npos);
    const std::string entry = streams.substr(at, streams.find("\"rungs\"", at) - at);
    g_assert_true(entry.find("\"kind\":\"rtspsink\"") != std::string::npos);
    g_assert_true(entry.find("\"clients\":[{\"id\":") != std::string::npos);  // the one
    // The browser's stream at /video is msesink's (its own port here), and plays.
    camcast::test::WsTestClient viewer;
    g_assert_true(viewer.connect(mse_port, "/video"));
    g_assert_cmpuint(viewer.read_frame(5000).payload.size(), >, 0);
  }
  g_assert_true(wait_for([&] { return stream.clients() == 0; }, 5000ms));
}

// Nobody watching: the encoder rests (idle-after); a client wakes it and plays from a keyframe.
void test_idles_until_a_client_comes() {
  Stream stream("idle-after=1");
  camcast::test::BufferCounts counts(stream.pipeline, {"enc"});
  g_assert_true(wait_for([&] { return camcast::test::api_says_idle(stream.http_port); }, 5000ms));
  g_assert_cmpint(counts.during(1000ms)[0], ==, 0);
  Player player(stream.url(), "tcp");
  g_assert_true(wait_for([&] { return player.units >= 10; }, 10000ms));
  g_assert_cmpint(player.idr, ==, 1);
  g_assert_false(camcast::test::api_says_idle(stream.http_port));
}

// A sink that stops closes its clients' connections (they see the end at once, not after a
// session timeout) and its port, which the next sink can take.
void test_stopping_ends_clients() {
  auto stream = std::make_unique<Stream>();
  const int port = stream->rtsp_port;
  Player player(stream->url(), "tcp");
  g_assert_true(wait_for([&] { return player.units > 0; }, 10000ms));
  stream.reset();
  g_assert_true(player.ended(5000ms));
  Stream again("rtsp-port=" + std::to_string(port));
  Player next(again.url(), "tcp");
  g_assert_true(wait_for([&] { return next.units > 0; }, 10000ms));
}

// The error a user reads for a state change that failed.
std::string error_of(GstElement *pipeline) {
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  g_assert_nonnull(m);
  GError *error = nullptr;
  gst_message_parse_error(m, &error, nullptr);
  std::string text = error->message;
  g_error_free(error);
  gst_message_unref(m);
  return text;
}

// Another program on the RTSP port stops this output alone: the pipeline plays (warned), the
// output is reported down with the reason, and it serves once the port is free. Another sink at
// the same path of a port, or one with another access token, is a mistake: an error.
void test_taken_ports_and_paths() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  g_assert_cmpint(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), ==, 0);
  g_assert_cmpint(listen(fd, 1), ==, 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
  const int taken = ntohs(addr.sin_port);
  {
    Stream waiting("rtsp-port=" + std::to_string(taken));
    GstBus *bus = gst_element_get_bus(waiting.pipeline);
    GstMessage *m = gst_bus_timed_pop_filtered(bus, 5 * GST_SECOND, GST_MESSAGE_WARNING);
    gst_object_unref(bus);
    g_assert_nonnull(m);
    GError *warning = nullptr;
    gst_message_parse_warning(m, &warning, nullptr);
    g_test_message("with the port taken: %s", warning->message);
    g_assert_true(strstr(warning->message, std::to_string(taken).c_str()) != nullptr);
    g_assert_true(strstr(warning->message, "in use by") != nullptr);
    g_error_free(warning);
    gst_message_unref(m);
    std::string streams;
    g_assert_true(wait_for(
        [&] {
          http_get(waiting.http_port, "/api/streams", &streams);
          return streams.find("\"name\":\"rtsp /video\",\"state\":\"down\"") != std::string::npos;
        },
        5000ms));
    close(fd);  // the other program goes: the output serves within a try or two
    g_assert_true(wait_for(
        [&] {
          http_get(waiting.http_port, "/api/streams", &streams);
          return streams.find("\"name\":\"rtsp /video\",\"state\":\"running\"") !=
                 std::string::npos;
        },
        15000ms));
    Player player(waiting.url(), "tcp");
    g_assert_true(wait_for([&] { return player.units > 0; }, 10000ms));
  }

  Stream stream;
  Stream other("path=/cam2 rtsp-port=" + std::to_string(stream.rtsp_port));
  Player first(stream.url(), "tcp"), second(stream.url("/cam2"), "tcp");
  g_assert_true(wait_for([&] { return first.units > 0 && second.units > 0; }, 10000ms));
  GstElement *same = gst_parse_launch(
      ("videotestsrc ! x264enc ! rtspsink port=0 rtsp-port=" + std::to_string(stream.rtsp_port))
          .c_str(),
      nullptr);
  g_assert_cmpint(gst_element_set_state(same, GST_STATE_READY), ==, GST_STATE_CHANGE_FAILURE);
  const std::string twice = error_of(same);
  g_test_message("the same path twice: %s", twice.c_str());
  g_assert_true(twice.find("already served") != std::string::npos);
  gst_element_set_state(same, GST_STATE_NULL);
  gst_object_unref(same);
  // Another sink of the port with another access token: who could read what would depend on
  // which came first.
  Stream private_one("access-token=one");
  GstElement *other_key = gst_parse_launch(
      ("videotestsrc ! x264enc ! rtspsink port=0 path=/cam3 access-token=another rtsp-port=" +
       std::to_string(private_one.rtsp_port))
          .c_str(),
      nullptr);
  g_assert_cmpint(gst_element_set_state(other_key, GST_STATE_READY), ==, GST_STATE_CHANGE_FAILURE);
  const std::string key = error_of(other_key);
  g_test_message("another access token on the port: %s", key.c_str());
  g_assert_true(key.find("access-token") != std::string::npos);
  gst_element_set_state(other_key, GST_STATE_NULL);
  gst_object_unref(other_key);
}

// A private camera's RTSP asks for Basic credentials: the access token under any user name, or a
// user's password; nothing, or a wrong one, is 401. A public stream of it is open.
void test_credentials() {
  g_autofree char *dir = g_dir_make_tmp("camcast-rtsp-XXXXXX", nullptr);
  const std::string users = std::string(dir) + "/users";
  std::string error;
  g_assert_true(camcast::users::set_user(users, "ann", "ann's password", &error));
  Stream stream("access-token=the-token users-file=" + users);
  const std::string host = "127.0.0.1:" + std::to_string(stream.rtsp_port) + "/video";
  auto probe = [](const std::string &url, std::string *said) {
    return run_program({"ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
                        "stream=codec_name", "-of", "csv=p=0", url},
                       said);
  };
  std::string said;
  g_assert_cmpint(probe("rtsp://" + host, &said), !=, 0);
  g_test_message("without a credential: %s", said.c_str());
  g_assert_true(said.find("401") != std::string::npos);
  g_assert_cmpint(probe("rtsp://camcast:wrong@" + host, &said), !=, 0);
  g_assert_true(said.find("401") != std::string::npos);
  g_assert_cmpint(probe("rtsp://camcast:the-token@" + host, &said), ==, 0);
  g_assert_true(said.find("h264") != std::string::npos);
  g_assert_cmpint(probe("rtsp://ann:ann%27s%20password@" + host, &said), ==, 0);
  {
    Player player(stream.url(), "tcp", "user-id=ann user-pw=\"ann's password\"");
    g_assert_true(wait_for([&] { return player.units > 0; }, 10000ms));
    // Its address, to a reader with the token, as a browser viewer's.
    std::string streams;
    g_assert_cmpint(http_get(stream.http_port, "/api/streams?token=the-token", &streams), ==, 200);
    g_assert_nonnull(strstr(streams.c_str(), "\"peer\":\"127.0.0.1\""));
  }
  Stream open("access-token=the-token public=true");
  g_assert_cmpint(probe(open.url(), &said), ==, 0);
  g_unlink(users.c_str());
  g_rmdir(dir);
}

// RTSPS: a sink with a certificate speaks TLS on its RTSP port, with the picture inside the
// RTSP connection only; ffprobe and rtspsrc play rtsps://, plain RTSP gets nowhere, a client
// asking for RTP over UDP (the picture in the clear) is refused, and another sink of the port
// without the certificate is a mistake.
void test_tls() {
  const camcast::test::TempDir dir("rtspsink-tls");
  g_assert_true(camcast::test::make_certificate(dir.path(), "c"));
  const std::string tls =
      "access-token=tok tls-certificate=" + dir.file("c.crt") + " tls-key=" + dir.file("c.key");
  Stream stream(tls);
  const std::string url =
      "rtsps://camcast:tok@127.0.0.1:" + std::to_string(stream.rtsp_port) + "/video";
  std::string said;
  g_assert_cmpint(run_program({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                               "-of", "csv=p=0", url},
                              &said),
                  ==, 0);
  g_test_message("ffprobe over RTSPS: %s", said.c_str());
  g_assert_true(said.find("h264") != std::string::npos);
  g_assert_cmpint(run_program({"ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
                               "stream=codec_name", "-of", "csv=p=0",
                               "rtsp://camcast:tok@" + url.substr(strlen("rtsps://camcast:tok@"))},
                              &said, 10),
                  !=, 0);
  const std::string location = "rtsps://127.0.0.1:" + std::to_string(stream.rtsp_port) + "/video";
  const std::string props = "user-id=camcast user-pw=tok tls-validation-flags=0";
  {
    Player player(location, "tcp", props);
    g_assert_true(wait_for([&] { return player.units >= 10; }, 10000ms));
    g_assert_cmpint(player.idr, ==, 1);
  }
  {
    Player over_udp(location, "udp", props);
    g_assert_true(over_udp.ended(10000ms));
    g_assert_cmpint(over_udp.units, ==, 0);
  }
  GstElement *plain = gst_parse_launch(
      ("videotestsrc ! x264enc ! rtspsink port=0 path=/plain access-token=tok rtsp-port=" +
       std::to_string(stream.rtsp_port))
          .c_str(),
      nullptr);
  g_assert_cmpint(gst_element_set_state(plain, GST_STATE_READY), ==, GST_STATE_CHANGE_FAILURE);
  const std::string why = error_of(plain);
  g_test_message("a sink without the certificate on the port: %s", why.c_str());
  g_assert_true(why.find("tls-certificate") != std::string::npos);
  gst_element_set_state(plain, GST_STATE_NULL);
  gst_object_unref(plain);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/rtspsink/real-clients-play", test_real_clients_play);
  g_test_add_func("/rtspsink/sound", test_sound);
  g_test_add_func("/rtspsink/join-mid-gop", test_join_mid_gop);
  g_test_add_func("/rtspsink/joins-close-together", test_joins_close_together);
  g_test_add_func("/rtspsink/counted-beside-a-browser-stream",
                  test_counted_beside_a_browser_stream);
  g_test_add_func("/rtspsink/idles-until-a-client-comes", test_idles_until_a_client_comes);
  g_test_add_func("/rtspsink/stopping-ends-clients", test_stopping_ends_clients);
  g_test_add_func("/rtspsink/taken-ports-and-paths", test_taken_ports_and_paths);
  g_test_add_func("/rtspsink/credentials", test_credentials);
  g_test_add_func("/rtspsink/tls", test_tls);
  return g_test_run();
}
