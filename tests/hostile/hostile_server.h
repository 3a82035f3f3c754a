// What the hostile-client tests share: a real server with a live stream, a viewer that counts its
// frames, raw connections, and the process's descriptors and memory before and after.
#pragma once

#include "access/users.h"
#include "resources.h"
#include "wait.h"
#include "ws_test_client.h"

#include <gst/gst.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hostile_test {

using camcast::test::Endpoint;
using camcast::test::header_of;
using camcast::test::kCheckRss;
using camcast::test::Resources;
using camcast::test::wait_for;
using camcast::test::WsTestClient;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kFps = 30;
inline const char *kSecret = "relay-secret";

inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A live 30 frames/s stream at /v (wssink) and as JPEG at /m (mjpegsink) on a port of its own,
// with a relay publish point at /publish beside them; `extra` on all three (server settings must
// match) and `sinks` on the sinks (access settings). `branch`, if given, is one more branch of
// the raw video's tee `t` ending in a sink that takes the port's properties after it.
struct Server {
  GstElement *pipeline = nullptr;
  int port = 0;
  explicit Server(const std::string &extra = "", const std::string &sinks = "",
                  const std::string &branch = "") {
    // The three share one server, so the port is chosen here: a free one, and another if some
    // other program took it between the choice and the bind (a busy machine runs tests in
    // parallel).
    for (int attempt = 0; attempt < 5 && !pipeline; attempt++) {
      port = free_port();
      const std::string props = "port=" + std::to_string(port) + " " + extra;
      const std::string launch =
          "videotestsrc is-live=true ! video/x-raw,format=I420,width=64,height=48,framerate=30/1 "
          "! tee name=t ! queue ! wssink name=sink path=/v " +
          props + " " + sinks + " t. ! queue ! jpegenc ! mjpegsink name=jpeg path=/m " + props +
          " " + sinks + " relaysrc name=pub secret=" + kSecret + " keyframe-timeout=2 " + props +
          " ! fakesink async=false" +
          (branch.empty() ? "" : " t. ! queue ! " + branch + " " + props);
      GError *error = nullptr;
      pipeline = gst_parse_launch(launch.c_str(), &error);
      g_assert_no_error(error);
      if (gst_element_set_state(pipeline, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE) {
        gst_element_set_state(pipeline, GST_STATE_NULL);
        gst_clear_object(&pipeline);
      }
    }
    g_assert_nonnull(pipeline);
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=,
                    GST_STATE_CHANGE_FAILURE);
    g_assert_cmpint(gst_element_get_state(pipeline, nullptr, nullptr, 5 * GST_SECOND), ==,
                    GST_STATE_CHANGE_SUCCESS);
  }
  ~Server() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }
  guint clients(const char *name = "sink") {
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), name);
    guint n = 0;
    g_object_get(sink, "num-clients", &n, nullptr);
    gst_object_unref(sink);
    return n;
  }
  gboolean publishing() {
    GstElement *pub = gst_bin_get_by_name(GST_BIN(pipeline), "pub");
    gboolean live = FALSE;
    g_object_get(pub, "publishing", &live, nullptr);
    gst_object_unref(pub);
    return live;
  }
};

// A real viewer: reads the stream and notes when each frame came.
class Viewer {
public:
  Viewer(const Endpoint &to, const std::string &path = "/v", const std::string &headers = "") {
    client_.set_headers(headers);
    g_assert_true(client_.connect(to, path));
    thread_ = std::thread([this] {
      while (!stop_) {
        camcast::test::Frame f = client_.read_frame(200);
        if (f.opcode == 2) {
          std::lock_guard<std::mutex> lk(lock_);
          arrivals_.push_back(Clock::now());
        } else if (client_.eof()) {
          break;
        }
      }
    });
    g_assert_true(wait_for([&] { return frames_since(start_) > 5; }));
  }
  ~Viewer() {
    stop_ = true;
    thread_.join();
  }
  size_t frames_since(Clock::time_point from) {
    std::lock_guard<std::mutex> lk(lock_);
    return size_t(std::count_if(arrivals_.begin(), arrivals_.end(),
                                [&](Clock::time_point t) { return t >= from; }));
  }
  // Frames seen since `from` against what a 30 frames/s stream sent meanwhile (at least over
  // the last second, so that a short attack is judged over a fair window).
  void kept_frames_since(Clock::time_point from) {
    std::this_thread::sleep_for(1s);
    const double seconds = std::chrono::duration<double>(Clock::now() - from).count();
    const double kept = double(frames_since(from)) / (seconds * kFps);
    g_test_message("the viewer kept %.0f %% of its frames over %.1f s", kept * 100, seconds);
    g_assert_cmpfloat(kept, >=, 0.9);
  }

private:
  WsTestClient client_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex lock_;
  std::vector<Clock::time_point> arrivals_;
  const Clock::time_point start_ = Clock::now();
};

// A raw TCP connection an attacker controls byte by byte.
struct Raw {
  int fd = -1;
  explicit Raw(int port, int rcvbuf = 0, const char *from = nullptr)
      : fd(camcast::test::connect_tcp(port, rcvbuf, from)) {
    g_assert_cmpint(fd, >=, 0);
  }
  ~Raw() { close(fd); }
  // False once the server has closed (or reset) the connection.
  bool send(const std::string &bytes) {
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size());
  }
  // What arrives within `ms`, up to the end of the stream.
  std::string read(int ms = 3000) {
    std::string out;
    ended(ms, &out);
    return out;
  }
  // True when the server has ended the connection (end of stream or reset) within `ms`; what
  // came before is kept in `got`.
  bool ended(int ms, std::string *got = nullptr) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    char buf[65536];
    while (Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0)
        continue;
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        return true;
      if (got)
        got->append(buf, size_t(n));
    }
    return false;
  }
};

inline int status_of(const std::string &answer) {
  return answer.size() >= 12 && answer.compare(0, 9, "HTTP/1.1 ") == 0
             ? atoi(answer.substr(9, 3).c_str())
             : -1;
}

inline std::string get(const std::string &path, const std::string &headers = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n";
}

// Runs openssl s_client against the port with `args`; returns what it printed.
inline std::string s_client(int port, std::vector<std::string> args) {
  std::vector<const char *> argv = {"openssl", "s_client", "-connect", nullptr};
  const std::string to = "127.0.0.1:" + std::to_string(port);
  argv[3] = to.c_str();
  for (const std::string &a : args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);
  gchar *out = nullptr, *err = nullptr;
  GError *error = nullptr;
  g_assert_true(g_spawn_sync(nullptr, const_cast<char **>(argv.data()), nullptr,
                             GSpawnFlags(G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL),
                             nullptr, nullptr, &out, &err, nullptr, &error));
  std::string all = std::string(out) + err;
  g_free(out);
  g_free(err);
  return all;
}

// The access token of servers that have one.
constexpr const char *kToken = "hostile-test-token";

// A users file with alice (password `password`) in a directory that goes with it.
struct UsersFile {
  camcast::test::TempDir dir{"camcast-hostile"};
  std::string path = dir.file("users");
  explicit UsersFile(const char *password = "correct horse") {
    std::string error;
    g_assert_true(camcast::users::set_user(path, "alice", password, &error));
  }
};

// The attacks on access control and the relay (test_hostile_access.cpp).
void add_access_tests();
// The attacks on sessions and logins (test_hostile_sessions.cpp).
void add_session_tests();
// The attacks on WHEP (test_hostile_webrtc.cpp).
void add_webrtc_tests();
void add_rtsp_tests();
void add_recording_tests();

}  // namespace hostile_test
