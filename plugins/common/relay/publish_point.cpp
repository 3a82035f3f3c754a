#include "relay/publish_point.h"

#include "access/auth.h"
#include "net/connections.h"
#include "net/status_phrase.h"

#include <gst/gst.h>

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);
#define GST_CAT_DEFAULT camcast_server_debug

namespace camcast {

namespace {

void answer(SoupServerMessage *msg, guint status, const std::string &text) {
  set_answer(msg, status, "text/plain; charset=utf-8", text);
}

// Refuses a publisher before its body: answered at once, nothing of the body read, the
// connection closed (libsoup alone would read the whole body first, and a stream's never ends).
void refuse_early(SoupServerMessage *msg, guint status, const std::string &text) {
  if (Connection *connection = Connection::of(msg))
    connection->refuse(msg, status, text);
  else
    answer(msg, status, text);
}

// Ends a publisher's request from our side; libsoup then fails it on its own.
void end(SoupServerMessage *msg) {
  if (Connection *connection = Connection::of(msg))
    connection->shut_down();
}

}  // namespace

PublishPoint::PublishPoint(Settings settings, PacketsFn packets, PublisherFn publisher)
    : settings_(std::move(settings)),
      packets_(std::move(packets)),
      publisher_fn_(std::move(publisher)) {}

PublishPoint::~PublishPoint() {
  if (publisher_) {
    end(publisher_);
    g_signal_handlers_disconnect_by_data(publisher_, this);
    g_object_unref(publisher_);
  }
}

bool PublishPoint::serve_http(SoupServerMessage *msg, std::string_view) {
  answer(msg, SOUP_STATUS_OK,
         std::string("This is a camcast relay's publish point. A camera publishes here with one "
                     "long POST of MPEG-TS to this path followed by /SECRET (or with "
                     "\"Authorization: Bearer SECRET\"), for example:\n"
                     "  gst-launch-1.0 ... ! mpegtsmux ! relaysink location=http://THIS-HOST") +
             g_uri_get_path(soup_server_message_get_uri(msg)) + "/SECRET\n" +
             "  ffmpeg ... -f mpegts http://THIS-HOST" +
             g_uri_get_path(soup_server_message_get_uri(msg)) + "/SECRET\n" +
             (live() ? "A publisher is live now.\n" : "Nobody is publishing now.\n"));
  return true;
}

bool PublishPoint::upload(SoupServerMessage *msg, std::string_view rest) {
  const char *host = soup_server_message_get_remote_host(msg);
  const std::string peer = host ? host : "?";
  // The secret: the first segment after the path (JSMpeg's relay also put width and height
  // after it), or a bearer token.
  std::string given(rest.substr(rest.empty() ? 0 : 1));
  given = given.substr(0, given.find('/'));
  const char *authorization =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  if (authorization && g_str_has_prefix(authorization, "Bearer "))
    given = authorization + 7;
  if (!settings_.secret.empty() && !auth::constant_time_equal(given, settings_.secret)) {
    refuse(msg, peer, SOUP_STATUS_FORBIDDEN, "wrong secret");
    return true;
  }
  if (publisher_) {
    refuse(msg, peer, SOUP_STATUS_CONFLICT, "another publisher is live here");
    return true;
  }
  publisher_ = SOUP_SERVER_MESSAGE(g_object_ref(msg));
  peer_ = peer;
  aligner_.reset();
  skipped_at_packet_ = aligner_.bytes_skipped();
  discont_ = true;
  last_data_ = last_keyframe_ = g_get_monotonic_time();
  // Its time is bounded here (stall and keyframe timeouts), not by the request timeout.
  if (Connection *connection = Connection::of(msg))
    connection->streaming();
  // Read the body as it comes, keeping nothing (libsoup's early-handler contract).
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  g_signal_connect(msg, "got-chunk", G_CALLBACK(&PublishPoint::got_chunk), this);
  g_signal_connect(msg, "finished", G_CALLBACK(&PublishPoint::finished), this);
  GST_INFO("%s: publishing", peer.c_str());
  publisher_fn_(Event::Live, peer_, "");
  return true;
}

void PublishPoint::got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data) {
  auto *self = static_cast<PublishPoint *>(data);
  if (msg != self->publisher_)
    return;
  gsize size = 0;
  const auto *bytes = static_cast<const uint8_t *>(g_bytes_get_data(chunk, &size));
  self->bytes_received_ += size;
  self->last_data_ = g_get_monotonic_time();
  std::vector<uint8_t> packets;
  self->aligner_.push(bytes, size, &packets);
  if (!packets.empty()) {
    for (size_t pos = 0; pos < packets.size(); pos += mpegts::kPacketSize)
      if (mpegts::starts_keyframe(packets.data() + pos))
        self->last_keyframe_ = self->last_data_;
    self->skipped_at_packet_ = self->aligner_.bytes_skipped();
    self->packets_(std::move(packets), self->discont_);
    self->packet_groups_++;
    self->discont_ = false;
  } else if (self->aligner_.bytes_skipped() - self->skipped_at_packet_ > kMaxGarbage) {
    self->cut_off("it sends no MPEG-TS");
  }
}

// Answers before the body is read (curl, ffmpeg and relaysink all get the status; ffmpeg reads
// it only at the end of its upload, so a live ffmpeg push sees the connection closed) and tells
// the owner, who logs it: the person at the relay learns of a camera with the wrong secret.
void PublishPoint::refuse(SoupServerMessage *msg, const std::string &peer, guint status,
                          const char *why) {
  GST_WARNING("%s: publisher refused: %s", peer.c_str(), why);
  refuse_early(msg, status, std::string(why) + "\n");
  const gint64 now = g_get_monotonic_time();
  if (last_refusal_report_ && now - last_refusal_report_ < G_USEC_PER_SEC) {
    refusals_unreported_++;
    return;
  }
  std::string what = why;
  if (refusals_unreported_)
    what += " (" + std::to_string(refusals_unreported_) + " more refused since the last report)";
  last_refusal_report_ = now;
  refusals_unreported_ = 0;
  publisher_fn_(Event::Refused, peer, what);
}

void PublishPoint::fill_stats(MountStats *stats) {
  stats->units_in = packet_groups_;
  stats->bytes_in = bytes_received_;
}

void PublishPoint::finished(SoupServerMessage *msg, gpointer data) {
  auto *self = static_cast<PublishPoint *>(data);
  if (msg == self->publisher_)
    self->forget_publisher("it ended its upload");
}

void PublishPoint::tick(gint64 now) {
  if (!publisher_)
    return;
  if (settings_.stall_timeout_us > 0 && now - last_data_ > settings_.stall_timeout_us)
    cut_off("it sent nothing for " + std::to_string(settings_.stall_timeout_us / G_USEC_PER_SEC) +
            " s");
  // A trickle (a byte a second, a null packet a second) would keep the slot from the camera:
  // a publisher is a stream a viewer can start in.
  else if (settings_.keyframe_timeout_us > 0 &&
           now - last_keyframe_ > settings_.keyframe_timeout_us)
    cut_off("it sent no keyframe for " +
            std::to_string(settings_.keyframe_timeout_us / G_USEC_PER_SEC) + " s");
}

void PublishPoint::cut_off(const std::string &why) {
  GST_WARNING("%s: publisher cut off: %s", peer_.c_str(), why.c_str());
  end(publisher_);  // the slot is free at once
  forget_publisher(why);
}

void PublishPoint::forget_publisher(const std::string &why) {
  SoupServerMessage *msg = publisher_;
  g_signal_handlers_disconnect_by_data(msg, this);
  publisher_ = nullptr;
  GST_INFO("%s: stopped publishing (%s)", peer_.c_str(), why.c_str());
  publisher_fn_(Event::Gone, peer_, why);
  g_object_unref(msg);
}

}  // namespace camcast
