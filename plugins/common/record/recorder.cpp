#include "record/recorder.h"

#include "record/segments.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

GST_DEBUG_CATEGORY_STATIC(camcast_record_debug);
#define GST_CAT_DEFAULT camcast_record_debug

namespace camcast::record {

namespace {

constexpr GstClockTime kMaxFragment = GST_SECOND;  // a fragment holds at most this much
constexpr int64_t kRetentionEveryUs = 60 * int64_t(1000000);
constexpr uint32_t kVideoTimescale = 90000;
constexpr GstClockTime kDefaultFrame = GST_SECOND / 30;
constexpr GstClockTime kDefaultAudioFrame = GST_SECOND / 50;

uint64_t to_timescale(GstClockTime t, uint32_t timescale) {
  return gst_util_uint64_scale(t, timescale, GST_SECOND);
}

void release(Recorder::Frame &frame) {
  if (frame.buffer)
    gst_buffer_unref(frame.buffer);
  frame.buffer = nullptr;
}

// Writes all of `iov` (partial writes resumed); false with errno set.
bool write_all(int fd, std::vector<iovec> iov) {
  size_t at = 0;
  while (at < iov.size()) {
    const int n = int(std::min<size_t>(iov.size() - at, IOV_MAX));
    const ssize_t written = writev(fd, &iov[at], n);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    size_t left = size_t(written);
    while (at < iov.size() && left >= iov[at].iov_len)
      left -= iov[at++].iov_len;
    if (left > 0) {
      iov[at].iov_base = static_cast<uint8_t *>(iov[at].iov_base) + left;
      iov[at].iov_len -= left;
    }
  }
  return true;
}

}  // namespace

struct Recorder::Segment {
  int fd = -1;
  std::string name;          // relative to the directory; until published, the one it will try
  std::string partial;       // until published: the hidden file it is written to (relative)
  int64_t start_us = 0;      // its first frame's capture time, for its name
  GstClockTime base = 0;     // the running time of its first picture: its time 0
  uint64_t whole = 0;        // bytes up to the end of the last fragment written whole
  uint64_t init_size = 0;    // of ftyp + moov
  uint32_t sequence = 0;     // the last fragment's
  int64_t last_sync_us = 0;  // monotonic
  bool unsynced = false;     // written since the last fdatasync
  bool published() const { return partial.empty(); }
};

Recorder::Recorder(Settings settings, ReportFn report)
    : settings_(std::move(settings)),
      report_(std::move(report)),
      gate_(settings_.max_queued_frames, settings_.max_queued_bytes) {
  static gsize debug_once = 0;
  if (g_once_init_enter(&debug_once)) {
    GST_DEBUG_CATEGORY_INIT(camcast_record_debug, "camcastrecord", 0, "camcast recordings");
    g_once_init_leave(&debug_once, 1);
  }
  thread_ = std::thread([this] { run(); });
}

Recorder::~Recorder() {
  if (thread_.joinable())
    stop(-1);
}

bool Recorder::stop(int64_t timeout_us) {
  std::unique_lock<std::mutex> lk(lock_);
  stopping_ = true;
  wake_.notify_one();
  const auto done = [this] { return finished_; };
  if (timeout_us < 0)
    wake_.wait(lk, done);
  else if (!wake_.wait_for(lk, std::chrono::microseconds(timeout_us), done)) {
    lk.unlock();
    std::lock_guard<std::mutex> quiet(report_lock_);
    silenced_ = true;  // the owner is gone by the time the writer says anything
    thread_.detach();  // and the writer deletes this when it is done
    return false;
  }
  lk.unlock();
  thread_.join();
  return true;
}

void Recorder::say(Event event, const std::string &text) {
  std::lock_guard<std::mutex> lk(report_lock_);
  if (!silenced_)
    report_(event, text);
}

void Recorder::set_tracks(std::optional<fmp4::VideoTrack> video,
                          std::optional<fmp4::AudioTrack> audio) {
  std::lock_guard<std::mutex> lk(lock_);
  has_video_ = bool(video);
  queue_.push_back(Item{std::nullopt, std::move(video), std::move(audio)});
  wake_.notify_one();
}

void Recorder::push(Frame frame) {
  std::unique_lock<std::mutex> lk(lock_);
  // Sound is a place to start again only where there are no pictures.
  const bool keyframe = frame.audio ? !has_video_ : frame.keyframe;
  const uint64_t size = gst_buffer_get_size(frame.buffer);
  const uint64_t dropped_before = gate_.dropped();
  const DropGate::Verdict v = gate_.admit(size, keyframe);
  if (v.flush) {
    // What is queued is late anyway: its frames go (a change of tracks stays).
    for (Item &item : queue_)
      if (item.frame)
        release(*item.frame);
    queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                                [](const Item &item) { return bool(item.frame); }),
                 queue_.end());
  }
  if (gate_.dropped() > dropped_before) {
    stats_.frames_dropped += gate_.dropped() - dropped_before;
    if (!behind_)
      stats_.gaps++;
    behind_ = true;
  }
  if (!v.queue) {
    release(frame);
    return;
  }
  behind_ = false;
  queue_.push_back(Item{std::move(frame), std::nullopt, std::nullopt});
  lk.unlock();
  wake_.notify_one();
}

Recorder::Stats Recorder::stats() {
  std::lock_guard<std::mutex> lk(lock_);
  return stats_;
}

void Recorder::run() {
  std::unique_lock<std::mutex> lk(lock_);
  while (true) {
    wake_.wait_for(lk, std::chrono::milliseconds(500),
                   [this] { return stopping_ || !queue_.empty(); });
    const bool stopping = stopping_;
    std::deque<Item> items;
    items.swap(queue_);
    gate_.taken_all();
    lk.unlock();
    for (Item &item : items)
      handle(item);
    const int64_t now = g_get_monotonic_time();
    if (segment_ && segment_->unsynced && now - segment_->last_sync_us >= settings_.sync_us) {
      fdatasync(segment_->fd);
      segment_->unsynced = false;
      segment_->last_sync_us = now;
    }
    retry(now);
    if (now >= next_retention_us_)
      retain(now);
    if (stopping) {
      end_segment(GST_CLOCK_TIME_NONE);
      lk.lock();
      for (Item &item : queue_)
        if (item.frame)
          release(*item.frame);
      queue_.clear();
      finished_ = true;
      wake_.notify_all();
      if (!thread_.joinable()) {  // left to finish alone by stop()
        lk.unlock();
        delete this;
      }
      return;
    }
    lk.lock();
  }
}

void Recorder::handle(Item &item) {
  if (!item.frame) {
    // New tracks: the segment ends here; the next starts with them at a keyframe.
    end_segment(GST_CLOCK_TIME_NONE);
    video_ = std::move(item.video);
    audio_ = std::move(item.audio);
    return;
  }
  Frame &frame = *item.frame;
  if (frame.audio) {
    if (!audio_ || (!segment_ && video_) || (!segment_ && !start_segment(frame)) ||
        frame.dts < segment_->base) {
      drop(frame);  // no sound track, or waiting for a picture to start from
      return;
    }
    pending_audio_.push_back(frame);
    if (!video_ && frame.dts - pending_audio_.front().dts >= kMaxFragment)
      write_fragment(GST_CLOCK_TIME_NONE);
    return;
  }
  if (!video_) {
    drop(frame);
    return;
  }
  if (segment_ && frame.keyframe && frame.dts >= segment_->base &&
      frame.dts - segment_->base >= GstClockTime(settings_.segment_us) * GST_USECOND)
    end_segment(frame.dts);
  if (!segment_) {
    if (!frame.keyframe || !start_segment(frame)) {
      drop(frame);
      return;
    }
  } else if (!pending_video_.empty() &&
             (frame.keyframe || frame.dts - pending_video_.front().dts >= kMaxFragment)) {
    write_fragment(frame.dts);
    if (!segment_) {
      drop(frame);
      return;
    }
  }
  pending_video_.push_back(frame);
}

void Recorder::drop(Frame &frame) {
  release(frame);
  // Lost to a pause; else the recording had not begun (a keyframe to start from, the sound
  // before the picture): no gap.
  std::lock_guard<std::mutex> lk(lock_);
  if (!stats_.paused)
    return;
  stats_.frames_dropped++;
  if (!dropping_)
    stats_.gaps++;
  dropping_ = true;
}

// A segment is written to a hidden file in its day's folder until its first fragment is there,
// and only then takes its name (publish()): a process killed in between leaves no segment without
// a picture, only that hidden file.
bool Recorder::start_segment(const Frame &frame) {
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (stats_.paused)
      return false;
  }
  auto segment = std::make_unique<Segment>();
  segment->start_us = frame.capture_us >= 0 ? frame.capture_us : g_get_real_time();
  segment->name = segment_name(segment->start_us);
  const size_t slash = segment->name.find('/');
  const std::string day = settings_.dir + "/" + segment->name.substr(0, slash);
  segment->partial =
      segment->name.substr(0, slash) + "/." + segment->name.substr(slash + 1) + ".partial";
  if (mkdir(day.c_str(), 0755) != 0 && errno != EEXIST) {
    fail("cannot make the folder '" + day + "'", errno);
    return false;
  }
  segment->fd = open((settings_.dir + "/" + segment->partial).c_str(),
                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (segment->fd < 0) {
    fail("cannot create a file in '" + day + "'", errno);
    return false;
  }
  const std::vector<uint8_t> init =
      fmp4::init_segment(video_ ? &*video_ : nullptr, audio_ ? &*audio_ : nullptr);
  segment->base = frame.dts;
  segment->init_size = segment->whole = init.size();
  segment->last_sync_us = g_get_monotonic_time();
  segment_ = std::move(segment);
  if (!write_all(segment_->fd, {{const_cast<uint8_t *>(init.data()), init.size()}})) {
    fail("cannot write in '" + day + "'", errno);
    return false;
  }
  std::lock_guard<std::mutex> lk(lock_);
  stats_.bytes_written += init.size();
  return true;
}

// Gives the segment its name, the first free one for its start (never one that exists).
bool Recorder::publish() {
  const std::string from = settings_.dir + "/" + segment_->partial;
  for (int n = 1; n < 1000; n++) {
    const std::string name = segment_name(segment_->start_us, n);
    const std::string to = settings_.dir + "/" + name;
    int moved = renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
    if (moved != 0 && errno == EINVAL) {  // a filesystem without RENAME_NOREPLACE
      moved = link(from.c_str(), to.c_str());
      if (moved == 0)
        unlink(from.c_str());
    }
    if (moved == 0) {
      // The new name, on the disk (a power cut right after must not leave it hidden).
      const int day = open(to.substr(0, to.rfind('/')).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (day >= 0) {
        fsync(day);
        close(day);
      }
      segment_->name = name;
      segment_->partial.clear();
      {
        std::lock_guard<std::mutex> lk(lock_);
        stats_.segments++;
        stats_.writing = name;
      }
      GST_INFO("recording into %s/%s", settings_.dir.c_str(), name.c_str());
      say(Event::Started, "recording into " + name);
      next_retention_us_ = 0;  // a new segment: see what the disk keeps now
      return true;
    }
    if (errno != EEXIST)
      break;
  }
  fail("cannot name the segment '" + segment_->name + "'", errno);
  return false;
}

void Recorder::write_fragment(GstClockTime next_dts) {
  if (!segment_ || (pending_video_.empty() && pending_audio_.empty()))
    return;
  fmp4::Fragment fragment;
  fragment.sequence = ++segment_->sequence;
  const GstClockTime base = segment_->base;
  if (!pending_video_.empty()) {
    fmp4::Run run;
    run.track_id = fmp4::kVideoTrackId;
    run.decode_time = to_timescale(pending_video_.front().dts - base, kVideoTimescale);
    for (size_t i = 0; i < pending_video_.size(); i++) {
      const Frame &f = pending_video_[i];
      // Each picture lasts until the next one: exact, so the next fragment (or segment) starts
      // where this one ends. The last one of a recording lasts as its buffer says.
      GstClockTime end = i + 1 < pending_video_.size() ? pending_video_[i + 1].dts : next_dts;
      if (!GST_CLOCK_TIME_IS_VALID(end) || end <= f.dts)
        end = f.dts + (GST_CLOCK_TIME_IS_VALID(f.duration)             ? f.duration
                       : GST_CLOCK_TIME_IS_VALID(last_video_duration_) ? last_video_duration_
                                                                       : kDefaultFrame);
      last_video_duration_ = end - f.dts;
      fmp4::Sample s;
      s.duration = uint32_t(std::max<uint64_t>(1, to_timescale(end - base, kVideoTimescale) -
                                                      to_timescale(f.dts - base, kVideoTimescale)));
      s.size = uint32_t(gst_buffer_get_size(f.buffer));
      s.composition_offset = int32_t(f.cts_offset * int64_t(kVideoTimescale) / int64_t(GST_SECOND));
      s.keyframe = f.keyframe;
      run.samples.push_back(s);
    }
    fragment.runs.push_back(std::move(run));
  }
  if (!pending_audio_.empty() && audio_) {
    const uint32_t rate = audio_->rate;
    fmp4::Run run;
    run.track_id = fmp4::kAudioTrackId;
    run.decode_time = to_timescale(pending_audio_.front().dts - base, rate);
    for (const Frame &f : pending_audio_) {
      fmp4::Sample s;
      s.duration = uint32_t(std::max<uint64_t>(
          1, to_timescale(GST_CLOCK_TIME_IS_VALID(f.duration) ? f.duration : kDefaultAudioFrame,
                          rate)));
      s.size = uint32_t(gst_buffer_get_size(f.buffer));
      s.keyframe = true;
      run.samples.push_back(s);
    }
    fragment.runs.push_back(std::move(run));
  }
  const Frame &first = pending_video_.empty() ? pending_audio_.front() : pending_video_.front();
  if (first.capture_us >= 0)
    fragment.ntp_time = fmp4::ntp_from_unix_us(first.capture_us);
  const std::vector<uint8_t> header = fmp4::fragment_header(fragment);

  // The header, then every sample's bytes as they are, in the order of the runs: one writev.
  std::vector<iovec> iov{{const_cast<uint8_t *>(header.data()), header.size()}};
  std::vector<std::pair<GstBuffer *, GstMapInfo>> maps;
  uint64_t size = header.size();
  bool mapped = true;
  for (std::vector<Frame> *frames : {&pending_video_, &pending_audio_})
    for (const Frame &f : *frames) {
      GstMapInfo map;
      if (!gst_buffer_map(f.buffer, &map, GST_MAP_READ)) {
        mapped = false;
        continue;
      }
      maps.emplace_back(f.buffer, map);
      iov.push_back({map.data, map.size});
      size += map.size;
    }
  const bool written = mapped && write_all(segment_->fd, iov);
  const int error = errno;
  for (auto &[buffer, map] : maps)
    gst_buffer_unmap(buffer, &map);
  const uint64_t frames = pending_video_.size() + pending_audio_.size();
  drop_pending();
  if (!written) {
    fail(mapped ? "cannot write '" + segment_->name + "'" : "a frame could not be read", error);
    return;
  }
  segment_->whole += size;
  segment_->unsynced = true;
  {
    std::lock_guard<std::mutex> lk(lock_);
    stats_.bytes_written += size;
    stats_.frames_written += frames;
    dropping_ = false;
  }
  wrote_since_pause_ = true;
  if (!segment_->published())
    publish();
}

void Recorder::end_segment(GstClockTime next_dts) {
  write_fragment(next_dts);
  if (!segment_)
    return;
  fdatasync(segment_->fd);
  close(segment_->fd);
  if (!segment_->published())  // not a fragment in it
    unlink((settings_.dir + "/" + segment_->partial).c_str());
  GST_INFO("ended %s/%s: %" G_GUINT64_FORMAT " bytes", settings_.dir.c_str(),
           segment_->name.c_str(), segment_->whole);
  segment_.reset();
  std::lock_guard<std::mutex> lk(lock_);
  stats_.writing.clear();
}

void Recorder::fail(const std::string &what, int error) {
  drop_pending();
  if (segment_) {
    // The file ends at its last whole fragment; one without any (not yet named) holds nothing
    // to keep.
    if (segment_->published()) {
      if (ftruncate(segment_->fd, off_t(segment_->whole)) == 0)
        fdatasync(segment_->fd);
      close(segment_->fd);
    } else {
      close(segment_->fd);
      unlink((settings_.dir + "/" + segment_->partial).c_str());
    }
    segment_.reset();
  }
  const std::string cause = what + ": " + strerror(error);
  std::string problem = cause;
  DiskSpace space;
  if (disk_space(settings_.dir, &space))
    problem += " (" + human_bytes(space.free) + " free of " + human_bytes(space.total) + ")";
  {
    std::lock_guard<std::mutex> lk(lock_);
    stats_.paused = true;
    stats_.problem = problem;
    stats_.writing.clear();
  }
  GST_WARNING("recording paused: %s", problem.c_str());
  // Said once while the same cause comes back at every retry (a card that fails each write).
  said_pause_ = cause != said_cause_ || wrote_since_pause_;
  said_cause_ = cause;
  wrote_since_pause_ = false;
  if (said_pause_)
    say(Event::Paused, "recording paused: " + problem + "; it resumes when the disk has room");
  next_retry_us_ = g_get_monotonic_time() + settings_.retry_us;
}

void Recorder::retry(int64_t now) {
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (!stats_.paused || now < next_retry_us_)
      return;
  }
  next_retry_us_ = now + settings_.retry_us;
  DiskSpace space;
  std::string why;
  if (!writable_directory(settings_.dir, &why) || !disk_space(settings_.dir, &space) ||
      space.free < free_floor(settings_.retention, space.total) +
                       std::min(settings_.resume_margin_bytes, space.total / 10))
    return;
  {
    std::lock_guard<std::mutex> lk(lock_);
    stats_.paused = false;
    stats_.problem.clear();
  }
  GST_INFO("recording resumes: %s free", human_bytes(space.free).c_str());
  if (said_pause_)
    say(Event::Resumed, "recording resumes: " + human_bytes(space.free) + " free");
}

void Recorder::retain(int64_t now) {
  next_retention_us_ = now + kRetentionEveryUs;
  const std::vector<Deletion> deleted = apply_retention(
      settings_.dir, settings_.retention, g_get_real_time(), segment_ ? segment_->name : "");
  for (const Deletion &d : deleted) {
    GST_INFO("deleted %s: %s", d.name.c_str(), d.why.c_str());
    say(Event::Deleted, "deleted " + d.name + " (" + human_bytes(d.size) + "): " + d.why);
  }
  std::lock_guard<std::mutex> lk(lock_);
  stats_.deleted += deleted.size();
}

void Recorder::drop_pending() {
  for (std::vector<Frame> *frames : {&pending_video_, &pending_audio_}) {
    for (Frame &f : *frames)
      release(f);
    frames->clear();
  }
}

}  // namespace camcast::record
