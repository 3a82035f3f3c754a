// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// Many sockets behind one descriptor in a GLib main loop.
//
// GLib polls every descriptor of every source on each iteration of its loop (poll(2)): with a
// thousand viewers each wake-up — a frame to send, one client's pong — cost a pass over a
// thousand sockets, some 10 % of a busy server's CPU. Clients register here instead; the loop
// polls only this source's epoll descriptor, and a dispatch hands each ready socket's events to
// its watcher. Level-triggered, like poll(2). Server thread only (after construction).
#pragma once

#include <glib.h>

#include <cstdint>
#include <memory>

namespace camcast {

class FdWatcher {
public:
  virtual ~FdWatcher() = default;
  // EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP, as epoll reports them.
  virtual void on_fd_events(uint32_t events) = 0;
};

class EpollSource {
public:
  // Attached to `context`; null with `error` when the system gives no epoll descriptor.
  static std::unique_ptr<EpollSource> create(GMainContext *context, GError **error);
  ~EpollSource();
  EpollSource(const EpollSource &) = delete;
  EpollSource &operator=(const EpollSource &) = delete;

  // Watch `fd` for readability, and writability too when `want_write`. A watcher must
  // remove() its descriptor before closing it or going away.
  void add(int fd, FdWatcher *watcher, bool want_write);
  void modify(int fd, FdWatcher *watcher, bool want_write);
  void remove(int fd);

private:
  EpollSource(GMainContext *context, int epfd);
  GSource *source_;
  int epfd_;
};

}  // namespace camcast
