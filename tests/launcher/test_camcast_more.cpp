// The launcher over time and in its other modes: SIGHUP reloads, on-demand cameras, the publish
// presets to a relay, the access token kept across starts, HTTPS.
#include "camcast_process.h"
#include "programs.h"
#include "wait.h"

#include <map>

using namespace launcher_test;
using namespace std::chrono_literals;

namespace {

// SIGHUP re-reads the files and restarts only the pipeline whose file changed.
// A pipeline file of one small H.264 stream at /v on `port`, `width` wide. (A port of its own,
// not 0: a restarted pipeline takes its viewers over on the same port.)
std::string small_stream(int port, int width) {
  return "[pipeline]\nlaunch = videotestsrc is-live=true ! video/x-raw,width=" +
         std::to_string(width) + ",height=120,framerate=30/1 ! x264enc tune=zerolatency " +
         "speed-preset=ultrafast key-int-max=30 ! h264parse ! msesink port=" +
         std::to_string(port) + " path=/v\n";
}

// SIGHUP by its effect: the changed pipeline runs its new description (its viewer, kept, is
// told the new width and gets its pictures), the unchanged one goes on untouched (its viewer
// gets no new stream description, only more pictures).
void test_sighup_restarts_only_what_changed() {
  const camcast::test::TempDir dir("camcast-reload");
  const std::string a_file = dir.file("a.pipeline"), b_file = dir.file("b.pipeline");
  const char *a = a_file.c_str(), *b = b_file.c_str();
  const int port_a = free_port(), port_b = free_port();
  g_assert_true(g_file_set_contents(a, small_stream(port_a, 160).c_str(), -1, nullptr));
  g_assert_true(g_file_set_contents(b, small_stream(port_b, 160).c_str(), -1, nullptr));
  Camcast camcast({"run", a, b, "--no-auth"});
  // Signals before camcast has set itself up would end it: wait until both serve.
  g_assert_true(camcast.wait_output("camcast: a: open", 10000 * kSlowdown));
  g_assert_true(camcast.wait_output("camcast: b: open", 10000 * kSlowdown));
  WsTestClient viewer_a, viewer_b;
  g_assert_true(viewer_a.connect(port_a, "/v"));
  g_assert_true(viewer_b.connect(port_b, "/v"));
  expect_stream_start(viewer_a, 5000 * kSlowdown);
  expect_stream_start(viewer_b, 5000 * kSlowdown);
  g_assert_true(g_file_set_contents(b, small_stream(port_b, 320).c_str(), -1, nullptr));
  camcast.signal(SIGHUP);
  g_assert_true(camcast.wait_output("camcast: b: changed; restarting it"));
  // b's viewer, on the same connection: the new stream's description, then its pictures.
  for (Frame f;;) {
    f = viewer_b.read_frame(5000 * kSlowdown);
    g_assert_cmpint(f.opcode, !=, 0);
    if (f.opcode == 1) {
      g_assert_nonnull(strstr(f.payload.c_str(), "\"width\":320"));
      break;
    }
  }
  g_assert_true(is_box(viewer_b.read_frame(), "ftyp"));
  g_assert_cmpint(viewer_b.read_frame().opcode, ==, 2);
  // a's viewer: pictures all along, never a new description (a was not restarted).
  for (int i = 0; i < 30; i++) {
    Frame f = viewer_a.read_frame(2000 * kSlowdown);
    g_assert_cmpint(f.opcode, ==, 2);
  }
  g_assert_null(strstr(camcast.output().c_str(), "camcast: a: changed"));
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000 * kSlowdown), ==, 0);
}

int frames_in(int port) {
  std::string json;
  if (camcast::test::http_get(port, "/api/streams", &json) != 200)
    return -1;
  const size_t at = json.find("\"frames_in\":");
  return at == std::string::npos ? -1 : atoi(json.c_str() + at + 12);
}

// On demand: no frames while nobody watches; the first viewer starts the camera and gets a
// keyframe; a second after the last viewer leaves, the camera is off again.
void test_on_demand() {
  const int port = free_port();
  Camcast camcast(
      {"run", CAMCAST_FIXTURES "/on-demand.pipeline", "--port", std::to_string(port), "--no-auth"});
  g_assert_true(camcast.wait_output("the camera starts with the first viewer"));
  // Half a second of a 30 frames/s camera would be 15 frames: none come while nobody watches.
  g_assert_true(camcast::test::holds_for([&] { return frames_in(port) == 0; }, 500ms));
  {
    const auto joined = std::chrono::steady_clock::now();
    WsTestClient viewer;
    g_assert_true(viewer.connect(port, "/video"));
    expect_stream_start(viewer, 5000 * kSlowdown);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - joined).count();
    g_test_message("on demand: first keyframe %.3f s after the viewer connected", seconds);
    g_assert_cmpfloat(seconds, <, 5.0);
    g_assert_true(camcast.wait_output("a viewer arrived: starting the camera"));
  }
  g_assert_true(camcast.wait_output("no viewers for 1 s: camera off", 5000));
  const int stopped_at = frames_in(port);
  g_assert_true(camcast::test::holds_for([&] { return frames_in(port) == stopped_at; }, 500ms));
  g_assert_cmpint(stopped_at, >, 0);
  // The next viewer starts the camera again and sees what it captures from now on, not the
  // last frames from before it was switched off (their capture times are in the prft box).
  const gint64 joined_us = g_get_real_time();
  WsTestClient again;
  g_assert_true(again.connect(port, "/video"));
  // (The description and init segment may come twice: on joining, and when the restarted
  // encoder sets its caps.)
  Frame first;
  do
    first = again.read_frame();
  while (first.opcode != 0 && !memmem(first.payload.data(), first.payload.size(), "moof", 4));
  const char *prft =
      static_cast<const char *>(memmem(first.payload.data(), first.payload.size(), "prft", 4));
  g_assert_nonnull(prft);
  uint64_t ntp = 0;
  for (int i = 0; i < 8; i++)
    ntp = ntp << 8 | uint8_t(prft[12 + i]);
  const gint64 captured_us = gint64((ntp >> 32) - 2208988800ull) * G_USEC_PER_SEC +
                             gint64(((ntp & 0xFFFFFFFFull) * G_USEC_PER_SEC) >> 32);
  g_assert_cmpint(captured_us, >, joined_us - 200 * 1000);
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
}

// Waits until fn() holds, up to timeout_ms.
template <typename F>
bool eventually(F fn, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    if (fn())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return fn();
}

std::string read_file(const std::string &path) {
  gchar *data = nullptr;
  gsize len = 0;
  if (!g_file_get_contents(path.c_str(), &data, &len, nullptr))
    return "";
  std::string s(data, len);
  g_free(data);
  return s;
}

const std::vector<std::string> kSmall = {"--set",      "width=160", "--set",
                                         "height=120", "--set",     "gop=15"};

std::vector<std::string> args(std::vector<std::string> a) {
  a.insert(a.end(), kSmall.begin(), kSmall.end());
  return a;
}

// The publish presets hand the stream on: HLS files, an SRT receiver.
void test_publish_presets() {
  const camcast::test::TempDir dir("camcast-publish");
  const std::string hls = dir.file("web/hls");
  {
    // Directories that do not exist yet are made (variables named *-dir).
    Camcast camcast(args({"hls", "--port", "0", "--set", "hls-dir=" + hls}));
    g_assert_true(eventually(
        [&] { return read_file(hls + "/playlist.m3u8").find("#EXTINF") != std::string::npos; },
        10000));
    const std::string segment = read_file(hls + "/segment00000.ts");
    g_assert_cmpuint(segment.size(), >, 188);
    g_assert_cmpint(segment[0], ==, 0x47);
    camcast.signal(SIGTERM);
    g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
  }
  {
    // A receiver as a media server would listen: SRT in, MPEG-TS out, joining mid-stream.
    gst_init(nullptr, nullptr);
    const int port = free_port();
    g_autofree char *launch = g_strdup_printf(
        "srtsrc uri=srt://127.0.0.1:%d?mode=listener ! appsink name=out sync=false", port);
    GstElement *receiver = gst_parse_launch(launch, nullptr);
    GstElement *out = gst_bin_get_by_name(GST_BIN(receiver), "out");
    gst_element_set_state(receiver, GST_STATE_PLAYING);
    Camcast camcast(
        args({"srt", "--port", "0", "--set", "srt-url=srt://127.0.0.1:" + std::to_string(port)}));
    std::string ts;
    const gint64 until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    // Two keyframes' worth (gop=15): SPS and PPS must come again in-band for a late joiner.
    while (g_get_monotonic_time() < until && ts.size() < 200 * 1000) {
      GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(out), GST_SECOND);
      if (!sample)
        continue;
      GstBuffer *b = gst_sample_get_buffer(sample);
      const size_t at = ts.size();
      ts.resize(at + gst_buffer_get_size(b));
      gst_buffer_extract(b, 0, &ts[at], gst_buffer_get_size(b));
      gst_sample_unref(sample);
    }
    g_assert_cmpuint(ts.size(), >=, 200 * 1000);
    g_assert_cmpint(ts[0], ==, 0x47);
    g_assert_cmpint(ts[188], ==, 0x47);
    g_assert_nonnull(memmem(ts.data() + 1000, ts.size() - 1000, "\x00\x00\x01\x67", 4));
    camcast.signal(SIGTERM);
    g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
    gst_element_set_state(receiver, GST_STATE_NULL);
    gst_object_unref(out);
    gst_object_unref(receiver);
  }
}

// The lines a program printed (at most `timeout_s` to run), empty ones left out; none if it failed.
std::vector<std::string> output_lines(const std::vector<std::string> &argv, int timeout_s = 30) {
  std::string out;
  std::vector<std::string> lines;
  if (camcast::test::run_program(argv, &out, timeout_s) != 0)
    return lines;
  gchar **split = g_strsplit(out.c_str(), "\n", -1);
  for (gchar **l = split; *l; l++)
    if (**l)
      lines.emplace_back(*l);
  g_strfreev(split);
  return lines;
}

// The record preset killed (a power cut, as far as the files can tell) and run again: nothing the
// first run wrote is lost or changed, the second writes beside it, and every segment — the one
// cut short too — plays in ffprobe with its pictures and sound.
void test_record_killed_and_run_again() {
  const camcast::test::TempDir dir("camcast-record");
  const std::string rec = dir.file("rec");
  const std::vector<std::string> run = {
      "record", "--port",    "0", "--set", "record-dir=" + rec, "--set", "segment-seconds=1",
      "--set",  "audio=test"};
  const std::vector<std::string> find = {"find", rec, "-name", "*.mp4"};
  std::map<std::string, std::string> first;
  {
    Camcast camcast(args(run));
    g_assert_true(camcast.wait_output("recording into", 10000 * kSlowdown, 3));
    camcast.signal(SIGKILL);
    g_assert_cmpint(camcast.wait_exit(3000), ==, 128 + SIGKILL);
  }
  for (const std::string &path : output_lines(find))
    first[path] = read_file(path);
  g_assert_cmpuint(first.size(), >=, 3);
  {
    Camcast camcast(args(run));
    g_assert_true(camcast.wait_output("recording into", 10000 * kSlowdown, 2));
    camcast.signal(SIGTERM);
    g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
  }
  for (const auto &[path, bytes] : first)
    g_assert_true(read_file(path) == bytes);
  const std::vector<std::string> all = output_lines(find);
  g_assert_cmpuint(all.size(), >=, first.size() + 2);
  for (const std::string &path : all) {
    // One line per stream: its codec, and the pictures ffprobe decoded (the sound's: N/A).
    const std::vector<std::string> streams =
        output_lines({"ffprobe", "-v", "error", "-count_frames", "-show_entries",
                      "stream=codec_name,nb_read_frames", "-of", "csv=p=0", path});
    g_test_message("%s: %s / %s", path.c_str(), streams.empty() ? "" : streams[0].c_str(),
                   streams.size() < 2 ? "" : streams[1].c_str());
    g_assert_cmpuint(streams.size(), ==, 2);
    g_assert_true(streams[0].rfind("h264,", 0) == 0);
    g_assert_cmpint(atoi(streams[0].c_str() + 5), >, 0);
    g_assert_true(streams[1].rfind("opus", 0) == 0);
  }
}

// The access token camcast keeps: made once with mode 0600, the same on the next start, and
// --no-auth opens the port.
void test_access_token_is_kept_and_no_auth_opens() {
  const int port = free_port();
  const std::vector<std::string> run = {"h264",      "--port", std::to_string(port), "--set",
                                        "width=160", "--set",  "height=120"};
  std::string first, second;
  for (std::string *token : {&first, &second}) {
    Camcast camcast(run);
    g_assert_true(camcast.wait_output("?token="));
    const std::string out = camcast.output();
    const size_t at = out.find("?token=") + 7;
    *token = out.substr(at, out.find_first_of(" \n", at) - at);
    camcast.signal(SIGTERM);
    g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
  }
  g_assert_true(first == second);
  g_autofree char *path =
      g_build_filename(g_getenv("XDG_CONFIG_HOME"), "camcast", "access-token", nullptr);
  GStatBuf st;
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  std::vector<std::string> open = run;
  open.push_back("--no-auth");
  Camcast camcast(open);
  g_assert_true(camcast.wait_output("open http://127.0.0.1:" + std::to_string(port) + "/video "));
  std::string body;
  g_assert_cmpint(camcast::test::http_get(port, "/video", &body), ==, 200);
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
}

// HTTPS from the launcher: the links it prints are https:// and work, --http-port adds plain
// HTTP, and a key that is not the certificate's stops it at once with the reason.
std::string rtsp_codec(const std::string &url, std::string *said);

void test_tls() {
  const camcast::test::TempDir dir("camcast-tls");
  const std::string &d = dir.path();
  g_assert_true(camcast::test::make_certificate(d, "a"));
  g_assert_true(camcast::test::make_certificate(d, "b"));
  const int port = free_port(), http_port = free_port();
  std::vector<std::string> run = {
      "h264",  "--port",      std::to_string(port), "--set",     "width=160", "--set", "height=120",
      "--set", "rtsp-port=0", "--tls-certificate",  d + "/a.crt"};
  {
    std::vector<std::string> args = run;
    for (const char *a : {"--tls-key", "", "--http-port", ""})
      args.push_back(a);
    args[args.size() - 3] = d + "/a.key";
    args.back() = std::to_string(http_port);
    Camcast camcast(args);
    const std::string https = "open https://127.0.0.1:" + std::to_string(port) + "/video?token=";
    g_assert_true(camcast.wait_output(https));
    g_assert_true(camcast.wait_output(
        "also over plain HTTP: http://127.0.0.1:" + std::to_string(http_port) + "/?token="));
    const std::string out = camcast.output();
    const size_t at = out.find(https) + https.size();
    const std::string token = out.substr(at, out.find_first_of(" \n", at) - at);
    std::string body;
    g_assert_cmpint(
        camcast::test::http_get(camcast::test::tls(port), "/video?token=" + token, &body), ==, 200);
    g_assert_cmpint(camcast::test::http_get(http_port, "/video?token=" + token, &body), ==, 200);
    WsTestClient viewer;
    g_assert_true(viewer.connect(camcast::test::tls(port), "/video?token=" + token));
    g_assert_cmpint(viewer.read_frame(5000 * kSlowdown).opcode, ==, 1);  // the stream's metadata
    // RTSP on the same certificate: RTSPS, printed so, which ffprobe plays.
    const std::string rtsps = "open rtsps://camcast:" + token + "@127.0.0.1:";
    g_assert_true(camcast.wait_output(rtsps));
    const size_t from = camcast.output().find(rtsps) + strlen("open ");
    const std::string url = camcast.output().substr(from, camcast.output().find(' ', from) - from);
    std::string said;
    const std::string codec = rtsp_codec(url, &said);
    g_assert_cmpstr(codec.c_str(), ==, "h264");
    camcast.signal(SIGTERM);
    g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
  }
  run.push_back("--tls-key");
  run.push_back(d + "/b.key");
  Camcast mismatched(run);
  g_assert_cmpint(mismatched.wait_exit(5000 * kSlowdown), ==, 2);
  g_assert_nonnull(strstr(mismatched.output().c_str(), "does not belong to the certificate"));
}

// relay-serve says whom it refused and why (never the secret), at most once a second however
// many a scanner sends, counting the rest; each refused publisher gets its 403 at once.
void test_relay_serve_logs_refusals() {
  const int port = free_port();
  Camcast camcast(args({"relay-serve", "--port", std::to_string(port), "--set",
                        "relay-secret=right-secret", "--no-auth"}));
  g_assert_true(camcast.wait_output("http://"));
  std::string body;
  g_assert_cmpint(camcast::test::http_post(port, "/publish/wrong-guess", "x", &body), ==, 403);
  g_assert_true(camcast.wait_output("refused a camera at 127.0.0.1: wrong secret"));
  for (int i = 0; i < 5; i++)
    g_assert_cmpint(
        camcast::test::http_post(port, "/publish/guess-" + std::to_string(i), "x", &body), ==, 403);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  g_assert_cmpint(camcast::test::http_post(port, "/publish/last-guess", "x", &body), ==, 403);
  g_assert_true(camcast.wait_output("more refused since the last report)"));
  g_assert_cmpint(camcast.count("refused a camera at"), ==, 2);
  const std::string out = camcast.output();
  g_assert_null(strstr(out.c_str(), "guess"));  // what a publisher tried is not logged
  g_assert_null(strstr(out.c_str(), "right-secret"));
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000 * kSlowdown), ==, 0);
}

// A sound server of the test's own — PulseAudio with a sine wave as its source, as PipeWire's
// pulse service stands for a desktop's microphones — started and stopped by its PID, as a USB
// microphone comes and goes.
class SoundServer {
public:
  explicit SoundServer(std::string runtime_dir) : dir_(std::move(runtime_dir)) {}
  ~SoundServer() { stop(); }

  // Starts it and waits for its socket; false (having said why) if it cannot.
  bool start() {
    const std::string env_dir = "XDG_RUNTIME_DIR=" + dir_, env_home = "HOME=" + dir_;
    const char *argv[] = {"pulseaudio",
                          "-n",
                          "--daemonize=no",
                          "--exit-idle-time=-1",
                          "--disable-shm=yes",
                          "--log-level=error",
                          "-L",
                          "module-native-protocol-unix auth-anonymous=1",
                          "-L",
                          "module-sine-source source_name=microphone frequency=440",
                          nullptr};
    const char *envp[] = {env_dir.c_str(), env_home.c_str(), "PATH=/usr/bin:/bin", nullptr};
    GError *error = nullptr;
    if (!g_spawn_async(dir_.c_str(), const_cast<char **>(argv), const_cast<char **>(envp),
                       GSpawnFlags(G_SPAWN_SEARCH_PATH_FROM_ENVP | G_SPAWN_DO_NOT_REAP_CHILD |
                                   G_SPAWN_STDOUT_TO_DEV_NULL),
                       die_with_test, nullptr, &pid_, &error)) {
      g_printerr("cannot start pulseaudio (.ci/run installs it): %s\n", error->message);
      g_error_free(error);
      return false;
    }
    const std::string socket = dir_ + "/pulse/native";
    for (int i = 0; i < 250 && !g_file_test(socket.c_str(), G_FILE_TEST_EXISTS); i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return g_file_test(socket.c_str(), G_FILE_TEST_EXISTS);
  }

  void stop() {
    if (!pid_)
      return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    g_spawn_close_pid(pid_);
    pid_ = 0;
  }

private:
  std::string dir_;
  GPid pid_ = 0;
};

// The description a viewer of /video gets first (empty if none came).
std::string stream_description(int port) {
  WsTestClient viewer;
  if (!viewer.connect(port, "/video"))
    return "";
  Frame f = first_message(viewer, 5000 * kSlowdown);
  return f.opcode == 1 ? f.payload : "";
}

// Polls the description until `with_sound` says whether it has an audio track (15 s at most).
bool sound_becomes(int port, bool with_sound) {
  for (int i = 0; i < 60; i++) {
    const std::string d = stream_description(port);
    if (!d.empty() &&
        (d.find("\"audio\":{\"codec\":\"opus\"") != std::string::npos) == with_sound &&
        d.find("\"codec\":\"avc1.") != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

// The microphone goes away (its sound server stops): camcast says so and goes on with the
// picture alone; when it is back, camcast says so and the sound is back in the stream.
void test_microphone_comes_and_goes() {
  const camcast::test::TempDir dir("camcast-sound");
  const std::string old_runtime_dir =
      g_getenv("XDG_RUNTIME_DIR") ? g_getenv("XDG_RUNTIME_DIR") : "";
  g_setenv("XDG_RUNTIME_DIR", dir.path().c_str(), TRUE);  // where camcast looks for the server
  SoundServer pulse(dir.path());
  g_assert_true(pulse.start());
  const int port = free_port();
  Camcast camcast({"h264", "--port", std::to_string(port), "--no-auth", "--set",
                   "microphone=pulsesrc name=microphone"});
  g_assert_true(camcast.wait_output("open http://", 10000 * kSlowdown));
  g_assert_true(sound_becomes(port, true));
  pulse.stop();
  g_assert_true(camcast.wait_output("the microphone failed (", 5000 * kSlowdown));
  g_assert_true(camcast.wait_output("going on without sound until it is back"));
  g_assert_true(sound_becomes(port, false));
  g_assert_true(pulse.start());
  g_assert_true(
      camcast.wait_output("the microphone is back: restarting with sound", 5000 * kSlowdown));
  g_assert_true(sound_becomes(port, true));
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000 * kSlowdown), ==, 0);
  if (old_runtime_dir.empty())
    g_unsetenv("XDG_RUNTIME_DIR");
  else
    g_setenv("XDG_RUNTIME_DIR", old_runtime_dir.c_str(), TRUE);
}

// An output that takes nothing (its sink waits an hour for each buffer: a server that swallows
// its packets) is restarted alone after the stall timeout, said to be down and why, while the
// camera's own viewer plays on.
void test_stalled_output_restarts_alone() {
  const camcast::test::TempDir dir("camcast-stalled-output");
  const std::string file = dir.file("slow.pipeline");
  const int port = free_port();
  const std::string text =
      "[pipeline]\nlaunch = videotestsrc is-live=true ! video/x-raw,width=160,height=120,"
      "framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
      "h264parse ! tee name=h264 h264. ! queue ! msesink port=" +
      std::to_string(port) +
      " path=/v\noutput-slow = h264. ! queue ! fakesink sync=true ts-offset=3600000000000\n"
      "[supervise]\nstall-timeout = 2\n";
  g_assert_true(g_file_set_contents(file.c_str(), text.c_str(), -1, nullptr));
  Camcast camcast({"run", file, "--no-auth"});
  g_assert_true(camcast.wait_output("camcast: slow: open", 10000 * kSlowdown));
  WsTestClient viewer;
  g_assert_true(viewer.connect(port, "/v"));
  expect_stream_start(viewer, 5000 * kSlowdown);
  g_assert_true(
      camcast.wait_output("slow/slow: it took nothing for 2 s (stalled); this output "
                          "restarts in",
                          15000 * kSlowdown));
  std::string json;
  g_assert_cmpint(camcast::test::http_get(port, "/api/streams", &json), ==, 200);
  g_assert_nonnull(strstr(json.c_str(), "\"name\":\"slow/slow\",\"state\":\"down\""));
  // The camera's viewer got pictures all along, on the same connection.
  for (int i = 0; i < 30; i++)
    g_assert_cmpint(viewer.read_frame(2000 * kSlowdown).opcode, ==, 2);
  g_assert_null(strstr(camcast.output().c_str(), "restarting in"));
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000 * kSlowdown), ==, 0);
}

// The jsmpeg preset streams MPEG-1 pictures; --allowed-hosts adds a name the camera answers to
// (others are refused, as without it); --max-connections-per-address holds one address to its
// share.
void test_jsmpeg_preset_and_server_options() {
  const int port = free_port();
  Camcast camcast({"jsmpeg", "--port", std::to_string(port), "--no-auth", "--set", "width=320",
                   "--set", "height=240", "--allowed-hosts", "camera.example",
                   "--max-connections-per-address", "2"});
  g_assert_true(camcast.wait_output("open http://", 10000 * kSlowdown));
  WsTestClient first, second, third;
  g_assert_true(first.connect(port, "/jsmpeg"));
  g_assert_cmpint(jsmpeg_pictures(first, 1), >=, 10);
  std::string body;
  g_assert_cmpint(
      camcast::test::http_get(port, "/", &body, 3000, nullptr, "Host: camera.example\r\n"), ==,
      200);
  g_assert_cmpint(
      camcast::test::http_get(port, "/", &body, 3000, nullptr, "Host: elsewhere.example\r\n"), !=,
      200);
  // Two connections from this address are open (the first viewer's, and the second's): a
  // third is refused.
  g_assert_true(second.connect(port, "/jsmpeg"));
  g_assert_false(third.connect(port, "/jsmpeg"));
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000 * kSlowdown), ==, 0);
}

// `camcast --version` says the version; the systemd unit the build makes passes
// `systemd-analyze verify` without a word (an unknown key is only a warning: any output fails),
// run on a copy whose ExecStart is this build's program.
void test_version_and_unit() {
  Camcast version({"--version"});
  g_assert_cmpint(version.wait_exit(5000 * kSlowdown), ==, 0);
  g_assert_true(g_regex_match_simple("^camcast [0-9]+\\.[0-9]+\\.[0-9]+\n$",
                                     version.output().c_str(), GRegexCompileFlags(0),
                                     GRegexMatchFlags(0)));
  const camcast::test::TempDir dir("camcast-unit");
  g_autofree char *build_dir = g_path_get_dirname(CAMCAST_EXE);
  const std::string unit = read_file(std::string(build_dir) + "/camcast.service");
  g_assert_nonnull(strstr(unit.c_str(), "\nType=notify\n"));
  g_assert_nonnull(strstr(unit.c_str(), "\nSupplementaryGroups=video render audio\n"));
  g_autoptr(GRegex) exec =
      g_regex_new("^ExecStart=.*$", G_REGEX_MULTILINE, GRegexMatchFlags(0), nullptr);
  g_autofree char *copy = g_regex_replace_literal(exec, unit.c_str(), -1, 0,
                                                  (std::string("ExecStart=") + CAMCAST_EXE).c_str(),
                                                  GRegexMatchFlags(0), nullptr);
  const std::string path = dir.file("camcast.service");
  g_assert_true(g_file_set_contents(path.c_str(), copy, -1, nullptr));
  const char *argv[] = {"systemd-analyze", "verify", path.c_str(), nullptr};
  g_autofree char *out = nullptr, *err = nullptr;
  int status = -1;
  g_assert_true(g_spawn_sync(nullptr, const_cast<char **>(argv), nullptr, G_SPAWN_SEARCH_PATH,
                             nullptr, nullptr, &out, &err, &status, nullptr));
  g_test_message("systemd-analyze verify: %s%s", out, err);
  g_assert_true(g_spawn_check_wait_status(status, nullptr));
  g_assert_cmpstr(err, ==, "");
  g_assert_cmpstr(out, ==, "");
}

// ffprobe's codec of `url` over RTSP/TCP, or "" with what it said in `said`.
std::string rtsp_codec(const std::string &url, std::string *said) {
  const char *argv[] = {"timeout",
                        "20",
                        "ffprobe",
                        "-v",
                        "error",
                        "-rtsp_transport",
                        "tcp",
                        "-show_entries",
                        "stream=codec_name",
                        "-of",
                        "csv=p=0",
                        url.c_str(),
                        nullptr};
  g_autofree char *out = nullptr, *err = nullptr;
  int status = -1;
  g_assert_true(g_spawn_sync(nullptr, const_cast<char **>(argv), nullptr, G_SPAWN_SEARCH_PATH,
                             nullptr, nullptr, &out, &err, &status, nullptr));
  *said = err ? err : "";
  return g_spawn_check_wait_status(status, nullptr) ? g_strstrip(out) : "";
}

// The h264 preset serves RTSP beside /video from the one encode, with the sound as AAC: the
// launcher prints the address with the credential a client needs (--port 0: on any free RTSP
// port), which ffprobe plays, and without which it is refused; --set rtsp=off leaves it out, and
// its sound with it (the pipeline runs).
void test_rtsp_in_presets() {
  const std::vector<std::string> run = {"h264",  "--port",     "0",     "--set",     "width=160",
                                        "--set", "height=120", "--set", "audio=test"};
  {
    Camcast camcast(run);
    g_assert_true(camcast.wait_output("(rtspsink)", 10000 * kSlowdown));
    const std::string out = camcast.output();
    const size_t at = out.find("open rtsp://camcast:") + strlen("open ");
    g_assert_cmpuint(at, >, strlen("open "));
    const std::string url = out.substr(at, out.find(' ', at) - at);
    g_test_message("the launcher says: %s", url.c_str());
    std::string said;
    const std::string with = rtsp_codec(url, &said);
    g_assert_cmpstr(with.c_str(), ==, "h264\naac");
    const std::string bare = "rtsp://" + url.substr(url.find('@') + 1);
    const std::string without = rtsp_codec(bare, &said);
    g_assert_cmpstr(without.c_str(), ==, "");
    g_assert_nonnull(strstr(said.c_str(), "401"));
    camcast.signal(SIGTERM);
    g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
  }
  std::vector<std::string> off = run;
  off.insert(off.end(), {"--set", "rtsp=off"});
  Camcast camcast(off);
  g_assert_true(camcast.wait_output("every stream:", 10000 * kSlowdown));
  g_assert_null(strstr(camcast.output().c_str(), "rtsp://"));
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
}

}  // namespace

void launcher_test::add_more_tests() {
  g_test_add_func("/camcast/rtsp-in-presets", test_rtsp_in_presets);
  g_test_add_func("/camcast/microphone-comes-and-goes", test_microphone_comes_and_goes);
  g_test_add_func("/camcast/relay-serve-logs-refusals", test_relay_serve_logs_refusals);
  g_test_add_func("/camcast/sighup-reload", test_sighup_restarts_only_what_changed);
  g_test_add_func("/camcast/on-demand", test_on_demand);
  g_test_add_func("/camcast/publish-presets", test_publish_presets);
  g_test_add_func("/camcast/record-killed-and-run-again", test_record_killed_and_run_again);
  g_test_add_func("/camcast/access-token", test_access_token_is_kept_and_no_auth_opens);
  g_test_add_func("/camcast/tls", test_tls);
  g_test_add_func("/camcast/version-and-unit", test_version_and_unit);
  g_test_add_func("/camcast/stalled-output-restarts-alone", test_stalled_output_restarts_alone);
  g_test_add_func("/camcast/jsmpeg-preset-and-server-options",
                  test_jsmpeg_preset_and_server_options);
}
