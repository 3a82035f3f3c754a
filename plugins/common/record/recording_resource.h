// Layer record: recordings on disk, their retention and the writer's thread; uses net, fanout,
// formats.
// A recording as its sink's mount serves it: its state in /api/streams ("recording": the segment
// being written, what was written, dropped and deleted, and why it is paused if it is), and at
// the mount's own path a list of the segments on disk.
#pragma once

#include "net/mount.h"
#include "record/recorder.h"

#include <functional>
#include <string>

namespace camcast::record {

class RecordingResource final : public MountDelegate {
public:
  // `stats` gives the recorder's state, or false while none runs (the element stopped); `dir`
  // where its segments are. Both are asked on the server thread.
  using StatsFn = std::function<bool(Recorder::Stats *stats, std::string *dir)>;
  explicit RecordingResource(StatsFn stats) : stats_(std::move(stats)) {}

  bool serve_http(SoupServerMessage *msg, std::string_view rest) override;
  bool takes_websocket() const override { return false; }
  void fill_stats(MountStats *stats) override;

private:
  const StatsFn stats_;
};

}  // namespace camcast::record
