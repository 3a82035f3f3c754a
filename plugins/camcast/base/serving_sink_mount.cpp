#include "serving_sink_private.h"

#include "net/status_phrase.h"

#include <gst/video/video.h>

#include <cstring>

#define GST_CAT_DEFAULT gst_serving_sink_debug

using namespace camcast;

void ServingSinkPrivate::client_added(uint64_t id) {
  GST_DEBUG_OBJECT(sink, "client %" G_GUINT64_FORMAT ": added", id);
  g_signal_emit(sink, gst_serving_sink_signals[SIGNAL_CLIENT_ADDED], 0, static_cast<guint64>(id));
  if (wake())
    GST_INFO_OBJECT(sink, "a viewer came: the branch works again");
  else
    request_keyframe();
}

void ServingSinkPrivate::tick(gint64 now) {
  if (resource)
    resource->tick(now);
  const std::shared_ptr<Mount> serving = current_mount();
  IdleBranch::Change change;
  bool keyframe_due;
  {
    std::lock_guard<std::mutex> lk(lock);
    keyframe_due = keyframes.due(now, kKeyframeRequestIntervalUs);
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

void ServingSinkPrivate::fill_stats(MountStats *stats) {
  if (resource)
    resource->fill_stats(stats);
  std::lock_guard<std::mutex> lk(lock);
  stats->idle = idle.idle();
}

void ServingSinkPrivate::serving(Mount *mount) {
  if (resource)
    resource->serving(mount);
}

void ServingSinkPrivate::client_removed(uint64_t id, ClientStatus status) {
  GST_DEBUG_OBJECT(sink, "client %" G_GUINT64_FORMAT ": removed (%s)", id,
                   client_status_nick(status));
  g_signal_emit(sink, gst_serving_sink_signals[SIGNAL_CLIENT_REMOVED], 0, static_cast<guint64>(id),
                static_cast<gint>(status));
}

bool ServingSinkPrivate::serve_http(SoupServerMessage *msg, std::string_view rest) {
  if (resource && resource->serve_http(msg, rest))
    return true;
  std::string r(rest);
  GstServingSinkClass *klass = serving_sink_class_of(sink);
  return klass->serve_http && klass->serve_http(sink, msg, r.c_str());
}

bool ServingSinkPrivate::serve_root(SoupServerMessage *msg, std::string_view query) {
  const std::string q(query);
  GstServingSinkClass *klass = serving_sink_class_of(sink);
  return klass->serve_root && klass->serve_root(sink, msg, q.c_str());
}

bool ServingSinkPrivate::upload(SoupServerMessage *msg, std::string_view rest) {
  return resource && resource->upload(msg, rest);
}

bool ServingSinkPrivate::serve_api(SoupServerMessage *msg, std::string_view rest) {
  return resource && resource->serve_api(msg, rest);
}

goffset ServingSinkPrivate::body_limit(std::string_view method, std::string_view rest) {
  return resource ? resource->body_limit(method, rest) : -1;
}

bool ServingSinkPrivate::open() {
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
    path = this->path.empty() ? serving_sink_class_of(sink)->default_path : this->path;
    // From the class, known only now: during instance init GObject shows the base class.
    settings.ws_delivery =
        serving_sink_class_of(sink)->websocket_pull ? Delivery::Pull : Delivery::Stream;
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
  auto fresh =
      std::make_shared<Mount>(resource ? resource->listed_at(canonical) : canonical,
                              factory ? gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory))
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

void ServingSinkPrivate::close() {
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
