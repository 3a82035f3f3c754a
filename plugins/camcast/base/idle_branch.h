// An output that does no work while nobody watches it. On a Raspberry Pi every encoder counts:
// the default preset would otherwise encode H.264, MPEG-1 and JPEG for nobody at all times.
//
// A camcast sink's branch is found by walking upstream from each of its sink pads (the picture's,
// and the sound's where it has one) up to the tee that feeds the encoder (or the source itself);
// through a muxer (pictures and sound into one MPEG-TS) each input is a way of its own, passed
// only if all of them can idle. Where a way has an encoder (an element whose class says
// "Encoder"), a probe at its start drops buffers while the output is idle, so the encoder sees
// nothing and costs nothing; the camera, the microphone and the other outputs go on. Sinks that
// share an encoder through a tee after it (msesink and whepsink on one H.264 encode) share the
// branch: it idles when all of them do. A branch without an encoder (a relay's stream, passed
// through) is never idled: it would cost the viewer's join its keyframe and save nothing. Caps and
// other events still pass, so the encoder is ready; when a viewer comes, buffers flow again and the
// sink asks the encoder for a keyframe, which the viewer gets at once.
//
// Branches of other elements (a recorder, an RTMP or HLS output, relaysink) are not touched.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <vector>

namespace camcast {

class IdleBranch {
public:
  IdleBranch() = default;
  ~IdleBranch() { detach(); }
  IdleBranch(const IdleBranch &) = delete;
  IdleBranch &operator=(const IdleBranch &) = delete;

  // READY to PAUSED: finds the branch of `sink` that ends at `inputs` (some of its sink pads)
  // and puts the probe in place (if it has an encoder). Awake at first: a pipeline prerolls, and
  // viewers may be on their way.
  void attach(GstElement *sink, const std::vector<GstPad *> &inputs);
  // PAUSED to READY.
  void detach();

  // Where the output stands now; `after_us` without viewers makes it idle (0: never). Says
  // whether it has just woken (the caller asks for a keyframe) or just gone idle (the caller
  // forgets what is queued: it is stale by the time the next viewer comes). Any thread, but
  // one at a time (the owner's lock), as attach() and detach().
  enum class Change { None, Woke, Slept };
  Change update(size_t viewers, gint64 now, gint64 after_us);
  bool idle() const { return idle_.load(); }
  // Whether this output can idle at all (it has an encoder of its own).
  bool idles() const { return !starts_.empty(); }

private:
  struct Shared;
  struct Start {
    GstPad *pad;  // where a way of the branch begins (a reference)
    Shared *shared;
  };
  static GstPadProbeReturn drop_while_idle(GstPad *, GstPadProbeInfo *, gpointer shared);

  std::vector<Start> starts_;
  std::atomic<bool> idle_{false};  // read by the probe on the streaming thread
  gint64 unwatched_since_ = 0;     // monotonic µs, 0 while watched
};

}  // namespace camcast
