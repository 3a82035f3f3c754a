// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// Path routing for one server: longest prefix on '/' boundaries, as gst-rtsp-server's mount
// points and libsoup's path map do ("/cam" matches "/cam" and "/cam/snapshot.jpg", never
// "/camera").
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace camcast {

// Canonical form of a mount path: one leading '/', no trailing '/', no empty, "." or ".."
// segments. Returns false (and leaves `out` alone) for a path that cannot be a mount.
bool normalize_mount_path(std::string_view path, std::string *out);

template <typename T>
class MountTable {
public:
  // False when the path is taken.
  bool add(const std::string &path, T value) { return map_.emplace(path, value).second; }
  bool remove(const std::string &path) { return map_.erase(path) > 0; }
  const std::map<std::string, T> &all() const { return map_; }

  // The mount owning `path` and the rest of the path after it ("" or "/..."), or false.
  bool match(std::string_view path, T *value, std::string_view *rest) const {
    std::string_view p = path;
    while (true) {
      auto it = map_.find(std::string(p.empty() ? "/" : p));
      if (it != map_.end()) {
        *value = it->second;
        *rest = (it->first == "/") ? path.substr(path.size() == 1 ? 1 : 0)
                                   : path.substr(it->first.size());
        return true;
      }
      if (p.empty())
        return false;
      size_t slash = p.rfind('/');
      if (slash == std::string_view::npos)
        return false;
      p = p.substr(0, slash);
    }
  }

private:
  std::map<std::string, T> map_;
};

}  // namespace camcast
