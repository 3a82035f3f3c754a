#include "wssink_private.h"

#include "net/status_phrase.h"

#include <gst/video/video.h>

#include <cstring>

#define GST_CAT_DEFAULT gst_ws_sink_debug

// However many viewers join at once, ask the encoder for a keyframe at most this often.
#define KEYFRAME_REQUEST_INTERVAL_US (500 * G_TIME_SPAN_MILLISECOND)

using namespace camcast;

void WsSinkPrivate::clear_header() {
  for (GstBuffer *b : header)
    gst_buffer_unref(b);
  header.clear();
}

std::shared_ptr<Mount> WsSinkPrivate::current_mount() {
  std::lock_guard<std::mutex> lk(lock);
  return mount;
}

void WsSinkPrivate::client_added(uint64_t id) {
  GST_DEBUG_OBJECT(sink, "client %" G_GUINT64_FORMAT ": added", id);
  g_signal_emit(sink, gst_ws_sink_signals[SIGNAL_CLIENT_ADDED], 0, static_cast<guint64>(id));
  if (wake())
    GST_INFO_OBJECT(sink, "a viewer came: the branch works again");
  else
    request_keyframe();
}

bool WsSinkPrivate::wake() {
  bool woke;
  {
    std::lock_guard<std::mutex> lk(lock);
    woke = idle.update(1, g_get_monotonic_time(), 0) == IdleBranch::Change::Woke;
  }
  if (woke)
    request_keyframe(true);
  return woke;
}

// A new viewer should not wait a whole GOP: ask upstream for a keyframe (GstForceKeyUnit), no
// more often than KEYFRAME_REQUEST_INTERVAL_US (one asked sooner goes at the next tick after it)
// — and always when the branch has just woken, since its encoder has seen nothing for a while.
void WsSinkPrivate::request_keyframe(bool now) {
  {
    std::lock_guard<std::mutex> lk(lock);
    if (!keyframe_on_join && !now)
      return;
    if (!keyframes.ask(g_get_monotonic_time(), KEYFRAME_REQUEST_INTERVAL_US, now))
      return;
  }
  GST_DEBUG_OBJECT(sink, "asking upstream for a keyframe for a new viewer");
  gst_pad_push_event(GST_BASE_SINK_PAD(sink),
                     gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
}

void WsSinkPrivate::tick(gint64 now) {
  if (resource)
    resource->tick(now);
  const std::shared_ptr<Mount> serving = current_mount();
  IdleBranch::Change change;
  bool keyframe_due;
  {
    std::lock_guard<std::mutex> lk(lock);
    keyframe_due = keyframes.due(now, KEYFRAME_REQUEST_INTERVAL_US);
    change =
        idle.update(serving ? serving->n_viewers() : 0, now, gint64(idle_after) * G_USEC_PER_SEC);
  }
  // Woken (viewers taken over from a lingering mount), or a keyframe asked too soon is due.
  if (change == IdleBranch::Change::Woke || keyframe_due)
    request_keyframe(true);
  else if (change == IdleBranch::Change::Slept && serving)
    serving->drop_units();  // a viewer must not start at a keyframe from before the idle time
  update_rung_branches(serving, now);
}

void WsSinkPrivate::fill_stats(MountStats *stats) {
  if (resource)
    resource->fill_stats(stats);
  std::lock_guard<std::mutex> lk(lock);
  stats->idle = idle.idle();
}

void WsSinkPrivate::serving(Mount *mount) {
  if (resource)
    resource->serving(mount);
}

void WsSinkPrivate::client_removed(uint64_t id, ClientStatus status) {
  GST_DEBUG_OBJECT(sink, "client %" G_GUINT64_FORMAT ": removed (%s)", id,
                   client_status_nick(status));
  g_signal_emit(sink, gst_ws_sink_signals[SIGNAL_CLIENT_REMOVED], 0, static_cast<guint64>(id),
                static_cast<gint>(status));
}

bool WsSinkPrivate::serve_http(SoupServerMessage *msg, std::string_view rest) {
  if (resource && resource->serve_http(msg, rest))
    return true;
  std::string r(rest);
  GstWsSinkClass *klass = GST_WS_SINK_GET_CLASS(sink);
  return klass->serve_http && klass->serve_http(sink, msg, r.c_str());
}

bool WsSinkPrivate::upload(SoupServerMessage *msg, std::string_view rest) {
  return resource && resource->upload(msg, rest);
}

goffset WsSinkPrivate::body_limit(std::string_view method, std::string_view rest) {
  return resource ? resource->body_limit(method, rest) : -1;
}

bool WsSinkPrivate::open() {
  std::string address, path;
  int port;
  MountSettings mount_settings;
  ServerSettings server;
  AccessPolicy access;
  {
    std::lock_guard<std::mutex> lk(lock);
    server = server_settings;
    access = policy;
    address = this->address;
    port = this->port;
    path = this->path.empty() ? GST_WS_SINK_GET_CLASS(sink)->default_path : this->path;
    // From the class, known only now: during instance init GObject shows the base class.
    settings.ws_delivery =
        GST_WS_SINK_GET_CLASS(sink)->websocket_pull ? Delivery::Pull : Delivery::Stream;
    mount_settings = settings;
  }
  std::string canonical, why;
  if (!normalize_mount_path(path, &canonical)) {
    GST_ELEMENT_ERROR(
        sink, RESOURCE, SETTINGS,
        ("\"%s\" is not a usable path: use letters, digits and '/' like /cam", path.c_str()),
        (nullptr));
    return false;
  }
  if (!access.load_users(&why)) {
    GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_READ, ("%s", why.c_str()), (nullptr));
    return false;
  }
  GError *error = nullptr;
  std::shared_ptr<HttpServer> http = HttpServer::acquire(address, port, server, &error);
  if (!http) {
    GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_READ_WRITE, ("%s", error->message),
                      ("address=%s port=%d", address.c_str(), port));
    g_error_free(error);
    return false;
  }
  if (!http->set_policy(access, &error)) {
    GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS, ("%s", error->message), (nullptr));
    g_error_free(error);
    return false;
  }
  GstElementFactory *factory = gst_element_get_factory(GST_ELEMENT(sink));
  auto fresh = std::make_shared<Mount>(
      canonical, factory ? gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory))
                         : G_OBJECT_TYPE_NAME(sink));
  fresh->set_settings(mount_settings);
  // The mount that serves: this one, or a lingering one whose viewers this sink takes over.
  std::shared_ptr<Mount> serving = http->add_mount(fresh, this, &error);
  if (!serving) {
    GST_ELEMENT_ERROR(sink, RESOURCE, BUSY, ("%s", error->message), (nullptr));
    g_error_free(error);
    return false;
  }
  {
    std::lock_guard<std::mutex> lk(lock);
    serving->set_public(is_public);
    this->server = http;
    mount = serving;
  }
  GST_INFO_OBJECT(sink, "serving %s://%s:%d%s", http->tls() ? "wss" : "ws", address.c_str(),
                  http->port(), canonical.c_str());
  g_object_notify(G_OBJECT(sink), "current-port");
  if (http->http_port() >= 0)
    g_object_notify(G_OBJECT(sink), "current-http-port");
  return true;
}

void WsSinkPrivate::close() {
  std::shared_ptr<HttpServer> http;
  std::shared_ptr<Mount> serving;
  guint seconds;
  {
    std::lock_guard<std::mutex> lk(lock);
    http.swap(server);
    serving.swap(mount);
    seconds = linger;
  }
  if (http && serving)  // requests waiting for a unit are answered: the stream is going
    http->remove_mount(serving, gint64(seconds) * G_USEC_PER_SEC);
  clear_header();
}

/* ---- subclass API ---- */

gint64 gst_ws_sink_capture_time(GstWsSink *sink, GstBuffer *buffer) {
  return gst_ws_sink_capture_time_in(sink, &GST_BASE_SINK(sink)->segment, buffer);
}

gint64 gst_ws_sink_capture_time_in(GstWsSink *sink, const GstSegment *segment, GstBuffer *buffer) {
  GstClock *clock = GST_ELEMENT_CLOCK(sink);
  // A byte stream (a file, a pipe) has no running time to map.
  if (!clock || !GST_BUFFER_PTS_IS_VALID(buffer) || segment->format != GST_FORMAT_TIME)
    return g_get_real_time();
  GstClockTime running =
      gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
  GstClockTime now = gst_clock_get_time(clock);
  GstClockTime base_time = GST_ELEMENT_CAST(sink)->base_time;
  if (!GST_CLOCK_TIME_IS_VALID(running) || now < base_time)
    return g_get_real_time();
  const int64_t age_us = (int64_t(now - base_time) - int64_t(running)) / 1000;
  return g_get_real_time() - age_us;
}

void gst_ws_sink_push_unit(GstWsSink *sink, GstBuffer *buffer, gboolean keyframe) {
  gst_ws_sink_push_unit_at(sink, buffer, keyframe, gst_ws_sink_capture_time(sink, buffer));
}

void gst_ws_sink_push_unit_at(GstWsSink *sink, GstBuffer *buffer, gboolean keyframe,
                              gint64 capture_us) {
  gst_ws_sink_push_rung_unit(sink, 0, buffer, keyframe, capture_us);
}

void gst_ws_sink_serve_multipart(GstWsSink *sink, SoupServerMessage *msg, const char *part_type) {
  if (auto mount = gst_ws_sink_priv(sink)->current_mount())
    mount->accept_multipart(msg, part_type);
}

void gst_ws_sink_serve_next(GstWsSink *sink, SoupServerMessage *msg, GstWsSinkUnitFunc answer) {
  auto mount = gst_ws_sink_priv(sink)->current_mount();
  if (!mount) {
    answer(sink, msg, nullptr, -1);
    return;
  }
  mount->serve_next(msg, GST_WS_SINK_NEXT_WAIT_MS * G_TIME_SPAN_MILLISECOND,
                    [sink, answer](SoupServerMessage *m, const camcast::UnitRef &unit) {
                      answer(sink, m, unit ? unit->buffer() : nullptr,
                             unit ? unit->capture_us : -1);
                    });
}

void gst_ws_sink_request_keyframe(GstWsSink *sink) {
  gst_ws_sink_priv(sink)->request_keyframe();
}

void gst_ws_sink_request_rung_keyframe(GstWsSink *sink, guint rung) {
  gst_ws_sink_priv(sink)->keyframe_wanted(rung);
}

void gst_ws_sink_set_resource(GstWsSink *sink, MountDelegate *resource) {
  gst_ws_sink_priv(sink)->resource = resource;
}

void gst_ws_sink_set_stream_header(GstWsSink *sink, const char *text, GstBuffer **buffers,
                                   guint n_buffers) {
  gst_ws_sink_set_rung_stream_header(sink, 0, text, buffers, n_buffers);
}

void gst_ws_sink_respond(SoupServerMessage *msg, guint status, const char *content_type,
                         const char *body, gsize len) {
  soup_server_message_set_status(msg, status, camcast::status_phrase(status));
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, body, len);
}

/* ---- default virtual methods ---- */

gboolean gst_ws_sink_default_caps_changed(GstWsSink *sink, GstCaps *caps) {
  WsSinkPrivate *priv = gst_ws_sink_priv(sink);
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

GstFlowReturn gst_ws_sink_default_handle_buffer(GstWsSink *sink, GstBuffer *buffer) {
  // Buffers of the streamheader are already sent to each client on join (multihandlesink rule).
  if (GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_HEADER))
    for (GstBuffer *h : gst_ws_sink_priv(sink)->header) {
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

gboolean gst_ws_sink_default_serve_http(GstWsSink *sink, SoupServerMessage *msg, const char *rest) {
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

/* ---- action signals ---- */

GstStructure *gst_ws_sink_get_stats(GstWsSink *sink, guint64 id) {
  GstStructure *s = gst_structure_new_empty("wssink-stats");
  ClientStats c;
  auto mount = gst_ws_sink_priv(sink)->current_mount();
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

gboolean gst_ws_sink_remove(GstWsSink *sink, guint64 id) {
  auto mount = gst_ws_sink_priv(sink)->current_mount();
  return mount && mount->remove_client(id);
}

void gst_ws_sink_report_output(GstWsSink *sink, const gchar *name, const gchar *state,
                               const gchar *why) {
  const bool known = state && (g_str_equal(state, "starting") || g_str_equal(state, "running") ||
                               g_str_equal(state, "down"));
  if (!name || !*name || !known) {
    GST_WARNING_OBJECT(sink, "report-output needs a name and starting, running or down");
    return;
  }
  WsSinkPrivate *priv = gst_ws_sink_priv(sink);
  std::shared_ptr<HttpServer> server;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    server = priv->server;
  }
  // Cut at a byte limit, never inside a character.
  auto cut = [](const char *text, size_t limit) {
    std::string s(text ? text : "");
    if (s.size() > limit) {
      while (limit > 0 && (guchar(s[limit]) & 0xC0) == 0x80)
        limit--;
      s.resize(limit);
    }
    return s;
  };
  if (server)
    server->report_output(cut(name, 200), state, cut(why, 1000));
}
