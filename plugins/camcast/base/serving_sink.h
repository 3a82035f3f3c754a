// GstServingSink: the abstract base of camcast's serving sinks (wssink, msesink, jsmpegsink,
// mjpegsink, whepsink). It serves the sink's stream at `path` on the shared server of
// `address`:`port` (a mount), with access control, viewers' lag limits, idle branches, sound and
// ladder inputs; a subclass turns its buffers into units and may speak a protocol of its own
// there (gst_serving_sink_set_resource).
//
// Its files, each using only those listed before it (no circle: .ci/circles checks):
//   serving_sink_private.h    the state, and the accessors every file uses
//   serving_sink_branches.cpp the branches that feed the sink: idling, keyframe requests
//   serving_sink_stream.cpp   units and stream headers from the subclass; capture times
//   serving_sink_mount.cpp    the mount it serves through, as its MountDelegate
//   serving_sink_pages.cpp    the page, the player's files, snapshots, multipart streams
//   serving_sink_signals.cpp  the action signals
//   serving_sink_audio.cpp    the sound input; serving_sink_rungs.cpp the ladder's inputs
//   serving_sink_inputs.cpp   the inputs on request, and the class functions that add them
//   serving_sink.cpp          the GObject: properties, signals, pads, states
// and beside them, each of its own: the property groups (*_properties), idle_branch,
// connection_report and graph, which other elements use too.
#pragma once

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define GST_TYPE_SERVING_SINK (gst_serving_sink_get_type())
#define GST_SERVING_SINK(obj) \
  (G_TYPE_CHECK_INSTANCE_CAST((obj), GST_TYPE_SERVING_SINK, GstServingSink))
#define GST_SERVING_SINK_CLASS(klass) \
  (G_TYPE_CHECK_CLASS_CAST((klass), GST_TYPE_SERVING_SINK, GstServingSinkClass))
#define GST_SERVING_SINK_GET_CLASS(obj) \
  (G_TYPE_INSTANCE_GET_CLASS((obj), GST_TYPE_SERVING_SINK, GstServingSinkClass))
#define GST_IS_SERVING_SINK(obj) (G_TYPE_CHECK_INSTANCE_TYPE((obj), GST_TYPE_SERVING_SINK))
typedef struct _GstServingSink GstServingSink;
typedef struct _GstServingSinkClass GstServingSinkClass;
GType gst_serving_sink_get_type(void);

struct _GstServingSink {
  GstBaseSink parent;
  /*< private >*/
  gpointer priv;  // the C++ side (serving_sink_private.h)
};
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GstServingSink, gst_object_unref)

#define GST_TYPE_WS_SYNC_METHOD (gst_ws_sync_method_get_type())
#define GST_TYPE_WS_RECOVER_POLICY (gst_ws_recover_policy_get_type())
#define GST_TYPE_WS_CLIENT_STATUS (gst_ws_client_status_get_type())
GType gst_ws_sync_method_get_type(void);
GType gst_ws_recover_policy_get_type(void);
GType gst_ws_client_status_get_type(void);

struct _GstServingSinkClass {
  GstBaseSinkClass parent_class;

  // Path served when the `path` property is not set.
  const char *default_path;
  // GResource path of the page served at GET <path> (NULL: a short description). The page's
  // scripts load from <path>/<file>, which serves /camcast/web/<file>.
  const char *page;
  // WebSocket clients pull: each gets the newest frame it has not seen when it sends `next`, and
  // every message starts with the frame's capture time and number (16 bytes, big-endian). For
  // streams of keyframes only (JPEG). FALSE: every frame in order, under the lag policy.
  gboolean websocket_pull;
  // Whether WebSocket viewers may join at `path` (TRUE; FALSE for whepsink, which feeds none).
  gboolean websocket;

  // New caps: the default sends the caps' `streamheader` buffers as the stream header.
  gboolean (*caps_changed)(GstServingSink *sink, GstCaps *caps);
  // One input buffer: the default queues it as one message (a keyframe unless DELTA_UNIT),
  // skipping HEADER buffers already sent as the stream header.
  GstFlowReturn (*handle_buffer)(GstServingSink *sink, GstBuffer *buffer);
  // GET <path><rest> without an upgrade, and what the sink's resource
  // (gst_serving_sink_set_resource) leaves to it. Called on the server thread; return FALSE for
  // 404.
  gboolean (*serve_http)(GstServingSink *sink, SoupServerMessage *msg, const char *rest);
  // A request for the server's root with a query (`/?QUERY`: mjpg-streamer's `/?action=stream`)
  // that this sink answers in place of the index; NULL or FALSE: it does not. Server thread.
  gboolean (*serve_root)(GstServingSink *sink, SoupServerMessage *msg, const char *query);
  // The sound input of subclasses that add one (gst_serving_sink_class_add_audio_input): new caps
  // (FALSE refuses them); each buffer (the callee's to unref) with the input's segment, on its
  // streaming thread; and what is held must go — a flush, or (`gone`) the input released or the
  // element stopped, when its caps are forgotten too.
  gboolean (*audio_caps_changed)(GstServingSink *sink, GstCaps *caps);
  GstFlowReturn (*handle_audio)(GstServingSink *sink, GstBuffer *buffer, const GstSegment *segment);
  void (*audio_flushed)(GstServingSink *sink, gboolean gone);
  // The lower renditions of subclasses that serve a ladder
  // (gst_serving_sink_class_add_rung_inputs): new caps of rung `rung` (1, 2, …; the sink pad is
  // rung 0), and each of its buffers (the callee's to unref) with its input's segment, on that
  // input's streaming thread.
  gboolean (*rung_caps_changed)(GstServingSink *sink, guint rung, GstCaps *caps);
  GstFlowReturn (*handle_rung)(GstServingSink *sink, guint rung, GstBuffer *buffer,
                               const GstSegment *segment);

  gpointer _reserved[GST_PADDING - 1];
};

// For subclasses' class_init: an "audio" input on request (`templ`, named "audio", GST_PAD_REQUEST)
// beside the sink pad, fed to the audio_* methods. Linked alone, the element does not wait to
// preroll and the sound's end is the element's end of stream.
void gst_serving_sink_class_add_audio_input(GstServingSinkClass *klass,
                                            GstStaticPadTemplate *templ);
// Whether the audio input exists and is linked. Any thread.
gboolean gst_serving_sink_audio_linked(GstServingSink *sink);
// For subclasses' class_init: lower renditions of the stream on request (`templ`, named
// "rung_%u", GST_PAD_REQUEST), rung_1 the next below the sink pad's, fed to rung_caps_changed
// and handle_rung. Each viewer is on one rung and moves by itself as its link allows; a rung's
// branch idles while nobody is on it.
void gst_serving_sink_class_add_rung_inputs(GstServingSinkClass *klass,
                                            GstStaticPadTemplate *templ);
// The rungs linked, 1 for none (the sink pad alone). Any thread.
guint gst_serving_sink_n_rungs(GstServingSink *sink);
// gst_serving_sink_push_unit_at() and gst_serving_sink_set_stream_header() for rung `rung` (0: the
// sink pad's, as the two above).
void gst_serving_sink_push_rung_unit(GstServingSink *sink, guint rung, GstBuffer *buffer,
                                     gboolean keyframe, gint64 capture_us);
void gst_serving_sink_set_rung_stream_header(GstServingSink *sink, guint rung, const char *text,
                                             GstBuffer **buffers, guint n_buffers);
// For subclasses: queue one message for every client (the buffer is referenced, not copied).
// Any thread. Its capture time is gst_serving_sink_capture_time()'s.
void gst_serving_sink_push_unit(GstServingSink *sink, GstBuffer *buffer, gboolean keyframe);
// The same with a capture time the subclass has already worked out (µs since the epoch).
void gst_serving_sink_push_unit_at(GstServingSink *sink, GstBuffer *buffer, gboolean keyframe,
                                   gint64 capture_us);
// For subclasses: replace the stream header sent on join (and to everyone on change), with an
// optional text message (JSON metadata for the player) before the buffers.
void gst_serving_sink_set_stream_header(GstServingSink *sink, const char *text, GstBuffer **buffers,
                                        guint n_buffers);
// The wall-clock capture time of a buffer, µs since the epoch: its running time mapped onto the
// real-time clock (for a live source the running time is the capture time). Now if unknown.
gint64 gst_serving_sink_capture_time(GstServingSink *sink, GstBuffer *buffer);
// The same for a buffer of another input of the subclass's, in that input's segment.
gint64 gst_serving_sink_capture_time_in(GstServingSink *sink, const GstSegment *segment,
                                        GstBuffer *buffer);
// For subclasses, in serve_http: answers with a multipart/x-mixed-replace stream of the units as
// parts of type `part_type` (at most 48 characters; "image/jpeg" makes MJPEG for <img>), each
// client getting the newest when its socket has drained; HEAD included.
void gst_serving_sink_serve_multipart(GstServingSink *sink, SoupServerMessage *msg,
                                      const char *part_type);
// Called with a unit (not a reference of the callee's; NULL when none came) and its capture
// time, to answer `msg`.
typedef void (*GstServingSinkUnitFunc)(GstServingSink *sink, SoupServerMessage *msg,
                                       GstBuffer *unit, gint64 capture_us);
// For subclasses, in serve_http (server thread): answers `msg` with the first unit captured after
// the request came (an idle output is woken for it) — never an older one — or with NULL after
// GST_SERVING_SINK_NEXT_WAIT_MS; the request waits meanwhile (at most a frame interval and the
// encoder's time while the stream flows).
#define GST_SERVING_SINK_NEXT_WAIT_MS 2000
void gst_serving_sink_serve_next(GstServingSink *sink, SoupServerMessage *msg,
                                 GstServingSinkUnitFunc answer);
// For subclasses: asks upstream for a keyframe, at most twice a second (a viewer's picture
// loss). Any thread.
void gst_serving_sink_request_keyframe(GstServingSink *sink);
// For subclasses: reply to an HTTP request with a body (server thread).
void gst_serving_sink_respond(SoupServerMessage *msg, guint status, const char *content_type,
                              const char *body, gsize len);

// For subclasses with a ladder: asks the encoder of rung `rung` (0: the sink pad's) for a
// keyframe — a viewer moves to it, or lost its picture — waking its branch if it idles;
// rate-limited. Any thread.
void gst_serving_sink_request_rung_keyframe(GstServingSink *sink, guint rung);

G_END_DECLS

#ifdef __cplusplus
#include "access/access.h"
#include "access/tls.h"

namespace camcast {
class MountDelegate;
}
// The access control the sink's properties ask for (its users file not read yet), and whether
// its stream is public: for a subclass that serves on a port of its own (rtspsink). Any thread.
camcast::AccessPolicy gst_serving_sink_access_policy(GstServingSink *sink, bool *is_public);
// The certificate the sink's properties give its server (tls-certificate, tls-key), for a
// subclass that serves on a port of its own. Any thread.
camcast::TlsSettings gst_serving_sink_tls(GstServingSink *sink);
// For subclasses that speak a protocol of their own at their path (whepsink's WHEP): `resource`
// (the subclass's, living as long as the sink) answers requests to <path><rest> before
// serve_http, takes their bodies and uploads, has its own timeouts on the server's tick and
// adds to the statistics; its viewers are the mount's (Mount::add_viewer). Call in instance
// init.
void gst_serving_sink_set_resource(GstServingSink *sink, camcast::MountDelegate *resource);
#endif
