// GstServingSink's state, and what its files share (serving_sink.h lists them).
#pragma once

#include "idle_branch.h"
#include "net/http_server.h"
#include "server_properties.h"
#include "serving_sink.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// Set up in class_init, used by every file of the base.
inline GstDebugCategory *gst_serving_sink_debug = nullptr;

enum {
  SIGNAL_CLIENT_ADDED,
  SIGNAL_CLIENT_REMOVED,
  SIGNAL_GET_STATS,
  SIGNAL_REMOVE,
  SIGNAL_REPORT_OUTPUT,
  N_SIGNALS
};
inline guint gst_serving_sink_signals[N_SIGNALS];  // registered in class_init

#define DEFAULT_KEYFRAME_ON_JOIN TRUE
#define DEFAULT_LINGER 0
#define DEFAULT_IDLE_AFTER 10
// However many viewers join a rung or move to it at once, ask its encoder for a keyframe at most
// this often.
inline constexpr gint64 kKeyframeRequestIntervalUs = 500 * G_TIME_SPAN_MILLISECOND;

// Keyframe requests to one encoder, at most one an `interval`: one asked too soon is not lost but
// sent once the interval is over (at a tick) — unless a keyframe came after it was asked (the
// last request's, say), which serves it. So a viewer that moves to a rung right after another's
// join or move gets its keyframe then, not a GOP later, and no keyframe is asked for in vain.
// ask() and due() under the owner's lock; seen() on the input's streaming thread.
struct KeyframeRequests {
  gint64 last = 0;                 // monotonic µs: the last sent
  std::atomic<gint64> pending{0};  // when the one waiting was asked, 0: none
  // Whether to send one now (`force`: regardless of the last); if not, it waits.
  bool ask(gint64 now, gint64 interval, bool force = false) {
    if (!force && now - last < interval) {
      gint64 none = 0;
      pending.compare_exchange_strong(none, now);
      return false;
    }
    last = now;
    pending = 0;
    return true;
  }
  // Whether the one waiting is due now.
  bool due(gint64 now, gint64 interval) { return pending && ask(now, interval); }
  // A keyframe passed: one asked before it has it.
  void seen(gint64 now) {
    gint64 asked = pending.load();
    if (asked && asked <= now)
      pending.compare_exchange_strong(asked, 0);
  }
};

// The sink and its class from any of its pointers, without a type check: the checked macros
// (GST_SERVING_SINK) would make every file of the base use the type's file (serving_sink.cpp),
// which uses them all.
inline GstServingSink *serving_sink_of(gpointer object) {
  return static_cast<GstServingSink *>(object);
}
inline GstServingSinkClass *serving_sink_class_of(gpointer object) {
  return reinterpret_cast<GstServingSinkClass *>(G_OBJECT_GET_CLASS(object));
}

// The C++ side of the element (the MountDelegate of its mount). Lock order: `lock` before
// anything of the server's; never held while calling into the server (which may emit signals back
// into the element).
struct ServingSinkPrivate final : public camcast::MountDelegate {
  explicit ServingSinkPrivate(GstServingSink *sink) : sink(sink) {}
  ~ServingSinkPrivate() override { clear_header(); }

  GstServingSink *sink;
  std::mutex lock;  // protects the settings below and `mount`/`server` pointers
  std::string address = camcast::kDefaultAddress;
  int port = camcast::kDefaultPort;
  std::string path;  // empty: the class's default path
  camcast::MountSettings settings;
  bool keyframe_on_join = DEFAULT_KEYFRAME_ON_JOIN;
  guint linger = DEFAULT_LINGER;            // s
  camcast::AccessPolicy policy;             // access control for the sink's server (off: no token)
  bool is_public = false;                   // this stream needs no credentials on a private server
  camcast::ServerSettings server_settings;  // TLS and limits of the sink's server
  KeyframeRequests keyframes;               // of the sink pad's encoder
  std::atomic<guint> idle_after{DEFAULT_IDLE_AFTER};  // s without viewers before it idles, 0 never
  camcast::IdleBranch idle;                           // under `lock`
  // The subclass's protocol at the sink's path (gst_serving_sink_set_resource), or null.
  camcast::MountDelegate *resource = nullptr;
  std::shared_ptr<camcast::HttpServer> server;
  std::shared_ptr<camcast::Mount> mount;
  // The subclass's lower renditions (wssink_rungs.cpp), by rung (1, 2, …): under `lock`, each
  // with its pad, segment (its streaming thread's), keyframe requests and idle branch. Rung 0
  // is the sink pad, whose branch is `idle`'s.
  struct RungInput {
    GstPad *pad = nullptr;  // the element's
    GstSegment segment;
    KeyframeRequests keyframes;
    camcast::IdleBranch idle;
  };
  std::map<guint, std::unique_ptr<RungInput>> rung_inputs;
  // The idle branches start and stop (READY to PAUSED and back): the output's and each rung's.
  void attach_idle_branches();
  void detach_idle_branches();
  // Every tick: each rung's branch idles while nobody is on it.
  void update_rung_branches(const std::shared_ptr<camcast::Mount> &serving, gint64 now);
  // The subclass's sound input (wssink_audio.cpp), if requested: under `lock`.
  GstPad *audio_pad = nullptr;
  // Its streaming thread: the segment its buffers are in.
  GstSegment audio_segment;
  // State changes: async turned off for sound alone (READY to PAUSED), back on at READY.
  bool async_turned_off = false;
  void audio_starting();
  void audio_stopped();

  // Streaming thread: buffers of the current streamheader, not queued as units again.
  std::vector<GstBuffer *> header;

  void clear_header();
  std::shared_ptr<camcast::Mount> current_mount() {
    std::lock_guard<std::mutex> lk(lock);
    return mount;
  }

  // NULL to READY: joins (or starts) the server of address:port and mounts the stream; false
  // with an element error posted. READY to NULL: unmounts it (lingering, with `linger`).
  bool open();
  void close();

  // MountDelegate: server thread. What the resource answers goes to it. (`serving` is declared
  // first: the vtable goes with it, into serving_sink_mount.cpp.)
  void serving(camcast::Mount *mount) override;
  void client_added(uint64_t id) override;
  void client_removed(uint64_t id, camcast::ClientStatus status) override;
  bool serve_http(SoupServerMessage *msg, std::string_view rest) override;
  bool upload(SoupServerMessage *msg, std::string_view rest) override;
  bool serve_root(SoupServerMessage *msg, std::string_view query) override;
  bool serve_api(SoupServerMessage *msg, std::string_view rest) override;
  goffset body_limit(std::string_view method, std::string_view rest) override;
  bool takes_websocket() const override { return serving_sink_class_of(sink)->websocket; }
  bool checks_access() const override { return resource && resource->checks_access(); }
  void tick(gint64 now) override;
  void fill_stats(camcast::MountStats *stats) override;
  void unit_wanted() override { wake(); }
  // A client moves to `rung` (any thread): wake its branch, ask for its keyframe.
  void keyframe_wanted(size_t rung) override;

  // A viewer, or a request waiting for a unit, is here: wakes an idle branch and then asks its
  // encoder for a keyframe at once. True if it was idle.
  bool wake();
  // Asks upstream for a keyframe; rate-limited unless `now` (a branch that just woke).
  void request_keyframe(bool now = false);
};

inline ServingSinkPrivate *gst_serving_sink_priv(gpointer sink) {
  return static_cast<ServingSinkPrivate *>(static_cast<GstServingSink *>(sink)->priv);
}

// The inputs on request (serving_sink_inputs.cpp), by template: "audio" (serving_sink_audio.cpp)
// and "rung_%u" (serving_sink_rungs.cpp).
GstPad *gst_serving_sink_request_pad(GstElement *element, GstPadTemplate *templ, const gchar *name,
                                     const GstCaps *caps);
void gst_serving_sink_release_pad(GstElement *element, GstPad *pad);
GstPad *gst_serving_sink_request_audio_pad(GstElement *element, GstPadTemplate *templ);
void gst_serving_sink_release_audio_pad(GstElement *element, GstPad *pad);
GstPad *gst_serving_sink_request_rung_pad(GstElement *element, GstPadTemplate *templ,
                                          const gchar *name);
void gst_serving_sink_release_rung_pad(GstElement *element, GstPad *pad);

// The class's default virtual methods.
gboolean gst_serving_sink_default_caps_changed(GstServingSink *sink, GstCaps *caps);
GstFlowReturn gst_serving_sink_default_handle_buffer(GstServingSink *sink, GstBuffer *buffer);
gboolean gst_serving_sink_default_serve_http(GstServingSink *sink, SoupServerMessage *msg,
                                             const char *rest);
// The action signals.
GstStructure *gst_serving_sink_get_stats(GstServingSink *sink, guint64 id);
gboolean gst_serving_sink_remove(GstServingSink *sink, guint64 id);
void gst_serving_sink_report_output(GstServingSink *sink, const gchar *name, const gchar *state,
                                    const gchar *why);
