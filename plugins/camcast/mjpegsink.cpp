/**
 * SECTION:element-mjpegsink
 * @title: mjpegsink
 * @see_also: jpegenc, v4l2jpegenc, wssink
 *
 * mjpegsink serves JPEG frames three ways, all from one queue that holds only the newest frame:
 *
 * - `GET path/snapshot.jpg`: the next frame (`Cache-Control: no-store`), captured after the
 *   request came — never an older one, however long the output idled — for home-automation
 *   tools that poll a picture.
 * - `GET path/stream.mjpg`: MJPEG (`multipart/x-mixed-replace`) for `<img src=…>` in
 *   dashboards. Each viewer gets the newest frame whenever its socket has drained — nothing
 *   queues per viewer, so a slow link simply sees fewer frames, never old ones. Every part
 *   carries `X-Timestamp` (capture time, seconds since the epoch), and the next boundary goes out
 *   right after each frame so Chrome draws it at once instead of one frame late (crbug 527446).
 * - WebSocket at `path`: the pull protocol. The client sends the text `next` when it has shown
 *   a picture and gets the newest one it has not seen (or the next one to come). Each binary
 *   message is 16 bytes — the capture time in µs since the epoch and the frame's number, both
 *   big-endian 64-bit — then the JPEG. The rate follows each viewer's link and machine.
 *
 * mjpg-streamer's addresses answer too, for the 3D-printer hosts that ask for them (OctoPrint,
 * Mainsail, Fluidd, crowsnest): `/?action=stream` and `/?action=snapshot` at the root of the port
 * (the first mjpegsink of the port, in path order, answers) and after the sink's path
 * (`path/?action=stream`).
 *
 * `GET path` serves a page that plays the pull protocol and shows the latency. One server per
 * port, statistics and the client signals come from #GstServingSink; the lag settings do not apply
 * (no viewer ever has a backlog).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=15/1 ! \
 *     jpegenc quality=80 ! mjpegsink port=8080
 * ]| Open http://HOST:8080/mjpeg, or put `<img src="http://HOST:8080/mjpeg/stream.mjpg">` in a
 * page; http://HOST:8080/mjpeg/snapshot.jpg is the newest picture.
 * |[
 * gst-launch-1.0 libcamerasrc ! video/x-raw,width=1280,height=720,format=NV12 ! v4l2jpegenc ! \
 *     mjpegsink port=8080
 * ]| The same from a Raspberry Pi camera with the Pi's hardware JPEG encoder.
 */
#include "mjpegsink.h"

#include "formats/json.h"

#include "framing/framer.h"

#include <cinttypes>
#include <cstring>

GST_DEBUG_CATEGORY_STATIC(gst_mjpeg_sink_debug);
#define GST_CAT_DEFAULT gst_mjpeg_sink_debug

struct _GstMjpegSink {
  GstServingSink parent;
};

G_DEFINE_TYPE_WITH_CODE(GstMjpegSink, gst_mjpeg_sink, GST_TYPE_SERVING_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_mjpeg_sink_debug, "mjpegsink", 0,
                                                "camcast JPEG sink"));
GST_ELEMENT_REGISTER_DEFINE(mjpegsink, "mjpegsink", GST_RANK_NONE, GST_TYPE_MJPEG_SINK);

// The stream's description for the player, sent to each WebSocket client first.
static gboolean gst_mjpeg_sink_caps_changed(GstServingSink *ws, GstCaps *caps) {
  GstStructure *s = gst_caps_get_structure(caps, 0);
  camcast::StreamDescription d;
  d.format = "jpeg";
  gst_structure_get_int(s, "width", &d.width);
  gst_structure_get_int(s, "height", &d.height);
  gst_serving_sink_set_stream_header(ws, d.json().c_str(), nullptr, 0);
  return TRUE;
}

// Every JPEG stands alone: any frame is a place to start.
static GstFlowReturn gst_mjpeg_sink_handle_buffer(GstServingSink *ws, GstBuffer *buffer) {
  gst_serving_sink_push_unit(ws, buffer, TRUE);
  return GST_FLOW_OK;
}

// The snapshot: the first frame captured after the request came (an idle output is woken for
// it), within two seconds; 503 if none comes.
static void answer_snapshot(GstServingSink *, SoupServerMessage *msg, GstBuffer *frame,
                            gint64 capture_us) {
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Cache-Control", camcast::kNoStore);
  if (!frame) {
    soup_message_headers_replace(headers, "Retry-After", "1");
    const char *why = "no frame yet: the pipeline has not produced one\n";
    gst_serving_sink_respond(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "text/plain", why, strlen(why));
    return;
  }
  if (capture_us >= 0)
    soup_message_headers_replace(headers, "X-Timestamp",
                                 camcast::timestamp_header(capture_us).c_str());
  GstMapInfo map;
  if (gst_buffer_map(frame, &map, GST_MAP_READ)) {
    gst_serving_sink_respond(msg, SOUP_STATUS_OK, "image/jpeg", reinterpret_cast<char *>(map.data),
                             map.size);
    gst_buffer_unmap(frame, &map);
  }
}

static void serve_stream(GstServingSink *ws, SoupServerMessage *msg) {
  gst_serving_sink_serve_multipart(ws, msg, "image/jpeg");
}

static void serve_snapshot(GstServingSink *ws, SoupServerMessage *msg) {
  gst_serving_sink_serve_next(ws, msg, answer_snapshot);
}

// mjpg-streamer's addresses, which OctoPrint, Mainsail, Fluidd and crowsnest ask for:
// `?action=stream` and `?action=snapshot` (at the root of its port, or after a path).
static gboolean serve_action(GstServingSink *ws, SoupServerMessage *msg, const char *query) {
  g_autoptr(GHashTable) params =
      query ? g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, nullptr) : nullptr;
  const char *action =
      params ? static_cast<const char *>(g_hash_table_lookup(params, "action")) : nullptr;
  if (g_strcmp0(action, "stream") == 0)
    serve_stream(ws, msg);
  else if (g_strcmp0(action, "snapshot") == 0)
    serve_snapshot(ws, msg);
  else
    return FALSE;
  return TRUE;
}

static gboolean gst_mjpeg_sink_serve_root(GstServingSink *ws, SoupServerMessage *msg,
                                          const char *query) {
  return serve_action(ws, msg, query);
}

static gboolean gst_mjpeg_sink_serve_http(GstServingSink *ws, SoupServerMessage *msg,
                                          const char *rest) {
  if (strcmp(rest, "/snapshot.jpg") == 0) {
    serve_snapshot(ws, msg);
    return TRUE;
  }
  if (strcmp(rest, "/stream.mjpg") == 0) {
    serve_stream(ws, msg);
    return TRUE;
  }
  if ((!*rest || strcmp(rest, "/") == 0) &&
      serve_action(ws, msg, g_uri_get_query(soup_server_message_get_uri(msg))))
    return TRUE;
  return GST_SERVING_SINK_CLASS(gst_mjpeg_sink_parent_class)->serve_http(ws, msg, rest);
}

static void gst_mjpeg_sink_init(GstMjpegSink *sink) {}

static void gst_mjpeg_sink_class_init(GstMjpegSinkClass *klass) {
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstServingSinkClass *ws_class = GST_SERVING_SINK_CLASS(klass);

  ws_class->default_path = "/mjpeg";
  ws_class->page = "/camcast/web/player.html";
  ws_class->websocket_pull = TRUE;
  ws_class->caps_changed = gst_mjpeg_sink_caps_changed;
  ws_class->handle_buffer = gst_mjpeg_sink_handle_buffer;
  ws_class->serve_http = gst_mjpeg_sink_serve_http;
  ws_class->serve_root = gst_mjpeg_sink_serve_root;

  static GstStaticPadTemplate sink_template =
      GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("image/jpeg"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(
      element_class, "JPEG to browsers (snapshot, MJPEG, pull)", "Sink/Network",
      "Serves JPEG frames as a snapshot URL, an MJPEG stream for <img> and a "
      "pull-based WebSocket stream whose rate follows each viewer, with a player page",
      "camcast developers");
}
