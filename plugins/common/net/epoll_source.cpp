#include "net/epoll_source.h"

#include <gio/gio.h>

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

namespace camcast {

namespace {

struct Source {
  GSource base;
  int epfd;
};

gboolean dispatch(GSource *source, GSourceFunc, gpointer) {
  // Whatever is ready now, in one batch; more than a batch stays ready for the next pass. A
  // watcher closed by another's handler in the batch is still alive (clients are deleted after
  // the dispatch, Mount::reap) and ignores its events.
  epoll_event events[256];
  const int n = epoll_wait(reinterpret_cast<Source *>(source)->epfd, events, 256, 0);
  for (int i = 0; i < n; i++)
    static_cast<FdWatcher *>(events[i].data.ptr)->on_fd_events(events[i].events);
  return G_SOURCE_CONTINUE;
}

GSourceFuncs funcs = {nullptr, nullptr, dispatch, nullptr, nullptr, nullptr};

uint32_t interest(bool want_write) {
  return want_write ? EPOLLIN | EPOLLOUT : EPOLLIN;
}

}  // namespace

std::unique_ptr<EpollSource> EpollSource::create(GMainContext *context, GError **error) {
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    const int err = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                "cannot watch the clients' sockets (epoll_create1: %s)", g_strerror(err));
    return nullptr;
  }
  return std::unique_ptr<EpollSource>(new EpollSource(context, epfd));
}

EpollSource::EpollSource(GMainContext *context, int epfd) : epfd_(epfd) {
  source_ = g_source_new(&funcs, sizeof(Source));
  reinterpret_cast<Source *>(source_)->epfd = epfd_;
  g_source_add_unix_fd(source_, epfd_, G_IO_IN);
  g_source_set_name(source_, "camcast clients");
  g_source_attach(source_, context);
}

EpollSource::~EpollSource() {
  g_source_destroy(source_);
  g_source_unref(source_);
  close(epfd_);
}

void EpollSource::add(int fd, FdWatcher *watcher, bool want_write) {
  epoll_event ev{interest(want_write), {.ptr = watcher}};
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

void EpollSource::modify(int fd, FdWatcher *watcher, bool want_write) {
  epoll_event ev{interest(want_write), {.ptr = watcher}};
  epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

void EpollSource::remove(int fd) {
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

}  // namespace camcast
