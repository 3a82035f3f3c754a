// The camcast launcher as users run it: a real process, real sockets. The default preset
// serves pages and a playable stream; a failing pipeline is restarted and a connected viewer
// keeps its connection and gets a fresh stream header and keyframe; a stalled source is
// restarted; a bad file exits 2 with FILE:LINE: reason; SIGTERM exits 0.
#include "camcast_process.h"

#include <sys/stat.h>

using namespace launcher_test;

namespace {

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

// A 15 frames/s camera (a common Pi setting; MPEG-1 has no code for it): the default preset's
// every output runs, /video and /jsmpeg both stream pictures, and nothing restarts.
void test_default_preset_at_15_frames_a_second() {
  const int port = free_port();
  Camcast camcast({"--port", std::to_string(port), "--no-auth", "--set", "framerate=15"});
  g_assert_true(camcast.wait_output("open http://", 5000 * kSlowdown));
  WsTestClient video, jsmpeg;
  g_assert_true(video.connect(port, "/video"));
  expect_stream_start(video, 5000 * kSlowdown);
  g_assert_true(jsmpeg.connect(port, "/jsmpeg"));
  g_assert_cmpint(jsmpeg_pictures(jsmpeg, 3), >=, 15);
  // And /video still streams (its moof boxes keep coming).
  int fragments = 0;
  for (int i = 0; i < 40 && fragments < 10; i++) {
    Frame f = video.read_frame(2000 * kSlowdown);
    g_assert_cmpint(f.opcode, !=, 0);
    fragments += f.opcode == 2 && memmem(f.payload.data(), f.payload.size(), "moof", 4);
  }
  g_assert_cmpint(fragments, >=, 10);
  g_assert_null(strstr(camcast.output().c_str(), "restarting"));
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
  g_assert_true(camcast.wait_output(
      "no buffer came from the sources or reached the sinks for 1 s (stalled); restarting",
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

// Mistakes no restart can fix stop camcast at once with exit 2 and the fix: a users file or an
// access token others can read, a port another program holds (named, with the launcher's
// spelling of the way out).
// A --set name no pipeline has (a typo) stops run, show and check with exit 2, naming the nearest
// name there is, instead of running without the setting (a camera not rotated).
void test_misspelt_setting_stops() {
  for (const std::vector<std::string> &args :
       {std::vector<std::string>{"h264", "--port", "0", "--no-auth", "--set", "rotaton=180"},
        {"show", "h264", "--set", "rotaton=180"},
        {"check", "h264", "--set", "rotaton=180"}}) {
    const auto started = std::chrono::steady_clock::now();
    Camcast typo(args);
    g_assert_cmpint(typo.wait_exit(5000 * kSlowdown), ==, 2);
    g_test_message("%s: exit 2 after %lld ms: %s", args.front().c_str(),
                   (long long)std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count(),
                   typo.output().c_str());
    g_assert_nonnull(strstr(typo.output().c_str(), "did you mean rotation?"));
  }
  // Names the file, the probe and the launcher define all pass.
  Camcast known({"show", "default", "--set", "rotation=180", "--set", "mpeg1-width=320", "--set",
                 "audio=off", "--set", "ladder=off"});
  g_assert_cmpint(known.wait_exit(10000 * kSlowdown), ==, 0);
}

// check runs the line a moment with a test pattern for the camera: settings an element cannot
// take are refused there, naming the element and the setting; those it can take pass. Run with
// them, camcast stops before it ever ran (exit 2), naming the element's reason.
void test_check_tries_the_settings() {
  struct Case {
    std::vector<std::string> args;
    int status;
    const char *says;
  };
  for (const Case &c : std::vector<Case>{
           {{"check", "jsmpeg", "--set", "width=642", "--set", "height=361"},
            2,
            "with these settings it does not run: mpeg1enc"},
           {{"check", "default", "--set", "mpeg1-width=5000"}, 2, "--set mpeg1-width=5000"},
           {{"check", "default", "--set", "framerate=15"}, 0, ": ok"},
           {{"check", "rtmp"}, 0, ": ok"}}) {
    Camcast check(c.args);
    g_assert_cmpint(check.wait_exit(20000 * kSlowdown), ==, c.status);
    g_test_message("%s", check.output().c_str());
    g_assert_nonnull(strstr(check.output().c_str(), c.says));
  }
  Camcast odd({"check", "jsmpeg", "--set", "width=642", "--set", "height=361"});
  g_assert_cmpint(odd.wait_exit(20000 * kSlowdown), ==, 2);
  g_assert_nonnull(strstr(odd.output().c_str(), "--set height=361 --set width=642"));
  // Run, it stops at once with the element's reason instead of restarting for ever.
  Camcast run({"jsmpeg", "--port", "0", "--no-auth", "--set", "width=642", "--set", "height=361"});
  g_assert_cmpint(run.wait_exit(10000 * kSlowdown), ==, 2);
  g_assert_nonnull(strstr(run.output().c_str(), "MPEG-1 cannot carry a 642x361 picture"));
  g_assert_nonnull(strstr(run.output().c_str(), "configuration mistake"));
  g_assert_null(strstr(run.output().c_str(), "restarting in"));
}

void test_configuration_mistakes_stop_at_once() {
  const camcast::test::TempDir dir("camcast-mistakes");
  const std::string users = dir.file("users");
  {
    Camcast passwd({"passwd", "alice", "--users", users});
    passwd.write_stdin("correct horse\n");
    g_assert_cmpint(passwd.wait_exit(10000 * kSlowdown), ==, 0);
  }
  g_assert_cmpint(chmod(users.c_str(), 0644), ==, 0);
  const auto started = std::chrono::steady_clock::now();
  Camcast readable({"h264", "--port", std::to_string(free_port()), "--users", users});
  g_assert_cmpint(readable.wait_exit(5000 * kSlowdown), ==, 2);
  g_test_message("users file 0644: exit 2 after %lld ms",
                 (long long)std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
  g_assert_nonnull(strstr(readable.output().c_str(), "chmod 600"));
  g_assert_nonnull(strstr(readable.output().c_str(), "no restart can fix"));
  g_assert_null(strstr(readable.output().c_str(), "restarting in"));
  {
    // An access token others can read, as a users file: refused, with the fix.
    const camcast::test::TempDir state("camcast-state");
    const std::string token = state.file("access-token");
    g_assert_true(g_file_set_contents(token.c_str(), "a-token\n", -1, nullptr));
    g_assert_cmpint(chmod(token.c_str(), 0644), ==, 0);
    g_setenv("STATE_DIRECTORY", state.path().c_str(), TRUE);
    Camcast open_token({"h264", "--port", "0"});
    g_unsetenv("STATE_DIRECTORY");
    g_assert_cmpint(open_token.wait_exit(5000 * kSlowdown), ==, 2);
    g_assert_nonnull(strstr(open_token.output().c_str(), "can read the access token; chmod 600"));
  }

  GSocket *holder =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress *any = g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *address = g_inet_socket_address_new(any, guint16(free_port()));
  g_assert_true(g_socket_bind(holder, address, FALSE, nullptr));
  g_assert_true(g_socket_listen(holder, nullptr));
  const int port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(address));
  Camcast busy({"h264", "--port", std::to_string(port), "--no-auth"});
  g_assert_cmpint(busy.wait_exit(5000 * kSlowdown), ==, 2);
  g_test_message("%s", busy.output().c_str());
  g_assert_nonnull(strstr(busy.output().c_str(), "already in use by test-camcast (process "));
  g_assert_nonnull(strstr(busy.output().c_str(), "--port 0 any free one"));
  g_assert_null(strstr(busy.output().c_str(), "restarting in"));
  g_object_unref(address);
  g_object_unref(any);
  g_object_unref(holder);
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

// The size in a JPEG's frame header (SOF0..SOF2); false if there is none.
bool jpeg_size(const std::string &jpeg, int *width, int *height) {
  for (size_t i = 2; i + 9 < jpeg.size(); i++)
    if (uint8_t(jpeg[i]) == 0xff && uint8_t(jpeg[i + 1]) >= 0xc0 && uint8_t(jpeg[i + 1]) <= 0xc2) {
      *height = uint8_t(jpeg[i + 5]) << 8 | uint8_t(jpeg[i + 6]);
      *width = uint8_t(jpeg[i + 7]) << 8 | uint8_t(jpeg[i + 8]);
      return true;
    }
  return false;
}

// Camera settings: a bad one stops camcast check and run with the variable and its line named; a
// good one turns the picture (the test pattern turns by videoflip: a 320x240 camera turned 90
// degrees gives 240x320 snapshots).
void test_camera_settings() {
  Camcast check({"check", CAMCAST_FIXTURES "/turned.pipeline"});
  g_assert_cmpint(check.wait_exit(10000 * kSlowdown), ==, 2);
  g_assert_nonnull(strstr(check.output().c_str(), CAMCAST_FIXTURES
                          "/turned.pipeline:5: rotation is 0, 90, 180 or 270 (degrees clockwise), "
                          "not \"45\""));
  Camcast run({"mjpeg", "--set", "focus=near"});
  g_assert_cmpint(run.wait_exit(10000 * kSlowdown), ==, 2);
  g_assert_nonnull(strstr(run.output().c_str(),
                          "--set focus=near: focus is auto, continuous or a "
                          "number, not \"near\""));
  Camcast probe({"probe", "--inventory", CAMCAST_FIXTURES "/../machines/pi5-usb-webcam.machine",
                 "--set", "exposure=10000"});
  g_assert_cmpint(probe.wait_exit(10000 * kSlowdown), ==, 0);
  g_assert_nonnull(strstr(probe.output().c_str(), "exposure auto|300 to 204700 microseconds"));
  g_assert_nonnull(strstr(probe.output().c_str(), "auto_exposure=1,exposure_time_absolute=100"));

  const int port = free_port();
  Camcast turned({"mjpeg", "--no-auth", "--port", std::to_string(port), "--set", "rotation=90",
                  "--set", "width=320", "--set", "height=240"});
  g_assert_true(turned.wait_output("open http://", 20000 * kSlowdown));
  std::string jpeg;
  g_assert_cmpint(camcast::test::http_get(port, "/mjpeg/snapshot.jpg", &jpeg, 5000), ==, 200);
  int width = 0, height = 0;
  g_assert_true(jpeg_size(jpeg, &width, &height));
  g_assert_cmpint(width, ==, 240);
  g_assert_cmpint(height, ==, 320);
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
    // (15 s at most: a busy machine starts a pipeline slowly)
    for (int i = 0; i < 150 * kSlowdown && got.find(what) == std::string::npos; i++) {
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

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  // camcast keeps its access token under XDG_CONFIG_HOME: a fresh one for these tests.
  const camcast::test::TempDir config("camcast-config");
  g_setenv("XDG_CONFIG_HOME", config.path().c_str(), TRUE);
  g_test_add_func("/camcast/default-preset", test_default_preset_serves_pages_and_a_stream);
  g_test_add_func("/camcast/default-preset-at-15-fps", test_default_preset_at_15_frames_a_second);
  g_test_add_func("/camcast/restart-keeps-viewers", test_failed_pipeline_restarts_and_viewers_stay);
  g_test_add_func("/camcast/stall-restarts", test_stalled_pipeline_restarts);
  g_test_add_func("/camcast/bad-input-exits-2", test_bad_file_and_usage_exit_2);
  g_test_add_func("/camcast/camera-settings", test_camera_settings);
  g_test_add_func("/camcast/mistakes-stop-at-once", test_configuration_mistakes_stop_at_once);
  g_test_add_func("/camcast/misspelt-setting-stops", test_misspelt_setting_stops);
  g_test_add_func("/camcast/check-tries-the-settings", test_check_tries_the_settings);
  g_test_add_func("/camcast/restart-policies", test_restart_policies_and_back_off);
  g_test_add_func("/camcast/show-probe-list", test_show_probe_list);
  g_test_add_func("/camcast/users-file", test_users_file_login);
  g_test_add_func("/camcast/systemd-notify", test_systemd_notify);
  launcher_test::add_more_tests();
  return g_test_run();
}
