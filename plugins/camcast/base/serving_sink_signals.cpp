#include "serving_sink_private.h"

#define GST_CAT_DEFAULT gst_serving_sink_debug

using namespace camcast;

GstStructure *gst_serving_sink_get_stats(GstServingSink *sink, guint64 id) {
  GstStructure *s = gst_structure_new_empty("wssink-stats");
  ClientStats c;
  auto mount = gst_serving_sink_priv(sink)->current_mount();
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

gboolean gst_serving_sink_remove(GstServingSink *sink, guint64 id) {
  auto mount = gst_serving_sink_priv(sink)->current_mount();
  return mount && mount->remove_client(id);
}

void gst_serving_sink_report_output(GstServingSink *sink, const gchar *name, const gchar *state,
                                    const gchar *why) {
  const bool known = state && (g_str_equal(state, "starting") || g_str_equal(state, "running") ||
                               g_str_equal(state, "down"));
  if (!name || !*name || !known) {
    GST_WARNING_OBJECT(sink, "report-output needs a name and starting, running or down");
    return;
  }
  ServingSinkPrivate *priv = gst_serving_sink_priv(sink);
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
