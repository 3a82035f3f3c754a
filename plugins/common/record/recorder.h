// Layer record: recordings on disk, their retention and the writer's thread; uses net, fanout,
// formats, access.
// A recording: the encoded stream written to disk as fragmented-MP4 segments by a thread of its
// own, so that a disk that is slow, stalls or fills never holds up the thread that feeds it.
//
// Each segment (record/segments.h names it) is ftyp + moov, then one fragment (moof mdat, with a
// prft box giving its first frame's capture time) per keyframe or per second, whichever comes
// first, each written whole with one writev. A process killed mid-segment leaves a file whose
// fragments up to the last written play as they are: there is no index to write at the end
// (docs/protocols.md §13); a segment takes its name only once its first fragment is written, so
// none is ever without a picture. A segment starts at a keyframe once it has run `segment_us`; its
// times start at 0, and the next one continues where its last frame ends, so consecutive segments
// leave no gap. Sound rides in the same fragments as a second track.
//
// The hand-off is bounded (fanout/drop_gate.h): frames the thread has not taken within the bound
// are dropped up to the next keyframe and counted as a gap. Writes go to the page cache; the
// thread calls fdatasync every `sync_us` and when a segment ends, so a power cut loses at most
// that much. A write that fails (a full disk, a card that gave up) ends the segment at its last
// whole fragment and pauses the recording; it resumes, with a new segment, once the disk has
// room again. Retention (record/retention.h) runs when a segment starts and every minute.
#pragma once

#include "fanout/drop_gate.h"
#include "formats/fmp4.h"
#include "record/retention.h"

#include <gst/gst.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace camcast::record {

class Recorder {
public:
  struct Settings {
    std::string dir;
    int64_t segment_us = 300 * int64_t(1000000);
    RetentionPolicy retention;
    int64_t sync_us = 10 * int64_t(1000000);
    // The hand-off to the writer's thread: what a disk may fall behind by before frames drop.
    size_t max_queued_frames = 600;
    uint64_t max_queued_bytes = 32 * 1024 * 1024;
    // How often a paused recording looks for room again, and how much above the floor it wants
    // (at most a tenth of the disk).
    int64_t retry_us = 2 * int64_t(1000000);
    uint64_t resume_margin_bytes = 16 * 1024 * 1024;
  };
  struct Stats {
    uint64_t segments = 0;        // started
    uint64_t bytes_written = 0;   // to disk, all segments
    uint64_t frames_written = 0;  // pictures and sound
    uint64_t frames_dropped = 0;  // not written: behind the disk, or while paused
    uint64_t gaps = 0;            // stretches of dropped frames
    uint64_t deleted = 0;         // segments retention removed
    bool paused = false;          // a write failed; waiting for room
    std::string writing;          // the segment open now, relative to dir
    std::string problem;          // why it is paused, "" when not
  };
  // What a person should hear of, from the writer's thread: the recording paused (once for a
  // cause that comes back at every retry) or resumed, a segment started, a segment deleted.
  enum class Event { Paused, Resumed, Started, Deleted };
  using ReportFn = std::function<void(Event event, const std::string &text)>;

  // A frame of either track, its times on the running-time line both tracks share.
  struct Frame {
    GstBuffer *buffer = nullptr;  // taken
    bool audio = false;
    bool keyframe = true;
    GstClockTime dts = 0;             // decode time (the sound's: its time)
    GstClockTimeDiff cts_offset = 0;  // presentation minus decode time
    GstClockTime duration = GST_CLOCK_TIME_NONE;
    int64_t capture_us = -1;  // wall-clock capture time, µs since the epoch
  };

  Recorder(Settings settings, ReportFn report);
  ~Recorder();  // stop(-1)
  Recorder(const Recorder &) = delete;
  Recorder &operator=(const Recorder &) = delete;

  // The tracks from now on (a change ends the segment; the next starts at a keyframe). Either
  // may be missing, not both. Any thread; ordered with push().
  void set_tracks(std::optional<fmp4::VideoTrack> video, std::optional<fmp4::AudioTrack> audio);
  // Queues one frame; never blocks. Any thread.
  void push(Frame frame);
  Stats stats();
  // Writes what is queued, ends the segment and stops the writer, waiting at most `timeout_us`
  // (-1: as long as it takes). False when the writer is still held up by its disk then: it is
  // left to finish alone, says nothing more and deletes this object when done, which the owner
  // must then let go of without deleting (a stalled card must not hold up a pipeline's stop).
  bool stop(int64_t timeout_us);

private:
  struct Item {
    std::optional<Frame> frame;
    std::optional<fmp4::VideoTrack> video;  // a tracks change when !frame
    std::optional<fmp4::AudioTrack> audio;
  };
  struct Segment;

  void run();
  void handle(Item &item);
  // Starts a segment at `frame`'s time (false: paused, or the file could not be made).
  bool start_segment(const Frame &frame);
  // Names the segment once its first fragment is written (false: failed, and paused).
  bool publish();
  // Writes the pending fragment; `next_dts` (the next picture's time) ends its last picture.
  void write_fragment(GstClockTime next_dts);
  void end_segment(GstClockTime next_dts);
  void fail(const std::string &what, int error);
  void retry(int64_t now_us);
  void retain(int64_t now_us);
  void drop_pending();
  // Lets go of a frame not written, counted as part of a gap once something was recorded.
  void drop(Frame &frame);

  const Settings settings_;
  const ReportFn report_;

  std::mutex lock_;  // the queue, stopping_, stats_
  std::condition_variable wake_;
  std::deque<Item> queue_;
  DropGate gate_;
  bool stopping_ = false;
  bool finished_ = false;   // the writer has stopped
  std::mutex report_lock_;  // around report_, and silenced_
  bool silenced_ = false;
  void say(Event event, const std::string &text);
  Stats stats_;
  bool has_video_ = false;  // as the last set_tracks() said
  bool behind_ = false;     // the gate is dropping: one gap until a frame is queued again
  std::thread thread_;

  // The writer's thread only.
  std::optional<fmp4::VideoTrack> video_;
  std::optional<fmp4::AudioTrack> audio_;
  std::unique_ptr<Segment> segment_;
  std::vector<Frame> pending_video_, pending_audio_;  // the fragment being gathered
  GstClockTime last_video_duration_ = GST_CLOCK_TIME_NONE;
  bool dropping_ = false;  // frames are being dropped (one gap until a fragment is written)
  // A pause is said once for a cause that comes back at each retry with nothing written between.
  std::string said_cause_;
  bool said_pause_ = false, wrote_since_pause_ = false;
  int64_t next_retention_us_ = 0;
  int64_t next_retry_us_ = 0;
};

}  // namespace camcast::record
