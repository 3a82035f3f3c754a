/**
 * SECTION:element-onvifsink
 * @title: onvifsink
 * @see_also: rtspsink, mjpegsink
 *
 * onvifsink answers ONVIF's device and media services (the part of Profile S that NVRs use to
 * add a camera and play it: UniFi Protect, Synology Surveillance Station, Blue Iris, Home
 * Assistant's ONVIF integration) at `path` (default `/onvif`:
 * `http://HOST:8080/onvif/device_service` and `/onvif/media_service`) on the HTTP server of its
 * `port`, as the other camcast sinks share it. It is fed the H.264 stream that an `rtspsink` of the
 * same pipeline serves (named by `rtsp-sink`), for its size and rate; it sends nothing itself. An
 * NVR reads what the camera is (GetDeviceInformation), its one profile (GetProfiles: H.264 at the
 * stream's size), the stream's RTSP address (GetStreamUri: the rtspsink's, `rtsps://` when it has a
 * certificate) and a still picture's (GetSnapshotUri: `snapshot-path` on this server, with the
 * access token).
 *
 * With `discovery` (on by default) it announces itself and answers NVRs' probes by WS-Discovery
 * (UDP 3702, the multicast group 239.255.255.250), naming its device service's address as each
 * NVR reaches the machine, so that NVRs find the camera by themselves.
 *
 * On a private camera every request but the few a client needs before it can sign
 * (GetSystemDateAndTime, GetCapabilities, GetServices) carries WS-Security's UsernameToken:
 * PasswordDigest with the access token as the password, under any user name (what NVRs send),
 * or PasswordText with the token or a user of `users-file` and their password (the users file
 * keeps only yescrypt hashes, which a digest cannot be checked against). Anything else is
 * answered 400 with ter:NotAuthorized. `public=true` opens it as it opens a stream.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse ! tee name=h264 \
 *   h264. ! queue ! rtspsink name=rtsp \
 *   h264. ! queue ! onvifsink rtsp-sink=rtsp
 * ]| An NVR adds the camera at http://HOST:8080/onvif/device_service.
 */
#include "onvifsink.h"

#include "onvif/onvif_resource.h"
#include "onvif/ws_discovery.h"

#include <memory>
#include <mutex>

GST_DEBUG_CATEGORY_STATIC(gst_onvif_sink_debug);
#define GST_CAT_DEFAULT gst_onvif_sink_debug

using camcast::OnvifResource;

enum { PROP_0, PROP_RTSP_SINK, PROP_SNAPSHOT_PATH, PROP_DISCOVERY };

struct _GstOnvifSink {
  GstServingSink parent;
  OnvifResource *resource;
  std::mutex *lock;  // the two below
  std::string *rtsp_sink;
  std::string *snapshot_path;
  bool discovery;
  camcast::WsDiscovery *wsd;  // state changes only
};

G_DEFINE_TYPE_WITH_CODE(GstOnvifSink, gst_onvif_sink, GST_TYPE_SERVING_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_onvif_sink_debug, "onvifsink", 0,
                                                "camcast ONVIF services"));
GST_ELEMENT_REGISTER_DEFINE(onvifsink, "onvifsink", GST_RANK_NONE, GST_TYPE_ONVIF_SINK);

// Where the named rtspsink serves now, and the still picture (server thread, per request).
static OnvifResource::Places places_of(GWeakRef *weak) {
  OnvifResource::Places places;
  GstOnvifSink *sink = GST_ONVIF_SINK(g_weak_ref_get(weak));
  if (!sink)
    return places;
  std::string name;
  {
    std::lock_guard<std::mutex> lk(*sink->lock);
    name = *sink->rtsp_sink;
    places.snapshot_path = *sink->snapshot_path;
  }
  GstObject *top = GST_OBJECT(gst_object_ref(sink));
  while (GstObject *parent = gst_object_get_parent(top)) {
    gst_object_unref(top);
    top = parent;
  }
  GstElement *rtsp = GST_IS_BIN(top) ? gst_bin_get_by_name(GST_BIN(top), name.c_str()) : nullptr;
  gst_object_unref(top);
  if (rtsp && g_object_class_find_property(G_OBJECT_GET_CLASS(rtsp), "current-rtsp-port")) {
    gchar *path = nullptr, *certificate = nullptr;
    g_object_get(rtsp, "current-rtsp-port", &places.rtsp_port, "path", &path, "tls-certificate",
                 &certificate, nullptr);
    places.rtsp_path = path && *path ? path : "/video";
    places.rtsps = certificate && *certificate;
    g_free(path);
    g_free(certificate);
  }
  if (rtsp)
    gst_object_unref(rtsp);
  g_object_unref(sink);
  return places;
}

static gboolean gst_onvif_sink_caps_changed(GstServingSink *ws, GstCaps *caps) {
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  int width = 0, height = 0, fps_n = 0, fps_d = 0;
  gst_structure_get_int(s, "width", &width);
  gst_structure_get_int(s, "height", &height);
  gst_structure_get_fraction(s, "framerate", &fps_n, &fps_d);
  GST_ONVIF_SINK(ws)->resource->set_video(width, height,
                                          fps_d > 0 ? (fps_n + fps_d - 1) / fps_d : 0);
  return TRUE;
}

// The path the services are under ("/onvif").
static std::string services_path(gpointer sink) {
  gchar *path = nullptr;
  g_object_get(sink, "path", &path, nullptr);
  std::string at = path && *path ? path : "/onvif";
  g_free(path);
  while (at.size() > 1 && at.back() == '/')
    at.pop_back();
  return at;
}

// GET of the path (a person looking): where the services are. Nothing else is served by GET.
static gboolean gst_onvif_sink_serve_http(GstServingSink *ws, SoupServerMessage *msg,
                                          const char *rest) {
  if (*rest)
    return FALSE;
  const std::string at = services_path(ws);
  const std::string text = "ONVIF: the device service is at " + at +
                           "/device_service and the media service at " + at +
                           "/media_service (SOAP over POST, signed with WS-Security); NVRs find "
                           "them by WS-Discovery or are given this camera's address.\n";
  gst_serving_sink_respond(msg, 200, "text/plain; charset=utf-8", text.data(), text.size());
  return TRUE;
}

// The stream is only looked at (its caps): nothing is sent.
static GstFlowReturn gst_onvif_sink_handle_buffer(GstServingSink *, GstBuffer *) {
  return GST_FLOW_OK;
}

// WS-Discovery, once the HTTP port is known: NVRs on the network find the device service. A
// UDP port 3702 that cannot be had costs the finding alone (a warning): the services answer.
static void start_discovery(GstOnvifSink *sink) {
  {
    std::lock_guard<std::mutex> lk(*sink->lock);
    if (!sink->discovery)
      return;
  }
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  const std::string canonical = services_path(sink);
  camcast::WsDiscovery::Identity identity;
  identity.endpoint = camcast::WsDiscovery::endpoint_for(port);
  identity.scopes =
      "onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/type/"
      "video_encoder onvif://www.onvif.org/name/camcast";
  identity.http_port = port;
  identity.https = gst_serving_sink_tls(GST_SERVING_SINK(sink)).enabled();
  identity.path = canonical + "/device_service";
  GError *error = nullptr;
  if (!sink->wsd->start(identity, &error)) {
    GST_ELEMENT_WARNING(sink, RESOURCE, OPEN_READ_WRITE,
                        ("%s; NVRs can still add the camera by its address", error->message),
                        (nullptr));
    g_error_free(error);
  }
}

static GstStateChangeReturn gst_onvif_sink_change_state(GstElement *element,
                                                        GstStateChange transition) {
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    bool is_public = false;
    camcast::AccessPolicy policy =
        gst_serving_sink_access_policy(GST_SERVING_SINK(element), &is_public);
    std::string why;
    policy.load_users(&why);  // (a users file that will not load stops the sink in the base)
    camcast::OnvifDevice device;
    device.firmware = PACKAGE_VERSION;
    device.serial = g_get_host_name();
    GST_ONVIF_SINK(element)->resource->set_settings(policy, is_public, device);
  }
  const GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_onvif_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && ret != GST_STATE_CHANGE_FAILURE)
    start_discovery(GST_ONVIF_SINK(element));
  else if (transition == GST_STATE_CHANGE_READY_TO_NULL)
    GST_ONVIF_SINK(element)->wsd->stop();
  return ret;
}

static void gst_onvif_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                        GParamSpec *pspec) {
  GstOnvifSink *sink = GST_ONVIF_SINK(object);
  const char *text = G_VALUE_HOLDS_STRING(value) ? g_value_get_string(value) : nullptr;
  std::lock_guard<std::mutex> lk(*sink->lock);
  if (prop_id == PROP_RTSP_SINK)
    *sink->rtsp_sink = text ? text : "";
  else if (prop_id == PROP_SNAPSHOT_PATH)
    *sink->snapshot_path = text ? text : "";
  else if (prop_id == PROP_DISCOVERY)
    sink->discovery = g_value_get_boolean(value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
}

static void gst_onvif_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                        GParamSpec *pspec) {
  GstOnvifSink *sink = GST_ONVIF_SINK(object);
  std::lock_guard<std::mutex> lk(*sink->lock);
  if (prop_id == PROP_RTSP_SINK)
    g_value_set_string(value, sink->rtsp_sink->c_str());
  else if (prop_id == PROP_SNAPSHOT_PATH)
    g_value_set_string(value, sink->snapshot_path->c_str());
  else if (prop_id == PROP_DISCOVERY)
    g_value_set_boolean(value, sink->discovery);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
}

static void gst_onvif_sink_init(GstOnvifSink *sink) {
  sink->lock = new std::mutex;
  sink->rtsp_sink = new std::string("rtsp");
  sink->snapshot_path = new std::string;
  sink->discovery = true;
  sink->wsd = new camcast::WsDiscovery;
  auto *weak = new GWeakRef;
  g_weak_ref_init(weak, sink);
  sink->resource = new OnvifResource([weak] { return places_of(weak); });
  // (the weak reference lives as long as the resource: both go in finalize)
  g_object_set_data_full(G_OBJECT(sink), "camcast-onvif-weak", weak, [](gpointer w) {
    g_weak_ref_clear(static_cast<GWeakRef *>(w));
    delete static_cast<GWeakRef *>(w);
  });
  gst_serving_sink_set_resource(GST_SERVING_SINK(sink), sink->resource);
}

static void gst_onvif_sink_finalize(GObject *object) {
  GstOnvifSink *sink = GST_ONVIF_SINK(object);
  delete sink->wsd;
  delete sink->resource;
  delete sink->rtsp_sink;
  delete sink->snapshot_path;
  delete sink->lock;
  G_OBJECT_CLASS(gst_onvif_sink_parent_class)->finalize(object);
}

static void gst_onvif_sink_class_init(GstOnvifSinkClass *klass) {
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstServingSinkClass *ws_class = GST_SERVING_SINK_CLASS(klass);
  object_class->set_property = gst_onvif_sink_set_property;
  object_class->get_property = gst_onvif_sink_get_property;
  object_class->finalize = gst_onvif_sink_finalize;
  element_class->change_state = gst_onvif_sink_change_state;

  g_object_class_install_property(
      object_class, PROP_RTSP_SINK,
      g_param_spec_string("rtsp-sink", "RTSP sink",
                          "Name of the rtspsink in this pipeline whose stream the ONVIF "
                          "profile is (GetStreamUri answers its address)",
                          "rtsp", GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      object_class, PROP_SNAPSHOT_PATH,
      g_param_spec_string("snapshot-path", "Snapshot path",
                          "Path of a JPEG still picture on this HTTP server, for "
                          "GetSnapshotUri (mjpegsink's: /mjpeg/snapshot.jpg); empty: none",
                          "", GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));

  g_object_class_install_property(
      object_class, PROP_DISCOVERY,
      g_param_spec_boolean("discovery", "Discovery",
                           "Announce the camera and answer NVRs' probes by WS-Discovery "
                           "(multicast on UDP 3702), so that they find it by themselves. Takes "
                           "effect on the next NULL to READY",
                           TRUE, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));

  ws_class->default_path = "/onvif";
  ws_class->websocket = FALSE;
  ws_class->caps_changed = gst_onvif_sink_caps_changed;
  ws_class->handle_buffer = gst_onvif_sink_handle_buffer;
  ws_class->serve_http = gst_onvif_sink_serve_http;

  static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
      "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-h264"));
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(
      element_class, "ONVIF device and media services", "Sink/Network",
      "Answers ONVIF's device and media services (Profile S) for NVRs: the camera's profile, "
      "the RTSP address of an rtspsink's stream and a still picture's, under WS-Security",
      "camcast developers");
}
