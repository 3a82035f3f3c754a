// Layer record: recordings on disk, their retention and the writer's thread; uses net, fanout,
// formats, access.
// A recording as its sink's mount serves it, behind the server's access control:
//   GET <path>                       the page (the sink's: web/recordings.html)
//   GET, HEAD <path>/DAY/TIME.mp4    a segment, with Range (206: libsoup's) for players that seek
//   DELETE <path>/DAY/TIME.mp4       deletes one (the access token or a session; a stream token
//                                    only watches: 403); the one being written cannot go (409)
//   GET /api/recordings[?from=&to=]  the segments as JSON: name, URL, start (Unix seconds, from
//                                    its first frame), duration, size, whether it is being
//                                    written; from and to (Unix seconds) keep those that overlap
//   GET <path>/list.json[?from=&to=] the same, where a stream token for the path reaches
// and its state in /api/streams ("recording": the segment being written, what was written,
// dropped and deleted, and why it is paused if it is).
#pragma once

#include "formats/fmp4_read.h"
#include "net/mount.h"
#include "record/recorder.h"
#include "record/segments.h"

#include <functional>
#include <map>
#include <string>

namespace camcast::record {

class RecordingResource final : public MountDelegate {
public:
  // `stats` gives the recorder's state, or false while none runs (the element stopped); `dir`
  // where its segments are. Both are asked on the server thread.
  using StatsFn = std::function<bool(Recorder::Stats *stats, std::string *dir)>;
  explicit RecordingResource(StatsFn stats) : stats_(std::move(stats)) {}

  void serving(Mount *mount) override;
  bool serve_http(SoupServerMessage *msg, std::string_view rest) override;
  bool serve_api(SoupServerMessage *msg, std::string_view rest) override;
  goffset body_limit(std::string_view method, std::string_view rest) override;
  bool takes_websocket() const override { return false; }
  void fill_stats(MountStats *stats) override;

  // One segment as the listing gives it.
  struct Entry {
    std::string name;
    double start = 0;  // Unix seconds
    double duration = 0;
    uint64_t size = 0;
    uint64_t whole = 0;  // bytes up to its last whole fragment
    bool writing = false;
  };

private:
  // Every segment on disk, oldest first; false while not recording.
  bool entries(std::vector<Entry> *out, std::string *dir);
  // What a segment's file holds, read again only when its size or time changed.
  const fmp4::FileSummary &summary(const std::string &dir, const SegmentFile &f);
  void serve_segment(SoupServerMessage *msg, const std::string &dir, const Entry &entry);
  // The segments as JSON (/api/recordings, <path>/list.json).
  bool serve_list(SoupServerMessage *msg);

  const StatsFn stats_;
  std::string path_;  // where the mount serves
  // What each file held when last read (by name): its size and when it was written, and what
  // it said. Only files still on disk are kept.
  struct Known {
    uint64_t size = 0;
    int64_t modified_us = 0;
    fmp4::FileSummary summary;
  };
  std::map<std::string, Known> known_;
};

}  // namespace camcast::record
