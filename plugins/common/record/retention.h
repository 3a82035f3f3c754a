// Layer record: recordings on disk, their retention and the writer's thread; uses net, fanout,
// formats, access.
// What a recording keeps: segments up to an age, and always a floor of free space on its disk.
// The oldest go first; the segment being written never does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace camcast::record {

struct RetentionPolicy {
  int64_t keep_us = 0;            // segments older than this go (0: no age limit)
  uint64_t min_free_bytes = 0;    // the floor of free space, as bytes
  unsigned min_free_percent = 0;  // … or as a share of the disk; the larger of the two holds
};

struct DiskSpace {
  uint64_t free = 0;   // bytes an unprivileged writer may still use
  uint64_t total = 0;  // the filesystem's size
};

// The space on the filesystem of `path`; false when it cannot be read.
bool disk_space(const std::string &path, DiskSpace *out);

// The free space `policy` keeps on a disk of `total` bytes.
uint64_t free_floor(const RetentionPolicy &policy, uint64_t total);

struct Deletion {
  std::string name;  // the segment, relative to the directory
  uint64_t size = 0;
  std::string why;  // "older than 7 days", "free space under the floor of 1.0 GB"
};

// Deletes the segments of `dir` older than the policy keeps, then the oldest while the free space
// is under its floor, never `writing` (the segment open now, relative to `dir`); a day's folder
// goes with its last segment. Returns what went, oldest first.
std::vector<Deletion> apply_retention(const std::string &dir, const RetentionPolicy &policy,
                                      int64_t now_us, const std::string &writing);

// A duration as a person writes it: "7d", "12h", "30m", "90s" or seconds alone; "" or "0" is
// none. False for anything else.
bool parse_keep(std::string_view text, int64_t *us);
// A floor of free space: "10%", "1G" / "1GB", "500M", "800K" or bytes alone; "" or "0" is none.
// Sets min_free_percent or min_free_bytes of `policy`. False for anything else.
bool parse_min_free(std::string_view text, RetentionPolicy *policy);

// "1.5 GB", "300 MB", "12 KB": sizes as log lines give them.
std::string human_bytes(uint64_t bytes);
// "7 days", "3 hours", "90 seconds".
std::string human_duration(int64_t us);

}  // namespace camcast::record
