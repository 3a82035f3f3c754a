// What the launcher tests share: camcast as a child process with its output, free ports, and
// the start of a stream.
#pragma once

#include "isobmff.h"
#include "ws_test_client.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace launcher_test {

using camcast::test::Frame;
using camcast::test::WsTestClient;

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

// A test's child dies with the test (g_spawn's child setup): a failed assertion aborts before
// the destructors that would stop it, and a camcast or sound server left behind would hold its
// port and run on.
inline void die_with_test(gpointer) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

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
                                           die_with_test, nullptr, &pid_, &in_, &out, &err,
                                           &error));
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

inline int free_port() {
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

inline bool is_box(const Frame &f, const char *type) {
  return f.opcode == 2 && f.payload.size() >= 8 && f.payload.compare(4, 4, type) == 0;
}

// A joining viewer's first message: on a ladder the probe of its link (padding, a 'free' box)
// comes before it.
inline Frame first_message(WsTestClient &c, int timeout_ms) {
  Frame f = c.read_frame(timeout_ms);
  return is_box(f, "free") ? c.read_frame(timeout_ms) : f;
}

// Reads a joining viewer's start: the description, the init segment, then a keyframe fragment.
inline void expect_stream_start(WsTestClient &c, int timeout_ms) {
  Frame desc = first_message(c, timeout_ms);
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

// MPEG-1 pictures a JSMpeg viewer (MPEG-TS over WebSocket) gets in `seconds`: each picture is a
// PES packet of its own, so their starts are counted.
inline int jsmpeg_pictures(WsTestClient &c, int seconds) {
  const gint64 until = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;
  std::string ts;
  while (g_get_monotonic_time() < until) {
    Frame f = c.read_frame(2000 * kSlowdown);
    g_assert_cmpint(f.opcode, !=, 0);
    if (f.opcode == 2)
      ts += f.payload;
  }
  int pictures = 0;
  for (size_t at = ts.find("\x00\x00\x01\xe0", 0, 4); at != std::string::npos;
       at = ts.find("\x00\x00\x01\xe0", at + 4, 4))
    pictures++;
  g_test_message("/jsmpeg: %d pictures in %d s", pictures, seconds);
  return pictures;
}

inline bool port_is_free(int port) {
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

void add_more_tests();

}  // namespace launcher_test
