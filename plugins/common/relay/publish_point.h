// Layer relay: both ends of a camera's push to a public host; uses net, formats, access.
// The publish endpoint of a relay: a camera behind NAT POSTs its MPEG-TS to a public host, the
// way `ffmpeg -f mpegts http://relay/<secret>` and the JSMpeg relay do — one long-lived request
// whose body is the stream (chunked, or as long as Content-Length says).
//
// - The secret is the rest of the path (POST <path>/<secret>) or "Authorization: Bearer
//   <secret>", compared in constant time; a wrong one is refused with 403 before the body is
//   read.
// - One publisher at a time: a second is refused with 409 while the first is live.
// - The body is read as it arrives (libsoup does the HTTP and the chunked coding), cut into whole
//   188-byte packets and handed on; nothing accumulates. A publisher that sends no MPEG-TS
//   (kMaxGarbage bytes without a packet), nothing at all for the stall timeout or no keyframe
//   for the keyframe timeout (a trickle that would keep the slot from the camera) is cut off, and
//   the next one may come.
//
// Server thread only, like every MountDelegate.
#pragma once

#include "formats/mpegts.h"
#include "net/mount.h"

#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace camcast {

class PublishPoint final : public MountDelegate {
public:
  struct Settings {
    std::string secret;  // empty: anyone may publish
    gint64 stall_timeout_us = 5 * G_USEC_PER_SEC;
    gint64 keyframe_timeout_us = 10 * G_USEC_PER_SEC;  // cut off without a keyframe this long
  };
  // Whole packets from the publisher; `discont` on the first of a new publisher.
  using PacketsFn = std::function<void(std::vector<uint8_t> &&packets, bool discont)>;
  // A publisher came, went (`what`: why) or was refused (`what`: why, and how many more were
  // refused since the last report: refusals are reported at most once a second).
  enum class Event { Live, Gone, Refused };
  using PublisherFn =
      std::function<void(Event event, const std::string &peer, const std::string &what)>;

  // Bytes without a single MPEG-TS packet after which a publisher is cut off.
  static constexpr uint64_t kMaxGarbage = 64 * 1024;

  PublishPoint(Settings settings, PacketsFn packets, PublisherFn publisher);
  ~PublishPoint() override;

  void set_settings(const Settings &settings) { settings_ = settings; }
  bool live() const { return publisher_ != nullptr; }
  uint64_t bytes_received() const { return bytes_received_; }

  // MountDelegate
  bool serve_http(SoupServerMessage *msg, std::string_view rest) override;
  bool upload(SoupServerMessage *msg, std::string_view rest) override;
  void tick(gint64 now) override;
  // What publishers sent: bytes, and the groups of whole MPEG-TS packets passed on (relaysrc's
  // buffers) as units.
  void fill_stats(MountStats *stats) override;

private:
  static void got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer self);
  static void finished(SoupServerMessage *msg, gpointer self);
  // Ends the live publisher's request from our side (its connection is shut down).
  void cut_off(const std::string &why);
  void forget_publisher(const std::string &why);
  void refuse(SoupServerMessage *msg, const std::string &peer, guint status, const char *why);

  Settings settings_;
  PacketsFn packets_;
  PublisherFn publisher_fn_;
  SoupServerMessage *publisher_ = nullptr;  // the live upload (a reference), or null
  std::string peer_;
  mpegts::PacketAligner aligner_;
  bool discont_ = true;
  gint64 last_data_ = 0;            // monotonic µs
  gint64 last_keyframe_ = 0;        // monotonic µs: a packet a decoder can start at
  uint64_t skipped_at_packet_ = 0;  // aligner's skipped count at the last packet
  uint64_t bytes_received_ = 0;
  uint64_t packet_groups_ = 0;
  gint64 last_refusal_report_ = 0;  // monotonic µs
  uint64_t refusals_unreported_ = 0;
};

}  // namespace camcast
