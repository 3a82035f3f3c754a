// The fan-out's lag policy, without sockets: join points, recovery to keyframes, hard limits,
// memory bounds and header changes.
#include "fanout/drop_gate.h"
#include "fanout/unit_queue.h"

#include <gst/gst.h>

#include <cstring>

using namespace camcast;

namespace {

constexpr GstClockTime kFrame = GST_SECOND / 30;

// Frame i of a stream with a keyframe every `gop` frames; its payload starts with i.
std::shared_ptr<Unit> frame(uint32_t i, uint32_t gop = 10, size_t size = 1000) {
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, size, nullptr);
  gst_buffer_fill(buf, 0, &i, sizeof i);
  auto unit = std::make_shared<Unit>(buf, i % gop == 0, i * kFrame);
  gst_buffer_unref(buf);
  return unit;
}

uint32_t index_of(const UnitRef &u) {
  uint32_t i;
  gst_buffer_extract(u->buffer(), 0, &i, sizeof i);
  return i;
}

UnitRef header_unit() {
  GstBuffer *buf = gst_buffer_new_wrapped(g_strdup("HEADER"), 6);
  auto unit = std::make_shared<Unit>(buf, true, GST_CLOCK_TIME_NONE);
  gst_buffer_unref(buf);
  return unit;
}

LagPolicy buffers_policy(int64_t soft, int64_t hard) {
  LagPolicy p;
  p.unit_format = UnitFormat::Buffers;
  p.units_soft_max = soft;
  p.units_max = hard;
  return p;
}

void test_join_latest_keyframe_after_header() {
  UnitQueue q;
  q.set_policy(buffers_policy(-1, -1));
  q.set_stream_header({header_unit()});
  for (uint32_t i = 0; i < 25; i++)
    q.push(frame(i));
  ClientCursor c;
  q.attach(&c);
  UnitRef first = q.next(&c);
  g_assert_nonnull(first);
  g_assert_cmpuint(first->size(), ==, 6);  // the header comes first
  UnitRef second = q.next(&c);
  g_assert_cmpuint(index_of(second), ==, 20);  // then the newest keyframe
  g_assert_true(second->keyframe());
  for (uint32_t i = 21; i < 25; i++)
    g_assert_cmpuint(index_of(q.next(&c)), ==, i);
  g_assert_null(q.next(&c));
  q.push(frame(25));
  g_assert_cmpuint(index_of(q.next(&c)), ==, 25);
  q.detach(&c);
}

void test_join_next_keyframe_and_latest() {
  UnitQueue q;
  LagPolicy p = buffers_policy(-1, -1);
  p.sync_method = SyncMethod::NextKeyframe;
  q.set_policy(p);
  for (uint32_t i = 0; i < 15; i++)
    q.push(frame(i));
  ClientCursor waiting;
  q.attach(&waiting);
  p.sync_method = SyncMethod::NextBuffer;
  q.set_policy(p);
  ClientCursor latest;
  q.attach(&latest);
  g_assert_false(q.has_next(&waiting));
  g_assert_false(q.has_next(&latest));
  for (uint32_t i = 15; i < 21; i++)
    q.push(frame(i));
  g_assert_cmpuint(index_of(q.next(&latest)), ==, 15);   // from the next buffer, keyframe or not
  g_assert_cmpuint(index_of(q.next(&waiting)), ==, 20);  // only from a keyframe
  q.detach(&waiting);
  q.detach(&latest);
}

void test_burst_keyframe() {
  UnitQueue q;
  LagPolicy p = buffers_policy(-1, -1);
  p.sync_method = SyncMethod::BurstKeyframe;
  p.burst_format = UnitFormat::Buffers;
  p.burst_value = 12;
  q.set_policy(p);
  ClientCursor holder;  // keeps the whole history queued
  q.attach(&holder);
  for (uint32_t i = 0; i < 35; i++)
    q.push(frame(i));
  ClientCursor c;
  q.attach(&c);
  // The newest keyframe with at least 12 buffers after it: 20 (15 buffers), not 30 (5).
  g_assert_cmpuint(index_of(q.next(&c)), ==, 20);
  q.detach(&c);
  q.detach(&holder);
}

void test_soft_limit_recovers_to_newest_keyframe() {
  UnitQueue q;
  q.set_policy(buffers_policy(15, 100));
  ClientCursor fast, slow;
  q.attach(&fast);
  q.attach(&slow);
  uint32_t slow_expect = 0;
  uint32_t discontinuities = 0;
  for (uint32_t i = 0; i < 200; i++) {
    q.push(frame(i));
    for (UnitRef u; (u = q.next(&fast));)
      g_assert_cmpuint(index_of(u), ==, i);
    if (i % 10 == 9) {  // the slow client reads one frame per 10 pushed
      UnitRef u = q.next(&slow);
      if (!u)
        continue;
      uint32_t got = index_of(u);
      if (got != slow_expect) {
        // Every jump lands on a keyframe: a decoder can resume there.
        g_assert_true(u->keyframe());
        discontinuities++;
      }
      slow_expect = got + 1;
    }
    g_assert_cmpint(q.lag_in(&slow, UnitFormat::Buffers), <, 15);
    // Memory: never more than the soft limit plus one GOP is held for anyone.
    g_assert_cmpuint(q.queued_units(), <=, 15 + 10);
  }
  g_assert_false(slow.slow);
  g_assert_cmpuint(discontinuities, >, 0);
  g_assert_cmpuint(slow.units_skipped, >, 100);
  g_assert_cmpuint(fast.units_skipped, ==, 0);
  g_assert_cmpuint(fast.units_sent, ==, 200);
  q.detach(&fast);
  q.detach(&slow);
}

void test_gop_longer_than_soft_limit_waits_for_next_keyframe() {
  UnitQueue q;
  q.set_policy(buffers_policy(5, 100));
  ClientCursor c;
  for (uint32_t i = 0; i < 3; i++)
    q.push(frame(i, 30));
  q.attach(&c);  // joins at frame 0
  for (uint32_t i = 3; i < 10; i++)
    q.push(frame(i, 30));
  // 10 behind with the newest keyframe (0) behind it: it must wait for frame 30.
  g_assert_false(q.has_next(&c));
  for (uint32_t i = 10; i < 31; i++)
    q.push(frame(i, 30));
  g_assert_cmpuint(index_of(q.next(&c)), ==, 30);
  g_assert_cmpuint(c.units_skipped, ==, 30);
  q.detach(&c);
}

void test_hard_limit_marks_slow() {
  UnitQueue q;
  LagPolicy p = buffers_policy(-1, 20);
  p.recover_policy = RecoverPolicy::None;
  q.set_policy(p);
  ClientCursor c;
  q.attach(&c);
  for (uint32_t i = 0; i < 19; i++)
    q.push(frame(i));
  g_assert_false(c.slow);
  q.push(frame(19));
  g_assert_true(c.slow);
  // A slow client no longer holds the queue back.
  for (uint32_t i = 20; i < 60; i++)
    q.push(frame(i));
  g_assert_cmpuint(q.queued_units(), <=, 10);
  q.detach(&c);
}

void test_time_and_bytes_units() {
  UnitQueue q;
  LagPolicy p;
  p.unit_format = UnitFormat::Time;
  p.units_soft_max = -1;
  p.units_max = -1;
  q.set_policy(p);
  ClientCursor c;
  q.attach(&c);
  for (uint32_t i = 0; i < 31; i++)
    q.push(frame(i, 10, 500));
  g_assert_cmpint(q.lag_in(&c, UnitFormat::Time), ==, int64_t(30 * kFrame));
  g_assert_cmpint(q.lag_in(&c, UnitFormat::Bytes), ==, 31 * 500);
  g_assert_cmpint(q.lag_in(&c, UnitFormat::Buffers), ==, 31);
  q.detach(&c);
}

void test_header_change_resends_and_resumes_after_it() {
  UnitQueue q;
  q.set_policy(buffers_policy(-1, -1));
  q.set_stream_header({header_unit()});
  ClientCursor c;
  q.attach(&c);
  for (uint32_t i = 0; i < 5; i++)
    q.push(frame(i));
  g_assert_cmpuint(q.next(&c)->size(), ==, 6);
  g_assert_cmpuint(index_of(q.next(&c)), ==, 0);
  q.set_stream_header({header_unit()});
  q.push(frame(10));
  // The new header, then what came after it; frames 1..4 of the old stream are skipped.
  g_assert_cmpuint(q.next(&c)->size(), ==, 6);
  g_assert_cmpuint(index_of(q.next(&c)), ==, 10);
  g_assert_cmpuint(c.units_skipped, ==, 4);
  // A client joining now gets no frame of the old stream.
  ClientCursor late;
  q.attach(&late);
  g_assert_cmpuint(q.next(&late)->size(), ==, 6);
  g_assert_cmpuint(index_of(q.next(&late)), ==, 10);
  q.detach(&c);
  q.detach(&late);
}

void test_empty_queue_keeps_only_a_join_point() {
  UnitQueue q;
  q.set_policy(buffers_policy(-1, 100));
  for (uint32_t i = 0; i < 95; i++)
    q.push(frame(i));
  // No client: only the newest GOP stays, for the next joiner.
  g_assert_cmpuint(q.queued_units(), ==, 5);
  LagPolicy p = buffers_policy(-1, 100);
  p.sync_method = SyncMethod::NextBuffer;
  q.set_policy(p);
  q.push(frame(95));
  g_assert_cmpuint(q.queued_units(), ==, 0);
}

// Newest: a client that is busy misses frames and then gets the newest; the queue keeps only
// the newest frame however slow the client is (every frame is a keyframe, as with JPEG).
void test_newest_delivery_holds_no_backlog() {
  UnitQueue q;
  q.set_policy(buffers_policy(-1, -1));
  ClientCursor fast, slow;
  fast.delivery = slow.delivery = Delivery::Newest;
  q.push(frame(0, 1));
  q.attach(&fast);
  q.attach(&slow);
  g_assert_cmpuint(index_of(q.next(&fast)), ==, 0);
  g_assert_cmpuint(index_of(q.next(&slow)), ==, 0);
  for (uint32_t i = 1; i <= 20; i++) {
    q.push(frame(i, 1));
    g_assert_cmpuint(index_of(q.next(&fast)), ==, i);  // keeps up: every frame
    g_assert_null(q.next(&fast));
    g_assert_cmpuint(q.queued_units(), ==, 1);  // the slow one pins nothing
  }
  g_assert_true(q.has_next(&slow));
  g_assert_cmpuint(index_of(q.next(&slow)), ==, 20);  // ready again: the newest, not frame 1
  g_assert_null(q.next(&slow));
  g_assert_cmpuint(slow.units_skipped, ==, 19);
  g_assert_cmpuint(slow.units_sent, ==, 2);
  g_assert_cmpuint(fast.units_skipped, ==, 0);
  q.detach(&fast);
  q.detach(&slow);
}

// Pull: nothing without a request; a request gets the newest frame not yet sent, or waits for
// the next one; the stream header is not gated.
void test_pull_delivery_follows_requests() {
  UnitQueue q;
  q.set_policy(buffers_policy(-1, -1));
  q.set_stream_header({header_unit()});
  ClientCursor c;
  c.delivery = Delivery::Pull;
  q.push(frame(0, 1));
  q.attach(&c);
  g_assert_true(q.has_next(&c));
  UnitRef h = q.next(&c);
  g_assert_cmpuint(gst_buffer_get_size(h->buffer()), ==, 6);  // the header, without a request
  g_assert_false(q.has_next(&c));
  q.push(frame(1, 1));
  q.push(frame(2, 1));
  g_assert_null(q.next(&c));
  c.credits = 1;
  g_assert_cmpuint(index_of(q.next(&c)), ==, 2);  // the newest, not the oldest unseen
  g_assert_null(q.next(&c));                      // the credit is spent
  c.credits = 1;
  g_assert_null(q.next(&c));  // seen it all: waits for the next frame
  q.push(frame(3, 1));
  g_assert_true(q.has_next(&c));
  g_assert_cmpuint(index_of(q.next(&c)), ==, 3);
  g_assert_cmpuint(c.credits, ==, 0);
  g_assert_cmpuint(c.units_skipped, ==, 2);
  q.detach(&c);
}

// The hand-off rule: bounded in units and bytes; a unit that does not fit flushes what is queued
// and everything up to the next keyframe is dropped, counted.
void test_drop_gate() {
  DropGate gate(3, 1000);
  g_assert_true(gate.admit(100, true).queue);
  g_assert_true(gate.admit(100, false).queue);
  g_assert_true(gate.admit(100, false).queue);
  DropGate::Verdict v = gate.admit(100, false);  // a fourth unit: over the unit bound
  g_assert_true(v.flush);
  g_assert_false(v.queue);
  g_assert_cmpuint(gate.dropped(), ==, 4);
  g_assert_cmpuint(gate.units(), ==, 0);
  v = gate.admit(100, false);  // still waiting for a keyframe
  g_assert_false(v.flush);
  g_assert_false(v.queue);
  g_assert_true(gate.admit(900, true).queue);  // a keyframe starts again
  v = gate.admit(200, true);                   // over the byte bound: flush, keep the keyframe
  g_assert_true(v.flush);
  g_assert_true(v.queue);
  g_assert_cmpuint(gate.units(), ==, 1);
  g_assert_cmpuint(gate.bytes(), ==, 200);
  gate.taken(200);
  g_assert_false(gate.admit(1001, true).queue);  // never fits
  gate.interrupt();
  g_assert_false(gate.admit(10, false).queue);
  g_assert_true(gate.admit(10, true).queue);
  g_assert_cmpuint(gate.dropped(), ==, 8);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/unit-queue/join-latest-keyframe-after-header",
                  test_join_latest_keyframe_after_header);
  g_test_add_func("/unit-queue/join-next-keyframe-and-latest", test_join_next_keyframe_and_latest);
  g_test_add_func("/unit-queue/burst-keyframe", test_burst_keyframe);
  g_test_add_func("/unit-queue/soft-limit-recovers-to-newest-keyframe",
                  test_soft_limit_recovers_to_newest_keyframe);
  g_test_add_func("/unit-queue/long-gop-waits-for-next-keyframe",
                  test_gop_longer_than_soft_limit_waits_for_next_keyframe);
  g_test_add_func("/unit-queue/hard-limit-marks-slow", test_hard_limit_marks_slow);
  g_test_add_func("/unit-queue/time-and-bytes-units", test_time_and_bytes_units);
  g_test_add_func("/unit-queue/header-change", test_header_change_resends_and_resumes_after_it);
  g_test_add_func("/unit-queue/newest-delivery", test_newest_delivery_holds_no_backlog);
  g_test_add_func("/unit-queue/pull-delivery", test_pull_delivery_follows_requests);
  g_test_add_func("/unit-queue/empty-queue-keeps-join-point",
                  test_empty_queue_keeps_only_a_join_point);
  g_test_add_func("/unit-queue/drop-gate", test_drop_gate);
  return g_test_run();
}
