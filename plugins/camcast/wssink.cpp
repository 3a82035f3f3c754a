/**
 * SECTION:element-wssink
 * @title: wssink
 * @see_also: msesink, jsmpegsink, mjpegsink, tcpserversink
 *
 * wssink serves its input to any number of WebSocket clients, one buffer per binary message:
 * any byte stream (MPEG-TS for JSMpeg, custom formats) to browsers. Everything but that is
 * #GstServingSink's, the base of every camcast sink, whose properties and signals it has.
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

struct _GstWsSink {
  GstServingSink parent;
};

G_DEFINE_TYPE(GstWsSink, gst_ws_sink, GST_TYPE_SERVING_SINK);
GST_ELEMENT_REGISTER_DEFINE(wssink, "wssink", GST_RANK_NONE, GST_TYPE_WS_SINK);

static void gst_ws_sink_init(GstWsSink *) {}

static void gst_ws_sink_class_init(GstWsSinkClass *klass) {
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GST_SERVING_SINK_CLASS(klass)->default_path = "/ws";  // the base's defaults do the rest
  static GstStaticPadTemplate sink_template =
      GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(
      element_class, "WebSocket stream server", "Sink/Network",
      "Serves a stream to WebSocket clients, one buffer per message, "
      "with keyframe-aware joins and per-client lag limits",
      "camcast developers");
}
