#include "fanout/unit_queue.h"

#include <algorithm>

namespace camcast {

Unit::Unit(GstBuffer *buffer, bool keyframe, GstClockTime ts)
    : buffer_(gst_buffer_ref(buffer)), keyframe_(keyframe), ts_(ts) {
  const guint n = gst_buffer_n_memory(buffer_);
  maps_.resize(n);
  for (guint i = 0; i < n; i++) {
    GstMemory *mem = gst_buffer_peek_memory(buffer_, i);
    if (!gst_memory_map(mem, &maps_[i], GST_MAP_READ)) {
      maps_.resize(i);  // unmappable memory: the unit ends here (never seen with system memory)
      break;
    }
    size_ += maps_[i].size;
  }
}

Unit::~Unit() {
  for (guint i = 0; i < maps_.size(); i++)
    gst_memory_unmap(gst_buffer_peek_memory(buffer_, i), &maps_[i]);
  gst_buffer_unref(buffer_);
}

void UnitQueue::set_stream_header(std::vector<UnitRef> header) {
  header_ = std::move(header);
  header_gen_++;
  // Everyone hears the new header, then continues with what comes after it.
  for (ClientCursor *c : cursors_) {
    c->header_pos = 0;
    if (!c->waiting)
      c->units_skipped += next_seq_ - c->next_seq;
    c->waiting = true;
    c->waiting_keyframe = false;
  }
  // Units queued before the change belong to the old stream: a joining client must not get them.
  units_.clear();
  have_keyframe_ = false;
}

void UnitQueue::drop_units() {
  units_.clear();
  have_keyframe_ = false;
  for (ClientCursor *c : cursors_) {
    c->waiting = true;
    c->waiting_keyframe = true;
  }
}

bool UnitQueue::join_point(uint64_t *seq) const {
  if (!have_keyframe_ || units_.empty() || last_keyframe_ < units_.front()->seq_)
    return false;
  if (policy_.sync_method == SyncMethod::LatestKeyframe) {
    *seq = last_keyframe_;
    return true;
  }
  // burst-keyframe: the newest keyframe that still gives at least burst-value of data, else the
  // oldest keyframe queued.
  bool found = false;
  for (auto it = units_.rbegin(); it != units_.rend(); ++it) {
    if (!(*it)->keyframe_)
      continue;
    *seq = (*it)->seq_;
    found = true;
    if (amount((*it)->seq_, policy_.burst_format) >= policy_.burst_value)
      break;
  }
  return found;
}

void UnitQueue::attach(ClientCursor *cursor, bool next_keyframe) {
  cursor->header_gen = 0;
  cursor->header_pos = 0;
  cursor->slow = false;
  cursor->recovering = false;
  cursor->waiting = true;
  cursor->waiting_keyframe = next_keyframe || policy_.sync_method != SyncMethod::NextBuffer;
  if (!next_keyframe && (policy_.sync_method == SyncMethod::LatestKeyframe ||
                         policy_.sync_method == SyncMethod::BurstKeyframe)) {
    uint64_t seq;
    if (join_point(&seq)) {
      cursor->waiting = false;
      cursor->next_seq = seq;
    }
  }
  cursors_.push_back(cursor);
}

void UnitQueue::replace(ClientCursor *from, ClientCursor *to) {
  std::replace(cursors_.begin(), cursors_.end(), from, to);
}

void UnitQueue::detach(ClientCursor *cursor) {
  cursors_.erase(std::remove(cursors_.begin(), cursors_.end(), cursor), cursors_.end());
  trim();
}

int64_t UnitQueue::amount(uint64_t from_seq, UnitFormat format) const {
  if (units_.empty() || from_seq >= next_seq_)
    return 0;
  switch (format) {
  case UnitFormat::Buffers: return static_cast<int64_t>(next_seq_ - from_seq);
  case UnitFormat::Bytes: return static_cast<int64_t>(next_offset_ - at(from_seq).offset_);
  case UnitFormat::Time: {
    GstClockTime newest = units_.back()->ts_, from = at(from_seq).ts_;
    // The lag of a client is the age of the oldest unit it still has to send.
    return newest > from ? static_cast<int64_t>(newest - from) : 0;
  }
  }
  return 0;
}

int64_t UnitQueue::lag_in(const ClientCursor *c, UnitFormat format) const {
  if (c->waiting)
    return 0;
  return amount(c->next_seq, format);
}

void UnitQueue::skip_to(ClientCursor *c, uint64_t seq) {
  c->units_skipped += seq - c->next_seq;
  c->next_seq = seq;
  c->recoveries++;
}

void UnitQueue::skip_to_next_keyframe(ClientCursor *c) {
  c->units_skipped += next_seq_ - c->next_seq;
  c->waiting = true;
  c->waiting_keyframe = true;
  c->recovering = true;
  c->recoveries++;
}

void UnitQueue::skip_to_newest(ClientCursor *c) {
  if (c->next_seq + 1 < next_seq_) {
    c->units_skipped += next_seq_ - 1 - c->next_seq;
    c->next_seq = next_seq_ - 1;
  }
}

void UnitQueue::apply_policy(ClientCursor *c) {
  if (c->waiting || c->slow)
    return;
  const int64_t lag = lag_in(c, policy_.unit_format);
  if (policy_.units_max > 0 && lag >= policy_.units_max) {
    c->slow = true;
    return;
  }
  if (policy_.units_soft_max <= 0 || lag < policy_.units_soft_max)
    return;
  switch (policy_.recover_policy) {
  case RecoverPolicy::None: break;
  case RecoverPolicy::NextBuffer:
    c->units_skipped += next_seq_ - c->next_seq;
    c->waiting = true;
    c->waiting_keyframe = false;
    c->recovering = true;
    c->recoveries++;
    break;
  case RecoverPolicy::Keyframe:
    // Jump to the newest keyframe when that brings the client back under the soft limit;
    // otherwise (a GOP longer than the limit) skip to the next keyframe still to come.
    if (have_keyframe_ && last_keyframe_ > c->next_seq &&
        amount(last_keyframe_, policy_.unit_format) < policy_.units_soft_max)
      skip_to(c, last_keyframe_);
    else
      skip_to_next_keyframe(c);
    break;
  }
}

void UnitQueue::push(std::shared_ptr<Unit> unit) {
  unit->seq_ = next_seq_++;
  unit->offset_ = next_offset_;
  next_offset_ += unit->size_;
  if (unit->keyframe_) {
    have_keyframe_ = true;
    last_keyframe_ = unit->seq_;
  }
  const bool keyframe = unit->keyframe_;
  const uint64_t seq = unit->seq_;
  units_.push_back(std::move(unit));
  for (ClientCursor *c : cursors_) {
    if (c->waiting) {
      if (keyframe || !c->waiting_keyframe) {
        c->waiting = false;
        c->recovering = false;
        c->next_seq = seq;
      } else if (c->recovering) {
        c->units_skipped++;  // a frame it would have had, had it kept up
      }
    } else if (c->delivery != Delivery::Stream) {
      skip_to_newest(c);  // holds nothing older: the queue can let it go
    } else {
      apply_policy(c);
    }
  }
  trim();
}

void UnitQueue::trim() {
  if (units_.empty())
    return;
  uint64_t keep = next_seq_;  // everything may go
  for (const ClientCursor *c : cursors_)
    if (!c->waiting && !c->slow)
      keep = std::min(keep, c->next_seq);
  // Keep a join point for the next client, within the hard limit.
  if ((policy_.sync_method == SyncMethod::LatestKeyframe ||
       policy_.sync_method == SyncMethod::BurstKeyframe) &&
      have_keyframe_ && last_keyframe_ >= units_.front()->seq_ &&
      (policy_.units_max <= 0 || amount(last_keyframe_, policy_.unit_format) < policy_.units_max)) {
    uint64_t join = last_keyframe_;
    if (policy_.sync_method == SyncMethod::BurstKeyframe)
      join_point(&join);
    keep = std::min(keep, join);
  }
  while (!units_.empty() && units_.front()->seq_ < keep) {
    if (policy_.time_min > 0 && amount(units_.front()->seq_, UnitFormat::Time) <= policy_.time_min)
      break;
    units_.pop_front();
  }
}

bool UnitQueue::has_next(const ClientCursor *c) const {
  if (c->wants_header && c->header_gen != header_gen_ && c->header_pos < header_.size())
    return true;
  if (c->delivery == Delivery::Pull && c->credits == 0)
    return false;
  return !c->waiting && c->next_seq < next_seq_;
}

UnitRef UnitQueue::next(ClientCursor *c) {
  if (!c->wants_header)
    c->header_gen = header_gen_;
  if (c->header_gen != header_gen_) {
    if (c->header_pos < header_.size())
      return header_[c->header_pos++];
    c->header_gen = header_gen_;
    c->header_pos = 0;
  }
  if (c->delivery == Delivery::Pull && c->credits == 0)
    return nullptr;
  if (c->waiting || c->next_seq >= next_seq_)
    return nullptr;
  if (c->delivery != Delivery::Stream)
    skip_to_newest(c);
  if (c->next_seq < units_.front()->seq_)  // only a slow client the caller failed to drop
    skip_to(c, units_.front()->seq_);
  UnitRef unit = units_[c->next_seq - units_.front()->seq_];
  c->next_seq++;
  c->units_sent++;
  if (c->delivery == Delivery::Pull)
    c->credits--;
  return unit;
}

uint64_t UnitQueue::queued_bytes() const {
  if (units_.empty())
    return 0;
  return next_offset_ - units_.front()->offset_;
}

}  // namespace camcast
