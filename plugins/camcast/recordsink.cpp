/**
 * SECTION:element-recordsink
 * @title: recordsink
 * @see_also: msesink, h264parse
 *
 * recordsink records the camera's H.264 (and its sound, on the `audio` pad) to disk, from the
 * same encode the live viewers get: fragmented-MP4 segments of `segment-seconds` each, named by
 * the UTC time of their first frame, one folder per day (`recordings/2026-12-08/14-05-09.mp4`).
 * Every fragment is written whole as it is made (one per keyframe, or per second), so a segment
 * cut short by a power cut or a killed process plays up to its last fragment; a name is never
 * used twice, so a restart never writes over what the last run recorded. Browsers, VLC and
 * ffmpeg play the files as they are.
 *
 * A thread of its own writes, behind a bounded queue: a disk that stalls costs the recording
 * frames (counted as gaps in `/api/streams`), never the live view. A write that fails (a full
 * disk) pauses the recording with a warning, and it resumes by itself once there is room. `keep`
 * deletes segments older than it; `min-free` deletes the oldest while the disk has less free.
 *
 * recordsink is a serving sink on the server of `address`:`port`: at its `path` (`/recordings`)
 * it lists the recording's segments, behind the same access control as the streams, and its state
 * (the segment being written, frames dropped, why it is paused) is in `/api/streams`. It never
 * idles (`idle-after` is 0): a recording's encoder works whether or not anyone watches.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=I420,framerate=30/1 ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse ! tee name=t \
 *     t. ! queue ! msesink \
 *     t. ! queue ! recordsink location=/var/lib/camcast/recordings keep=7d min-free=10%
 * ]| Watch at http://HOST:8080/video, and keep a week of recordings, always leaving a tenth of the
 * disk free.
 */
#include "recordsink.h"

#include "base/fmp4_tracks.h"
#include "record/recorder.h"
#include "record/recording_resource.h"
#include "record/segments.h"

#include <memory>
#include <mutex>
#include <optional>

GST_DEBUG_CATEGORY_STATIC(gst_record_sink_debug);
#define GST_CAT_DEFAULT gst_record_sink_debug

using namespace camcast;
using record::Recorder;

enum { PROP_0, PROP_LOCATION, PROP_SEGMENT_SECONDS, PROP_KEEP, PROP_MIN_FREE };

#define DEFAULT_LOCATION "recordings"
#define DEFAULT_SEGMENT_SECONDS 300
#define DEFAULT_KEEP ""
#define DEFAULT_MIN_FREE "10%"
// How long a linked input without caps holds the recording's start back (µs): a silent
// microphone must not keep the pictures off the disk.
#define TRACKS_WAIT_US G_USEC_PER_SEC
// How long stopping waits for the disk to take what is queued (µs).
#define STOP_WAIT_US (5 * G_USEC_PER_SEC)

struct RecordSinkPrivate {
  std::mutex lock;  // everything below
  std::string location = DEFAULT_LOCATION;
  guint segment_seconds = DEFAULT_SEGMENT_SECONDS;
  std::string keep = DEFAULT_KEEP, min_free = DEFAULT_MIN_FREE;
  std::unique_ptr<Recorder> recorder;  // from READY to PAUSED until PAUSED to READY
  std::optional<fmp4::VideoTrack> video;
  std::optional<fmp4::AudioTrack> audio;
  uint64_t tracks_version = 0, recorded_version = 0;  // the tracks, and those the recorder has
  gint64 first_caps_us = 0;
  // The video input's streaming thread: the last picture's duration, for one without any.
  GstClockTime last_dts = GST_CLOCK_TIME_NONE;
  std::unique_ptr<record::RecordingResource> resource;
};

struct _GstRecordSink {
  GstServingSink parent;
  RecordSinkPrivate *priv;
};

G_DEFINE_TYPE_WITH_CODE(GstRecordSink, gst_record_sink, GST_TYPE_SERVING_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_record_sink_debug, "recordsink", 0,
                                                "camcast recordings to disk"));
GST_ELEMENT_REGISTER_DEFINE(recordsink, "recordsink", GST_RANK_NONE, GST_TYPE_RECORD_SINK);

// Gives the recorder the tracks once every linked input has caps, or TRACKS_WAIT_US after the
// first did; again when they change. Under the lock.
static void announce_tracks(GstRecordSink *sink) {
  RecordSinkPrivate *priv = sink->priv;
  if (!priv->recorder || priv->recorded_version == priv->tracks_version ||
      (!priv->video && !priv->audio))
    return;
  const bool all = (!gst_pad_is_linked(GST_BASE_SINK_PAD(sink)) || priv->video) &&
                   (!gst_serving_sink_audio_linked(GST_SERVING_SINK(sink)) || priv->audio);
  if (!all && g_get_monotonic_time() - priv->first_caps_us < TRACKS_WAIT_US)
    return;
  priv->recorder->set_tracks(priv->video, priv->audio);
  priv->recorded_version = priv->tracks_version;
  // The next segment starts at a keyframe: ask for one rather than wait a GOP.
  gst_serving_sink_request_keyframe(GST_SERVING_SINK(sink));
}

static void push_frame(GstRecordSink *sink, Recorder::Frame frame) {
  RecordSinkPrivate *priv = sink->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  announce_tracks(sink);
  if (priv->recorder && priv->recorded_version == priv->tracks_version)
    priv->recorder->push(frame);
  else
    gst_buffer_unref(frame.buffer);
}

static gboolean gst_record_sink_caps_changed(GstServingSink *ws, GstCaps *caps) {
  GstRecordSink *sink = GST_RECORD_SINK(ws);
  fmp4::VideoTrack track;
  h264::AvcConfig config;
  if (!video_track_from_caps(GST_ELEMENT(sink), caps, &track, &config))
    return FALSE;
  std::lock_guard<std::mutex> lk(sink->priv->lock);
  RecordSinkPrivate *priv = sink->priv;
  priv->video = std::move(track);
  priv->tracks_version++;
  if (!priv->first_caps_us)
    priv->first_caps_us = g_get_monotonic_time();
  return TRUE;
}

static GstFlowReturn gst_record_sink_handle_buffer(GstServingSink *ws, GstBuffer *buffer) {
  GstRecordSink *sink = GST_RECORD_SINK(ws);
  RecordSinkPrivate *priv = sink->priv;
  const GstSegment *segment = &GST_BASE_SINK(ws)->segment;
  const GstClockTime dts =
      GST_BUFFER_DTS_IS_VALID(buffer) ? GST_BUFFER_DTS(buffer) : GST_BUFFER_PTS(buffer);
  if (!GST_CLOCK_TIME_IS_VALID(dts)) {
    GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("H.264 frames without timestamps"), (nullptr));
    return GST_FLOW_ERROR;
  }
  Recorder::Frame frame;
  frame.dts = gst_segment_to_running_time(segment, GST_FORMAT_TIME, dts);
  if (!GST_CLOCK_TIME_IS_VALID(frame.dts))
    return GST_FLOW_OK;  // before the segment
  frame.keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  if (GST_BUFFER_PTS_IS_VALID(buffer))
    frame.cts_offset = GST_CLOCK_DIFF(dts, GST_BUFFER_PTS(buffer));
  frame.duration = GST_BUFFER_DURATION(buffer);
  if (!GST_CLOCK_TIME_IS_VALID(frame.duration) && GST_CLOCK_TIME_IS_VALID(priv->last_dts) &&
      dts > priv->last_dts)
    frame.duration = dts - priv->last_dts;
  priv->last_dts = dts;
  frame.capture_us = gst_serving_sink_capture_time_in(ws, segment, buffer);
  frame.buffer = gst_buffer_ref(buffer);
  push_frame(sink, frame);
  return GST_FLOW_OK;
}

static gboolean gst_record_sink_audio_caps_changed(GstServingSink *ws, GstCaps *caps) {
  GstRecordSink *sink = GST_RECORD_SINK(ws);
  fmp4::AudioTrack track;
  if (!audio_track_from_caps(GST_ELEMENT(sink), caps, &track))
    return FALSE;
  RecordSinkPrivate *priv = sink->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  priv->audio = std::move(track);
  priv->tracks_version++;
  if (!priv->first_caps_us)
    priv->first_caps_us = g_get_monotonic_time();
  return TRUE;
}

static GstFlowReturn gst_record_sink_handle_audio(GstServingSink *ws, GstBuffer *buffer,
                                                  const GstSegment *segment) {
  Recorder::Frame frame;
  frame.audio = true;
  frame.dts = GST_BUFFER_PTS_IS_VALID(buffer)
                  ? gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer))
                  : GST_CLOCK_TIME_NONE;
  if (!GST_CLOCK_TIME_IS_VALID(frame.dts)) {
    gst_buffer_unref(buffer);
    return GST_FLOW_OK;
  }
  frame.duration = GST_BUFFER_DURATION(buffer);
  frame.capture_us = gst_serving_sink_capture_time_in(ws, segment, buffer);
  frame.buffer = buffer;
  push_frame(GST_RECORD_SINK(ws), frame);
  return GST_FLOW_OK;
}

static void gst_record_sink_audio_flushed(GstServingSink *ws, gboolean gone) {
  RecordSinkPrivate *priv = GST_RECORD_SINK(ws)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  if (gone && priv->audio) {
    priv->audio.reset();
    priv->tracks_version++;
  }
}

// What the recording says to a person: a warning when it pauses, and an element message
// (`recordsink`: `event`, `text`) for everything, which the launcher logs. From the writer's
// thread.
static void report(GstRecordSink *sink, Recorder::Event event, const std::string &text) {
  static const char *names[] = {"paused", "resumed", "started", "deleted"};
  gst_element_post_message(
      GST_ELEMENT(sink),
      gst_message_new_element(
          GST_OBJECT(sink),
          gst_structure_new("recordsink", "event", G_TYPE_STRING, names[int(event)], "text",
                            G_TYPE_STRING, text.c_str(), nullptr)));
  if (event == Recorder::Event::Paused)
    GST_ELEMENT_WARNING(sink, RESOURCE, WRITE, ("%s", text.c_str()),
                        ("the live view goes on; recordsink retries every few seconds"));
}

// Checks the settings and the directory, and starts the writer's thread.
static bool start_recording(GstRecordSink *sink) {
  RecordSinkPrivate *priv = sink->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  Recorder::Settings settings;
  settings.dir = priv->location;
  settings.segment_us = int64_t(priv->segment_seconds) * G_USEC_PER_SEC;
  if (!record::parse_keep(priv->keep, &settings.retention.keep_us)) {
    GST_ELEMENT_ERROR(
        sink, RESOURCE, SETTINGS,
        ("keep=\"%s\" is not a duration: write it like 7d, 36h, 90m or 600s", priv->keep.c_str()),
        (nullptr));
    return false;
  }
  if (!record::parse_min_free(priv->min_free, &settings.retention)) {
    GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS,
                      ("min-free=\"%s\" is not a share of the disk or a size: write it like "
                       "10%%, 2G or 500M",
                       priv->min_free.c_str()),
                      (nullptr));
    return false;
  }
  std::string why;
  if (!record::writable_directory(priv->location, &why)) {
    GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_WRITE, ("cannot record: %s", why.c_str()),
                      ("recordsink's location"));
    return false;
  }
  priv->recorder = std::make_unique<Recorder>(
      settings, [sink](Recorder::Event e, const std::string &text) { report(sink, e, text); });
  priv->recorded_version = 0;
  priv->last_dts = GST_CLOCK_TIME_NONE;
  return true;
}

static GstStateChangeReturn gst_record_sink_change_state(GstElement *element,
                                                         GstStateChange transition) {
  GstRecordSink *sink = GST_RECORD_SINK(element);
  RecordSinkPrivate *priv = sink->priv;
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !start_recording(sink))
    return GST_STATE_CHANGE_FAILURE;
  const GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_record_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY ||
      (transition == GST_STATE_CHANGE_READY_TO_PAUSED && ret == GST_STATE_CHANGE_FAILURE)) {
    // Writes what is queued and ends the segment (outside the lock: the writer reports). A disk
    // that stalls gets STOP_WAIT_US; then its writer is left to finish alone.
    std::unique_ptr<Recorder> recorder;
    {
      std::lock_guard<std::mutex> lk(priv->lock);
      recorder = std::move(priv->recorder);
      priv->video.reset();
      priv->first_caps_us = 0;
      priv->tracks_version++;
    }
    if (recorder && !recorder->stop(STOP_WAIT_US)) {
      GST_ELEMENT_WARNING(sink, RESOURCE, WRITE,
                          ("the disk did not take the recording's last frames within %d s",
                           int(STOP_WAIT_US / G_USEC_PER_SEC)),
                          ("its writer finishes alone when the disk answers"));
      (void)recorder.release();  // the writer deletes it when done
    }
  }
  return ret;
}

static void gst_record_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                         GParamSpec *pspec) {
  RecordSinkPrivate *priv = GST_RECORD_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  const char *text = G_VALUE_HOLDS_STRING(value) ? g_value_get_string(value) : nullptr;
  switch (prop_id) {
  case PROP_LOCATION: priv->location = text ? text : ""; break;
  case PROP_SEGMENT_SECONDS: priv->segment_seconds = g_value_get_uint(value); break;
  case PROP_KEEP: priv->keep = text ? text : ""; break;
  case PROP_MIN_FREE: priv->min_free = text ? text : ""; break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_record_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                         GParamSpec *pspec) {
  RecordSinkPrivate *priv = GST_RECORD_SINK(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  switch (prop_id) {
  case PROP_LOCATION: g_value_set_string(value, priv->location.c_str()); break;
  case PROP_SEGMENT_SECONDS: g_value_set_uint(value, priv->segment_seconds); break;
  case PROP_KEEP: g_value_set_string(value, priv->keep.c_str()); break;
  case PROP_MIN_FREE: g_value_set_string(value, priv->min_free.c_str()); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_record_sink_init(GstRecordSink *sink) {
  RecordSinkPrivate *priv = sink->priv = new RecordSinkPrivate();
  priv->resource =
      std::make_unique<record::RecordingResource>([priv](Recorder::Stats *stats, std::string *dir) {
        std::lock_guard<std::mutex> lk(priv->lock);
        if (!priv->recorder)
          return false;
        *stats = priv->recorder->stats();
        *dir = priv->location;
        return true;
      });
  gst_serving_sink_set_resource(GST_SERVING_SINK(sink), priv->resource.get());
  // A recording never idles: its encoder works whether or not anyone watches.
  g_object_set(sink, "idle-after", 0u, nullptr);
}

static void gst_record_sink_finalize(GObject *object) {
  delete GST_RECORD_SINK(object)->priv;
  G_OBJECT_CLASS(gst_record_sink_parent_class)->finalize(object);
}

static void gst_record_sink_class_init(GstRecordSinkClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstServingSinkClass *ws_class = GST_SERVING_SINK_CLASS(klass);

  gobject_class->set_property = gst_record_sink_set_property;
  gobject_class->get_property = gst_record_sink_get_property;
  gobject_class->finalize = gst_record_sink_finalize;
  element_class->change_state = gst_record_sink_change_state;
  ws_class->default_path = "/recordings";
  ws_class->page = "/camcast/web/recordings.html";
  ws_class->websocket = FALSE;
  ws_class->caps_changed = gst_record_sink_caps_changed;
  ws_class->handle_buffer = gst_record_sink_handle_buffer;
  ws_class->audio_caps_changed = gst_record_sink_audio_caps_changed;
  ws_class->handle_audio = gst_record_sink_handle_audio;
  ws_class->audio_flushed = gst_record_sink_audio_flushed;

  const auto flags =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      gobject_class, PROP_LOCATION,
      g_param_spec_string("location", "Location",
                          "The folder the segments go in (one folder per day inside it); it must "
                          "exist and be writable when the element starts",
                          DEFAULT_LOCATION, flags));
  g_object_class_install_property(
      gobject_class, PROP_SEGMENT_SECONDS,
      g_param_spec_uint("segment-seconds", "Segment seconds",
                        "The length of each segment file: a new one starts at the first "
                        "keyframe after this many seconds",
                        1, 24 * 3600, DEFAULT_SEGMENT_SECONDS, flags));
  g_object_class_install_property(
      gobject_class, PROP_KEEP,
      g_param_spec_string("keep", "Keep",
                          "Segments older than this are deleted: 7d, 36h, 90m, 600s. Empty: "
                          "kept until min-free needs their space",
                          DEFAULT_KEEP, flags));
  g_object_class_install_property(
      gobject_class, PROP_MIN_FREE,
      g_param_spec_string("min-free", "Minimum free space",
                          "The free space always left on the disk, deleting the oldest segments "
                          "for it: a share (10%) or a size (2G, 500M). Empty or 0: none",
                          DEFAULT_MIN_FREE, flags));

  static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
      "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
      GST_STATIC_CAPS("video/x-h264, stream-format=(string)avc, alignment=(string)au"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
      "audio", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS(CAMCAST_FMP4_AUDIO_CAPS));
  gst_serving_sink_class_add_audio_input(ws_class, &audio_template);
  gst_element_class_set_static_metadata(
      element_class, "H.264 and audio recorded to disk", "Sink/File",
      "Records H.264 (put h264parse in front of it) and, on its audio pad (on request), Opus or "
      "AAC to fragmented-MP4 segments named by their start time, which a killed process or a "
      "power cut leaves playable; deletes old ones by age and to keep free space; lists them at "
      "its path on the server",
      "camcast developers");
}
