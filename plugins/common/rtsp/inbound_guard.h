// Layer rtsp: RTSP on ports of their own (gst-rtsp-server); uses net, formats, access.
// What an RTSP client may send, bounded from outside gst-rtsp-server. gst-rtsp-server 1.22 reads a
// request's header lines without a limit, keeps every one until the blank line, and reads on
// while bytes keep coming, on the thread every other client of the server is sent from: one
// client sending endless header lines took that thread for itself, and memory grew with what it
// sent (measured: 400 kB a second, every client stalled). RTSP clients send little — requests of
// a few hundred bytes, a receiver report a second — so each connection gets a budget of bytes
// (kBurst, and kPerSecond more for each second it has been open), read from the kernel's count
// (TCP_INFO) by a thread of the guard's own every kCheckUs; past it the connection is shut down,
// which gst-rtsp-server's next read sees as its end. The guard keeps a duplicate of each
// connection's descriptor, so the one it shuts down is never another that took its number.
#pragma once

#include <glib.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace camcast {

class InboundGuard {
public:
  static constexpr guint64 kBurst = 64 * 1024;
  static constexpr guint64 kPerSecond = 16 * 1024;
  static constexpr gint64 kCheckUs = 100 * 1000;

  InboundGuard();
  ~InboundGuard();
  InboundGuard(const InboundGuard &) = delete;
  InboundGuard &operator=(const InboundGuard &) = delete;

  // Watches the connection on descriptor `fd` (a duplicate is kept) under `key`, from `address`.
  void watch(const void *key, int fd, const std::string &address);
  void forget(const void *key);

private:
  struct Entry {
    int fd;  // ours
    gint64 since;
    std::string address;
    bool cut = false;
  };
  void run();

  std::mutex lock_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::map<const void *, Entry> entries_;
  std::thread thread_;
};

}  // namespace camcast
