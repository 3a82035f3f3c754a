#include "serving_sink_private.h"

#include <gst/video/video.h>

#define GST_CAT_DEFAULT gst_serving_sink_debug

using namespace camcast;

bool ServingSinkPrivate::wake() {
  bool woke;
  {
    std::lock_guard<std::mutex> lk(lock);
    woke = idle.update(1, g_get_monotonic_time(), 0) == IdleBranch::Change::Woke;
  }
  if (woke)
    request_keyframe(true);
  return woke;
}

// A new viewer should not wait a whole GOP: ask upstream for a keyframe (GstForceKeyUnit), no
// more often than kKeyframeRequestIntervalUs (one asked sooner goes at the next tick after it)
// — and always when the branch has just woken, since its encoder has seen nothing for a while.
void ServingSinkPrivate::request_keyframe(bool now) {
  {
    std::lock_guard<std::mutex> lk(lock);
    if (!keyframe_on_join && !now)
      return;
    if (!keyframes.ask(g_get_monotonic_time(), kKeyframeRequestIntervalUs, now))
      return;
  }
  GST_DEBUG_OBJECT(sink, "asking upstream for a keyframe for a new viewer");
  gst_pad_push_event(GST_BASE_SINK_PAD(sink),
                     gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
}

void ServingSinkPrivate::attach_idle_branches() {
  std::lock_guard<std::mutex> lk(lock);
  // The output's branch: the picture (rung 0) and the sound, awake while anyone watches any rung.
  std::vector<GstPad *> inputs = {GST_BASE_SINK_PAD(sink)};
  if (audio_pad)
    inputs.push_back(audio_pad);
  idle.attach(GST_ELEMENT(sink), inputs);
  for (auto &[rung, input] : rung_inputs)
    input->idle.attach(GST_ELEMENT(sink), {input->pad});
}

void ServingSinkPrivate::detach_idle_branches() {
  std::lock_guard<std::mutex> lk(lock);
  idle.detach();
  for (auto &[rung, input] : rung_inputs)
    input->idle.detach();
}

void ServingSinkPrivate::update_rung_branches(const std::shared_ptr<Mount> &serving, gint64 now) {
  std::vector<GstPad *> woke;
  {
    std::lock_guard<std::mutex> lk(lock);
    for (auto &[rung, input] : rung_inputs) {
      const size_t on = serving ? serving->n_viewers_on(rung) : 0;
      const auto change = input->idle.update(on, now, gint64(idle_after) * G_USEC_PER_SEC);
      // Woken, or a keyframe asked too soon after the last is due now.
      if (change == camcast::IdleBranch::Change::Woke ||
          input->keyframes.due(now, kKeyframeRequestIntervalUs))
        woke.push_back(GST_PAD(gst_object_ref(input->pad)));
    }
  }
  for (GstPad *pad : woke) {  // outside the lock: the event goes upstream now
    gst_pad_push_event(pad,
                       gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
    gst_object_unref(pad);
  }
}

void ServingSinkPrivate::keyframe_wanted(size_t rung) {
  if (rung == 0) {
    if (!wake())
      request_keyframe();
    return;
  }
  GstPad *pad = nullptr;
  bool now = false;
  {
    std::lock_guard<std::mutex> lk(lock);
    auto it = rung_inputs.find(guint(rung));
    if (it == rung_inputs.end())
      return;
    RungInput *input = it->second.get();
    // A viewer on its way: the rung works from now, and its encoder starts with a keyframe.
    now = input->idle.update(1, g_get_monotonic_time(), 0) == camcast::IdleBranch::Change::Woke;
    if (input->keyframes.ask(g_get_monotonic_time(), kKeyframeRequestIntervalUs, now))
      pad = GST_PAD(gst_object_ref(input->pad));
  }
  GST_DEBUG("rung %zu: a keyframe wanted (%s)", rung, pad ? "asked" : "asked lately");
  if (pad) {
    gst_pad_push_event(pad,
                       gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
    gst_object_unref(pad);
  }
}
