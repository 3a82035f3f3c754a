#include "net/mount_table.h"

namespace camcast {

bool normalize_mount_path(std::string_view path, std::string *out) {
  std::string result;
  size_t i = 0;
  while (i <= path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos)
      end = path.size();
    std::string_view segment = path.substr(i, end - i);
    if (segment == "." || segment == "..")
      return false;
    for (char ch : segment)
      if (static_cast<unsigned char>(ch) < 0x21 || ch == '?' || ch == '#' || ch == '%' ||
          static_cast<unsigned char>(ch) == 0x7F)
        return false;
    if (!segment.empty()) {
      result += '/';
      result += segment;
    }
    i = end + 1;
  }
  *out = result.empty() ? "/" : result;
  return true;
}

}  // namespace camcast
