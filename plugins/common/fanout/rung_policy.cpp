#include "fanout/rung_policy.h"

#include <algorithm>

namespace camcast {

uint64_t RungPolicy::link_bps() const {
  // Three measurements at least, and not the highest: the kernel's delivery rate now and then
  // shows a burst of acknowledgements as a link many times faster than it is (seen behind a
  // 700 kbit/s tbf), and one such sample must not send a viewer up.
  if (measures_.size() < 3)
    return 0;
  std::vector<uint64_t> bps;
  for (size_t i = measures_.size() > 7 ? measures_.size() - 7 : 0; i < measures_.size(); i++)
    bps.push_back(measures_[i].bps);
  std::nth_element(bps.begin(), bps.begin() + bps.size() / 2, bps.end());
  return bps[bps.size() / 2];
}

// Each rung's bitrate as measured; a rung not measured yet (its encoder has idled since the
// start) taken at a quarter of the one above, as a rung of half the width and height is about.
std::vector<uint64_t> RungPolicy::estimated(const std::vector<uint64_t> &measured) {
  std::vector<uint64_t> rates(measured);
  for (size_t r = 1; r < rates.size(); r++)
    if (!rates[r])
      rates[r] = rates[r - 1] / 4;
  return rates;
}

// The highest rung from `below` down whose bitrate fits `bps`; the lowest if none does.
size_t RungPolicy::fitting(const std::vector<uint64_t> &bitrates, uint64_t bps,
                           size_t below) const {
  for (size_t r = below; r < bitrates.size(); r++)
    if (bitrates[r] <= bps)
      return r;
  return bitrates.size() - 1;
}

// The round trip above the least of the last 30 s: what waits in queues on the way.
int64_t RungPolicy::queued_in_network(const LinkSample &x) {
  if (x.rtt_us <= 0)
    return 0;
  if (rtts_.empty() || x.now_us - rtts_.back().at_us >= 1000000)
    rtts_.push_back({x.now_us, x.rtt_us});
  else
    rtts_.back().rtt_us = std::min(rtts_.back().rtt_us, x.rtt_us);
  while (x.now_us - rtts_.front().at_us > 30000000)
    rtts_.pop_front();
  int64_t least = x.rtt_us;
  for (const Rtt &r : rtts_)
    least = std::min(least, r.rtt_us);
  return x.rtt_us - least;
}

size_t RungPolicy::start_rung(const std::vector<uint64_t> &measured, uint64_t bps, int64_t now_us) {
  const std::vector<uint64_t> bitrates = estimated(measured);
  if (!bps || bitrates.size() < 2)
    return 0;
  // What it found is how the link was last known (for probes, for steps up, for how much the
  // caller lets the kernel hold).
  last_link_ = bps;
  last_link_at_ = now_us;
  return fitting(bitrates, uint64_t(double(bps) / s_.probe_headroom), 0);
}

size_t RungPolicy::probe_size(size_t current, const std::vector<uint64_t> &measured,
                              int64_t now_us) {
  const std::vector<uint64_t> bitrates = estimated(measured);
  if (current == 0 || current >= bitrates.size() || calm_since_ < 0 ||
      now_us - calm_since_ < 1000000)
    return 0;
  const uint64_t link = link_bps();
  const uint64_t next = bitrates[current - 1];
  if (link && double(link) >= double(next) * s_.headroom)
    return 0;  // room is known: the step up comes with the hold
  if (current != probe_rung_ || next_probe_ < 0) {  // a new rung: probes start afresh
    probe_rung_ = current;
    probe_every_ = s_.probe_every_us;
    next_probe_ = now_us + probe_every_;
    probe_room_ = false;
  }
  if (now_us < next_probe_)
    return 0;
  next_probe_ = now_us + probe_every_;
  // A tenth of a second of the link as last measured (of the next rung when it never was): a
  // burst that holds the pictures behind it that long at most, if the link has not grown, and
  // one long enough to show its speed.
  const uint64_t bps = last_link_ ? last_link_ : next;
  return std::clamp<size_t>(size_t(bps / 8 / 10), 8192, 32768);
}

void RungPolicy::probed(size_t current, const std::vector<uint64_t> &measured, uint64_t bps,
                        int64_t now_us) {
  const std::vector<uint64_t> bitrates = estimated(measured);
  if (current == 0 || current >= bitrates.size() || current != probe_rung_ || !bps)
    return;
  last_link_ = bps;  // (not among the measures: it reads high, see probe_headroom)
  last_link_at_ = now_us;
  probe_room_ = double(bps) >= double(bitrates[current - 1]) * s_.probe_headroom;
  if (!probe_room_) {  // no room: the next probe waits twice as long
    probe_every_ = std::min(probe_every_ * 2, s_.max_probe_every_us);
    next_probe_ = now_us + probe_every_;
  }
}

size_t RungPolicy::choose(size_t current, const std::vector<uint64_t> &measured,
                          const LinkSample &x, int pinned) {
  const std::vector<uint64_t> bitrates = estimated(measured);
  const size_t n = bitrates.size();
  if (n <= 1)
    return 0;
  current = std::min(current, n - 1);
  // This tick's measure of the link (a full-rate one), 0 if none.
  // Over RTP a tenth lost: the link was full, and what arrived is its measure. (A keyframe's
  // burst through a short queue loses as much: webrtcbin 1.22 sends a picture's packets at once,
  // unpaced, and a viewer whose link cannot take the top's keyframes is better on a lower rung —
  // measured at 4 Mbit/s behind a 50 ms queue, 720p at 2 Mbit/s froze a second each GOP, 360p
  // played every frame.)
  const bool lossy = x.loss >= s_.down_loss;
  if (pinned < 0 && (current != last_rung_ || on_rung_since_ < 0)) {
    // Come down: what was measured before is of a link that carried more, or of the fall's own
    // bursts (TCP resending what the wider link let it send is acknowledged in lumps: 4 Mbit/s
    // dropping to 500 kbit/s read as 860 and 1290 kbit/s, and sent a viewer back up to 360p).
    came_down_ = on_rung_since_ >= 0 && current > last_rung_;
    if (came_down_)
      measures_.clear();
    last_rung_ = current;
    on_rung_since_ = x.now_us;
    lags_.clear();  // the lags of another rung say nothing of this one's
  }
  // Just moved: the new rung's keyframe is still draining, its lag no measure of the link yet
  // (nor, come down, its speed).
  const bool settling = x.now_us - on_rung_since_ < s_.settle_us;
  const uint64_t measured_now =
      (!x.app_limited || lossy) && !(settling && came_down_) ? x.delivery_bps : 0;
  if (measured_now)
    measures_.push_back({x.now_us, measured_now});
  while (!measures_.empty() && x.now_us - measures_.front().at_us > s_.window_us)
    measures_.pop_front();
  if (pinned >= 0)
    return std::min(size_t(pinned), n - 1);
  const int64_t queued = queued_in_network(x);
  const int64_t lag = queued + (settling ? x.lag_us / 2 : x.lag_us);

  if (lag < s_.calm_lag_us && x.loss < s_.calm_loss) {
    if (calm_since_ < 0)
      calm_since_ = x.now_us;
  } else {
    calm_since_ = -1;
  }
  const uint64_t link = link_bps();
  // The link as known now: the median, else the one measure just taken. It becomes the last
  // known only with a new measure: a probe's, newer than the window's, must not be undone by it.
  const uint64_t known = link ? link : measured_now;
  if (measured_now) {
    last_link_ = known;
    last_link_at_ = x.now_us;
  }

  // Behind, and not catching up: its lag has not come down by a tenth over the last second (a
  // join's or a keyframe's burst drains by itself on a link that carries the rung), and it is
  // past down_lag_us for a second tick running (the first tick of a burst is no sign yet: 4 Mbit/s
  // took a 720p keyframe with a tenth resent 266 ms behind, drained by the next) — or it never
  // drained in that second (never under half calm_lag_us: a frame), twice calm_lag_us behind
  // now: a link a little narrower than the rung (360p at 490 kbit/s on 500 kbit/s: 100 ms more a
  // second, p95 past 300 ms on screen 2 s before down_lag_us was). Four times as far behind is
  // behind anyway, once the move or join has settled, as is a viewer that lost a tenth of what was
  // sent (RTP: what the link could not carry was dropped, not queued).
  const int64_t before = lags_.empty() ? 0 : lags_.back().lag_us;
  lags_.push_back({x.now_us, queued + x.lag_us});
  while (x.now_us - lags_.front().at_us > 1000000)
    lags_.pop_front();
  int64_t least = lag;
  for (const Lag &l : lags_)
    least = std::min(least, l.lag_us);
  const bool not_catching_up = x.now_us - lags_.front().at_us >= 750000 &&
                               lags_.back().lag_us * 10 > lags_.front().lag_us * 9;
  const bool behind =
      (not_catching_up && ((lag >= s_.down_lag_us && before >= s_.calm_lag_us) ||
                           (2 * least >= s_.calm_lag_us && lag >= 2 * s_.calm_lag_us))) ||
      (!settling && (lag >= 4 * s_.down_lag_us || lossy));
  // Measured too narrow to carry the rung in `fill` of it (what a rung may take, with its
  // keyframes), and not quite keeping up.
  const bool narrow = link && bitrates[current] &&
                      double(link) * s_.fill < double(bitrates[current]) &&
                      (lag >= s_.calm_lag_us || x.loss >= s_.calm_loss);
  if ((behind || narrow) && current + 1 < n) {
    // To the rung the link fits, as known now: this tick's measure where it is lower than the
    // window's median (a link that just narrowed: the median still holds the wider one's —
    // 4 Mbit/s dropping to 500 kbit/s moved a viewer to 360p at 500 kbit/s, 450 ms behind), or
    // what was delivered while it drained (TCP resending what the wider link let it send; its
    // writes never waited, so nothing else measured: it went to 360p, then 180p a second later).
    uint64_t narrowest = known;
    for (const uint64_t bps : {measured_now, x.draining_bps})
      if (bps && (!narrowest || bps < narrowest))
        narrowest = bps;
    const size_t to = narrowest
                          ? fitting(bitrates, uint64_t(double(narrowest) * s_.fill), current + 1)
                          : current + 1;
    if (last_up_ >= 0 && x.now_us - last_up_ < s_.probe_us)
      hold_us_ = std::min(hold_us_ * 2, s_.max_hold_us);  // that step up was one too many
    // The link as last known: too narrow for this rung, or as measured now, if narrower (a
    // probe's size and the steps up go by it — a 2 Mbit/s guess made 25 KB probes on 500 kbit/s,
    // 400 ms behind).
    const uint64_t fell = narrowest ? std::min(narrowest, bitrates[current]) : bitrates[current];
    if (fell && (!last_link_ || last_link_ > fell)) {
      last_link_ = fell;
      last_link_at_ = x.now_us;
    }
    last_up_ = -1;
    calm_since_ = -1;
    return to;
  }

  if (current > 0 && calm_since_ >= 0) {
    const int64_t calm = x.now_us - calm_since_;
    auto fits = [&](size_t r) {
      return link && bitrates[r] && double(link) >= double(bitrates[r]) * s_.headroom;
    };
    // Without a measurement now, a step up is tried blind — unless the link was last measured
    // too narrow for it, within the longest hold (a narrow link is not tried again and again).
    const bool measured_narrow = last_link_ && x.now_us - last_link_at_ < s_.max_hold_us &&
                                 double(last_link_) < double(bitrates[current - 1]) * s_.headroom;
    // A probe found room: as far up as it says the link has room for.
    const bool probed_room = current == probe_rung_ && probe_room_;
    auto probe_fits = [&](size_t r) {
      return probed_room && bitrates[r] &&
             double(last_link_) >= double(bitrates[r]) * s_.probe_headroom;
    };
    if (((fits(current - 1) || probed_room) && calm >= hold_us_) ||
        (!link && !measured_narrow && calm >= std::max(hold_us_, s_.blind_hold_us))) {
      size_t to = current - 1;  // blind: one rung at a time
      while (to > 0 && (fits(to - 1) || probe_fits(to - 1)))
        to--;
      probe_room_ = false;
      last_up_ = x.now_us;
      calm_since_ = x.now_us;  // the next step up waits its own hold
      return to;
    }
  }
  // A long calm spell forgives the steps up that failed.
  if (calm_since_ >= 0 && x.now_us - calm_since_ >= s_.max_hold_us)
    hold_us_ = s_.hold_us;
  return current;
}

bool LossWindow::add(int64_t at_us, uint32_t sent, int32_t lost, double *share) {
  const uint32_t counted = sent - sent_;
  if (started_ && counted < min_packets_ && at_us - since_us_ < max_us_)
    return false;
  const bool was = started_;
  const int32_t lost_since = lost - lost_;
  started_ = true, since_us_ = at_us, sent_ = sent, lost_ = lost;
  if (!was || counted == 0 || counted > 1u << 20)
    return false;  // the first counts, nothing new, or a sequence that jumped: a start
  *share = std::clamp(double(lost_since) / double(counted), 0.0, 1.0);
  return true;
}

}  // namespace camcast
