/**
 * SECTION:element-relaysrc
 * @title: relaysrc
 * @see_also: relaysink, tsdemux, msesink, jsmpegsink
 *
 * relaysrc is the public side of a relay: a camera behind a home router, which nobody can reach,
 * pushes its stream out to a public host with `relaysink` (or `ffmpeg -f mpegts http://…`), and
 * relaysrc hands it to a pipeline there that serves browsers with camcast's sinks.
 *
 * It adds a publish point at `path` on the shared camcast server of `address`:`port` (the same
 * server the pipeline's sinks use, so one port serves the viewers and the camera). A publisher
 * sends one long HTTP POST of MPEG-TS to `path/SECRET`, or to `path` with
 * `Authorization: Bearer SECRET`; the secret is compared in constant time and a wrong one is
 * refused (403). One publisher at a time: a second is refused (409) while the first is live.
 *
 * The output is `video/mpegts` in whole 188-byte packets, timestamped on arrival (a live
 * source). Publishers may come and go: the pipeline never sees an end of stream, the first
 * buffer of each new publisher is marked DISCONT, and viewers of the sinks downstream stay
 * connected and carry on at the new publisher's first keyframe. A publisher that sends no
 * MPEG-TS, nothing for `stall-timeout` seconds or no keyframe for `keyframe-timeout` seconds is
 * cut off so that the camera can come back.
 * Each publisher coming and going posts a `relaysrc-publisher` element message (`live`,
 * `peer`, `reason`).
 *
 * Until the first publisher comes nothing flows, so sinks downstream would wait for a first
 * buffer before the pipeline plays: give them `async=false`. relaysink and ffmpeg put each
 * frame in one PES, but tsdemux does not say so, and h264parse would hold every frame until
 * the next one begins: `capssetter caps=video/x-h264,alignment=au` in between tells it.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 relaysrc port=8080 secret=s3cret ! tsdemux latency=0 ! \
 *     capssetter caps=video/x-h264,alignment=au ! h264parse ! msesink port=8080 async=false
 * ]| Takes a camera pushing to http://HOST:8080/publish/s3cret and serves it at
 * http://HOST:8080/video.
 */
#include "relaysrc.h"

#include "base/server_properties.h"
#include "fanout/drop_gate.h"
#include "net/http_server.h"
#include "relay/publish_point.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

GST_DEBUG_CATEGORY_STATIC(gst_relay_src_debug);
#define GST_CAT_DEFAULT gst_relay_src_debug

#define DEFAULT_PATH "/publish"
#define DEFAULT_STALL_TIMEOUT 5
#define DEFAULT_KEYFRAME_TIMEOUT 10
// What may wait for a pipeline that does not keep up before it is dropped.
#define MAX_QUEUED_BYTES (8 * 1024 * 1024)

using namespace camcast;

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_CURRENT_PORT,  // the listen properties (server_properties.h): address to current-port
  PROP_PATH,
  PROP_SECRET,
  PROP_STALL_TIMEOUT,
  PROP_KEYFRAME_TIMEOUT,
  PROP_SERVER,  // the server properties (server_properties.h)
  PROP_SERVER_LAST = PROP_SERVER + camcast::kServerProperties - 1,
  PROP_PUBLISHING,
  PROP_BYTES_RECEIVED,
};

// The C++ side of the element. `lock` protects everything here; the PublishPoint itself is used on
// the server thread only (its callbacks take `lock`).
struct RelaySrcPrivate {
  explicit RelaySrcPrivate(GstRelaySrc *src) : src(src) {}
  GstRelaySrc *src;
  std::mutex lock;
  std::condition_variable cond;
  std::string address = camcast::kDefaultAddress;
  int port = camcast::kDefaultPort;
  std::string path = DEFAULT_PATH;
  PublishPoint::Settings settings;
  ServerSettings server_settings;
  std::shared_ptr<HttpServer> server;
  std::shared_ptr<Mount> mount;
  std::unique_ptr<PublishPoint> publish_point;
  std::deque<GstBuffer *> queue;
  // Any TS packet is a place to start (the demuxer finds its way), so every one is a "keyframe".
  DropGate gate{SIZE_MAX, MAX_QUEUED_BYTES};
  bool flushing = false;
  bool publishing = false;
  uint64_t bytes_received = 0;

  ~RelaySrcPrivate() { clear(); }
  void clear() {
    for (GstBuffer *b : queue)
      gst_buffer_unref(b);
    queue.clear();
    gate.taken_all();
  }

  // Server thread: whole packets from the publisher.
  void packets(std::vector<uint8_t> &&data, bool discont) {
    auto *bytes = new std::vector<uint8_t>(std::move(data));
    GstBuffer *buffer = gst_buffer_new_wrapped_full(
        GstMemoryFlags(0), bytes->data(), bytes->size(), 0, bytes->size(), bytes,
        [](gpointer p) { delete static_cast<std::vector<uint8_t> *>(p); });
    if (discont)
      GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
    std::lock_guard<std::mutex> lk(lock);
    bytes_received += bytes->size();
    const DropGate::Verdict verdict = gate.admit(bytes->size(), true);
    if (verdict.flush) {  // the pipeline fell behind: go on from now
      for (GstBuffer *b : queue)
        gst_buffer_unref(b);
      queue.clear();
      GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
    }
    if (verdict.queue)
      queue.push_back(buffer);
    else
      gst_buffer_unref(buffer);
    cond.notify_one();
  }

  // Server thread: a publisher came, went or was refused.
  void publisher(PublishPoint::Event event, const std::string &peer, const std::string &what) {
    if (event == PublishPoint::Event::Refused) {
      GST_INFO_OBJECT(src, "refused a publisher from %s: %s", peer.c_str(), what.c_str());
      gst_element_post_message(
          GST_ELEMENT(src),
          gst_message_new_element(
              GST_OBJECT(src),
              gst_structure_new("relaysrc-refused", "peer", G_TYPE_STRING, peer.c_str(), "reason",
                                G_TYPE_STRING, what.c_str(), nullptr)));
      return;
    }
    const bool live = event == PublishPoint::Event::Live;
    {
      std::lock_guard<std::mutex> lk(lock);
      publishing = live;
    }
    if (live)
      GST_INFO_OBJECT(src, "%s is publishing", peer.c_str());
    else
      GST_INFO_OBJECT(src, "%s stopped publishing: %s", peer.c_str(), what.c_str());
    gst_element_post_message(
        GST_ELEMENT(src),
        gst_message_new_element(
            GST_OBJECT(src), gst_structure_new("relaysrc-publisher", "live", G_TYPE_BOOLEAN, live,
                                               "peer", G_TYPE_STRING, peer.c_str(), "reason",
                                               G_TYPE_STRING, what.c_str(), nullptr)));
  }
};

struct _GstRelaySrc {
  GstPushSrc parent;
  RelaySrcPrivate *priv;
};

G_DEFINE_TYPE_WITH_CODE(GstRelaySrc, gst_relay_src, GST_TYPE_PUSH_SRC,
                        GST_DEBUG_CATEGORY_INIT(gst_relay_src_debug, "relaysrc", 0,
                                                "camcast relay publish point"));
GST_ELEMENT_REGISTER_DEFINE(relaysrc, "relaysrc", GST_RANK_NONE, GST_TYPE_RELAY_SRC);

static gboolean gst_relay_src_start(GstBaseSrc *base) {
  RelaySrcPrivate *priv = GST_RELAY_SRC(base)->priv;
  std::string address, path;
  int port;
  ServerSettings server_settings;
  PublishPoint::Settings settings;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    address = priv->address;
    port = priv->port;
    path = priv->path;
    server_settings = priv->server_settings;
    settings = priv->settings;
    priv->flushing = false;
  }
  std::string canonical;
  if (!normalize_mount_path(path, &canonical) || canonical == "/") {
    GST_ELEMENT_ERROR(base, RESOURCE, SETTINGS,
                      ("\"%s\" is not a usable publish path: use letters, digits and '/' like "
                       "/publish",
                       path.c_str()),
                      (nullptr));
    return FALSE;
  }
  GError *error = nullptr;
  auto server = HttpServer::acquire(address, port, server_settings, &error);
  auto publish_point = std::make_unique<PublishPoint>(
      settings,
      [priv](std::vector<uint8_t> &&packets, bool discont) {
        priv->packets(std::move(packets), discont);
      },
      [priv](PublishPoint::Event event, const std::string &peer, const std::string &what) {
        priv->publisher(event, peer, what);
      });
  std::shared_ptr<Mount> mount;
  if (server)
    mount = server->add_mount(std::make_shared<Mount>(canonical, "relaysrc"), publish_point.get(),
                              &error);
  if (!mount) {
    GST_ELEMENT_ERROR(base, RESOURCE, OPEN_READ, ("%s", error->message),
                      ("address=%s port=%d path=%s", address.c_str(), port, canonical.c_str()));
    g_error_free(error);
    return FALSE;
  }
  GST_INFO_OBJECT(base, "publish point http%s://%s:%d%s", server->tls() ? "s" : "", address.c_str(),
                  server->port(), canonical.c_str());
  std::lock_guard<std::mutex> lk(priv->lock);
  priv->server = server;
  priv->mount = mount;
  priv->publish_point = std::move(publish_point);
  return TRUE;
}

static gboolean gst_relay_src_stop(GstBaseSrc *base) {
  RelaySrcPrivate *priv = GST_RELAY_SRC(base)->priv;
  std::shared_ptr<HttpServer> server;
  std::shared_ptr<Mount> mount;
  std::unique_ptr<PublishPoint> publish_point;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    server.swap(priv->server);
    mount.swap(priv->mount);
    publish_point.swap(priv->publish_point);
  }
  if (server) {
    server->remove_mount(mount);
    server->invoke_sync(
        [&] { publish_point.reset(); });  // its publisher lives on the server thread
  }
  std::lock_guard<std::mutex> lk(priv->lock);
  priv->clear();
  priv->publishing = false;
  return TRUE;
}

static GstFlowReturn gst_relay_src_create(GstPushSrc *push, GstBuffer **out) {
  RelaySrcPrivate *priv = GST_RELAY_SRC(push)->priv;
  std::unique_lock<std::mutex> lk(priv->lock);
  // No publisher is no end of stream: wait for the next one.
  priv->cond.wait(lk, [priv] { return priv->flushing || !priv->queue.empty(); });
  if (priv->flushing)
    return GST_FLOW_FLUSHING;
  *out = priv->queue.front();
  priv->queue.pop_front();
  priv->gate.taken(gst_buffer_get_size(*out));
  return GST_FLOW_OK;
}

static gboolean gst_relay_src_unlock(GstBaseSrc *base) {
  RelaySrcPrivate *priv = GST_RELAY_SRC(base)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  priv->flushing = true;
  priv->cond.notify_all();
  return TRUE;
}

static gboolean gst_relay_src_unlock_stop(GstBaseSrc *base) {
  RelaySrcPrivate *priv = GST_RELAY_SRC(base)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  priv->flushing = false;
  return TRUE;
}

static void gst_relay_src_set_property(GObject *object, guint prop_id, const GValue *value,
                                       GParamSpec *pspec) {
  RelaySrcPrivate *priv = GST_RELAY_SRC(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  auto text = [value](const char *fallback) {
    return std::string(g_value_get_string(value) ? g_value_get_string(value) : fallback);
  };
  switch (prop_id) {
  case PROP_ADDRESS: priv->address = text(camcast::kDefaultAddress); break;
  case PROP_PORT: priv->port = g_value_get_int(value); break;
  case PROP_PATH: priv->path = text(DEFAULT_PATH); break;
  case PROP_SECRET: priv->settings.secret = text(""); break;
  case PROP_STALL_TIMEOUT:
    priv->settings.stall_timeout_us = gint64(g_value_get_uint(value)) * G_USEC_PER_SEC;
    break;
  case PROP_KEYFRAME_TIMEOUT:
    priv->settings.keyframe_timeout_us = gint64(g_value_get_uint(value)) * G_USEC_PER_SEC;
    break;
  default:
    if (!set_server_property(&priv->server_settings, prop_id, PROP_SERVER, value))
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_relay_src_get_property(GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec) {
  RelaySrcPrivate *priv = GST_RELAY_SRC(object)->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  switch (prop_id) {
  case PROP_ADDRESS: g_value_set_string(value, priv->address.c_str()); break;
  case PROP_PORT: g_value_set_int(value, priv->port); break;
  case PROP_CURRENT_PORT: g_value_set_int(value, priv->server ? priv->server->port() : -1); break;
  case PROP_PATH: g_value_set_string(value, priv->path.c_str()); break;
  case PROP_SECRET: g_value_set_string(value, priv->settings.secret.c_str()); break;
  case PROP_STALL_TIMEOUT:
    g_value_set_uint(value, guint(priv->settings.stall_timeout_us / G_USEC_PER_SEC));
    break;
  case PROP_KEYFRAME_TIMEOUT:
    g_value_set_uint(value, guint(priv->settings.keyframe_timeout_us / G_USEC_PER_SEC));
    break;
  case PROP_PUBLISHING: g_value_set_boolean(value, priv->publishing); break;
  case PROP_BYTES_RECEIVED: g_value_set_uint64(value, priv->bytes_received); break;
  default:
    if (!get_server_property(priv->server_settings, prop_id, PROP_SERVER, value))
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_relay_src_init(GstRelaySrc *src) {
  src->priv = new RelaySrcPrivate(src);
  gst_base_src_set_live(GST_BASE_SRC(src), TRUE);
  gst_base_src_set_format(GST_BASE_SRC(src), GST_FORMAT_TIME);
  gst_base_src_set_do_timestamp(GST_BASE_SRC(src), TRUE);
}

static void gst_relay_src_finalize(GObject *object) {
  delete GST_RELAY_SRC(object)->priv;
  G_OBJECT_CLASS(gst_relay_src_parent_class)->finalize(object);
}

static void gst_relay_src_class_init(GstRelaySrcClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS(klass);
  gobject_class->set_property = gst_relay_src_set_property;
  gobject_class->get_property = gst_relay_src_get_property;
  gobject_class->finalize = gst_relay_src_finalize;
  basesrc_class->start = gst_relay_src_start;
  basesrc_class->stop = gst_relay_src_stop;
  basesrc_class->unlock = gst_relay_src_unlock;
  basesrc_class->unlock_stop = gst_relay_src_unlock_stop;
  GST_PUSH_SRC_CLASS(klass)->create = gst_relay_src_create;

  const auto ready =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  install_listen_properties(gobject_class, PROP_ADDRESS);
  g_object_class_install_property(
      gobject_class, PROP_PATH,
      g_param_spec_string(
          "path", "Path",
          "Where publishers POST: PATH/SECRET, or PATH with \"Authorization: Bearer SECRET\"",
          DEFAULT_PATH, ready));
  g_object_class_install_property(
      gobject_class, PROP_SECRET,
      g_param_spec_string(
          "secret", "Secret",
          "What a publisher must present (empty: anyone who can reach the port may publish)",
          nullptr, ready));
  g_object_class_install_property(
      gobject_class, PROP_STALL_TIMEOUT,
      g_param_spec_uint(
          "stall-timeout", "Stall timeout",
          "Cut off a publisher that sends nothing for this many seconds, so that the camera "
          "can reconnect (0 = never)",
          0, 3600, DEFAULT_STALL_TIMEOUT, ready));
  g_object_class_install_property(
      gobject_class, PROP_KEYFRAME_TIMEOUT,
      g_param_spec_uint("keyframe-timeout", "Keyframe timeout",
                        "Cut off a publisher that sends no keyframe (a video PES starting "
                        "with an H.264 SPS or IDR, or an MPEG-1 sequence header) for this many "
                        "seconds: a trickle of data must not keep the camera out (0 = never)",
                        0, 3600, DEFAULT_KEYFRAME_TIMEOUT, ready));
  install_server_properties(gobject_class, PROP_SERVER);
  g_object_class_install_property(
      gobject_class, PROP_PUBLISHING,
      g_param_spec_boolean("publishing", "Publishing", "A publisher is live now", FALSE, ro));
  g_object_class_install_property(
      gobject_class, PROP_BYTES_RECEIVED,
      g_param_spec_uint64("bytes-received", "Bytes received",
                          "MPEG-TS received from publishers, in whole packets", 0, G_MAXUINT64, 0,
                          ro));

  static GstStaticPadTemplate src_template =
      GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                              GST_STATIC_CAPS("video/mpegts, systemstream=(boolean)true, "
                                              "packetsize=(int)188"));
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Relay publish point", "Source/Network",
      "Receives the MPEG-TS a camera behind NAT pushes (a long HTTP POST, as relaysink and "
      "ffmpeg send it) on the shared camcast server",
      "camcast developers");
}
