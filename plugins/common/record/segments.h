// Layer record: recordings on disk, their retention and the writer's thread; uses net, fanout,
// formats, access.
// A recording's files and their names. Each segment is named by the UTC time of its first frame,
// one folder per day: <dir>/2026-12-08/14-05-09.mp4. UTC, not local time: a clock turned back
// an hour each autumn would otherwise give a second 02:30 the first one's name. A name is never
// used twice: a segment whose name exists (two starts within a second, a clock set back) takes
// the next free `_N` (14-05-09_2.mp4), and the file is created only if it does not exist.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace camcast::record {

// "2026-12-08/14-05-09.mp4" for a segment starting at `start_us` (µs since the epoch), or with
// "_N" before ".mp4" for n > 1.
std::string segment_name(int64_t start_us, int n = 1);

// What a segment's name says: its start to the second (µs since the epoch) and its `_N`. False
// for a name that is not a segment's (what else is in the folder is left alone).
bool parse_segment_name(std::string_view name, int64_t *start_us, int *n);

struct SegmentFile {
  std::string name;      // relative to the recording directory, as segment_name() makes it
  int64_t start_us = 0;  // from the name, to the second
  int n = 1;
  uint64_t size = 0;
  int64_t modified_us = 0;  // the last write: about when its last frame was recorded
};

// Every segment under `dir`, oldest first (by the time in its name, then its `_N`).
std::vector<SegmentFile> list_segments(const std::string &dir);

// Whether `dir` is a directory this process can create files in; false with why not, for a person.
bool writable_directory(const std::string &dir, std::string *why);

}  // namespace camcast::record
