#include "record/segments.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <tuple>

namespace camcast::record {

std::string segment_name(int64_t start_us, int n) {
  const time_t t = time_t(start_us / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char name[64];
  if (n > 1)
    snprintf(name, sizeof name, "%04d-%02d-%02d/%02d-%02d-%02d_%d.mp4", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, n);
  else
    snprintf(name, sizeof name, "%04d-%02d-%02d/%02d-%02d-%02d.mp4", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return name;
}

bool parse_segment_name(std::string_view name, int64_t *start_us, int *n) {
  // YYYY-MM-DD/HH-MM-SS[_N].mp4, every field its digits exactly.
  constexpr std::string_view pattern = "dddd-dd-dd/dd-dd-dd";
  if (name.size() < pattern.size() + 4 || name.substr(name.size() - 4) != ".mp4")
    return false;
  for (size_t i = 0; i < pattern.size(); i++)
    if (pattern[i] == 'd' ? (name[i] < '0' || name[i] > '9') : name[i] != pattern[i])
      return false;
  std::string_view suffix = name.substr(pattern.size(), name.size() - pattern.size() - 4);
  int number = 1;
  if (!suffix.empty()) {
    if (suffix[0] != '_' || suffix.size() < 2 || suffix.size() > 6 || suffix[1] == '0')
      return false;
    number = 0;
    for (char c : suffix.substr(1)) {
      if (c < '0' || c > '9')
        return false;
      number = number * 10 + (c - '0');
    }
    if (number < 2)
      return false;
  }
  auto field = [&](size_t at, size_t len) {
    int v = 0;
    for (size_t i = at; i < at + len; i++)
      v = v * 10 + (name[i] - '0');
    return v;
  };
  struct tm tm = {};
  tm.tm_year = field(0, 4) - 1900;
  tm.tm_mon = field(5, 2) - 1;
  tm.tm_mday = field(8, 2);
  tm.tm_hour = field(11, 2);
  tm.tm_min = field(14, 2);
  tm.tm_sec = field(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return false;
  *start_us = int64_t(timegm(&tm)) * 1000000;
  *n = number;
  return true;
}

namespace {

// The entries of one directory, "." and ".." left out.
std::vector<std::string> entries(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = opendir(dir.c_str())) {
    while (const dirent *e = readdir(d))
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
        names.emplace_back(e->d_name);
    closedir(d);
  }
  return names;
}

}  // namespace

std::vector<SegmentFile> list_segments(const std::string &dir) {
  std::vector<SegmentFile> segments;
  for (const std::string &day : entries(dir)) {
    if (day.size() != 10)
      continue;
    for (const std::string &file : entries(dir + "/" + day)) {
      SegmentFile s;
      s.name = day + "/" + file;
      struct stat st;
      if (!parse_segment_name(s.name, &s.start_us, &s.n) ||
          stat((dir + "/" + s.name).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        continue;
      s.size = uint64_t(st.st_size);
      s.modified_us = int64_t(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000;
      segments.push_back(std::move(s));
    }
  }
  std::sort(segments.begin(), segments.end(), [](const SegmentFile &a, const SegmentFile &b) {
    return std::tie(a.start_us, a.n) < std::tie(b.start_us, b.n);
  });
  return segments;
}

bool writable_directory(const std::string &dir, std::string *why) {
  struct stat st;
  if (dir.empty()) {
    *why = "no directory is set";
    return false;
  }
  if (stat(dir.c_str(), &st) != 0) {
    *why = "'" + dir + "' does not exist (" + strerror(errno) + "): create it, or choose another";
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *why = "'" + dir + "' is not a directory";
    return false;
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    *why = "'" + dir + "' cannot be written (" + strerror(errno) +
           "): a read-only disk, or a folder another user owns";
    return false;
  }
  return true;
}

}  // namespace camcast::record
