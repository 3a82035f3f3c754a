// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// Reading back a fragmented-MP4 file (a recording's segment, formats/fmp4.h's boxes): its tracks'
// timescales, its first capture time, its whole fragments and how long they play. The bytes are
// not trusted: a file may be cut anywhere (a power cut) or damaged, and every size is checked
// against what is there; a box too large to be one camcast writes is not read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace camcast::fmp4 {

// Reads up to `len` bytes at `offset` into `out`; returns how many it read (fewer at the end).
using ReadAt = std::function<size_t(uint64_t offset, uint8_t *out, size_t len)>;

struct FileSummary {
  bool readable = false;         // ftyp and a whole moov came first
  uint32_t video_timescale = 0;  // from each track's mdhd; 0: no such track
  uint32_t audio_timescale = 0;
  uint32_t video_track = 0, audio_track = 0;  // their ids (tkhd)
  uint64_t first_ntp = 0;    // the first fragment's capture time (its prft), 0: none
  size_t fragments = 0;      // whole ones: a moof, and all of the mdat after it
  uint64_t whole_bytes = 0;  // up to the end of the last whole fragment
  // How long it plays, in seconds: the last whole fragment's start (tfdt) and its samples'
  // durations, of the pictures (or of the sound when there are none).
  double duration = 0;
};

// `size`: the file's length.
FileSummary summarize(const ReadAt &read, uint64_t size);

}  // namespace camcast::fmp4
