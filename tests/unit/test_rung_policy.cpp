// Which rung a viewer is on, with made-up links: a fast link never leaves the top; a narrow one
// comes down at once to the rung that fits and goes back up when the link has room, no sooner
// than the hold; a step up that fails makes the next wait longer; a pinned rung holds.
#include "fanout/rung_policy.h"

#include <glib.h>

#include <random>

using namespace camcast;

namespace {

const std::vector<uint64_t> kLadder = {2000000, 500000, 150000};  // 720p, 360p, 180p
constexpr int64_t kTick = 250000;                                 // the server's tick

// Feeds the policy a link for `seconds`, from `*now` on; returns the rung it ends on.
size_t run(RungPolicy *policy, size_t rung, int64_t *now, double seconds, int64_t lag_us,
           uint64_t link_bps, bool app_limited = false, int pinned = -1) {
  for (int64_t end = *now + int64_t(seconds * 1e6); *now < end; *now += kTick)
    rung = policy->choose(rung, kLadder, {*now, lag_us, link_bps, app_limited}, pinned);
  return rung;
}

void test_fast_link_stays_on_top() {
  RungPolicy policy;
  int64_t now = 0;
  // A LAN: little lag, the link measured at 100 Mbit/s now and then, mostly app-limited.
  size_t rung = 0;
  for (int i = 0; i < 240; i++, now += kTick) {
    rung = policy.choose(rung, kLadder, {now, 5000 + (i % 3) * 20000, 100000000, i % 4 != 0});
    g_assert_cmpuint(rung, ==, 0);
  }
}

// A viewer on the top rung whose link measures `link_bps` (two seconds of it), then falls behind.
size_t behind_on(RungPolicy *policy, int64_t *now, uint64_t link_bps, int64_t lag_us = 300000) {
  size_t rung = run(policy, 0, now, 2, 20000, link_bps);  // past the join's settling
  g_assert_cmpuint(rung, ==, 0);
  return policy->choose(rung, kLadder, {*now, lag_us, link_bps, false});
}

void test_narrow_link_comes_down_at_once() {
  RungPolicy policy;
  int64_t now = 0;
  // 700 kbit/s: the first tick behind takes it to the 500 kbit/s rung (0.8 of 700 = 560).
  size_t rung = behind_on(&policy, &now, 700000);
  g_assert_cmpuint(rung, ==, 1);
  // Not yet measured: one rung down, once a second tick finds it still behind (the first may
  // be a keyframe's burst, drained by the next).
  RungPolicy blind;
  int64_t b = 0;
  g_assert_cmpuint(run(&blind, 0, &b, 2, 10000, 0, true), ==, 0);
  g_assert_cmpuint(blind.choose(0, kLadder, {b, 300000, 0, true}), ==, 0);
  g_assert_cmpuint(blind.choose(0, kLadder, {b + kTick, 450000, 0, true}), ==, 1);
  // A keyframe's burst on a link that carries it: 266 ms behind for a tick, drained by the next.
  RungPolicy burst;
  int64_t k = 0;
  g_assert_cmpuint(run(&burst, 0, &k, 2, 0, 0, true), ==, 0);
  for (int i = 0; i < 40; i++, k += kTick)
    g_assert_cmpuint(burst.choose(0, kLadder,
                                  {k,
                                   i % 8 == 0   ? 266000
                                   : i % 8 == 1 ? 40000
                                                : 0,
                                   0, true}),
                     ==, 0);
  // A link a little narrower than the rung: the lag creeps up, in whole frames, never drained
  // (the lags of a 360p viewer in the second after its link went to 500 kbit/s, one tick each).
  // Down before it reaches down_lag_us.
  RungPolicy creeping;
  int64_t c = 0;
  size_t on = run(&creeping, 1, &c, 4, 0, 0, true);
  g_assert_cmpuint(on, ==, 1);
  const int64_t creep[] = {66659, 66657, 66678, 33307, 99904, 66230, 133304, 166616};
  size_t ticks = 0;
  for (; ticks < G_N_ELEMENTS(creep) && on == 1; ticks++, c += kTick)
    on = creeping.choose(on, kLadder, {c, creep[ticks], 0, true});
  g_assert_cmpuint(on, ==, 2);
  g_assert_cmpint(creep[ticks - 1], <, RungSettings().down_lag_us);
  // Just after a move (or a join) the new rung's keyframe is draining: its lag counts half, and
  // only once it has not come down for a second.
  RungPolicy settling;
  for (int64_t t = 0; t < 750000; t += kTick)
    g_assert_cmpuint(settling.choose(0, kLadder, {t, 300000 + t, 0, true}), ==, 0);
  g_assert_cmpuint(settling.choose(0, kLadder, {750000, 1050000, 0, true}), ==, 1);
  // Very narrow: straight to the bottom.
  RungPolicy narrow;
  int64_t t = 0;
  g_assert_cmpuint(behind_on(&narrow, &t, 300000), ==, 2);
  // A link measured narrower than the rung, a little behind already: down before the lag grows.
  RungPolicy measured;
  t = 0;
  g_assert_cmpuint(behind_on(&measured, &t, 1500000, 80000), ==, 1);
  // A rung never measured (its encoder idled from the start) is taken at a quarter of the one
  // above: 500 kbit/s of 2 Mbit/s, too much for 0.8 of 600 kbit/s.
  RungPolicy unmeasured;
  t = 0;
  for (; t < 2000000; t += kTick)
    unmeasured.choose(0, {2000000, 0, 0}, {t, 20000, 600000, false});
  g_assert_cmpuint(unmeasured.choose(0, {2000000, 0, 0}, {t, 300000, 600000, false}), ==, 2);
  // On the rung that fits, with the link still 700 kbit/s, it stays (short of the headroom).
  g_assert_cmpuint(run(&policy, rung, &now, 60, 20000, 700000), ==, 1);
  // A link measured at 4 Mbit/s for seconds that narrows to 500 kbit/s: the first measure of the
  // narrow link, lower than the window's median, says where to — 180p (0.8 of 500 kbit/s does
  // not carry 360p's 500), not one rung down.
  RungPolicy dropped;
  t = 0;
  g_assert_cmpuint(run(&dropped, 0, &t, 8, 20000, 4000000), ==, 0);
  g_assert_cmpuint(dropped.choose(0, kLadder, {t, 1100000, 500000, false}), ==, 2);
  // Down there, what was measured of the wider link is forgotten, and so is what the fall's own
  // bursts read (acknowledged in lumps): no step back up on them.
  g_assert_cmpuint(dropped.choose(2, kLadder, {t + kTick, 80000, 1300000, false}), ==, 2);
  t += 2 * kTick;
  g_assert_cmpuint(run(&dropped, 2, &t, 10, 10000, 0, true), ==, 2);
}

// Fallen behind with no measure of the link but what TCP delivered while it drained (resending
// what the wider link let it send: its writes never waited): that says where to, and is the link
// as last known (a probe's size goes by it).
void test_fall_measured_while_draining() {
  RungPolicy policy;
  int64_t now = 0;
  g_assert_cmpuint(run(&policy, 0, &now, 2, 10000, 0, true), ==, 0);
  LinkSample x{now, 133000, 0, true};
  x.draining_bps = 370000;
  g_assert_cmpuint(policy.choose(0, kLadder, x), ==, 0);  // one tick: it may be a burst
  x.now_us += kTick;
  x.lag_us = 333000;
  g_assert_cmpuint(policy.choose(0, kLadder, x), ==, 2);  // 0.8 of 370 kbit/s: 180p
  g_assert_cmpuint(policy.last_link_bps(), ==, 370000);
}

// One sample that shows the link many times faster than it is (a burst of acknowledgements)
// does not send it up: the link is the median of what was measured.
void test_one_fast_sample_is_not_the_link() {
  RungPolicy policy;
  int64_t now = 0;
  size_t rung = behind_on(&policy, &now, 700000);
  g_assert_cmpuint(rung, ==, 1);
  for (int i = 0; i < 120; i++, now += kTick)
    rung = policy.choose(rung, kLadder, {now, 10000, i % 20 == 0 ? 20000000u : 700000u, false});
  g_assert_cmpuint(rung, ==, 1);
}

void test_back_up_when_the_link_recovers() {
  RungPolicy policy;
  int64_t now = 0;
  size_t rung = behind_on(&policy, &now, 400000);
  g_assert_cmpuint(rung, ==, 2);
  // The link is back at 4 Mbit/s (a keyframe burst measures it): up within the hold, straight
  // to the top since it fits there too.
  const int64_t recovered = now;
  while (rung != 0 && now - recovered < 15000000) {
    rung = policy.choose(rung, kLadder, {now, 10000, 4000000, false});
    now += kTick;
  }
  g_assert_cmpuint(rung, ==, 0);
  g_assert_cmpint(now - recovered, <=, RungSettings().hold_us + kTick);
}

void test_failed_steps_up_wait_longer() {
  RungPolicy policy;
  int64_t now = 0;
  size_t rung = behind_on(&policy, &now, 700000, 400000);
  g_assert_cmpuint(rung, ==, 1);
  // The link says 2.8 Mbit/s (enough for the top with headroom) but the top does not play: each
  // step up falls behind at once, and each time the next try waits twice as long.
  int64_t last_up = -1, gap = 0, previous_gap = 0;
  int ups = 0;
  while (now < 120000000) {
    const size_t next =
        policy.choose(rung, kLadder, {now, rung == 0 ? 400000 : 10000, 2800000, false});
    if (next < rung) {
      if (last_up >= 0) {
        previous_gap = gap;
        gap = now - last_up;
        if (previous_gap)
          g_assert_cmpint(gap, >, previous_gap + 2000000);
      }
      last_up = now;
      ups++;
    }
    rung = next;
    now += kTick;
  }
  g_assert_cmpint(ups, >=, 3);
  g_assert_cmpint(ups, <=, 6);  // 4, 8, 16, 32 s of hold, then the 60 s at most
  g_assert_cmpint(policy.hold_us(), ==, RungSettings().max_hold_us);
}

// Fallen behind with nothing measured: the rung it could not keep up with counts as a measure of
// the link — no blind step back up to it for the longest hold, then one.
void test_unmeasured_fall_is_not_tried_blind() {
  RungPolicy policy;
  int64_t now = 0;
  g_assert_cmpuint(run(&policy, 0, &now, 2, 10000, 0, true), ==, 0);
  size_t rung = run(&policy, 0, &now, 0.5, 400000, 0, true);  // two ticks behind
  g_assert_cmpuint(rung, ==, 1);
  g_assert_cmpuint(policy.last_link_bps(), ==, kLadder[0]);
  rung = run(&policy, rung, &now, 50, 10000, 0, true);
  g_assert_cmpuint(rung, ==, 1);
  rung = run(&policy, rung, &now, 20, 10000, 0, true);
  g_assert_cmpuint(rung, ==, 0);
}

// A link measured narrow, then quiet (the viewer on a rung that fits sends less than the link
// takes, so the kernel measures nothing more): no blind step up while the last measure says the
// next rung does not fit — for the longest hold, then it is tried again.
void test_measured_narrow_is_not_tried_blind() {
  RungPolicy policy;
  int64_t now = 0;
  size_t rung = behind_on(&policy, &now, 700000);
  g_assert_cmpuint(rung, ==, 1);
  rung = run(&policy, rung, &now, 50, 10000, 0, true);
  g_assert_cmpuint(rung, ==, 1);
  rung = run(&policy, rung, &now, 20, 10000, 0, true);
  g_assert_cmpuint(rung, ==, 0);
}

// A link that just got narrower holds in its queues what the wider one let TCP send: the
// round trip grows while the viewer's own lag stays small. That is being behind too.
void test_queue_in_the_network_counts() {
  RungPolicy policy;
  int64_t now = 0;
  size_t rung = 0;
  for (; now < 3000000; now += kTick)  // 2 ms round trips
    rung = policy.choose(rung, kLadder, {now, 10000, 0, true, 2000});
  g_assert_cmpuint(rung, ==, 0);
  rung = policy.choose(rung, kLadder, {now, 10000, 0, true, 402000});
  g_assert_cmpuint(rung, ==, 0);  // one tick: it may be a burst
  rung = policy.choose(rung, kLadder, {now + kTick, 10000, 0, true, 402000});
  g_assert_cmpuint(rung, ==, 1);
}

// Below the top, quiet (the rung fits, so nothing else measures the link): a probe after 4 s on
// the rung, then twice as long after each one that found no room; none on the top. When the
// link widens, the next probe finds room, and up it goes: to the top at once (4 Mbit/s is room
// for 2 Mbit/s).
void test_probes() {
  RungPolicy policy;
  int64_t now = 0;
  size_t rung = behind_on(&policy, &now, 700000);
  g_assert_cmpuint(rung, ==, 1);
  std::vector<int64_t> probes;
  for (int64_t end = now + 40000000; now < end; now += kTick) {
    rung = policy.choose(rung, kLadder, {now, 10000, 0, true});
    if (const size_t bytes = policy.probe_size(rung, kLadder, now)) {
      g_assert_cmpuint(bytes, ==, 700000 / 8 / 10);  // a tenth of a second of the link
      probes.push_back(now);
      policy.probed(rung, kLadder, 700000, now);
    }
  }
  g_assert_cmpuint(rung, ==, 1);
  g_assert_cmpuint(probes.size(), >=, 3);
  for (size_t i = 2; i < probes.size(); i++)
    g_assert_cmpint(probes[i] - probes[i - 1], >=, probes[i - 1] - probes[i - 2]);
  g_assert_cmpint(probes[1] - probes[0], >, RungSettings().probe_every_us);
  g_assert_cmpint(probes.back() - probes[probes.size() - 2], ==, RungSettings().max_probe_every_us);

  const int64_t widened = now;
  int found = 0;
  for (; rung == 1 && now < widened + 30000000; now += kTick) {
    rung = policy.choose(rung, kLadder, {now, 10000, 0, true});
    if (policy.probe_size(rung, kLadder, now)) {
      policy.probed(rung, kLadder, 4000000, now);
      found++;
    }
  }
  g_assert_cmpuint(rung, ==, 0);
  g_assert_cmpint(found, ==, 1);
  g_assert_cmpint(now - widened, <=, RungSettings().max_probe_every_us + 2000000);

  // From the bottom, the link's narrow measures still in the window: the room a probe found
  // takes it as far as it reaches, in one step (a step up without it goes one rung at a time).
  RungPolicy low;
  now = 0;
  rung = behind_on(&low, &now, 300000);
  g_assert_cmpuint(rung, ==, 2);
  for (const int64_t end = now + 30000000; rung == 2 && now < end; now += kTick) {
    rung = low.choose(rung, kLadder, {now, 10000, 0, true});
    if (low.probe_size(rung, kLadder, now))
      low.probed(rung, kLadder, 4000000, now);
  }
  g_assert_cmpuint(rung, ==, 0);

  RungPolicy top;
  int64_t t = 0;
  run(&top, 0, &t, 10, 10000, 0, true);
  g_assert_cmpuint(top.probe_size(0, kLadder, t), ==, 0);
}

// Where a viewer starts, from the probe sent before anything else: the top where the link
// carries it, unknown or not; below it the rung the measure has room for, with probe_headroom
// (a probe reads high by what a link lets through at once); a link found narrow is not tried
// one rung up blind, and gets probes that can take it up.
void test_start_rung() {
  const double room = RungSettings().probe_headroom;
  RungPolicy fast, unknown, not_yet;
  g_assert_cmpuint(fast.start_rung(kLadder, 100000000, 0), ==, 0);
  g_assert_cmpuint(fast.start_rung(kLadder, uint64_t(2000000 * room), 0), ==, 0);
  g_assert_cmpuint(unknown.start_rung(kLadder, 0, 0), ==, 0);
  // (the top's bitrate not known yet: nothing to fit, the top)
  g_assert_cmpuint(not_yet.start_rung({0, 0, 0}, 300000, 0), ==, 0);
  RungPolicy edge;
  g_assert_cmpuint(edge.start_rung(kLadder, uint64_t(2000000 * room) - 1, 0), ==, 1);
  RungPolicy slow, slower;
  g_assert_cmpuint(slow.start_rung({2000000, 0, 0}, 1000000, 0), ==, 1);  // 360p taken at 500k
  g_assert_cmpuint(slower.start_rung(kLadder, 1, 0), ==, 2);
  // Started on 360p over 1 Mbit/s measured: not tried at 720p blind; probed, and up with room.
  int64_t now = 0;
  size_t rung = 1;
  for (; now < 20000000; now += kTick)
    rung = slow.choose(rung, kLadder, {now, 10000, 0, true});
  g_assert_cmpuint(rung, ==, 1);
  for (const int64_t end = now + 20000000; rung == 1 && now < end; now += kTick) {
    rung = slow.choose(rung, kLadder, {now, 10000, 0, true});
    if (slow.probe_size(rung, kLadder, now))
      slow.probed(rung, kLadder, 4000000, now);
  }
  g_assert_cmpuint(rung, ==, 0);
}

// A join starts at the last keyframe, up to a GOP behind: on a link with room the lag drains by
// itself (here half a second each second from 1.4 s) and the viewer stays on top; one whose lag
// does not come down goes down.
void test_join_backlog_drains() {
  RungPolicy policy;
  int64_t now = 0;
  size_t rung = 0;
  for (int64_t lag = 1400000; lag > 20000; lag -= kTick / 2, now += kTick)
    rung = policy.choose(rung, kLadder, {now, lag, 0, true});
  g_assert_cmpuint(rung, ==, 0);
  RungPolicy stuck;
  now = 0;
  rung = 0;
  for (int i = 0; i < 12 && rung == 0; i++, now += kTick)
    rung = stuck.choose(rung, kLadder, {now, 600000, 0, true});
  g_assert_cmpuint(rung, ==, 1);
}

// Over RTP (a WebRTC viewer) the measure comes from its receiver reports, about one a second:
// the lag is only the round trip above its least, and a link that drops what it cannot carry
// shows as loss. 2 Mbit/s into 700 kbit/s loses 65 %: down to the 500 kbit/s rung once the join
// has settled, measured by what arrived; there it stays, the link known too narrow for the top.
// A little random loss (Wi-Fi, 2 %) is not a narrow link.
LinkSample report(int64_t now, uint64_t sent_bps, double loss) {
  LinkSample x{now, 0, uint64_t(double(sent_bps) * (1 - loss)), true, 40000};
  x.loss = loss;
  return x;
}

void test_loss_over_rtp() {
  RungPolicy policy;
  int64_t now = 0;
  size_t rung = 0;
  for (; now < 1000000; now += 1000000)
    rung = policy.choose(rung, kLadder, report(now, 2000000, 0.65));
  g_assert_cmpuint(rung, ==, 0);  // the join settling: its first report is no measure yet
  for (; now < 3000000 && rung == 0; now += 1000000)
    rung = policy.choose(rung, kLadder, report(now, 2000000, 0.65));
  g_assert_cmpuint(rung, ==, 1);
  for (; now < 60000000; now += 1000000) {
    rung = policy.choose(rung, kLadder, report(now, 500000, 0));
    g_assert_cmpuint(rung, ==, 1);
  }
  RungPolicy wifi;
  now = 0;
  for (rung = 0; now < 60000000; now += 1000000) {
    rung = wifi.choose(rung, kLadder, report(now, 2000000, (now / 1000000) % 2 ? 0.02 : 0.0));
    g_assert_cmpuint(rung, ==, 0);
  }
}

// Reports as a browser sends them with its NACKs, five a second, 40 packets each (720p at 2
// Mbit/s), on a link that loses 2 % at random: some single reports read over a tenth lost, but
// counted over enough packets the viewer stays on the top for a minute. A link that loses a
// third still takes it down within two seconds.
size_t rung_after_lossy_reports(double loss, int64_t until_us, bool *noisy) {
  std::mt19937 chance(29);  // the same draws every run (the engine's sequence is standard)
  RungPolicy policy;
  LossWindow window;
  uint32_t seq = 0;
  int32_t cumulative = 0;
  size_t rung = 0;
  for (int64_t now = 0; now < until_us && rung == 0; now += 200000) {
    int32_t in_report = 0;
    for (int i = 0; i < 40; i++)
      in_report += chance() % 1000 < uint32_t(loss * 1000) ? 1 : 0;
    seq += 40;
    cumulative += in_report;
    *noisy = *noisy || in_report >= 4;  // a tenth of one report
    LinkSample x = report(now, 2000000, double(in_report) / 40);
    double share;
    x.loss = window.add(now, seq, cumulative, &share) ? share : 0;
    rung = policy.choose(rung, kLadder, x);
  }
  return rung;
}

void test_loss_counted_over_enough_packets() {
  bool noisy = false;
  g_assert_cmpuint(rung_after_lossy_reports(0.02, 60000000, &noisy), ==, 0);
  g_assert_true(noisy);  // else this would prove nothing
  g_assert_cmpuint(rung_after_lossy_reports(0.33, 2000000, &noisy), >, 0);
  // The first report only starts the count; nothing new, or a sequence that jumped, counts none.
  LossWindow window(100, 2000000);
  double share = -1;
  g_assert_false(window.add(0, 1000, 0, &share));
  g_assert_false(window.add(100000, 1050, 5, &share));
  g_assert_true(window.add(200000, 1100, 10, &share));
  g_assert_cmpfloat(share, ==, 0.1);
  g_assert_true(window.add(2200000, 1110, 10, &share));  // few packets, but two seconds
  g_assert_cmpfloat(share, ==, 0.0);
  g_assert_false(window.add(4300000, 1110, 10, &share));
  g_assert_false(window.add(6400000, 1110 + (2u << 20), 10, &share));
}

void test_pinned_rung_holds() {
  RungPolicy policy;
  int64_t now = 0;
  g_assert_cmpuint(run(&policy, 0, &now, 10, 900000, 100000, false, 0), ==, 0);
  g_assert_cmpuint(run(&policy, 0, &now, 10, 0, 100000000, false, 2), ==, 2);
  g_assert_cmpuint(run(&policy, 2, &now, 1, 0, 100000000, false, 7), ==, 2);  // past the bottom
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/rung-policy/fast-link-stays-on-top", test_fast_link_stays_on_top);
  g_test_add_func("/rung-policy/narrow-link-comes-down-at-once",
                  test_narrow_link_comes_down_at_once);
  g_test_add_func("/rung-policy/fall-measured-while-draining", test_fall_measured_while_draining);
  g_test_add_func("/rung-policy/one-fast-sample-is-not-the-link",
                  test_one_fast_sample_is_not_the_link);
  g_test_add_func("/rung-policy/back-up-when-the-link-recovers",
                  test_back_up_when_the_link_recovers);
  g_test_add_func("/rung-policy/failed-steps-up-wait-longer", test_failed_steps_up_wait_longer);
  g_test_add_func("/rung-policy/unmeasured-fall-is-not-tried-blind",
                  test_unmeasured_fall_is_not_tried_blind);
  g_test_add_func("/rung-policy/measured-narrow-is-not-tried-blind",
                  test_measured_narrow_is_not_tried_blind);
  g_test_add_func("/rung-policy/queue-in-the-network-counts", test_queue_in_the_network_counts);
  g_test_add_func("/rung-policy/probes", test_probes);
  g_test_add_func("/rung-policy/start-rung", test_start_rung);
  g_test_add_func("/rung-policy/join-backlog-drains", test_join_backlog_drains);
  g_test_add_func("/rung-policy/loss-over-rtp", test_loss_over_rtp);
  g_test_add_func("/rung-policy/loss-counted-over-enough-packets",
                  test_loss_counted_over_enough_packets);
  g_test_add_func("/rung-policy/pinned-rung-holds", test_pinned_rung_holds);
  return g_test_run();
}
