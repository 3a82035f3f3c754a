#include "rung_inputs.h"

#include <gst/video/video.h>

#include <cstring>
#include <vector>

namespace camcast {

namespace {

// A rung's encoder idles this long after the publisher stopped sending it (a move back up soon
// after a move down finds it awake); the branches are looked at this often.
constexpr gint64 kIdleAfterUs = 10 * G_USEC_PER_SEC;
constexpr gint64 kCheckUs = 250 * G_TIME_SPAN_MILLISECOND;
constexpr const char *kOwner = "camcast-rung-inputs";

RungInputs *inputs_of(GstPad *pad) {
  return static_cast<RungInputs *>(g_object_get_data(G_OBJECT(pad), kOwner));
}

void ask_keyframe(GstPad *pad) {
  gst_pad_push_event(pad,
                     gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
}

}  // namespace

guint rung_of(GstPad *pad) {
  return guint(g_ascii_strtoull(GST_PAD_NAME(pad) + strlen("rung_"), nullptr, 10));
}

guint requested_rung(const char *name, const std::function<bool(guint)> &taken) {
  if (name && g_str_has_prefix(name, "rung_"))
    return guint(g_ascii_strtoull(name + strlen("rung_"), nullptr, 10));
  guint rung = 1;
  while (taken(rung))
    rung++;
  return rung;
}

GstFlowReturn RungInputs::chain(GstPad *pad, GstObject *, GstBuffer *buffer) {
  inputs_of(pad)->owner_.buffer(rung_of(pad), buffer);
  gst_buffer_unref(buffer);
  return GST_FLOW_OK;
}

GstFlowReturn RungInputs::chain_list(GstPad *pad, GstObject *, GstBufferList *list) {
  RungInputs *self = inputs_of(pad);
  for (guint i = 0; i < gst_buffer_list_length(list); i++)
    self->owner_.buffer(rung_of(pad), gst_buffer_list_get(list, i));
  gst_buffer_list_unref(list);
  return GST_FLOW_OK;
}

// A rung's events stay its own (its end is not the element's: the sink pad's is); its caps go
// to the owner.
gboolean RungInputs::event(GstPad *pad, GstObject *, GstEvent *event) {
  RungInputs *self = inputs_of(pad);
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS && self->owner_.caps) {
    GstCaps *caps;
    gst_event_parse_caps(event, &caps);
    self->owner_.caps(rung_of(pad), caps);
  }
  gst_event_unref(event);
  return TRUE;
}

GstPad *RungInputs::request(GstElement *element, GstPadTemplate *templ, const char *name) {
  guint rung;
  {
    std::lock_guard<std::mutex> lk(lock_);
    rung = requested_rung(name, [this](guint r) { return pads_.count(r) > 0; });
    if (rung < 1 || rung > kMax || pads_.count(rung))
      return nullptr;
  }
  g_autofree char *pad_name = g_strdup_printf("rung_%u", rung);
  GstPad *pad = gst_pad_new_from_template(templ, pad_name);
  g_object_set_data(G_OBJECT(pad), kOwner, this);
  gst_pad_set_chain_function(pad, chain);
  gst_pad_set_chain_list_function(pad, chain_list);
  gst_pad_set_event_function(pad, event);
  GST_PAD_SET_ACCEPT_TEMPLATE(pad);
  if (GST_STATE(element) >= GST_STATE_PAUSED)
    gst_pad_set_active(pad, TRUE);
  {
    std::lock_guard<std::mutex> lk(lock_);
    pads_[rung] = pad;
  }
  gst_element_add_pad(element, pad);
  return pad;
}

void RungInputs::release(GstElement *element, GstPad *pad) {
  gst_pad_set_active(pad, FALSE);
  {
    std::lock_guard<std::mutex> lk(lock_);
    pads_.erase(rung_of(pad));
  }
  gst_element_remove_pad(element, pad);
}

size_t RungInputs::count() {
  std::lock_guard<std::mutex> lk(lock_);
  size_t n = 1;
  for (auto &[rung, pad] : pads_)
    if (gst_pad_is_linked(pad))
      n = std::max<size_t>(n, rung + 1);
  return n;
}

void RungInputs::start(GstElement *element) {
  std::map<guint, GstPad *> pads;
  {
    std::lock_guard<std::mutex> lk(lock_);
    pads = pads_;
  }
  std::lock_guard<std::mutex> lk(idle_lock_);
  for (auto &[rung, pad] : pads) {
    auto branch = std::make_unique<IdleBranch>();
    branch->attach(element, {pad});
    idle_[rung] = std::move(branch);
  }
}

GstStateChangeReturn RungInputs::change_state(GstElement *element, GstStateChange transition,
                                              GstElementClass *parent) {
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    start(element);
  const GstStateChangeReturn ret = parent->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    stop();
  return ret;
}

void RungInputs::stop() {
  std::lock_guard<std::mutex> lk(idle_lock_);
  idle_.clear();
}

GstPad *RungInputs::pad(GstElement *element, size_t rung) {
  if (rung == 0)
    return gst_element_get_static_pad(element, "sink");
  std::lock_guard<std::mutex> lk(lock_);
  auto it = pads_.find(guint(rung));
  return it == pads_.end() ? nullptr : GST_PAD(gst_object_ref(it->second));
}

bool RungInputs::update(GstElement *element, gint64 now, size_t woken) {
  std::vector<guint> woke;
  {
    std::lock_guard<std::mutex> lk(idle_lock_);
    if (!woken && now - checked_ < kCheckUs)
      return false;
    checked_ = now;
    for (auto &[rung, branch] : idle_) {
      const bool used = rung == woken || owner_.uses(rung);
      if (branch->update(used ? 1 : 0, now, kIdleAfterUs) == IdleBranch::Change::Woke)
        woke.push_back(rung);
    }
  }
  bool asked = false;
  for (guint rung : woke)
    if (GstPad *p = pad(element, rung)) {
      ask_keyframe(p);
      gst_object_unref(p);
      asked = asked || rung == woken;
    }
  return asked;
}

void RungInputs::tick(GstElement *element, gint64 now) {
  update(element, now, 0);
}

void RungInputs::keyframe(GstElement *element, size_t rung) {
  if (rung > 0 && update(element, g_get_monotonic_time(), rung))
    return;
  if (GstPad *p = pad(element, rung)) {
    ask_keyframe(p);
    gst_object_unref(p);
  }
}

}  // namespace camcast
