// HTTPS in front of a plain-HTTP test server: each connection to `port` is handshaken with the
// given certificate (GIO's TLS, as a real server's terminator would) and its bytes passed both
// ways to the server at `backend_port` on loopback, until either side closes. For clients that
// must be tried over https:// against servers the tests write in plain sockets.
#pragma once

#include "ws_test_client.h"

#include <gio/gio.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace camcast::test {

class TlsFront {
public:
  TlsFront(int backend_port, const std::string &certificate, const std::string &key)
      : backend_port_(backend_port) {
    GError *error = nullptr;
    certificate_ = g_tls_certificate_new_from_files(certificate.c_str(), key.c_str(), &error);
    g_assert_no_error(error);
    listener_ = listen_on_loopback(&port);
    g_assert_cmpint(listener_, >=, 0);
    accepting_ = std::thread([this] { accept_all(); });
  }
  ~TlsFront() {
    stopping_ = true;
    accepting_.join();
    {
      std::lock_guard<std::mutex> lk(lock_);
      for (int fd : open_)
        shutdown(fd, SHUT_RDWR);  // ends the pumps' blocking reads
    }
    for (std::thread &t : pumps_)
      t.join();
    close(listener_);
    g_object_unref(certificate_);
  }
  TlsFront(const TlsFront &) = delete;
  TlsFront &operator=(const TlsFront &) = delete;

  int port = 0;
  std::atomic<int> connections{0};  // connections accepted
  std::atomic<int> handshakes{0};   // ... and whose handshake completed

private:
  void accept_all() {
    while (!stopping_) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) != 1)
        continue;
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0)
        continue;
      connections++;
      std::lock_guard<std::mutex> lk(lock_);
      open_.push_back(fd);
      pumps_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    GSocket *socket = g_socket_new_from_fd(fd, nullptr);
    if (!socket) {
      std::lock_guard<std::mutex> lk(lock_);
      open_.erase(std::find(open_.begin(), open_.end(), fd));
      close(fd);
      return;
    }
    g_socket_set_timeout(socket, 10);  // a client that stalls does not hold the test
    GSocketConnection *plain = g_socket_connection_factory_create_connection(socket);
    GIOStream *tls = g_tls_server_connection_new(G_IO_STREAM(plain), certificate_, nullptr);
    const int backend = tls && g_tls_connection_handshake(G_TLS_CONNECTION(tls), nullptr, nullptr)
                            ? connect_backend()
                            : -1;
    if (backend >= 0) {
      handshakes++;
      {
        std::lock_guard<std::mutex> lk(lock_);
        open_.push_back(backend);
      }
      // Backend to client on a thread of its own; client to backend here.
      std::thread back([&] {
        char buf[16384];
        ssize_t n;
        GOutputStream *out = g_io_stream_get_output_stream(tls);
        while ((n = recv(backend, buf, sizeof buf, 0)) > 0)
          if (!g_output_stream_write_all(out, buf, size_t(n), nullptr, nullptr, nullptr))
            break;
        shutdown(fd, SHUT_WR);  // the server's close is the client's end of the answer
      });
      char buf[16384];
      gssize n;
      GInputStream *in = g_io_stream_get_input_stream(tls);
      while ((n = g_input_stream_read(in, buf, sizeof buf, nullptr, nullptr)) > 0)
        if (send(backend, buf, size_t(n), MSG_NOSIGNAL) != n)
          break;
      shutdown(backend, SHUT_WR);
      back.join();
    }
    {
      std::lock_guard<std::mutex> lk(lock_);
      for (auto it = open_.begin(); it != open_.end();)
        it = *it == fd || *it == backend ? open_.erase(it) : std::next(it);
    }
    if (backend >= 0)
      close(backend);
    if (tls)
      g_object_unref(tls);
    g_object_unref(plain);
    g_object_unref(socket);  // closes fd
  }

  int connect_backend() const {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(uint16_t(backend_port_));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr *>(&to), sizeof to) == 0)
      return fd;
    if (fd >= 0)
      close(fd);
    return -1;
  }

  const int backend_port_;
  GTlsCertificate *certificate_ = nullptr;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread accepting_;
  std::mutex lock_;  // the two below
  std::vector<int> open_;
  std::vector<std::thread> pumps_;
};

}  // namespace camcast::test
