// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// The servers of a process, one per address:port, shared by every sink that names it (HttpServer,
// and the rtsp layer's RtspServer): a server lives while anyone holds its shared_ptr. An entry
// whose server is being destroyed stays (expired) until its port is closed, so a new acquire() of
// the same port waits for that instead of failing to bind.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace camcast {

template <typename Server>
class SharedServers {
public:
  // The server running at address:port when there is one and `share(server)` says this caller
  // may use it (false: null, `share` having said why); else a new one from `start()` (a started
  // server, or null), registered at the port it got (port 0: always a new one, on a free port).
  template <typename Share, typename Start>
  std::shared_ptr<Server> acquire(const std::string &address, int port, Share share, Start start) {
    std::unique_lock<std::mutex> lk(lock_);
    while (port != 0) {
      auto it = servers_.find(key(address, port));
      if (it == servers_.end())
        break;
      if (auto server = it->second.lock())
        return share(*server) ? server : nullptr;
      changed_.wait(lk);  // the previous server on this port is still closing it
    }
    Server *server = start();
    if (!server)
      return nullptr;
    const std::string bound = key(address, server->port());
    std::shared_ptr<Server> shared(server, [this, bound](Server *s) {
      delete s;
      std::lock_guard<std::mutex> lk(lock_);
      auto it = servers_.find(bound);
      if (it != servers_.end() && it->second.expired())
        servers_.erase(it);
      changed_.notify_all();
    });
    servers_[bound] = shared;
    return shared;
  }

private:
  static std::string key(const std::string &address, int port) {
    return address + "|" + std::to_string(port);
  }
  std::mutex lock_;
  std::condition_variable changed_;
  std::map<std::string, std::weak_ptr<Server>> servers_;
};

}  // namespace camcast
