// GstServingSink's GObject: its properties, signals, pads and state changes (serving_sink.h).
#include "serving_sink_private.h"

#include "access_properties.h"
#include "lag_properties.h"
#include "net/http_server.h"
#include "server_properties.h"

#include <gst/video/video.h>

#include <cinttypes>
#include <memory>
#include <mutex>
#include <string>

#define GST_CAT_DEFAULT gst_serving_sink_debug

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_CURRENT_PORT,  // the listen properties (server_properties.h): address to current-port
  PROP_PATH,
  PROP_LAG,  // the lag properties (lag_properties.h)
  PROP_LAG_LAST = PROP_LAG + camcast::kLagProperties - 1,
  PROP_KEYFRAME_ON_JOIN,
  PROP_LINGER,
  PROP_IDLE_AFTER,
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

using namespace camcast;

G_DEFINE_ABSTRACT_TYPE_WITH_CODE(GstServingSink, gst_serving_sink, GST_TYPE_BASE_SINK,
                                 GST_DEBUG_CATEGORY_INIT(gst_serving_sink_debug, "servingsink", 0,
                                                         "camcast serving sinks"));

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

/* ---- GstBaseSink ---- */

static gboolean gst_serving_sink_set_caps(GstBaseSink *bsink, GstCaps *caps) {
  GstServingSink *sink = GST_SERVING_SINK(bsink);
  GST_DEBUG_OBJECT(sink, "caps %" GST_PTR_FORMAT, caps);
  return GST_SERVING_SINK_GET_CLASS(sink)->caps_changed(sink, caps);
}

static GstFlowReturn gst_serving_sink_render(GstBaseSink *bsink, GstBuffer *buffer) {
  GstServingSink *sink = GST_SERVING_SINK(bsink);
  if (!GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    gst_serving_sink_priv(sink)->keyframes.seen(g_get_monotonic_time());
  return GST_SERVING_SINK_GET_CLASS(sink)->handle_buffer(sink, buffer);
}

static GstFlowReturn gst_serving_sink_render_list(GstBaseSink *bsink, GstBufferList *list) {
  for (guint i = 0; i < gst_buffer_list_length(list); i++) {
    GstFlowReturn ret = gst_serving_sink_render(bsink, gst_buffer_list_get(list, i));
    if (ret != GST_FLOW_OK)
      return ret;
  }
  return GST_FLOW_OK;
}

static GstStateChangeReturn gst_serving_sink_change_state(GstElement *element,
                                                          GstStateChange transition) {
  GstServingSink *sink = GST_SERVING_SINK(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !gst_serving_sink_priv(sink)->open())
    return GST_STATE_CHANGE_FAILURE;
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    gst_serving_sink_priv(sink)->audio_starting();
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_serving_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE))
    gst_serving_sink_priv(sink)->close();
  // Stopped streaming (held in READY, say until a viewer comes): what is queued is no longer
  // live, and a viewer joining now must wait for the next keyframe, not get minutes-old frames.
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    if (auto mount = gst_serving_sink_priv(sink)->current_mount())
      mount->drop_units();
    gst_serving_sink_priv(sink)->audio_stopped();
  }
  // The branch that feeds this output idles while nobody watches (idle_branch.h).
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && ret != GST_STATE_CHANGE_FAILURE)
    priv->attach_idle_branches();
  else if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    priv->detach_idle_branches();
  return ret;
}

/* ---- signals ---- */

/* ---- properties ---- */

static void gst_serving_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                          GParamSpec *pspec) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(object);
  std::shared_ptr<Mount> mount;
  MountSettings settings;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    switch (prop_id) {
    case PROP_ADDRESS:
      priv->address =
          g_value_get_string(value) ? g_value_get_string(value) : camcast::kDefaultAddress;
      break;
    case PROP_PORT: priv->port = g_value_get_int(value); break;
    case PROP_PATH: priv->path = g_value_get_string(value) ? g_value_get_string(value) : ""; break;
    case PROP_KEYFRAME_ON_JOIN: priv->keyframe_on_join = g_value_get_boolean(value); break;
    case PROP_LINGER: priv->linger = g_value_get_uint(value); break;
    case PROP_IDLE_AFTER: priv->idle_after = g_value_get_uint(value); break;
    case PROP_PUBLIC: priv->is_public = g_value_get_boolean(value); break;
    default:
      if (!set_lag_property(&priv->settings, prop_id, PROP_LAG, value) &&
          !set_server_property(&priv->server_settings, prop_id, PROP_SERVER, value) &&
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

static void gst_serving_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                          GParamSpec *pspec) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(object);
  // Without the lock: the walks that find idle branches (idle_branch.cpp) read every sink's,
  // this one's too, while its lock is held.
  if (prop_id == PROP_IDLE_AFTER) {
    g_value_set_uint(value, priv->idle_after.load());
    return;
  }
  std::lock_guard<std::mutex> lk(priv->lock);
  switch (prop_id) {
  case PROP_ADDRESS: g_value_set_string(value, priv->address.c_str()); break;
  case PROP_PORT: g_value_set_int(value, priv->port); break;
  case PROP_CURRENT_PORT: g_value_set_int(value, priv->server ? priv->server->port() : -1); break;
  case PROP_PATH:
    g_value_set_string(value, priv->path.empty() ? GST_SERVING_SINK_GET_CLASS(object)->default_path
                                                 : priv->path.c_str());
    break;
  case PROP_KEYFRAME_ON_JOIN: g_value_set_boolean(value, priv->keyframe_on_join); break;
  case PROP_LINGER: g_value_set_uint(value, priv->linger); break;
  case PROP_PUBLIC: g_value_set_boolean(value, priv->is_public); break;
  case PROP_CURRENT_HTTP_PORT:
    g_value_set_int(value, priv->server ? priv->server->http_port() : -1);
    break;
  case PROP_NUM_CLIENTS:
    g_value_set_uint(value, guint(priv->mount ? priv->mount->n_clients() : 0));
    break;
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
    if (!get_lag_property(priv->settings, prop_id, PROP_LAG, value) &&
        !get_server_property(priv->server_settings, prop_id, PROP_SERVER, value) &&
        !get_access_property(priv->policy, prop_id, PROP_ACCESS, value))
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_serving_sink_init(GstServingSink *sink) {
  // A real C++ object (new/delete): no C++ members in GObject memory.
  sink->priv = new ServingSinkPrivate(sink);
  gst_base_sink_set_sync(GST_BASE_SINK(sink), FALSE);
}

static void gst_serving_sink_finalize(GObject *object) {
  delete gst_serving_sink_priv(object);
  G_OBJECT_CLASS(gst_serving_sink_parent_class)->finalize(object);
}

// Where the stream is served: address, port, path.
static void install_where_properties(GObjectClass *gobject_class) {
  const auto ready =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  install_listen_properties(gobject_class, PROP_ADDRESS);
  g_object_class_install_property(
      gobject_class, PROP_PATH,
      g_param_spec_string(
          "path", "Path",
          "Path of this stream on the server (the WebSocket URL and the page). Takes effect on "
          "the next NULL to READY",
          nullptr, ready));
}

// How viewers join and leave: keyframe-on-join, linger, idle-after.
static void install_viewer_properties(GObjectClass *gobject_class) {
  const auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
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
  g_object_class_install_property(
      gobject_class, PROP_IDLE_AFTER,
      g_param_spec_uint(
          "idle-after", "Idle after",
          "Seconds without viewers after which this output's branch stops encoding: buffers are "
          "dropped where the branch leaves its tee (or source), if there is an encoder on the "
          "way. The next viewer wakes it and gets a keyframe at once. 0 never idles",
          0, 86400, DEFAULT_IDLE_AFTER, flags));
}

static void install_public_property(GObjectClass *gobject_class) {
  const auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      gobject_class, PROP_PUBLIC,
      g_param_spec_boolean(
          "public", "Public",
          "This stream (page, files, WebSocket, snapshots) needs no credentials even when the "
          "server is private",
          FALSE, GParamFlags(flags | GST_PARAM_MUTABLE_READY)));
}

// What is going on now (read-only).
static void install_statistics_properties(GObjectClass *gobject_class) {
  const auto ro = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
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
}

static void install_signals(GstServingSinkClass *klass) {
  /**
   * GstServingSink::client-added:
   * @id: the client's id, unique in the process
   *
   * A client has joined. Emitted from the server thread.
   */
  gst_serving_sink_signals[SIGNAL_CLIENT_ADDED] =
      g_signal_new("client-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                   nullptr, G_TYPE_NONE, 1, G_TYPE_UINT64);
  /**
   * GstServingSink::client-removed:
   * @id: the client's id
   * @status: why it went away
   *
   * A client has gone. get-stats no longer knows it. Emitted from the server thread.
   */
  gst_serving_sink_signals[SIGNAL_CLIENT_REMOVED] =
      g_signal_new("client-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr,
                   nullptr, nullptr, G_TYPE_NONE, 2, G_TYPE_UINT64, GST_TYPE_WS_CLIENT_STATUS);
  /**
   * GstServingSink::get-stats:
   * @id: the client's id
   *
   * Returns a #GstStructure with peer, bytes-sent, frames-sent, frames-skipped, recoveries,
   * lag-frames, lag-bytes, lag-time (ns), connect-time (ns since the epoch),
   * connect-duration (ns) and rtt (ns, -1 if unknown); empty for an unknown id.
   */
  gst_serving_sink_signals[SIGNAL_GET_STATS] = g_signal_new_class_handler(
      "get-stats", G_TYPE_FROM_CLASS(klass), GSignalFlags(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_serving_sink_get_stats), nullptr, nullptr, nullptr, GST_TYPE_STRUCTURE, 1,
      G_TYPE_UINT64);
  /**
   * GstServingSink::remove:
   * @id: the client's id
   *
   * Disconnects a client (status removed). Returns FALSE for an unknown id.
   */
  gst_serving_sink_signals[SIGNAL_REMOVE] = g_signal_new_class_handler(
      "remove", G_TYPE_FROM_CLASS(klass), GSignalFlags(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_serving_sink_remove), nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 1,
      G_TYPE_UINT64);
  /**
   * GstServingSink::report-output:
   * @name: the output's name ("rtmp/rtmp")
   * @state: "starting", "running" or "down"
   * @why: down: the reason, in words
   *
   * Reports an output beside the streams — a push to a server, a recorder — on this sink's
   * server: `/`, `/api/streams` ("outputs") and `/metrics` (camcast_output_up) show it from then
   * on. The camcast launcher reports each output part of its pipeline files; an application
   * may report its own. At most 64 names a server; the name is cut at 200 bytes, the reason at
   * 1000.
   */
  gst_serving_sink_signals[SIGNAL_REPORT_OUTPUT] = g_signal_new_class_handler(
      "report-output", G_TYPE_FROM_CLASS(klass), GSignalFlags(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_serving_sink_report_output), nullptr, nullptr, nullptr, G_TYPE_NONE, 3,
      G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

static void gst_serving_sink_class_init(GstServingSinkClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS(klass);

  gobject_class->set_property = gst_serving_sink_set_property;
  gobject_class->get_property = gst_serving_sink_get_property;
  gobject_class->finalize = gst_serving_sink_finalize;
  element_class->change_state = gst_serving_sink_change_state;
  basesink_class->set_caps = gst_serving_sink_set_caps;
  basesink_class->render = gst_serving_sink_render;
  basesink_class->render_list = gst_serving_sink_render_list;
  klass->page = nullptr;
  klass->websocket = TRUE;
  klass->caps_changed = gst_serving_sink_default_caps_changed;
  klass->handle_buffer = gst_serving_sink_default_handle_buffer;
  klass->serve_http = gst_serving_sink_default_serve_http;

  install_where_properties(gobject_class);
  install_lag_properties(gobject_class, PROP_LAG);
  install_viewer_properties(gobject_class);
  install_access_properties(gobject_class, PROP_ACCESS);
  install_public_property(gobject_class);
  install_server_properties(gobject_class, PROP_SERVER);
  install_statistics_properties(gobject_class);
  install_signals(klass);

  gst_type_mark_as_plugin_api(GST_TYPE_WS_SYNC_METHOD, GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(GST_TYPE_WS_RECOVER_POLICY, GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(GST_TYPE_WS_CLIENT_STATUS, GstPluginAPIFlags(0));
}
