#include "serving_sink_private.h"

#include "net/status_phrase.h"

#include <cstring>

#define GST_CAT_DEFAULT gst_serving_sink_debug

using namespace camcast;

void gst_serving_sink_serve_multipart(GstServingSink *sink, SoupServerMessage *msg,
                                      const char *part_type) {
  if (auto mount = gst_serving_sink_priv(sink)->current_mount())
    mount->accept_multipart(msg, part_type);
}

void gst_serving_sink_serve_next(GstServingSink *sink, SoupServerMessage *msg,
                                 GstServingSinkUnitFunc answer) {
  auto mount = gst_serving_sink_priv(sink)->current_mount();
  if (!mount) {
    answer(sink, msg, nullptr, -1);
    return;
  }
  mount->serve_next(msg, GST_SERVING_SINK_NEXT_WAIT_MS * G_TIME_SPAN_MILLISECOND,
                    [sink, answer](SoupServerMessage *m, const camcast::UnitRef &unit) {
                      answer(sink, m, unit ? unit->buffer() : nullptr,
                             unit ? unit->capture_us : -1);
                    });
}

void gst_serving_sink_set_resource(GstServingSink *sink, MountDelegate *resource) {
  gst_serving_sink_priv(sink)->resource = resource;
}

camcast::AccessPolicy gst_serving_sink_access_policy(GstServingSink *sink, bool *is_public) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
  std::lock_guard<std::mutex> lk(priv->lock);
  *is_public = priv->is_public;
  return priv->policy;
}

camcast::TlsSettings gst_serving_sink_tls(GstServingSink *sink) {
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
  std::lock_guard<std::mutex> lk(priv->lock);
  return priv->server_settings.tls;
}

void gst_serving_sink_respond(SoupServerMessage *msg, guint status, const char *content_type,
                              const char *body, gsize len) {
  camcast::set_answer(msg, status, content_type, std::string_view(body, len));
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
  gst_serving_sink_respond(msg, SOUP_STATUS_OK, content_type_for(resource), data, size);
  return TRUE;
}

gboolean gst_serving_sink_default_serve_http(GstServingSink *sink, SoupServerMessage *msg,
                                             const char *rest) {
  GstServingSinkClass *klass = serving_sink_class_of(sink);
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
  gst_serving_sink_respond(msg, SOUP_STATUS_OK, "text/html; charset=utf-8", body, strlen(body));
  return TRUE;
}
