#include "record/retention.h"

#include "record/segments.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace camcast::record {

bool disk_space(const std::string &path, DiskSpace *out) {
  struct statvfs st;
  if (statvfs(path.c_str(), &st) != 0)
    return false;
  out->free = uint64_t(st.f_bavail) * st.f_frsize;
  out->total = uint64_t(st.f_blocks) * st.f_frsize;
  return true;
}

uint64_t free_floor(const RetentionPolicy &policy, uint64_t total) {
  return std::max(policy.min_free_bytes, total / 100 * policy.min_free_percent);
}

std::vector<Deletion> apply_retention(const std::string &dir, const RetentionPolicy &policy,
                                      int64_t now_us, const std::string &writing) {
  std::vector<Deletion> deleted;
  auto remove = [&](const SegmentFile &s, std::string why) {
    if (unlink((dir + "/" + s.name).c_str()) != 0)
      return false;
    deleted.push_back({s.name, s.size, std::move(why)});
    // Its day's folder, if that was its last segment (rmdir refuses a folder with anything in it).
    rmdir((dir + "/" + s.name.substr(0, s.name.find('/'))).c_str());
    return true;
  };
  std::vector<SegmentFile> segments = list_segments(dir);
  size_t next = 0;
  if (policy.keep_us > 0)
    for (; next < segments.size(); next++) {
      const SegmentFile &s = segments[next];
      if (s.modified_us >= now_us - policy.keep_us)
        break;
      if (s.name != writing)
        remove(s, "older than " + human_duration(policy.keep_us));
    }
  DiskSpace space;
  if ((policy.min_free_bytes == 0 && policy.min_free_percent == 0) || !disk_space(dir, &space))
    return deleted;
  const uint64_t floor = free_floor(policy, space.total);
  for (; next < segments.size() && space.free < floor; next++)
    if (segments[next].name != writing &&
        remove(segments[next], "free space under the floor of " + human_bytes(floor)) &&
        !disk_space(dir, &space))
      break;
  return deleted;
}

namespace {

// A whole number and what follows it; false without digits or past 10^15.
bool number(std::string_view text, uint64_t *value, std::string_view *unit) {
  size_t i = 0;
  uint64_t v = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; i++) {
    v = v * 10 + uint64_t(text[i] - '0');
    if (v > 1000000000000000ull)
      return false;
  }
  *value = v;
  *unit = text.substr(i);
  return i > 0;
}

}  // namespace

bool parse_keep(std::string_view text, int64_t *us) {
  uint64_t v;
  std::string_view unit;
  if (text.empty()) {
    *us = 0;
    return true;
  }
  if (!number(text, &v, &unit) || v > 100000000)
    return false;
  const int64_t scale = unit.empty() || unit == "s" ? 1
                        : unit == "m"               ? 60
                        : unit == "h"               ? 3600
                        : unit == "d"               ? 86400
                                                    : 0;
  *us = int64_t(v) * scale * 1000000;
  return scale > 0;
}

bool parse_min_free(std::string_view text, RetentionPolicy *policy) {
  uint64_t v;
  std::string_view unit;
  policy->min_free_percent = 0;
  policy->min_free_bytes = 0;
  if (text.empty())
    return true;
  if (!number(text, &v, &unit))
    return false;
  if (unit == "%") {
    policy->min_free_percent = unsigned(v);
    return v < 100;
  }
  if (unit.size() == 2 && unit[1] == 'B')
    unit = unit.substr(0, 1);
  const uint64_t scale = unit.empty()  ? 1
                         : unit == "K" ? 1000
                         : unit == "M" ? 1000 * 1000
                         : unit == "G" ? 1000 * 1000 * 1000
                         : unit == "T" ? 1000ull * 1000 * 1000 * 1000
                                       : 0;
  if (scale == 0 || v > UINT64_MAX / scale)
    return false;
  policy->min_free_bytes = v * scale;
  return true;
}

std::string human_bytes(uint64_t bytes) {
  const char *units[] = {"bytes", "KB", "MB", "GB", "TB"};
  double v = double(bytes);
  size_t u = 0;
  while (v >= 1000 && u + 1 < std::size(units))
    v /= 1000, u++;
  char text[32];
  snprintf(text, sizeof text, u == 0 ? "%.0f %s" : v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return text;
}

std::string human_duration(int64_t us) {
  const int64_t s = us / 1000000;
  char text[32];
  if (s >= 86400 && s % 86400 == 0)
    snprintf(text, sizeof text, "%lld day%s", (long long)(s / 86400), s == 86400 ? "" : "s");
  else if (s >= 3600 && s % 3600 == 0)
    snprintf(text, sizeof text, "%lld hour%s", (long long)(s / 3600), s == 3600 ? "" : "s");
  else if (s >= 60 && s % 60 == 0)
    snprintf(text, sizeof text, "%lld minute%s", (long long)(s / 60), s == 60 ? "" : "s");
  else
    snprintf(text, sizeof text, "%lld second%s", (long long)s, s == 1 ? "" : "s");
  return text;
}

}  // namespace camcast::record
