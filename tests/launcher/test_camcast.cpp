// The camcast launcher as users run it: a real process, real sockets. The default preset
// serves pages and a playable stream; a failing pipeline is restarted and a connected viewer
// keeps its connection and gets a fresh stream header and keyframe; a stalled source is
// restarted; a bad file exits 2 with FILE:LINE: reason; SIGTERM exits 0.
#include "isobmff.h"
#include "ws_test_client.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using camcast::test::Frame;
using camcast::test::WsTestClient;

namespace {

// "Within 5 s" holds for a normal build; sanitizers make everything several times slower.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kSlowdown = 6;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kSlowdown = 6;
#else
constexpr int kSlowdown = 1;
#endif
#else
constexpr int kSlowdown = 1;
#endif

// A camcast process whose stdout and stderr are collected as they come.
class Camcast {
public:
  explicit Camcast(std::vector<std::string> args) {
    std::vector<char *> argv{const_cast<char *>(CAMCAST_EXE)};
    for (std::string &a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int out = -1, err = -1;
    GError *error = nullptr;
    g_assert_true(g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD,
                                           nullptr, nullptr, &pid_, &in_, &out, &err, &error));
    readers_.emplace_back([this, out] { collect(out); });
    readers_.emplace_back([this, err] { collect(err); });
  }
  ~Camcast() {
    if (in_ >= 0)
      close(in_);
    if (!exited_) {
      kill(pid_, SIGKILL);
      wait_exit(5000);
    }
    for (auto &t : readers_)
      if (t.joinable())
        t.join();
  }

  // Waits until the output contains `text`; returns the output so far.
  bool wait_output(const std::string &text, int timeout_ms = 5000 * kSlowdown, int times = 1) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      if (count(text) >= times)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    g_printerr("# waited for \"%s\"; output:\n%s\n", text.c_str(), output().c_str());
    return false;
  }
  std::string output() {
    std::lock_guard<std::mutex> lk(lock_);
    return output_;
  }
  // How often `text` appears in the output so far.
  int count(const std::string &text) {
    const std::string all = output();
    int n = 0;
    for (size_t at = all.find(text); at != std::string::npos; at = all.find(text, at + 1))
      n++;
    return n;
  }
  // The exit status, or -1 if it did not exit in time.
  int wait_exit(int timeout_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        // Everything it wrote is read (the pipes end with it) before anyone looks at it.
        for (auto &t : readers_)
          if (t.joinable())
            t.join();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  void signal(int sig) { kill(pid_, sig); }
  // Writes to its standard input, then closes it.
  void write_stdin(const std::string &text) {
    g_assert_cmpint(write(in_, text.data(), text.size()), ==, ssize_t(text.size()));
    close(in_);
    in_ = -1;
  }

private:
  void collect(int fd) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard<std::mutex> lk(lock_);
      output_.append(buf, size_t(n));
    }
    close(fd);
  }
  GPid pid_ = 0;
  bool exited_ = false;
  std::mutex lock_;
  std::string output_;
  std::vector<std::thread> readers_;
  int in_ = -1;
};

int free_port() {
  GSocket *s =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *addr = g_inet_socket_address_new(lo, 0);
  g_assert_true(g_socket_bind(s, addr, FALSE, nullptr));
  GSocketAddress *bound = g_socket_get_local_address(s, nullptr);
  const int port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  g_object_unref(addr);
  g_object_unref(lo);
  g_object_unref(s);
  return port;
}

bool is_box(const Frame &f, const char *type) {
  return f.opcode == 2 && f.payload.size() >= 8 && f.payload.compare(4, 4, type) == 0;
}

// Reads a joining viewer's start: the description, the init segment, then a keyframe fragment.
void expect_stream_start(WsTestClient &c, int timeout_ms) {
  Frame desc = c.read_frame(timeout_ms);
  g_assert_cmpint(desc.opcode, ==, 1);
  g_assert_nonnull(strstr(desc.payload.c_str(), "\"type\":\"stream\""));
  g_assert_true(is_box(c.read_frame(), "ftyp"));
  Frame first = c.read_frame();
  g_assert_cmpint(first.opcode, ==, 2);
  // prft then moof, whose first sample is a sync sample: the viewer starts at an IDR.
  auto flags = camcast::test::isobmff::first_sample_flags(first.payload);
  g_assert_true(flags.has_value());
  g_assert_true(camcast::test::isobmff::is_sync(*flags));
}

bool port_is_free(int port) {
  GSocket *s =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress *any = g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *addr = g_inet_socket_address_new(any, guint16(port));
  const bool free = g_socket_bind(s, addr, FALSE, nullptr);
  g_object_unref(addr);
  g_object_unref(any);
  g_object_unref(s);
  return free;
}

// `camcast` exactly as the README runs it: no arguments, port 8080 (another free port only if
// something else holds 8080 on this machine).
void test_default_preset_serves_pages_and_a_stream() {
  std::vector<std::string> args;
  int port = 8080;
  if (!port_is_free(port)) {
    port = free_port();
    g_test_message("port 8080 is taken here: running camcast --port %d", port);
    args = {"--port", std::to_string(port)};
  }
  const auto started = std::chrono::steady_clock::now();
  Camcast camcast(args);
  // Private by default: the printed link carries the access token.
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/video?token=";
  g_assert_true(camcast.wait_output("open " + url, 5000 * kSlowdown));
  const std::string out = camcast.output();
  const size_t at = out.find(url) + url.size();
  const std::string token = out.substr(at, out.find_first_of(" \n", at) - at);
  std::string body;
  g_assert_cmpint(camcast::test::http_get(port, "/video", &body), ==, 401);
  g_assert_cmpint(camcast::test::http_get(port, "/video?token=" + token, &body), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "player.js"));
  g_assert_cmpint(camcast::test::http_get(port, "/jsmpeg?token=" + token, &body), ==, 200);
  WsTestClient viewer;
  g_assert_true(viewer.connect(port, "/video?token=" + token));
  expect_stream_start(viewer, 5000 * kSlowdown);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  g_test_message("first keyframe at a viewer %.2f s after camcast started", seconds);
  g_assert_cmpfloat(seconds, <, 5.0 * kSlowdown);
  std::string jpeg;
  for (int i = 0;
       i < 100 && camcast::test::http_get(port, "/mjpeg/snapshot.jpg?token=" + token, &jpeg) != 200;
       i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  g_assert_cmpuint(jpeg.size(), >, 100);
  g_assert_cmpuint(uint8_t(jpeg[0]), ==, 0xFF);
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(2000), ==, 0);
}

void test_failed_pipeline_restarts_and_viewers_stay() {
  const int port = free_port();
  Camcast camcast(
      {"run", CAMCAST_FIXTURES "/fails.pipeline", "--port", std::to_string(port), "--no-auth"});
  g_assert_true(camcast.wait_output("open http://"));
  WsTestClient viewer;
  g_assert_true(viewer.connect(port, "/video"));
  expect_stream_start(viewer, 5000 * kSlowdown);
  // The pipeline fails; the same connection then gets the new pipeline's stream.
  while (true) {
    Frame f = viewer.read_frame(5000);
    g_assert_cmpint(f.opcode, !=, 0);  // neither closed nor silent
    if (f.opcode == 1) {
      g_assert_nonnull(strstr(f.payload.c_str(), "\"type\":\"stream\""));
      break;
    }
  }
  g_assert_true(is_box(viewer.read_frame(), "ftyp"));
  Frame f = viewer.read_frame();
  g_assert_nonnull(memmem(f.payload.data(), f.payload.size(), "moof", 4));
  const std::string log = camcast.output();
  g_assert_nonnull(strstr(log.c_str(), "error from identity"));
  g_assert_nonnull(strstr(log.c_str(), "restarting in 100 ms"));
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
}

void test_stalled_pipeline_restarts() {
  Camcast camcast({"run", CAMCAST_FIXTURES "/stalls.pipeline"});
  // Stalled, restarted, and stalled again: the second time proves the new pipeline ran (a stall
  // is only noticed in a playing pipeline).
  // (A cycle takes about 6 s: the fixture's source sleeps 3 s per buffer, and tearing it down
  // waits for that sleep.)
  g_assert_true(camcast.wait_output("no buffer reached the sinks for 1 s (stalled); restarting",
                                    20000 * kSlowdown, 2));
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(5000), ==, 0);
}

// restart = on-failure: an end of stream is the end (exit 0); restart = never: a failure is too
// (exit 1); restart = always: the back-off doubles up to backoff-max. SIGINT stops at once.
void test_restart_policies_and_back_off() {
  {
    Camcast ends({"run", CAMCAST_FIXTURES "/ends.pipeline"});
    g_assert_cmpint(ends.wait_exit(10000 * kSlowdown), ==, 0);
    g_assert_nonnull(strstr(ends.output().c_str(),
                            "the stream ended (EOS); not restarting (restart=on-failure)"));
  }
  {
    Camcast never({"run", CAMCAST_FIXTURES "/fails-never.pipeline"});
    g_assert_cmpint(never.wait_exit(10000 * kSlowdown), ==, 1);
    g_assert_nonnull(strstr(never.output().c_str(), "not restarting (restart=never)"));
  }
  {
    Camcast always({"run", CAMCAST_FIXTURES "/fails-fast.pipeline"});
    for (const char *wait :
         {"restarting in 100 ms", "restarting in 200 ms", "restarting in 400 ms"})
      g_assert_true(always.wait_output(wait, 10000 * kSlowdown));
    g_assert_true(always.wait_output("restarting in 400 ms", 10000 * kSlowdown, 2));  // the max
    g_assert_null(strstr(always.output().c_str(), "restarting in 800 ms"));
    always.signal(SIGINT);
    g_assert_cmpint(always.wait_exit(3000 * kSlowdown), ==, 0);
    g_assert_nonnull(strstr(always.output().c_str(), "camcast: stopping"));
  }
}

// show, probe and list say what camcast would run and what it found.
void test_show_probe_list() {
  Camcast show({"show", "h264", "--set", "width=320", "--port", "9999"});
  g_assert_cmpint(show.wait_exit(10000 * kSlowdown), ==, 0);
  const std::string launch = show.output();
  g_assert_nonnull(strstr(launch.c_str(), "msesink"));
  g_assert_nonnull(strstr(launch.c_str(), "port=9999"));
  g_assert_nonnull(strstr(launch.c_str(), "width=320"));
  g_assert_null(strstr(launch.c_str(), "${"));  // every variable resolved
  Camcast probe(
      {"probe", "--inventory", CAMCAST_FIXTURES "/../machines/pi4-camera-module.machine"});
  g_assert_cmpint(probe.wait_exit(10000 * kSlowdown), ==, 0);
  g_assert_nonnull(strstr(probe.output().c_str(), "${camera} = libcamerasrc"));
  g_assert_nonnull(strstr(probe.output().c_str(), "${h264enc} = v4l2convert ! v4l2h264enc"));
  Camcast list({"list"});
  g_assert_cmpint(list.wait_exit(10000 * kSlowdown), ==, 0);
  for (const char *preset : {"default", "h264", "jsmpeg", "mjpeg", "relay-serve", "relay-push"})
    g_assert_nonnull(strstr(list.output().c_str(), (std::string(preset) + " ").c_str()));
  g_assert_nonnull(strstr(list.output().c_str(), ".pipeline"));
}

// --users FILE: the launcher asks for a login instead of printing a token.
void test_users_file_login() {
  const camcast::test::TempDir dir("camcast-users");
  const std::string users = dir.file("users");
  {
    Camcast passwd({"passwd", "alice", "--users", users});
    passwd.write_stdin("correct horse\n");
    g_assert_cmpint(passwd.wait_exit(10000 * kSlowdown), ==, 0);
  }
  const int port = free_port();
  Camcast camcast({"h264", "--port", std::to_string(port), "--users", users, "--set", "width=160",
                   "--set", "height=120"});
  g_assert_true(camcast.wait_output("log in as a user of"));
  g_assert_null(strstr(camcast.output().c_str(), "?token="));
  std::string body, head;
  g_assert_cmpint(camcast::test::http_get(port, "/video", &body, 3000, &head), ==, 303);
  g_assert_nonnull(strstr(head.c_str(), "Location: /login?next=/video"));
  g_assert_cmpint(
      camcast::test::http_post(port, "/login", "user=alice&password=correct+horse", &body, &head),
      ==, 303);
  const size_t at = head.find("Set-Cookie: ");
  g_assert_cmpuint(at, !=, std::string::npos);
  const std::string cookie =
      "Cookie: " + head.substr(at + 12, head.find(';', at) - at - 12) + "\r\n";
  WsTestClient viewer;
  viewer.set_headers(cookie);
  g_assert_true(viewer.connect(port, "/video"));
  expect_stream_start(viewer, 5000 * kSlowdown);
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000 * kSlowdown), ==, 0);
}

void test_bad_file_and_usage_exit_2() {
  Camcast bad_file({"run", CAMCAST_FIXTURES "/broken.pipeline"});
  g_assert_cmpint(bad_file.wait_exit(5000), ==, 2);
  g_assert_nonnull(strstr(bad_file.output().c_str(),
                          CAMCAST_FIXTURES "/broken.pipeline:4: unknown key \"source\""));
  Camcast check({"check", CAMCAST_FIXTURES "/broken.pipeline"});
  g_assert_cmpint(check.wait_exit(5000), ==, 2);
  Camcast usage({"--port", "eighty"});
  g_assert_cmpint(usage.wait_exit(5000), ==, 2);
  g_assert_nonnull(strstr(usage.output().c_str(), "--port takes a number"));
  Camcast missing({"no-such-preset"});
  g_assert_cmpint(missing.wait_exit(5000), ==, 2);
  g_assert_nonnull(strstr(missing.output().c_str(), "no pipeline named \"no-such-preset\""));
  Camcast help({"--help"});
  g_assert_cmpint(help.wait_exit(5000), ==, 0);
  g_assert_nonnull(strstr(help.output().c_str(), "camcast [OPTION"));
  g_assert_nonnull(strstr(help.output().c_str(), "--max-connections"));
}

// Under systemd: READY=1 once the pipelines play, WATCHDOG=1 at half the watchdog interval,
// STOPPING=1 on the way out — read from a real NOTIFY_SOCKET.
void test_systemd_notify() {
  const camcast::test::TempDir dir("camcast-notify");
  const std::string notify = dir.file("notify");
  const char *path = notify.c_str();
  GSocket *sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
                               G_SOCKET_PROTOCOL_DEFAULT, nullptr);
  GSocketAddress *addr = g_unix_socket_address_new(path);
  g_assert_true(g_socket_bind(sock, addr, FALSE, nullptr));
  g_setenv("NOTIFY_SOCKET", path, TRUE);
  g_setenv("WATCHDOG_USEC", "400000", TRUE);
  Camcast camcast(
      {"h264", "--port", std::to_string(free_port()), "--set", "width=160", "--set", "height=120"});
  g_unsetenv("NOTIFY_SOCKET");
  g_unsetenv("WATCHDOG_USEC");
  std::string got;
  auto receive_until = [&](const char *what) {
    for (int i = 0; i < 50 && got.find(what) == std::string::npos; i++) {
      if (!g_socket_condition_timed_wait(sock, G_IO_IN, 100000, nullptr, nullptr))
        continue;
      char buf[256];
      gssize n = g_socket_receive(sock, buf, sizeof buf, nullptr, nullptr);
      if (n > 0)
        got.append(buf, size_t(n)).append("\n");
    }
    return got.find(what) != std::string::npos;
  };
  g_assert_true(receive_until("READY=1"));
  g_assert_true(receive_until("WATCHDOG=1"));
  camcast.signal(SIGTERM);
  g_assert_true(receive_until("STOPPING=1"));
  g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
  g_object_unref(addr);
  g_object_unref(sock);
}

// SIGHUP re-reads the files and restarts only the pipeline whose file changed.
void test_sighup_restarts_only_what_changed() {
  const camcast::test::TempDir dir("camcast-reload");
  const std::string a_file = dir.file("a.pipeline"), b_file = dir.file("b.pipeline");
  const char *a = a_file.c_str(), *b = b_file.c_str();
  const char *text = "[pipeline]\nlaunch = videotestsrc is-live=true ! fakesink\n";
  g_assert_true(g_file_set_contents(a, text, -1, nullptr));
  g_assert_true(g_file_set_contents(b, text, -1, nullptr));
  Camcast camcast({"run", a, b});
  // Signals before camcast has set itself up would end it: wait until both run.
  g_assert_true(camcast.wait_output("camcast: a: running", 10000));
  g_assert_true(camcast.wait_output("camcast: b: running", 10000));
  g_assert_true(g_file_set_contents(
      b, "[pipeline]\nlaunch = videotestsrc is-live=true pattern=ball ! fakesink\n", -1, nullptr));
  camcast.signal(SIGHUP);
  g_assert_true(camcast.wait_output("camcast: b: changed; restarting it"));
  // Pipelines are looked at in order, a before b: a was already kept when b's line came.
  g_assert_null(strstr(camcast.output().c_str(), "camcast: a: changed"));
  camcast.signal(SIGTERM);
  g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
}

// True when `cond` holds throughout `ms` (checked every 20 ms): something that must not happen
// within a window the behaviour itself sets.
template <typename F>
bool stays_for(F cond, int ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (!cond())
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
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
  g_assert_true(stays_for([&] { return frames_in(port) == 0; }, 500));
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
  g_assert_true(stays_for([&] { return frames_in(port) == stopped_at; }, 500));
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

// The publish presets hand the stream on: HLS files, recorded segments, an SRT receiver.
void test_publish_presets() {
  const camcast::test::TempDir dir("camcast-publish");
  const std::string hls = dir.file("web/hls"), rec = dir.file("rec");
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
    Camcast camcast(args(
        {"record", "--port", "0", "--set", "record-dir=" + rec, "--set", "segment-seconds=1"}));
    g_assert_true(eventually(
        [&] { return g_file_test((rec + "/camcast-00001.mkv").c_str(), G_FILE_TEST_EXISTS); },
        10000));
    g_assert_true(read_file(rec + "/camcast-00000.mkv").rfind("\x1a\x45\xdf\xa3", 0) == 0);
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

}  // namespace

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
void test_tls() {
  const camcast::test::TempDir dir("camcast-tls");
  const std::string &d = dir.path();
  g_assert_true(camcast::test::make_certificate(d, "a"));
  g_assert_true(camcast::test::make_certificate(d, "b"));
  const int port = free_port(), http_port = free_port();
  std::vector<std::string> run = {"h264",      "--port", std::to_string(port), "--set",
                                  "width=160", "--set",  "height=120",         "--tls-certificate",
                                  d + "/a.crt"};
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
    camcast.signal(SIGTERM);
    g_assert_cmpint(camcast.wait_exit(3000), ==, 0);
  }
  run.push_back("--tls-key");
  run.push_back(d + "/b.key");
  Camcast mismatched(run);
  g_assert_cmpint(mismatched.wait_exit(5000 * kSlowdown), ==, 2);
  g_assert_nonnull(strstr(mismatched.output().c_str(), "does not belong to the certificate"));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  // camcast keeps its access token under XDG_CONFIG_HOME: a fresh one for these tests.
  const camcast::test::TempDir config("camcast-config");
  g_setenv("XDG_CONFIG_HOME", config.path().c_str(), TRUE);
  g_test_add_func("/camcast/access-token", test_access_token_is_kept_and_no_auth_opens);
  g_test_add_func("/camcast/default-preset", test_default_preset_serves_pages_and_a_stream);
  g_test_add_func("/camcast/restart-keeps-viewers", test_failed_pipeline_restarts_and_viewers_stay);
  g_test_add_func("/camcast/stall-restarts", test_stalled_pipeline_restarts);
  g_test_add_func("/camcast/bad-input-exits-2", test_bad_file_and_usage_exit_2);
  g_test_add_func("/camcast/restart-policies", test_restart_policies_and_back_off);
  g_test_add_func("/camcast/show-probe-list", test_show_probe_list);
  g_test_add_func("/camcast/users-file", test_users_file_login);
  g_test_add_func("/camcast/systemd-notify", test_systemd_notify);
  g_test_add_func("/camcast/sighup-reload", test_sighup_restarts_only_what_changed);
  g_test_add_func("/camcast/publish-presets", test_publish_presets);
  g_test_add_func("/camcast/on-demand", test_on_demand);
  g_test_add_func("/camcast/tls", test_tls);
  return g_test_run();
}
