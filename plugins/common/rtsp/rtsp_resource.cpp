#include "rtsp/rtsp_resource.h"

#include "formats/h264.h"

#include <gst/app/gstappsrc.h>

#include <algorithm>

GST_DEBUG_CATEGORY_EXTERN(camcast_rtsp_debug);
#define GST_CAT_DEFAULT camcast_rtsp_debug

namespace camcast {

namespace {

// Each client's media: the picture, and the sound if there is any (AAC as RFC 3640's
// mpeg4-generic, what ffmpeg, VLC and live555 read; or Opus).
std::string launch_line(GstCaps *audio) {
  // The parameter sets are in every keyframe already (push()): the payloader's own would go
  // before every IDR slice, between the slices of one picture (x264 makes several), where
  // depayloaders take them for the start of another picture.
  std::string line =
      "( appsrc name=video is-live=true format=time ! "
      "rtph264pay name=pay0 pt=96 config-interval=0";
  if (audio)
    line +=
        std::string(" appsrc name=audio is-live=true format=time ! ") +
        (gst_structure_has_name(gst_caps_get_structure(audio, 0), "audio/mpeg") ? "rtpmp4gpay"
                                                                                : "rtpopuspay") +
        " name=pay1 pt=97";
  return line + " )";
}

// What one client's media holds of sound not yet sent (seconds of it); beyond, it is dropped.
constexpr guint64 kMaxQueuedAudioBytes = 64 * 1024;

// The running time of the pipeline `element` is in, now (0 before it has a clock).
GstClockTimeDiff running_now(GstElement *element) {
  GstClock *clock = gst_element_get_clock(element);
  if (!clock)
    return 0;
  const GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  return GstClockTimeDiff(now) - GstClockTimeDiff(gst_element_get_base_time(element));
}

// The units whose delay from capture is remembered (RtspResource::push).
constexpr GstClockTimeDiff kDelayWindowNs = 2 * GST_SECOND;

GstClockTime shifted(GstClockTime t, GstClockTimeDiff by) {
  return GST_CLOCK_TIME_IS_VALID(t) ? GstClockTime(std::max<GstClockTimeDiff>(0, t + by)) : t;
}

// A copy of `buffer` for a client's media: its times moved by `offset` (the camera's running
// time → the media's), its decoding order kept increasing after `*last` (B-frames keep their
// presentation order), which it becomes.
GstBuffer *moved(GstBuffer *buffer, GstClockTimeDiff offset, GstClockTime *last) {
  GstBuffer *unit = gst_buffer_copy(buffer);
  GST_BUFFER_PTS(unit) = shifted(GST_BUFFER_PTS(buffer), offset);
  GST_BUFFER_DTS(unit) = shifted(GST_BUFFER_DTS(buffer), offset);
  GstClockTime &decode =
      GST_BUFFER_DTS_IS_VALID(unit) ? GST_BUFFER_DTS(unit) : GST_BUFFER_PTS(unit);
  if (GST_CLOCK_TIME_IS_VALID(decode) && GST_CLOCK_TIME_IS_VALID(*last) && decode <= *last)
    decode = *last + 1;
  if (GST_BUFFER_PTS_IS_VALID(unit) && GST_CLOCK_TIME_IS_VALID(decode) &&
      GST_BUFFER_PTS(unit) < decode)
    GST_BUFFER_PTS(unit) = decode;
  *last = decode;
  return unit;
}

// A handler's data: the resource while it lives.
using Weak = std::weak_ptr<RtspResource>;
void free_weak(gpointer data, GClosure *) {
  delete static_cast<Weak *>(data);
}

}  // namespace

RtspResource::RtspResource(KeyframeFn keyframe_wanted)
    : keyframe_wanted_(std::move(keyframe_wanted)) {}

RtspResource::~RtspResource() {
  close();
  gst_clear_caps(&caps_);
  gst_clear_caps(&audio_caps_);
}

void RtspResource::set_settings(const Settings &settings) {
  std::lock_guard<std::mutex> lk(lock_);
  settings_ = settings;
}

RtspResource::Settings RtspResource::settings() const {
  std::lock_guard<std::mutex> lk(lock_);
  return settings_;
}

int RtspResource::port() const {
  std::lock_guard<std::mutex> lk(lock_);
  return server_ ? server_->port() : -1;
}

std::string RtspResource::listed_at(const std::string &path) const {
  const int serving = port();  // (before it serves: the port it waits for)
  return "rtsp://:" + std::to_string(serving >= 0 ? serving : settings().port) + path;
}

bool RtspResource::open(const std::string &path, GError **error) {
  const Settings settings = this->settings();
  std::shared_ptr<RtspServer> server =
      RtspServer::acquire(settings.address, settings.port, settings.limits, error);
  if (!server || !server->set_policy(settings.policy, error) ||
      !server->set_tls(settings.tls, error))
    return false;
  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new();
  gst_rtsp_media_factory_set_shared(factory, FALSE);
  if (settings.tls.enabled())
    gst_rtsp_media_factory_set_protocols(factory, GST_RTSP_LOWER_TRANS_TCP);
  g_signal_connect_data(factory, "media-configure",
                        G_CALLBACK(+[](GstRTSPMediaFactory *, GstRTSPMedia *media, gpointer data) {
                          if (auto self = static_cast<Weak *>(data)->lock())
                            self->configure(media);
                        }),
                        new Weak(weak_from_this()), free_weak, GConnectFlags(0));
  if (!server->add(path, factory, settings.is_public, error)) {
    g_object_unref(factory);
    return false;
  }
  std::lock_guard<std::mutex> lk(lock_);
  server_ = std::move(server);
  factory_ = factory;
  path_ = path;
  relaunch();
  GST_INFO("serving %s://%s:%d%s", settings.tls.enabled() ? "rtsps" : "rtsp",
           settings.address.c_str(), server_->port(), path.c_str());
  return true;
}

void RtspResource::open_later(const std::string &path, ReportFn report) {
  std::lock_guard<std::mutex> lk(lock_);
  wanted_ = path;
  report_ = std::move(report);
  retry_at_ = 0;
}

void RtspResource::tick(gint64 now) {
  std::string path;
  ReportFn report;
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (wanted_.empty() || now < retry_at_)
      return;
    path = wanted_;
    report = report_;
    retry_at_ = now + kRetryUs;
  }
  GError *error = nullptr;
  if (open(path, &error)) {
    {
      std::lock_guard<std::mutex> lk(lock_);
      wanted_.clear();
    }
    report("running", "");
    return;
  }
  report("down", error->message);
  g_error_free(error);
}

void RtspResource::close() {
  std::shared_ptr<RtspServer> server;
  GstRTSPMediaFactory *factory;
  std::string path;
  {
    std::lock_guard<std::mutex> lk(lock_);
    wanted_.clear();
    server.swap(server_);
    factory = factory_;
    factory_ = nullptr;
    path.swap(path_);
  }
  if (!server)
    return;
  server->remove(path);  // no new client comes
  // The clients of this stream go, their media with them.
  server->close_clients([this](GstRTSPMedia *media) {
    std::lock_guard<std::mutex> lk(lock_);
    return receivers_.count(media) > 0;
  });
  std::map<GstRTSPMedia *, Receiver> left;
  {
    std::lock_guard<std::mutex> lk(lock_);
    left.swap(receivers_);
  }
  for (auto &[media, receiver] : left)
    forget(media, receiver);
  g_object_unref(factory);
}

bool RtspResource::set_caps(GstCaps *caps) {
  h264::AvcConfig config;
  if (!h264::config_from_caps(caps, &config))
    return false;
  // What each client's payloader is given: Annex B, the parameter sets in every keyframe.
  GstCaps *annexb = gst_caps_copy(caps);
  gst_caps_set_simple(annexb, "stream-format", G_TYPE_STRING, "byte-stream", nullptr);
  gst_structure_remove_field(gst_caps_get_structure(annexb, 0), "codec_data");
  std::lock_guard<std::mutex> lk(lock_);
  config_ = std::move(config);
  gst_caps_take(&caps_, annexb);
  for (auto &[media, receiver] : receivers_)
    gst_app_src_set_caps(GST_APP_SRC(receiver.appsrc), caps_);
  return true;
}

void RtspResource::push(GstBuffer *au) {
  const bool keyframe = !GST_BUFFER_FLAG_IS_SET(au, GST_BUFFER_FLAG_DELTA_UNIT);
  std::lock_guard<std::mutex> lk(lock_);
  units_in_++;
  bytes_in_ += gst_buffer_get_size(au);
  // How long after its capture (the camera's running time) each unit came, on the monotonic
  // clock, which the media's pipelines keep too (GStreamer's system clock): the least of the
  // last seconds is the stream's delay, a client's offset is taken from (below).
  const GstClockTimeDiff arrived = GstClockTimeDiff(g_get_monotonic_time()) * 1000;
  const GstClockTime captured =
      GST_BUFFER_DTS_IS_VALID(au) ? GST_BUFFER_DTS(au) : GST_BUFFER_PTS(au);
  if (GST_CLOCK_TIME_IS_VALID(captured)) {
    delays_.push_back({arrived, arrived - GstClockTimeDiff(captured)});
    while (arrived - delays_.front().first > kDelayWindowNs)
      delays_.pop_front();
    GstClockTimeDiff least = delays_.front().second;
    for (const auto &[at, delay] : delays_)
      least = std::min(least, delay);
    least_delay_ = least;
    delay_known_ = true;
  }
  if (receivers_.empty())
    return;
  GstBuffer *buffer = h264::annexb_from_avc(au, config_, keyframe);
  if (!buffer) {
    GST_WARNING("an access unit whose NAL lengths do not add up: not sent");
    return;
  }
  for (auto &[media, receiver] : receivers_) {
    GstAppSrc *appsrc = GST_APP_SRC(receiver.appsrc);
    if (receiver.started && gst_app_src_get_current_level_bytes(appsrc) > kMaxQueuedBytes) {
      GST_INFO("an RTSP client is %" G_GUINT64_FORMAT " bytes behind: on from the next keyframe",
               gst_app_src_get_current_level_bytes(appsrc));
      receiver.started = false;
    }
    if (!receiver.ready ||
        (!receiver.started && (!keyframe || gst_app_src_get_current_level_bytes(appsrc) > 0)))
      continue;
    receiver.started = true;
    // The camera's times, moved to the media's pipeline (which has a start of its own), fixed at
    // the client's first frame: the spacing of the frames stays the camera's, which clients that
    // record (ffmpeg) need. The offset takes the least time a frame of the last seconds took
    // from its capture to here (its encode, mostly), so that the keyframe the client starts at
    // (a longer encode) is not taken for the stream's and no frame waits in the media's sinks
    // for a time still to come. (Lowered later, as it once was — a frame that encoded faster than
    // those before it — a frame's time came before the last one's, and ffmpeg, its times rounded
    // to its frame rate, saw two frames at one time: "non monotonically increasing dts", on a
    // busy machine whose encode times vary by more than a frame interval.)
    if (!receiver.timed && delay_known_) {
      receiver.offset = running_now(receiver.appsrc) - arrived + least_delay_;
      receiver.timed = true;
    }
    gst_app_src_push_buffer(appsrc, moved(buffer, receiver.offset, &receiver.last_decode));
  }
  gst_buffer_unref(buffer);
}

void RtspResource::set_audio_caps(GstCaps *caps) {
  std::lock_guard<std::mutex> lk(lock_);
  const bool had = audio_caps_ != nullptr;
  gst_caps_replace(&audio_caps_, caps);
  for (auto &[media, receiver] : receivers_)
    if (receiver.audio && caps)
      gst_app_src_set_caps(GST_APP_SRC(receiver.audio), caps);
  if (had != (caps != nullptr))
    relaunch();
}

void RtspResource::push_audio(GstBuffer *buffer) {
  std::lock_guard<std::mutex> lk(lock_);
  for (auto &[media, receiver] : receivers_) {
    // In step with the picture: from its first keyframe on, moved as it is.
    if (!receiver.audio || !receiver.started || !receiver.timed ||
        gst_app_src_get_current_level_bytes(GST_APP_SRC(receiver.audio)) > kMaxQueuedAudioBytes)
      continue;
    gst_app_src_push_buffer(GST_APP_SRC(receiver.audio),
                            moved(buffer, receiver.offset, &receiver.last_audio));
  }
}

void RtspResource::relaunch() {
  if (factory_)
    gst_rtsp_media_factory_set_launch(factory_, launch_line(audio_caps_).c_str());
}

// A client's media is made (on the RTSP server's thread): its appsrc joins the receivers.
void RtspResource::configure(GstRTSPMedia *media) {
  GstElement *bin = gst_rtsp_media_get_element(media);
  GstElement *appsrc = gst_bin_get_by_name(GST_BIN(bin), "video");
  g_object_set(appsrc, "max-bytes", guint64(kMaxQueuedBytes * 2), nullptr);
  struct Ticket {
    Weak resource;
    GstRTSPMedia *media;
  };
  GstAppSrcCallbacks callbacks = {};
  callbacks.need_data = +[](GstAppSrc *, guint, gpointer data) {
    auto *ticket = static_cast<Ticket *>(data);
    if (auto self = ticket->resource.lock())
      self->ready(ticket->media);
  };
  gst_app_src_set_callbacks(GST_APP_SRC(appsrc), &callbacks, new Ticket{weak_from_this(), media},
                            [](gpointer data) { delete static_cast<Ticket *>(data); });
  const gulong handler =
      g_signal_connect_data(media, "unprepared", G_CALLBACK(+[](GstRTSPMedia *m, gpointer data) {
                              if (auto self = static_cast<Weak *>(data)->lock())
                                self->unprepared(m);
                            }),
                            new Weak(weak_from_this()), free_weak, GConnectFlags(0));
  GstElement *audio = gst_bin_get_by_name(GST_BIN(bin), "audio");
  gst_object_unref(bin);
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (caps_)
      gst_app_src_set_caps(GST_APP_SRC(appsrc), caps_);
    if (audio && audio_caps_)
      gst_app_src_set_caps(GST_APP_SRC(audio), audio_caps_);
    receivers_[GST_RTSP_MEDIA(g_object_ref(media))] = Receiver{appsrc, audio, handler};
  }
  // Made while its client's request is handled: the request's context names the client.
  std::string peer = "rtsp";
  GstRTSPContext *ctx = gst_rtsp_context_get_current();
  GstRTSPConnection *connection =
      ctx && ctx->client ? gst_rtsp_client_get_connection(ctx->client) : nullptr;
  if (connection && gst_rtsp_connection_get_ip(connection))
    peer = gst_rtsp_connection_get_ip(connection);
  GST_INFO("%s: an RTSP client's media is made", peer.c_str());
  // A viewer from now: its coming wakes the branch and asks for a keyframe.
  on_server([weak = weak_from_this(), media, peer] {
    auto self = weak.lock();
    Mount *mount = nullptr;
    if (self) {
      std::lock_guard<std::mutex> lk(self->lock_);
      mount = self->mount_;
    }
    if (!mount)
      return;
    const uint64_t id = mount->add_viewer(peer);
    bool counted;
    {
      std::lock_guard<std::mutex> lk(self->lock_);
      auto it = self->receivers_.find(media);
      counted = it != self->receivers_.end();
      if (counted)
        it->second.viewer = id;
    }
    if (!counted)  // its media ended meanwhile
      mount->remove_viewer(id, ClientStatus::Closed);
  });
}

// A client's media plays and wants its first unit (its appsrc's thread): from the next keyframe,
// asked for now.
void RtspResource::ready(GstRTSPMedia *media) {
  {
    std::lock_guard<std::mutex> lk(lock_);
    auto it = receivers_.find(media);
    if (it == receivers_.end() || it->second.ready)
      return;
    it->second.ready = true;
  }
  keyframe_wanted_();
}

void RtspResource::unprepared(GstRTSPMedia *media) {
  Receiver receiver;
  {
    std::lock_guard<std::mutex> lk(lock_);
    auto it = receivers_.find(media);
    if (it == receivers_.end())
      return;
    receiver = it->second;
    receivers_.erase(it);
  }
  GST_INFO("an RTSP client's media ends");
  forget(media, receiver);
  if (receiver.viewer)
    on_server([weak = weak_from_this(), id = receiver.viewer] {
      if (auto self = weak.lock()) {
        Mount *mount;
        {
          std::lock_guard<std::mutex> lk(self->lock_);
          mount = self->mount_;
        }
        if (mount)
          mount->remove_viewer(id, ClientStatus::Closed);
      }
    });
}

void RtspResource::forget(GstRTSPMedia *media, const Receiver &receiver) {
  g_signal_handler_disconnect(media, receiver.unprepared_handler);
  gst_object_unref(receiver.appsrc);
  if (receiver.audio)
    gst_object_unref(receiver.audio);
  g_object_unref(media);
}

void RtspResource::fill_stats(MountStats *stats) {
  std::lock_guard<std::mutex> lk(lock_);
  stats->units_in = units_in_;
  stats->bytes_in = bytes_in_;
}

void RtspResource::serving(Mount *mount) {
  std::lock_guard<std::mutex> lk(lock_);
  mount_ = mount;
}

void RtspResource::on_server(std::function<void()> fn) {
  std::lock_guard<std::mutex> lk(lock_);
  if (mount_)
    mount_->invoke(std::move(fn));
}

}  // namespace camcast
