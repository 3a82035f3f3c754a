#include "rtsp/inbound_guard.h"

#include "net/tcp_link.h"

#include <gst/gst.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

GST_DEBUG_CATEGORY_EXTERN(camcast_rtsp_debug);
#define GST_CAT_DEFAULT camcast_rtsp_debug

namespace camcast {

InboundGuard::InboundGuard() : thread_([this] { run(); }) {}

InboundGuard::~InboundGuard() {
  {
    std::lock_guard<std::mutex> lk(lock_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  for (auto &[key, e] : entries_)
    close(e.fd);
}

void InboundGuard::watch(const void *key, int fd, const std::string &address) {
  const int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0)
    return;
  std::lock_guard<std::mutex> lk(lock_);
  entries_[key] = Entry{own, g_get_monotonic_time(), address};
}

void InboundGuard::forget(const void *key) {
  std::lock_guard<std::mutex> lk(lock_);
  auto it = entries_.find(key);
  if (it == entries_.end())
    return;
  close(it->second.fd);
  entries_.erase(it);
}

void InboundGuard::run() {
  std::unique_lock<std::mutex> lk(lock_);
  while (!stop_) {
    wake_.wait_for(lk, std::chrono::microseconds(kCheckUs));
    const gint64 now = g_get_monotonic_time();
    for (auto &[key, e] : entries_) {
      TcpLink link;
      if (e.cut || !read_tcp_link(e.fd, &link))
        continue;
      const guint64 allowed = kBurst + kPerSecond * guint64((now - e.since) / G_USEC_PER_SEC);
      if (link.bytes_received <= allowed)
        continue;
      GST_INFO("%s: sent %" G_GUINT64_FORMAT " bytes over RTSP, more than its %" G_GUINT64_FORMAT
               "; closed",
               e.address.c_str(), link.bytes_received, allowed);
      shutdown(e.fd, SHUT_RDWR);
      e.cut = true;
    }
  }
}

}  // namespace camcast
