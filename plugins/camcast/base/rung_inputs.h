// The lower renditions of a publishing sink (relaysink, whippublishsink: one destination, which
// gets one rendition at a time): "rung_%u" pads on request, rung_1 the next below the sink pad's.
// Each rung's branch idles while the publisher neither sends it nor moves to it (idle_branch.h),
// and a keyframe asked of a rung wakes its branch first. The serving sinks have their own
// (serving_sink_rungs.cpp), where each viewer is on a rung of its own.
#pragma once

#include "idle_branch.h"

#include <gst/gst.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace camcast {

// The rung a "rung_N" pad feeds (N). Both kinds of ladder sink name their pads so.
guint rung_of(GstPad *pad);
// The rung a request for pad `name` asks for: N of "rung_N", else (no name) the first of 1, 2, …
// that is not `taken`. The caller checks it against its bounds.
guint requested_rung(const char *name, const std::function<bool(guint)> &taken);

class RungInputs {
public:
  struct Owner {
    // A buffer of rung `rung` (borrowed; the callee takes a reference to keep it). Streaming
    // thread of that rung.
    std::function<void(size_t rung, GstBuffer *buffer)> buffer;
    // New caps of rung `rung` (may be empty: not wanted).
    std::function<void(size_t rung, GstCaps *caps)> caps;
    // Whether the publisher sends rung `rung` now or moves to it. Any thread.
    std::function<bool(size_t rung)> uses;
  };
  // Rungs at most (rung_1 … rung_kMax).
  static constexpr guint kMax = 8;

  explicit RungInputs(Owner owner) : owner_(std::move(owner)) {}
  ~RungInputs() { stop(); }
  RungInputs(const RungInputs &) = delete;
  RungInputs &operator=(const RungInputs &) = delete;

  // The element's request_new_pad and release_pad (its class adds a "rung_%u" request template).
  GstPad *request(GstElement *element, GstPadTemplate *templ, const char *name);
  void release(GstElement *element, GstPad *pad);
  // The renditions linked: 1 (the sink pad alone) + the highest rung linked. Any thread.
  size_t count();
  // The element's change_state: the parent class's, with each rung's branch found on READY to
  // PAUSED (before it) and let go of on PAUSED to READY (after it).
  GstStateChangeReturn change_state(GstElement *element, GstStateChange transition,
                                    GstElementClass *parent);
  void stop();
  // Every few hundred ms at most (the caller may call it for every buffer): each rung's branch
  // idles or wakes as the publisher uses it; one that wakes is asked for a keyframe.
  void tick(GstElement *element, gint64 now);
  // Rung `rung`'s encoder should send a keyframe now (0: the sink pad's): its branch woken first.
  // Any thread; no lock of the owner's held (uses() is called).
  void keyframe(GstElement *element, size_t rung);

private:
  static GstFlowReturn chain(GstPad *pad, GstObject *parent, GstBuffer *buffer);
  static GstFlowReturn chain_list(GstPad *pad, GstObject *parent, GstBufferList *list);
  static gboolean event(GstPad *pad, GstObject *parent, GstEvent *event);
  // Rung `rung`'s pad (referenced), or null.
  GstPad *pad(GstElement *element, size_t rung);
  void start(GstElement *element);
  // Says whether rung `woken` (0: none) woke and was asked for its keyframe.
  bool update(GstElement *element, gint64 now, size_t woken);

  const Owner owner_;
  std::mutex lock_;  // the pads
  std::map<guint, GstPad *> pads_;
  std::mutex idle_lock_;  // the branches (taken before the owner's locks, in uses())
  std::map<guint, std::unique_ptr<IdleBranch>> idle_;
  gint64 checked_ = 0;
};

}  // namespace camcast
