/**
 * SECTION:element-wssink
 * @title: wssink
 * @see_also: msesink, jsmpegsink, mjpegsink, tcpserversink
 *
 * wssink serves its input to any number of WebSocket clients, one buffer per binary message.
 * It is the serving sink all camcast sinks derive from, and is useful on its own to push any
 * byte stream (MPEG-TS for JSMpeg, custom formats) to browsers.
 *
 * Sinks of one process that name the same `address` and `port` share one HTTP server, each at
 * its own `path`: `GET path` with `Upgrade: websocket` joins the stream, `GET path` alone serves
 * the sink's page, `GET /` lists every stream, `/api/streams` reports them as JSON and
 * `/metrics` in Prometheus format. The server listens from READY to NULL, so a pipeline held
 * in READY already accepts viewers.
 *
 * Clients never slow each other down. The element keeps one queue of buffer references, and
 * each client is a position in it. A client is sent the caps' `streamheader` first, then starts
 * at a point chosen by `sync-method` (by default the latest keyframe, so a decoder can start at
 * once). A client that falls `units-soft-max` behind is moved forward by `recover-policy` (by
 * default to the newest keyframe, counting the frames it skipped); one that is `units-max`
 * behind is dropped. The words are those of multisocketsink and mean the same.
 *
 * The server is open to anyone who can reach `address` unless `access-token` or `users-file` is
 * set. Listen on 127.0.0.1 to keep a stream on this machine. With `tls-certificate` and
 * `tls-key` the port speaks HTTPS and WSS (`http-port` adds a plain HTTP port beside it).
 *
 * Threading: the element's streaming thread only queues buffer references. All network I/O
 * happens on the server's own thread, which also emits `client-added` and `client-removed`.
 *
 * `sync` defaults to FALSE here: a frame goes out the moment it arrives, which is what live
 * sources want. Set `sync=true` to pace a source that is not live.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! x264enc tune=zerolatency key-int-max=30 ! \
 *     mpegtsmux ! wssink port=8080 path=/ts
 * ]| Serves MPEG-TS at ws://HOST:8080/ts; http://HOST:8080/ lists the stream.
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! x264enc tune=zerolatency key-int-max=30 ! \
 *     mpegtsmux ! wssink port=8443 path=/ts tls-certificate=cert.pem tls-key=key.pem
 * ]| The same over TLS: wss://HOST:8443/ts.
 */
#include "wssink.h"

#include "access_properties.h"
#include "net/http_server.h"
#include "server_properties.h"

#include <gst/video/video.h>

#include <cinttypes>
#include <memory>
#include <mutex>
#include <string>

GST_DEBUG_CATEGORY_STATIC(gst_ws_sink_debug);
#define GST_CAT_DEFAULT gst_ws_sink_debug

#define DEFAULT_ADDRESS "0.0.0.0"
#define DEFAULT_PORT 8080
#define DEFAULT_SYNC_METHOD 2    /* latest-keyframe */
#define DEFAULT_RECOVER_POLICY 3 /* keyframe */
#define DEFAULT_UNIT_FORMAT GST_FORMAT_TIME
#define DEFAULT_UNITS_MAX (10 * GST_SECOND)
#define DEFAULT_UNITS_SOFT_MAX (1 * GST_SECOND)
#define DEFAULT_TIME_MIN -1
#define DEFAULT_BURST_FORMAT GST_FORMAT_BUFFERS
#define DEFAULT_BURST_VALUE 0
#define DEFAULT_TIMEOUT 0
#define DEFAULT_KEEPALIVE_INTERVAL 10
#define DEFAULT_KEEPALIVE_PONG_TIMEOUT 20
#define DEFAULT_KEYFRAME_ON_JOIN TRUE
#define DEFAULT_LINGER 0
// However many viewers join at once, ask the encoder for a keyframe at most this often.
#define KEYFRAME_REQUEST_INTERVAL_US (500 * G_TIME_SPAN_MILLISECOND)

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_CURRENT_PORT,
  PROP_PATH,
  PROP_SYNC_METHOD,
  PROP_RECOVER_POLICY,
  PROP_UNIT_FORMAT,
  PROP_UNITS_MAX,
  PROP_UNITS_SOFT_MAX,
  PROP_TIME_MIN,
  PROP_BURST_FORMAT,
  PROP_BURST_VALUE,
  PROP_TIMEOUT,
  PROP_KEEPALIVE_INTERVAL,
  PROP_KEEPALIVE_PONG_TIMEOUT,
  PROP_KEYFRAME_ON_JOIN,
  PROP_LINGER,
  PROP_ACCESS,  // the access properties (access_properties.h)
  PROP_ACCESS_LAST = PROP_ACCESS + camcast::kAccessProperties - 1,
  PROP_PUBLIC,
  PROP_SERVER,  // the server properties (server_properties.h)
  PROP_SERVER_LAST = PROP_SERVER + camcast::kServerProperties - 1,
  PROP_CURRENT_HTTP_PORT,
  PROP_NUM_CLIENTS,
  PROP_BYTES_SERVED,
  PROP_BUFFERS_QUEUED,
  PROP_BYTES_QUEUED,
};

enum { SIGNAL_CLIENT_ADDED, SIGNAL_CLIENT_REMOVED, SIGNAL_GET_STATS, SIGNAL_REMOVE, N_SIGNALS };
static guint signals[N_SIGNALS];

using namespace camcast;

namespace {

UnitFormat unit_format_from_gst(GstFormat f) {
  switch (f) {
  case GST_FORMAT_BYTES: return UnitFormat::Bytes;
  case GST_FORMAT_TIME: return UnitFormat::Time;
  default: return UnitFormat::Buffers;
  }
}

GstFormat unit_format_to_gst(UnitFormat f) {
  switch (f) {
  case UnitFormat::Bytes: return GST_FORMAT_BYTES;
  case UnitFormat::Time: return GST_FORMAT_TIME;
  default: return GST_FORMAT_BUFFERS;
  }
}

}  // namespace

// The C++ side of the element (the MountDelegate of its mount). Lock order: `lock` before anything
// of the server's; never held while calling into the server (which may emit signals back into the
// element).
struct WsSinkImpl final : public MountDelegate {
  explicit WsSinkImpl(GstWsSink *sink) : sink(sink) {}

  GstWsSink *sink;
  std::mutex lock;  // protects the settings below and `mount`/`server` pointers
  std::string address = DEFAULT_ADDRESS;
  int port = DEFAULT_PORT;
  std::string path;  // empty: the class's default path
  MountSettings settings;
  bool keyframe_on_join = DEFAULT_KEYFRAME_ON_JOIN;
  guint linger = DEFAULT_LINGER;     // s
  AccessPolicy policy;               // access control for the sink's server (off: no token)
  bool is_public = false;            // this stream needs no credentials on a private server
  ServerSettings server_settings;    // TLS and limits of the sink's server
  gint64 last_keyframe_request = 0;  // monotonic µs
  std::shared_ptr<HttpServer> server;
  std::shared_ptr<Mount> mount;
  // Streaming thread: buffers of the current streamheader, not queued as units again.
  std::vector<GstBuffer *> header;

  ~WsSinkImpl() override { clear_header(); }
  void clear_header() {
    for (GstBuffer *b : header)
      gst_buffer_unref(b);
    header.clear();
  }

  std::shared_ptr<Mount> current_mount() {
    std::lock_guard<std::mutex> lk(lock);
    return mount;
  }

  // MountDelegate: server thread.
  void client_added(uint64_t id) override {
    GST_DEBUG_OBJECT(sink, "client %" G_GUINT64_FORMAT ": added", id);
    g_signal_emit(sink, signals[SIGNAL_CLIENT_ADDED], 0, static_cast<guint64>(id));
    request_keyframe();
  }
  // A new viewer should not wait a whole GOP: ask upstream for a keyframe (GstForceKeyUnit),
  // no more often than KEYFRAME_REQUEST_INTERVAL_US.
  void request_keyframe() {
    {
      std::lock_guard<std::mutex> lk(lock);
      const gint64 now = g_get_monotonic_time();
      if (!keyframe_on_join || now - last_keyframe_request < KEYFRAME_REQUEST_INTERVAL_US)
        return;
      last_keyframe_request = now;
    }
    GST_DEBUG_OBJECT(sink, "asking upstream for a keyframe for a new viewer");
    gst_pad_push_event(GST_BASE_SINK_PAD(sink),
                       gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  }
  void client_removed(uint64_t id, ClientStatus status) override {
    GST_DEBUG_OBJECT(sink, "client %" G_GUINT64_FORMAT ": removed (%s)", id,
                     client_status_nick(status));
    g_signal_emit(sink, signals[SIGNAL_CLIENT_REMOVED], 0, static_cast<guint64>(id),
                  static_cast<gint>(status));
  }
  bool serve_http(SoupServerMessage *msg, std::string_view rest) override {
    std::string r(rest);
    GstWsSinkClass *klass = GST_WS_SINK_GET_CLASS(sink);
    return klass->serve_http && klass->serve_http(sink, msg, r.c_str());
  }
};

struct GstWsSinkPrivate {
  WsSinkImpl *impl;
};

G_DEFINE_TYPE_WITH_CODE(GstWsSink, gst_ws_sink, GST_TYPE_BASE_SINK,
                        G_ADD_PRIVATE(GstWsSink)
                            GST_DEBUG_CATEGORY_INIT(gst_ws_sink_debug, "wssink", 0,
                                                    "camcast WebSocket serving sink"));
GST_ELEMENT_REGISTER_DEFINE(wssink, "wssink", GST_RANK_NONE, GST_TYPE_WS_SINK);

static WsSinkImpl *PRIV(gpointer sink) {
  return static_cast<GstWsSinkPrivate *>(gst_ws_sink_get_instance_private(GST_WS_SINK(sink)))->impl;
}

GType gst_ws_sync_method_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {0, "Serve starting from the latest buffer", "latest"},
      {1, "Serve starting from the next keyframe", "next-keyframe"},
      {2, "Serve starting from the latest keyframe (waits for one if none is queued)",
       "latest-keyframe"},
      {4, "Serve from the newest keyframe that gives at least burst-value of data",
       "burst-keyframe"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstWsSyncMethod", values));
  return type;
}

GType gst_ws_recover_policy_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {0, "Do nothing (the client is dropped at units-max)", "none"},
      {1, "Skip to the next buffer that arrives", "latest"},
      {3, "Skip to the newest keyframe, or wait for the next one", "keyframe"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstWsRecoverPolicy", values));
  return type;
}

GType gst_ws_client_status_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {int(ClientStatus::Ok), "ok", "ok"},
      {int(ClientStatus::Closed), "Closed by the client", "closed"},
      {int(ClientStatus::Removed), "Removed by the application or because the element stopped",
       "removed"},
      {int(ClientStatus::Slow), "Too slow: units-max behind, or no progress for timeout", "slow"},
      {int(ClientStatus::Error), "Network or protocol error", "error"},
      {int(ClientStatus::Timeout), "Did not answer keepalive pings", "timeout"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstWsClientStatus", values));
  return type;
}

/* ---- subclass API ---- */

gint64 gst_ws_sink_capture_time(GstWsSink *sink, GstBuffer *buffer) {
  GstBaseSink *base = GST_BASE_SINK(sink);
  GstClock *clock = GST_ELEMENT_CLOCK(sink);
  // A byte stream (a file, a pipe) has no running time to map.
  if (!clock || !GST_BUFFER_PTS_IS_VALID(buffer) || base->segment.format != GST_FORMAT_TIME)
    return g_get_real_time();
  GstClockTime running =
      gst_segment_to_running_time(&base->segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
  GstClockTime now = gst_clock_get_time(clock);
  GstClockTime base_time = GST_ELEMENT_CAST(sink)->base_time;
  if (!GST_CLOCK_TIME_IS_VALID(running) || now < base_time)
    return g_get_real_time();
  const int64_t age_us = (int64_t(now - base_time) - int64_t(running)) / 1000;
  return g_get_real_time() - age_us;
}

void gst_ws_sink_push_unit(GstWsSink *sink, GstBuffer *buffer, gboolean keyframe) {
  if (auto mount = PRIV(sink)->current_mount()) {
    GstClockTime ts = GST_BUFFER_PTS_IS_VALID(buffer) ? GST_BUFFER_PTS(buffer)
                      : GST_BUFFER_DTS_IS_VALID(buffer)
                          ? GST_BUFFER_DTS(buffer)
                          : GstClockTime(g_get_monotonic_time() * GST_USECOND);
    mount->push(buffer, keyframe, ts, gst_ws_sink_capture_time(sink, buffer));
  }
}

void gst_ws_sink_serve_multipart(GstWsSink *sink, SoupServerMessage *msg) {
  if (auto mount = PRIV(sink)->current_mount())
    mount->accept_multipart(msg);
}

GstBuffer *gst_ws_sink_get_newest(GstWsSink *sink, gint64 *capture_us) {
  auto mount = PRIV(sink)->current_mount();
  UnitRef unit = mount ? mount->queue().newest() : nullptr;
  if (capture_us)
    *capture_us = unit ? unit->capture_us : -1;
  return unit ? gst_buffer_ref(unit->buffer()) : nullptr;
}

void gst_ws_sink_set_stream_header(GstWsSink *sink, const char *text, GstBuffer **buffers,
                                   guint n_buffers) {
  if (auto mount = PRIV(sink)->current_mount())
    mount->set_stream_header(std::vector<GstBuffer *>(buffers, buffers + n_buffers),
                             text ? text : "");
}

void gst_ws_sink_respond(SoupServerMessage *msg, guint status, const char *content_type,
                         const char *body, gsize len) {
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, body, len);
}

/* ---- default virtual methods ---- */

static gboolean gst_ws_sink_default_caps_changed(GstWsSink *sink, GstCaps *caps) {
  WsSinkImpl *priv = PRIV(sink);
  priv->clear_header();
  const GValue *sh = gst_structure_get_value(gst_caps_get_structure(caps, 0), "streamheader");
  if (sh && GST_VALUE_HOLDS_ARRAY(sh)) {
    for (guint i = 0; i < gst_value_array_get_size(sh); i++) {
      const GValue *v = gst_value_array_get_value(sh, i);
      if (G_VALUE_HOLDS(v, GST_TYPE_BUFFER))
        priv->header.push_back(gst_buffer_ref(gst_value_get_buffer(v)));
    }
  }
  if (!priv->header.empty())
    gst_ws_sink_set_stream_header(sink, nullptr, priv->header.data(), priv->header.size());
  return TRUE;
}

static GstFlowReturn gst_ws_sink_default_handle_buffer(GstWsSink *sink, GstBuffer *buffer) {
  // Buffers of the streamheader are already sent to each client on join (multihandlesink rule).
  if (GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_HEADER))
    for (GstBuffer *h : PRIV(sink)->header) {
      GstMapInfo map;
      if (gst_buffer_get_size(h) != gst_buffer_get_size(buffer) ||
          !gst_buffer_map(h, &map, GST_MAP_READ))
        continue;
      const bool same = gst_buffer_memcmp(buffer, 0, map.data, map.size) == 0;
      gst_buffer_unmap(h, &map);
      if (same)
        return GST_FLOW_OK;
    }
  gst_ws_sink_push_unit(sink, buffer, !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT));
  return GST_FLOW_OK;
}

static const char *content_type_for(const char *name) {
  if (g_str_has_suffix(name, ".js"))
    return "text/javascript; charset=utf-8";
  if (g_str_has_suffix(name, ".css"))
    return "text/css; charset=utf-8";
  return "text/html; charset=utf-8";
}

static gboolean serve_resource(SoupServerMessage *msg, const char *resource) {
  g_autoptr(GBytes) bytes =
      g_resources_lookup_data(resource, G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
  if (!bytes)
    return FALSE;
  gsize size;
  const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
  gst_ws_sink_respond(msg, SOUP_STATUS_OK, content_type_for(resource), data, size);
  return TRUE;
}

static gboolean gst_ws_sink_default_serve_http(GstWsSink *sink, SoupServerMessage *msg,
                                               const char *rest) {
  GstWsSinkClass *klass = GST_WS_SINK_GET_CLASS(sink);
  if (rest[0] == '/') {
    // The player's files, shared by every page: /camcast/web/<file> (no sub-directories).
    if (strchr(rest + 1, '/') || !rest[1])
      return FALSE;
    g_autofree char *resource = g_strconcat("/camcast/web", rest, nullptr);
    return serve_resource(msg, resource);
  }
  if (klass->page)
    return serve_resource(msg, klass->page);
  g_autofree char *name = gst_object_get_name(GST_OBJECT(sink));
  g_autofree char *body = g_strdup_printf(
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title></head><body>"
      "<h1>%s</h1><p>This is a WebSocket stream: connect to it with "
      "<code>new WebSocket((location.protocol == \"https:\" ? \"wss://\" : \"ws://\") + "
      "location.host + location.pathname)</code>.</p>"
      "<p><a href=\"/\">All streams</a></p></body></html>\n",
      name, name);
  gst_ws_sink_respond(msg, SOUP_STATUS_OK, "text/html; charset=utf-8", body, strlen(body));
  return TRUE;
}

/* ---- GstBaseSink ---- */

static gboolean gst_ws_sink_set_caps(GstBaseSink *bsink, GstCaps *caps) {
  GstWsSink *sink = GST_WS_SINK(bsink);
  GST_DEBUG_OBJECT(sink, "caps %" GST_PTR_FORMAT, caps);
  return GST_WS_SINK_GET_CLASS(sink)->caps_changed(sink, caps);
}

static GstFlowReturn gst_ws_sink_render(GstBaseSink *bsink, GstBuffer *buffer) {
  GstWsSink *sink = GST_WS_SINK(bsink);
  return GST_WS_SINK_GET_CLASS(sink)->handle_buffer(sink, buffer);
}

static GstFlowReturn gst_ws_sink_render_list(GstBaseSink *bsink, GstBufferList *list) {
  GstWsSink *sink = GST_WS_SINK(bsink);
  GstWsSinkClass *klass = GST_WS_SINK_GET_CLASS(sink);
  for (guint i = 0; i < gst_buffer_list_length(list); i++) {
    GstFlowReturn ret = klass->handle_buffer(sink, gst_buffer_list_get(list, i));
    if (ret != GST_FLOW_OK)
      return ret;
  }
  return GST_FLOW_OK;
}

static gboolean gst_ws_sink_open(GstWsSink *sink) {
  WsSinkImpl *priv = PRIV(sink);
  std::string address, path;
  int port;
  MountSettings settings;
  ServerSettings server_settings;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    server_settings = priv->server_settings;
    address = priv->address;
    port = priv->port;
    path = priv->path.empty() ? GST_WS_SINK_GET_CLASS(sink)->default_path : priv->path;
    // From the class, known only now: during instance init GObject shows the base class.
    priv->settings.ws_delivery =
        GST_WS_SINK_GET_CLASS(sink)->websocket_pull ? Delivery::Pull : Delivery::Stream;
    settings = priv->settings;
  }
  AccessPolicy policy;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    policy = priv->policy;
  }
  std::string canonical;
  if (!normalize_mount_path(path, &canonical)) {
    GST_ELEMENT_ERROR(
        sink, RESOURCE, SETTINGS,
        ("\"%s\" is not a usable path: use letters, digits and '/' like /cam", path.c_str()),
        (nullptr));
    return FALSE;
  }
  GError *error = nullptr;
  std::shared_ptr<HttpServer> server = HttpServer::acquire(address, port, server_settings, &error);
  if (!server) {
    GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_READ_WRITE, ("%s", error->message),
                      ("address=%s port=%d", address.c_str(), port));
    g_error_free(error);
    return FALSE;
  }
  if (!policy.users_file.empty()) {
    std::string why;
    if (!users::load(policy.users_file, &policy.users, &why)) {
      GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_READ, ("cannot use the users file: %s", why.c_str()),
                        (nullptr));
      return FALSE;
    }
  }
  if (!server->set_policy(policy, &error)) {
    GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS, ("%s", error->message), (nullptr));
    g_error_free(error);
    return FALSE;
  }
  const char *kind = G_OBJECT_TYPE_NAME(sink);
  GstElementFactory *factory = gst_element_get_factory(GST_ELEMENT(sink));
  if (factory)
    kind = gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory));
  auto mount = std::make_shared<Mount>(canonical, kind);
  mount->set_settings(settings);
  // The mount that serves: this one, or a lingering one whose viewers this sink takes over.
  mount = server->add_mount(mount, priv, &error);
  if (!mount) {
    GST_ELEMENT_ERROR(sink, RESOURCE, BUSY, ("%s", error->message), (nullptr));
    g_error_free(error);
    return FALSE;
  }
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    mount->set_public(priv->is_public);
    priv->server = server;
    priv->mount = mount;
  }
  GST_INFO_OBJECT(sink, "serving %s://%s:%d%s", server->tls() ? "wss" : "ws", address.c_str(),
                  server->port(), canonical.c_str());
  g_object_notify(G_OBJECT(sink), "current-port");
  if (server->http_port() >= 0)
    g_object_notify(G_OBJECT(sink), "current-http-port");
  return TRUE;
}

static void gst_ws_sink_close(GstWsSink *sink) {
  WsSinkImpl *priv = PRIV(sink);
  std::shared_ptr<HttpServer> server;
  std::shared_ptr<Mount> mount;
  guint linger;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    server.swap(priv->server);
    mount.swap(priv->mount);
    linger = priv->linger;
  }
  if (server && mount)
    server->remove_mount(mount, gint64(linger) * G_USEC_PER_SEC);
  priv->clear_header();
}

static GstStateChangeReturn gst_ws_sink_change_state(GstElement *element,
                                                     GstStateChange transition) {
  GstWsSink *sink = GST_WS_SINK(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !gst_ws_sink_open(sink))
    return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_ws_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE))
    gst_ws_sink_close(sink);
  // Stopped streaming (held in READY, say until a viewer comes): what is queued is no longer
  // live, and a viewer joining now must wait for the next keyframe, not get minutes-old frames.
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    if (auto mount = PRIV(sink)->current_mount())
      mount->drop_units();
  return ret;
}

/* ---- signals ---- */

static GstStructure *gst_ws_sink_get_stats(GstWsSink *sink, guint64 id) {
  GstStructure *s = gst_structure_new_empty("wssink-stats");
  ClientStats c;
  auto mount = PRIV(sink)->current_mount();
  if (!mount || !mount->client_stats(id, &c))
    return s;
  gst_structure_set(s, "peer", G_TYPE_STRING, c.peer.c_str(), "bytes-sent", G_TYPE_UINT64,
                    c.bytes_sent, "frames-sent", G_TYPE_UINT64, c.units_sent, "frames-skipped",
                    G_TYPE_UINT64, c.units_skipped, "recoveries", G_TYPE_UINT64, c.recoveries,
                    "lag-frames", G_TYPE_INT64, c.lag_units, "lag-bytes", G_TYPE_INT64, c.lag_bytes,
                    "lag-time", G_TYPE_INT64, c.lag_time, "connect-time", G_TYPE_UINT64,
                    guint64(c.connect_time) * 1000, "connect-duration", G_TYPE_UINT64,
                    guint64(c.connected_us) * 1000, "rtt", G_TYPE_INT64,
                    c.rtt_us < 0 ? gint64(-1) : c.rtt_us * 1000, nullptr);
  return s;
}

static gboolean gst_ws_sink_remove(GstWsSink *sink, guint64 id) {
  auto mount = PRIV(sink)->current_mount();
  return mount && mount->remove_client(id);
}

/* ---- properties ---- */

static void gst_ws_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                     GParamSpec *pspec) {
  WsSinkImpl *priv = PRIV(object);
  std::shared_ptr<Mount> mount;
  MountSettings settings;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    LagPolicy &p = priv->settings.policy;
    switch (prop_id) {
    case PROP_ADDRESS:
      priv->address = g_value_get_string(value) ? g_value_get_string(value) : DEFAULT_ADDRESS;
      break;
    case PROP_PORT: priv->port = g_value_get_int(value); break;
    case PROP_PATH: priv->path = g_value_get_string(value) ? g_value_get_string(value) : ""; break;
    case PROP_SYNC_METHOD: p.sync_method = SyncMethod(g_value_get_enum(value)); break;
    case PROP_RECOVER_POLICY: p.recover_policy = RecoverPolicy(g_value_get_enum(value)); break;
    case PROP_UNIT_FORMAT:
      p.unit_format = unit_format_from_gst(GstFormat(g_value_get_enum(value)));
      break;
    case PROP_UNITS_MAX: p.units_max = g_value_get_int64(value); break;
    case PROP_UNITS_SOFT_MAX: p.units_soft_max = g_value_get_int64(value); break;
    case PROP_TIME_MIN: p.time_min = g_value_get_int64(value); break;
    case PROP_BURST_FORMAT:
      p.burst_format = unit_format_from_gst(GstFormat(g_value_get_enum(value)));
      break;
    case PROP_BURST_VALUE: p.burst_value = g_value_get_int64(value); break;
    case PROP_TIMEOUT: priv->settings.timeout = g_value_get_uint64(value); break;
    case PROP_KEEPALIVE_INTERVAL:
      priv->settings.keepalive_interval = g_value_get_uint(value);
      break;
    case PROP_KEEPALIVE_PONG_TIMEOUT:
      priv->settings.keepalive_pong_timeout = g_value_get_uint(value);
      break;
    case PROP_KEYFRAME_ON_JOIN: priv->keyframe_on_join = g_value_get_boolean(value); break;
    case PROP_LINGER: priv->linger = g_value_get_uint(value); break;
    case PROP_PUBLIC: priv->is_public = g_value_get_boolean(value); break;
    default:
      if (!set_server_property(&priv->server_settings, prop_id, PROP_SERVER, value) &&
          !set_access_property(&priv->policy, prop_id, PROP_ACCESS, value)) {
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        return;
      }
    }
    mount = priv->mount;
    settings = priv->settings;
  }
  if (mount)  // lag and keepalive settings apply at once; address, port and path on next start
    mount->set_settings(settings);
}

static void gst_ws_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                     GParamSpec *pspec) {
  WsSinkImpl *priv = PRIV(object);
  std::lock_guard<std::mutex> lk(priv->lock);
  const LagPolicy &p = priv->settings.policy;
  switch (prop_id) {
  case PROP_ADDRESS: g_value_set_string(value, priv->address.c_str()); break;
  case PROP_PORT: g_value_set_int(value, priv->port); break;
  case PROP_CURRENT_PORT: g_value_set_int(value, priv->server ? priv->server->port() : -1); break;
  case PROP_PATH:
    g_value_set_string(value, priv->path.empty() ? GST_WS_SINK_GET_CLASS(object)->default_path
                                                 : priv->path.c_str());
    break;
  case PROP_SYNC_METHOD: g_value_set_enum(value, int(p.sync_method)); break;
  case PROP_RECOVER_POLICY: g_value_set_enum(value, int(p.recover_policy)); break;
  case PROP_UNIT_FORMAT: g_value_set_enum(value, unit_format_to_gst(p.unit_format)); break;
  case PROP_UNITS_MAX: g_value_set_int64(value, p.units_max); break;
  case PROP_UNITS_SOFT_MAX: g_value_set_int64(value, p.units_soft_max); break;
  case PROP_TIME_MIN: g_value_set_int64(value, p.time_min); break;
  case PROP_BURST_FORMAT: g_value_set_enum(value, unit_format_to_gst(p.burst_format)); break;
  case PROP_BURST_VALUE: g_value_set_int64(value, p.burst_value); break;
  case PROP_TIMEOUT: g_value_set_uint64(value, priv->settings.timeout); break;
  case PROP_KEEPALIVE_INTERVAL: g_value_set_uint(value, priv->settings.keepalive_interval); break;
  case PROP_KEEPALIVE_PONG_TIMEOUT:
    g_value_set_uint(value, priv->settings.keepalive_pong_timeout);
    break;
  case PROP_KEYFRAME_ON_JOIN: g_value_set_boolean(value, priv->keyframe_on_join); break;
  case PROP_LINGER: g_value_set_uint(value, priv->linger); break;
  case PROP_PUBLIC: g_value_set_boolean(value, priv->is_public); break;
  case PROP_CURRENT_HTTP_PORT:
    g_value_set_int(value, priv->server ? priv->server->http_port() : -1);
    break;
  case PROP_NUM_CLIENTS: g_value_set_uint(value, priv->mount ? priv->mount->n_clients() : 0); break;
  case PROP_BYTES_SERVED:
    g_value_set_uint64(value, priv->mount ? priv->mount->bytes_served() : 0);
    break;
  case PROP_BUFFERS_QUEUED:
    g_value_set_uint(value, priv->mount ? priv->mount->queued_units() : 0);
    break;
  case PROP_BYTES_QUEUED:
    g_value_set_uint64(value, priv->mount ? priv->mount->queued_bytes() : 0);
    break;
  default:
    if (!get_server_property(priv->server_settings, prop_id, PROP_SERVER, value) &&
        !get_access_property(priv->policy, prop_id, PROP_ACCESS, value))
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_ws_sink_init(GstWsSink *sink) {
  // The private data points to a real C++ object (new/delete): no C++ members in GObject memory.
  static_cast<GstWsSinkPrivate *>(gst_ws_sink_get_instance_private(sink))->impl =
      new WsSinkImpl(sink);
  gst_base_sink_set_sync(GST_BASE_SINK(sink), FALSE);
}

static void gst_ws_sink_finalize(GObject *object) {
  delete PRIV(object);
  G_OBJECT_CLASS(gst_ws_sink_parent_class)->finalize(object);
}

static void gst_ws_sink_class_init(GstWsSinkClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS(klass);

  gobject_class->set_property = gst_ws_sink_set_property;
  gobject_class->get_property = gst_ws_sink_get_property;
  gobject_class->finalize = gst_ws_sink_finalize;
  element_class->change_state = gst_ws_sink_change_state;
  basesink_class->set_caps = gst_ws_sink_set_caps;
  basesink_class->render = gst_ws_sink_render;
  basesink_class->render_list = gst_ws_sink_render_list;
  klass->default_path = "/ws";
  klass->page = nullptr;
  klass->caps_changed = gst_ws_sink_default_caps_changed;
  klass->handle_buffer = gst_ws_sink_default_handle_buffer;
  klass->serve_http = gst_ws_sink_default_serve_http;

  const auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto ready = GParamFlags(flags | GST_PARAM_MUTABLE_READY);
  const auto ro = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      gobject_class, PROP_ADDRESS,
      g_param_spec_string(
          "address", "Address",
          "Address to listen on (0.0.0.0: every IPv4 interface; 127.0.0.1: this machine only). "
          "Takes effect when the element next goes from NULL to READY",
          DEFAULT_ADDRESS, ready));
  g_object_class_install_property(
      gobject_class, PROP_PORT,
      g_param_spec_int(
          "port", "Port",
          "TCP port to listen on (0 = any free port, see current-port). Sinks with the same "
          "address and port share one server. Takes effect on the next NULL to READY",
          0, 65535, DEFAULT_PORT, ready));
  g_object_class_install_property(
      gobject_class, PROP_CURRENT_PORT,
      g_param_spec_int("current-port", "Current port",
                       "The port being listened on (-1 when not listening)", -1, 65535, -1, ro));
  g_object_class_install_property(
      gobject_class, PROP_PATH,
      g_param_spec_string(
          "path", "Path",
          "Path of this stream on the server (the WebSocket URL and the page). Takes effect on "
          "the next NULL to READY",
          nullptr, ready));
  g_object_class_install_property(
      gobject_class, PROP_SYNC_METHOD,
      g_param_spec_enum("sync-method", "Sync method", "Where a new client starts",
                        GST_TYPE_WS_SYNC_METHOD, DEFAULT_SYNC_METHOD, flags));
  g_object_class_install_property(
      gobject_class, PROP_RECOVER_POLICY,
      g_param_spec_enum("recover-policy", "Recover policy",
                        "What to do with a client that falls units-soft-max behind",
                        GST_TYPE_WS_RECOVER_POLICY, DEFAULT_RECOVER_POLICY, flags));
  g_object_class_install_property(
      gobject_class, PROP_UNIT_FORMAT,
      g_param_spec_enum("unit-format", "Unit format",
                        "Unit of units-max and units-soft-max (buffers, bytes or time in ns)",
                        GST_TYPE_FORMAT, DEFAULT_UNIT_FORMAT, flags));
  g_object_class_install_property(
      gobject_class, PROP_UNITS_MAX,
      g_param_spec_int64("units-max", "Units max",
                         "A client this far behind is dropped (in unit-format; -1 = never)", -1,
                         G_MAXINT64, DEFAULT_UNITS_MAX, flags));
  g_object_class_install_property(
      gobject_class, PROP_UNITS_SOFT_MAX,
      g_param_spec_int64(
          "units-soft-max", "Units soft max",
          "A client this far behind is recovered by recover-policy (in unit-format; -1 = never)",
          -1, G_MAXINT64, DEFAULT_UNITS_SOFT_MAX, flags));
  g_object_class_install_property(
      gobject_class, PROP_TIME_MIN,
      g_param_spec_int64(
          "time-min", "Time min",
          "Keep at least this much of the stream queued, in ns (-1 = as little as possible)", -1,
          G_MAXINT64, DEFAULT_TIME_MIN, flags));
  g_object_class_install_property(
      gobject_class, PROP_BURST_FORMAT,
      g_param_spec_enum("burst-format", "Burst format", "Unit of burst-value", GST_TYPE_FORMAT,
                        DEFAULT_BURST_FORMAT, flags));
  g_object_class_install_property(
      gobject_class, PROP_BURST_VALUE,
      g_param_spec_int64("burst-value", "Burst value",
                         "With sync-method=burst-keyframe: how much a new client is sent at once",
                         0, G_MAXINT64, DEFAULT_BURST_VALUE, flags));
  g_object_class_install_property(
      gobject_class, PROP_TIMEOUT,
      g_param_spec_uint64(
          "timeout", "Timeout",
          "Drop a client whose socket accepts nothing for this long, in ns (0 = never)", 0,
          G_MAXUINT64, DEFAULT_TIMEOUT, flags));
  g_object_class_install_property(
      gobject_class, PROP_KEEPALIVE_INTERVAL,
      g_param_spec_uint("keepalive-interval", "Keepalive interval",
                        "Seconds between WebSocket pings to each client (0 = no pings)", 0, 3600,
                        DEFAULT_KEEPALIVE_INTERVAL, flags));
  g_object_class_install_property(
      gobject_class, PROP_KEEPALIVE_PONG_TIMEOUT,
      g_param_spec_uint(
          "keepalive-pong-timeout", "Keepalive pong timeout",
          "Drop a client that has not answered a ping, or taken nothing of what waits for it "
          "(an MJPEG viewer that stopped reading), after this many seconds (0 = never)",
          0, 3600, DEFAULT_KEEPALIVE_PONG_TIMEOUT, flags));
  g_object_class_install_property(
      gobject_class, PROP_KEYFRAME_ON_JOIN,
      g_param_spec_boolean(
          "keyframe-on-join", "Keyframe on join",
          "Ask upstream for a keyframe when a client joins (at most twice a second), so it "
          "does not wait for the next one",
          DEFAULT_KEYFRAME_ON_JOIN, flags));
  g_object_class_install_property(
      gobject_class, PROP_LINGER,
      g_param_spec_uint(
          "linger", "Linger",
          "Seconds viewers stay connected after the element stops (READY to NULL). A sink of "
          "the same kind started at the same port and path within that time takes them over, "
          "and they resume at its first keyframe: a restarted pipeline keeps its viewers. "
          "0 closes them at once",
          0, 3600, DEFAULT_LINGER, flags));
  install_access_properties(gobject_class, PROP_ACCESS);
  g_object_class_install_property(
      gobject_class, PROP_PUBLIC,
      g_param_spec_boolean(
          "public", "Public",
          "This stream (page, files, WebSocket, snapshots) needs no credentials even when the "
          "server is private",
          FALSE, GParamFlags(flags | GST_PARAM_MUTABLE_READY)));
  install_server_properties(gobject_class, PROP_SERVER);
  g_object_class_install_property(
      gobject_class, PROP_CURRENT_HTTP_PORT,
      g_param_spec_int("current-http-port", "Current HTTP port",
                       "The plain HTTP port beside the HTTPS one (-1 when there is none)", -1,
                       65535, -1, ro));
  g_object_class_install_property(gobject_class, PROP_NUM_CLIENTS,
                                  g_param_spec_uint("num-clients", "Number of clients",
                                                    "Clients connected now", 0, G_MAXUINT, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_BYTES_SERVED,
      g_param_spec_uint64("bytes-served", "Bytes served", "Bytes sent to all clients", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_BUFFERS_QUEUED,
      g_param_spec_uint(
          "buffers-queued", "Buffers queued",
          "Buffers held for all clients together (one reference each, however many clients)", 0,
          G_MAXUINT, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_BYTES_QUEUED,
      g_param_spec_uint64("bytes-queued", "Bytes queued", "Bytes held for all clients together", 0,
                          G_MAXUINT64, 0, ro));

  /**
   * GstWsSink::client-added:
   * @id: the client's id, unique in the process
   *
   * A client has joined. Emitted from the server thread.
   */
  signals[SIGNAL_CLIENT_ADDED] =
      g_signal_new("client-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                   nullptr, G_TYPE_NONE, 1, G_TYPE_UINT64);
  /**
   * GstWsSink::client-removed:
   * @id: the client's id
   * @status: why it went away
   *
   * A client has gone. get-stats no longer knows it. Emitted from the server thread.
   */
  signals[SIGNAL_CLIENT_REMOVED] =
      g_signal_new("client-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr,
                   nullptr, nullptr, G_TYPE_NONE, 2, G_TYPE_UINT64, GST_TYPE_WS_CLIENT_STATUS);
  /**
   * GstWsSink::get-stats:
   * @id: the client's id
   *
   * Returns a #GstStructure with peer, bytes-sent, frames-sent, frames-skipped, recoveries,
   * lag-frames, lag-bytes, lag-time (ns), connect-time (ns since the epoch),
   * connect-duration (ns) and rtt (ns, -1 if unknown); empty for an unknown id.
   */
  signals[SIGNAL_GET_STATS] = g_signal_new_class_handler(
      "get-stats", G_TYPE_FROM_CLASS(klass), GSignalFlags(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_ws_sink_get_stats), nullptr, nullptr, nullptr, GST_TYPE_STRUCTURE, 1,
      G_TYPE_UINT64);
  /**
   * GstWsSink::remove:
   * @id: the client's id
   *
   * Disconnects a client (status removed). Returns FALSE for an unknown id.
   */
  signals[SIGNAL_REMOVE] = g_signal_new_class_handler(
      "remove", G_TYPE_FROM_CLASS(klass), GSignalFlags(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_ws_sink_remove), nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 1, G_TYPE_UINT64);

  static GstStaticPadTemplate sink_template =
      GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(
      element_class, "WebSocket stream server", "Sink/Network",
      "Serves a stream to WebSocket clients, one buffer per message, "
      "with keyframe-aware joins and per-client lag limits",
      "camcast developers");
  gst_type_mark_as_plugin_api(GST_TYPE_WS_SYNC_METHOD, GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(GST_TYPE_WS_RECOVER_POLICY, GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(GST_TYPE_WS_CLIENT_STATUS, GstPluginAPIFlags(0));
}
