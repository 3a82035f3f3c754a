// Layer rtsp: one stream served over RTSP; uses net, formats, access.
// The stream at a path of an RtspServer (rtsp_server.h): every client that asks for it (DESCRIBE,
// or SETUP without one) gets a media of its own — `appsrc ! rtph264pay` in a pipeline of its own,
// which gst-rtsp-server sends over RTP/UDP or interleaved in the RTSP connection (TCP) — fed the
// access units pushed here, starting at a keyframe: gst-rtsp-server 1.22 would start a client of
// a shared media wherever the stream is (mid-GOP: a broken first picture, docs/protocols.md), so
// each client's own appsrc is what lets the first unit it gets be a keyframe, asked of the
// encoder once the media plays (its first wish for data). SPS and PPS go in-band in every
// keyframe. The units keep the camera's spacing, moved to the media's running time at that
// first keyframe, so the RTP times agree with the RTCP sender reports from the start (ffmpeg,
// which Frigate records with, complains of times going back otherwise).
//
// Each client is one of the mount's viewers (Mount::add_viewer) while its media lives: counted in
// num-clients, /api/streams and /metrics; its coming wakes the branch that feeds the sink and
// asks the encoder for a keyframe, as any viewer's does.
//
// The sound (AAC or Opus), when the stream has it, is a second stream of each client's media
// (`appsrc ! rtpmp4gpay` or `rtpopuspay`), from its picture's first keyframe on, its times moved
// as the picture's are, so a client that syncs them on the RTCP sender reports (ffmpeg, VLC)
// plays them in step. The mount is
// listed in its HTTP server under the stream's RTSP address (`rtsp://:8554/video`), a name no
// HTTP request reaches, so a browser stream can have the same path.
#pragma once

#include "formats/h264.h"
#include "net/mount.h"
#include "rtsp/rtsp_server.h"

#include <gst/gst.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace camcast {

class RtspResource final : public MountDelegate, public std::enable_shared_from_this<RtspResource> {
public:
  static constexpr int kDefaultPort = 8554;
  // What one client's media holds of units not yet sent: beyond it (a client that stopped
  // reading, its TCP connection full) it waits for the next keyframe, as a slow viewer does.
  static constexpr guint64 kMaxQueuedBytes = 2 * 1024 * 1024;

  struct Settings {
    std::string address = "0.0.0.0";
    int port = kDefaultPort;
    RtspLimits limits;
    AccessPolicy policy;  // its users read
    bool is_public = false;
    // With a certificate, RTSPS: TLS on the port, and RTP only inside the RTSP connection (UDP
    // would carry the picture in the clear).
    TlsSettings tls;
  };
  // The encoder should give a keyframe now (a client's media is ready for its first). Any
  // thread; the owner rate-limits.
  using KeyframeFn = std::function<void()>;

  explicit RtspResource(KeyframeFn keyframe_wanted);
  ~RtspResource() override;

  void set_settings(const Settings &settings);
  Settings settings() const;

  // Serves the stream at `path` (canonical) on the RTSP server of the settings' address and port,
  // under the settings' access control; false with `error` (port in use, path taken, another
  // policy on that port). close() ends every client's media.
  bool open(const std::string &path, GError **error);
  void close();
  // After open() found the port in use (another program on it: a fault of this output alone),
  // tries again on the mount's tick: at once, then every kRetryUs, until it serves or closes.
  // What it finds goes to the report function: "down" and why, then "running".
  static constexpr gint64 kRetryUs = 5 * G_USEC_PER_SEC;
  using ReportFn = std::function<void(const char *state, const std::string &why)>;
  void open_later(const std::string &path, ReportFn report);
  // The port serving, once open (the settings' port, or the one found for port 0); -1 before.
  int port() const;

  // ---- the stream: any thread ----
  // The stream's caps: H.264 in AVC with its configuration; false if they have none.
  bool set_caps(GstCaps *caps);
  // One access unit (AVC) to every client (from its first keyframe on, with the parameter sets
  // in every keyframe), its times running times.
  void push(GstBuffer *au);
  // The sound beside the picture: AAC (raw, with its codec data) or Opus; NULL, none. Clients
  // that come from now on have it in their media; those playing keep what they have.
  void set_audio_caps(GstCaps *caps);
  // One buffer of sound to every client whose picture has started, its time a running time.
  void push_audio(GstBuffer *buffer);

  // MountDelegate
  void serving(Mount *mount) override;
  bool serve_http(SoupServerMessage *, std::string_view) override { return false; }
  bool takes_websocket() const override { return false; }
  void tick(gint64 now) override;
  std::string listed_at(const std::string &path) const override;
  void fill_stats(MountStats *stats) override;

private:
  struct Receiver {
    GstElement *appsrc = nullptr;  // a reference
    GstElement *audio = nullptr;   // a reference, if its media has sound
    gulong unprepared_handler = 0;
    bool ready = false;           // its pipeline plays: units may go
    bool started = false;         // a keyframe has gone to it
    bool timed = false;           // `offset` is set
    GstClockTimeDiff offset = 0;  // the camera's running time → the media's (the least seen)
    GstClockTime last_decode = GST_CLOCK_TIME_NONE;  // of the last unit sent
    GstClockTime last_audio = GST_CLOCK_TIME_NONE;   // of the last sound sent
    uint64_t viewer = 0;  // its id among the mount's viewers, 0 before it is counted
  };

  // The factory's launch line for the sound there is now (lock held).
  void relaunch();
  void configure(GstRTSPMedia *media);
  void ready(GstRTSPMedia *media);
  void unprepared(GstRTSPMedia *media);
  // Lets go of a receiver taken out of the table.
  static void forget(GstRTSPMedia *media, const Receiver &receiver);
  void on_server(std::function<void()> fn);

  const KeyframeFn keyframe_wanted_;
  mutable std::mutex lock_;  // everything below
  Settings settings_;
  std::string path_;
  std::shared_ptr<RtspServer> server_;
  GstRTSPMediaFactory *factory_ = nullptr;
  Mount *mount_ = nullptr;   // set on the mount's server thread
  GstCaps *caps_ = nullptr;  // what the payloaders are given (Annex B)
  h264::AvcConfig config_;
  GstCaps *audio_caps_ = nullptr;
  std::map<GstRTSPMedia *, Receiver> receivers_;
  uint64_t units_in_ = 0, bytes_in_ = 0;
  // (monotonic ns, how long after its capture a unit came) over the last seconds, and the least.
  std::deque<std::pair<GstClockTimeDiff, GstClockTimeDiff>> delays_;
  GstClockTimeDiff least_delay_ = 0;
  bool delay_known_ = false;
  // open_later(): the path to serve, the report, when to try next (the mount's thread).
  std::string wanted_;
  ReportFn report_;
  gint64 retry_at_ = 0;
};

}  // namespace camcast
