// Layer fanout: the queue all clients of a stream share, and the lag policy; uses nothing else.
// The fan-out: one queue of encoded units shared by every client of a mount, one cursor per
// client, and the lag policy in GStreamer multihandlesink's vocabulary.
//
// A unit is one message on the wire (one encoded frame, one fMP4 fragment, one batch of TS
// packets). The queue holds a single reference to each unit's GstBuffer whatever the number of
// clients; a client is only a position in the queue. When a client falls behind
// `units-soft-max`, the recover policy moves it forward (to the newest keyframe: H.264 and MPEG-1
// decoders can only resume at one, docs/protocols.md §3.1 and §4.1) and counts what it skipped;
// past `units-max` it is marked slow and the server drops it. The queue is trimmed after every push
// to what the slowest remaining client still needs, so memory is bounded by the limits, not by
// the slowest link.
//
// Threading: a UnitQueue is used from one thread only (the server thread of its mount).
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace camcast {

// Values match GstSyncMethod / GstRecoverPolicy of multihandlesink, whose nick for NextBuffer is
// "latest" (it starts, or resumes, at the next buffer that arrives).
enum class SyncMethod { NextBuffer = 0, NextKeyframe = 1, LatestKeyframe = 2, BurstKeyframe = 4 };
enum class RecoverPolicy { None = 0, NextBuffer = 1, Keyframe = 3 };
enum class UnitFormat { Buffers, Bytes, Time };

// How a client is fed.
// - Stream: every unit in order, under the lag policy (video, where a decoder needs them all).
// - Newest: whenever the client is ready for another unit it gets the newest, so a slow link
//   sees fewer frames and never a backlog: the client holds no queue (MJPEG; µStreamer's model).
// - Pull: Newest, but one unit per request (a credit): players that ask for the next picture
//   once they have shown the last, so the rate follows each viewer (PyImageStream's model).
// Newest and Pull suit streams whose every unit is a keyframe.
enum class Delivery { Stream, Newest, Pull };

struct LagPolicy {
  SyncMethod sync_method = SyncMethod::LatestKeyframe;
  RecoverPolicy recover_policy = RecoverPolicy::Keyframe;
  UnitFormat unit_format = UnitFormat::Time;
  int64_t units_soft_max = GST_SECOND;            // -1 = no soft limit
  int64_t units_max = 10 * GST_SECOND;            // -1 = no hard limit
  int64_t time_min = -1;                          // ns of stream always kept queued, -1 = off
  UnitFormat burst_format = UnitFormat::Buffers;  // for sync-method=burst-keyframe
  int64_t burst_value = 0;
};

// One message on the wire. Immutable once queued; shared by the queue and by clients that have
// started writing it. The buffer's memories stay mapped for the unit's lifetime, so writing it to
// N clients costs N writev calls and nothing else.
class Unit {
public:
  // Takes a reference to `buffer`. `keyframe`: a client may start here.
  Unit(GstBuffer *buffer, bool keyframe, GstClockTime ts);
  ~Unit();
  Unit(const Unit &) = delete;
  Unit &operator=(const Unit &) = delete;

  GstBuffer *buffer() const { return buffer_; }
  size_t size() const { return size_; }
  bool keyframe() const { return keyframe_; }
  GstClockTime ts() const { return ts_; }
  // Wall-clock capture time, µs since the epoch (-1 = unknown), for players to show latency.
  int64_t capture_us = -1;
  uint64_t seq() const { return seq_; }
  uint64_t offset() const { return offset_; }  // bytes of stream before this unit
  size_t n_chunks() const { return maps_.size(); }
  const uint8_t *chunk_data(size_t i) const { return maps_[i].data; }
  size_t chunk_size(size_t i) const { return maps_[i].size; }

  // Part of the stream header (set_stream_header), not a numbered unit of the stream.
  bool header = false;
  // Text rather than bytes (a WebSocket text message: stream metadata as JSON, say).
  bool text = false;

private:
  friend class UnitQueue;
  GstBuffer *buffer_;
  std::vector<GstMapInfo> maps_;
  size_t size_ = 0;
  bool keyframe_;
  GstClockTime ts_;
  uint64_t seq_ = 0;
  uint64_t offset_ = 0;
};
using UnitRef = std::shared_ptr<const Unit>;

// Where one client stands. Owned by the client, registered with the queue while connected.
struct ClientCursor {
  Delivery delivery = Delivery::Stream;
  uint32_t credits = 0;          // Pull: units asked for and not yet handed out
  bool wants_header = true;      // false: the stream header is not for this client's protocol
  uint64_t next_seq = 0;         // the next unit to send, when not waiting
  bool waiting = true;           // waiting for a join point (next buffer or keyframe)
  bool waiting_keyframe = true;  // ... and that join point must be a keyframe
  bool recovering = false;       // waiting because the lag policy moved it: frames count as skipped
  uint64_t header_gen = 0;       // stream header generation already sent (0 = none)
  size_t header_pos = 0;         // header units of the current generation already handed out
  bool slow = false;             // past units-max: the server drops this client
  // Statistics.
  uint64_t units_sent = 0;
  uint64_t units_skipped = 0;
  uint64_t recoveries = 0;
};

class UnitQueue {
public:
  UnitQueue() = default;
  UnitQueue(const UnitQueue &) = delete;
  UnitQueue &operator=(const UnitQueue &) = delete;

  void set_policy(const LagPolicy &policy) { policy_ = policy; }
  const LagPolicy &policy() const { return policy_; }

  // The stream header (init segment, PAT/PMT, jsmp header): sent to every client on join and to
  // every client again when it changes. A change makes every client resume at the next unit
  // pushed, which the producer must make a keyframe (a decoder needs one after new headers).
  void set_stream_header(std::vector<UnitRef> header);
  const std::vector<UnitRef> &stream_header() const { return header_; }
  uint64_t header_gen() const { return header_gen_; }

  // Forgets every queued unit (the stream stopped): clients wait for the next keyframe.
  void drop_units();

  // Registers a new client at its join point (per sync-method), or, with `next_keyframe`, at the
  // next keyframe to come (a client moving here from another rendition, live already).
  void attach(ClientCursor *cursor, bool next_keyframe = false);
  void detach(ClientCursor *cursor);
  // The cursor registered at `from` now lives at `to` (moved by its owner), as it was.
  void replace(ClientCursor *from, ClientCursor *to);

  // Appends a unit, applies the lag policy to every client and trims the queue. Clients that
  // crossed units-max get `slow = true`; the caller drops them.
  void push(std::shared_ptr<Unit> unit);

  // The next thing to send to this client, or null when it is caught up (or waiting). Moves the
  // cursor past it: the caller keeps the reference while it writes.
  UnitRef next(ClientCursor *cursor);
  bool has_next(const ClientCursor *cursor) const;

  // How far behind this client is, in the policy's unit format (0 while waiting).
  int64_t lag(const ClientCursor *cursor) const { return lag_in(cursor, policy_.unit_format); }
  int64_t lag_in(const ClientCursor *cursor, UnitFormat format) const;

  // The newest unit queued, or null.
  UnitRef newest() const { return units_.empty() ? nullptr : units_.back(); }
  size_t queued_units() const { return units_.size(); }
  uint64_t queued_bytes() const;
  uint64_t units_pushed() const { return next_seq_; }
  uint64_t bytes_pushed() const { return next_offset_; }

private:
  // Position of a join point for a new client, or false when it must wait for a keyframe.
  bool join_point(uint64_t *seq) const;
  void apply_policy(ClientCursor *c);
  void skip_to(ClientCursor *c, uint64_t seq);
  void skip_to_next_keyframe(ClientCursor *c);
  void skip_to_newest(ClientCursor *c);  // Newest and Pull: only the newest unit is of use
  const Unit &at(uint64_t seq) const { return *units_[seq - units_.front()->seq_]; }
  int64_t amount(uint64_t from_seq, UnitFormat format) const;
  void trim();

  LagPolicy policy_;
  std::deque<std::shared_ptr<Unit>> units_;
  std::vector<UnitRef> header_;
  uint64_t header_gen_ = 0;
  std::vector<ClientCursor *> cursors_;
  uint64_t next_seq_ = 0;     // seq of the next unit pushed
  uint64_t next_offset_ = 0;  // stream bytes pushed so far
  bool have_keyframe_ = false;
  uint64_t last_keyframe_ = 0;  // seq of the newest keyframe pushed
};

}  // namespace camcast
