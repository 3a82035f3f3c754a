// GstMseSink's state, shared by its element code (msesink.cpp: video, description, fragments)
// and its audio input (msesink_audio.cpp).
#pragma once

#include "formats/fmp4.h"
#include "formats/h264.h"
#include "msesink.h"
#include "net/mount.h"

#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

// Set up in class_init (msesink.cpp), used by every file of the element.
inline GstDebugCategory *gst_mse_sink_debug = nullptr;

#define DEFAULT_FORMAT GST_MSE_SINK_FORMAT_FMP4
#define DEFAULT_PRFT TRUE
// fMP4 timescale for video: 90 kHz, as RTP and MPEG-TS use.
#define TIMESCALE 90000
// How long a linked input without caps holds the description back (µs).
#define DESCRIBE_WAIT_US G_USEC_PER_SEC
// Audio waits for the next video frame at most this long (in µs) before it goes on its own: the
// picture has stopped (an idle encoder) or has not started.
#define AUDIO_HOLD_US (200 * 1000)

// An audio frame waiting for the next video frame's fragment.
struct AudioFrame {
  GstBuffer *buffer;
  uint64_t time;      // running time in the audio timescale
  uint32_t duration;  // in the audio timescale
  gint64 capture_us;
};

// One rendition's pictures: rung 0 is the sink pad's, rung N the rung_N pad's (a ladder).
struct VideoRung {
  std::optional<camcast::fmp4::VideoTrack> video;  // as its caps said
  std::string codec;
  bool described = false;                // its description and init segment are out
  uint32_t sequence = 0;                 // its fragments' numbers (a gap: frames skipped)
  std::vector<AudioFrame> audio_frames;  // sound waiting for this rung's next picture
  // Its streaming thread only.
  camcast::h264::AvcConfig config;
  GstClockTime last_dts = GST_CLOCK_TIME_NONE;
  uint64_t last_duration = TIMESCALE / 30;

  void drop_audio_frames() {
    for (AudioFrame &f : audio_frames)
      gst_buffer_unref(f.buffer);
    audio_frames.clear();
  }
};

struct MseSinkPrivate {
  // Protects everything but the streaming threads' own fields: every input's thread and the
  // property setters meet here, and fragments are numbered and queued in one order.
  std::mutex lock;
  GstMseSinkFormat format = DEFAULT_FORMAT;
  bool prft = DEFAULT_PRFT;
  std::string whep_path;  // a whepsink of the same camera on this server, for lossy links
  std::array<VideoRung, camcast::Mount::kMaxRungs> rungs;
  std::optional<camcast::fmp4::AudioTrack> audio;
  bool described_audio = false;
  gint64 first_caps_us = 0;  // monotonic time the first input got caps
  // Audio streaming thread only.
  uint32_t last_audio_duration = 0;

  VideoRung &top() { return rungs[0]; }
  bool described() const { return rungs[0].described || described_audio; }
  void drop_audio_frames() {
    for (VideoRung &r : rungs)
      r.drop_audio_frames();
  }
};

struct _GstMseSink {
  GstServingSink parent;
  MseSinkPrivate *priv;
};

// The sink from any of its pointers, without a type check: the checked GST_MSE_SINK() would make
// msesink_fragments.cpp and msesink_audio.cpp use msesink.cpp, which uses them.
inline GstMseSink *mse_sink_of(gpointer object) {
  return static_cast<GstMseSink *>(object);
}

uint64_t mse_sink_to_timescale(GstClockTime t, uint32_t timescale);
// Sends the description and init segment of the tracks known, once every linked input has caps
// or DESCRIBE_WAIT_US after the first did; again when a track comes later (`force`: now).
// Under the lock.
void mse_sink_describe(GstMseSink *sink, bool force);
// Queues one fragment of rung `rung`: `video` (or null) and the audio frames waiting for it.
// Under the lock.
void mse_sink_push_fragment(GstMseSink *sink, guint rung, GstBuffer *video,
                            const camcast::fmp4::Sample *sample, uint64_t video_time,
                            gint64 capture_us, bool keyframe);

extern GstStaticPadTemplate gst_mse_sink_audio_template;
// GstServingSink's audio methods (msesink_audio.cpp).
gboolean gst_mse_sink_audio_caps_changed(GstServingSink *sink, GstCaps *caps);
GstFlowReturn gst_mse_sink_handle_audio(GstServingSink *sink, GstBuffer *buffer,
                                        const GstSegment *segment);
void gst_mse_sink_audio_flushed(GstServingSink *sink, gboolean gone);
