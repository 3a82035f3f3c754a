// The WHEP resource without an element: a real server on loopback, a mount whose delegate is the
// resource, offers made by a real webrtcbin, and time moved on by calling tick() with later
// clocks. What a sink adds (idle branches, keyframe requests, access control) is
// tests/elements/test_whepsink.cpp's.
#include "net/http_server.h"
#include "wait.h"
#include "webrtc/whep_resource.h"
#include "whep_client.h"
#include "whep_offer.h"
#include "ws_test_client.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);

using namespace camcast;
using camcast::test::header_of;
using camcast::test::http_request;
using camcast::test::make_offer;

namespace {

// A server with one mount at /webrtc whose delegate is a WhepResource, and the keyframes the
// resource asked for.
struct Fixture {
  std::shared_ptr<HttpServer> server;
  std::shared_ptr<Mount> mount;
  std::shared_ptr<WhepResource> resource;
  std::atomic<int> keyframes{0};
  explicit Fixture(unsigned max_viewers = WhepResource::kDefaultMaxViewers) {
    resource = std::make_shared<WhepResource>([this](size_t) { keyframes++; });
    WhepResource::Settings settings;
    settings.max_viewers = max_viewers;
    resource->set_settings(settings);
    GError *error = nullptr;
    server = HttpServer::acquire("127.0.0.1", 0, ServerSettings(), &error);
    g_assert_no_error(error);
    mount = server->add_mount(std::make_shared<Mount>("/webrtc", "whep"), resource.get(), &error);
    g_assert_no_error(error);
  }
  ~Fixture() { server->remove_mount(mount); }
  int request(const char *method, const std::string &path, const std::string &body,
              std::string *answer, std::string *head = nullptr,
              const char *type = "application/sdp", const char *from = nullptr) {
    return http_request(camcast::test::Endpoint(server->port(), false, from), method, path, body,
                        body.empty() ? "" : type, answer, head, "", 10000);
  }
  // What the mount's thread sees: a tick at `now` (monotonic µs).
  void tick(gint64 now) {
    server->invoke_sync([&] { resource->tick(now); });
  }
  size_t sessions() {
    size_t n;
    server->invoke_sync([&] { n = resource->n_sessions(); });
    return n;
  }
  void set_caps() {
    GstCaps *caps = gst_caps_from_string(
        "video/x-h264, stream-format=byte-stream, alignment=au, profile=constrained-baseline, "
        "width=320, height=240, framerate=30/1");
    resource->set_caps(caps);
    gst_caps_unref(caps);
  }
};

bool contains(const std::string &s, const char *what) {
  return s.find(what) != std::string::npos;
}

// What WHEP answers before there is video, to offers it cannot take, to CORS preflights and to
// sessions that do not exist; GET is left to the owner (a 404 here, where nobody serves it).
void test_answers_without_a_session() {
  Fixture f;
  const std::string offer = make_offer("42e01f");
  std::string body, head;
  g_assert_cmpint(f.request("POST", "/webrtc", offer, &body, &head), ==, 503);
  g_assert_true(contains(body, "not started"));
  g_assert_true(header_of(head, "Retry-After") == "5");
  f.set_caps();
  g_assert_cmpint(f.request("POST", "/webrtc", offer, &body, nullptr, "text/plain"), ==, 415);
  g_assert_cmpint(f.request("POST", "/webrtc", "v=0\r\nnonsense", &body), ==, 400);
  g_assert_cmpint(f.request("POST", "/webrtc", make_offer("42e01f", "VP8"), &body), ==, 406);
  g_assert_cmpint(f.request("OPTIONS", "/webrtc", "", &body, &head), ==, 204);
  g_assert_true(header_of(head, "Access-Control-Allow-Origin") == "*");
  g_assert_true(contains(header_of(head, "Access-Control-Allow-Methods"), "POST"));
  g_assert_true(header_of(head, "Accept-Post") == "application/sdp");
  g_assert_cmpint(f.request("DELETE", "/webrtc/session/0123", "", &body), ==, 404);
  g_assert_cmpint(f.request("PATCH", "/webrtc/session/0123", "x", &body, nullptr, "text/plain"), ==,
                  404);
  g_assert_cmpint(f.request("PUT", "/webrtc", "x", &body, nullptr, "text/plain"), ==, 405);
  g_assert_cmpint(f.request("GET", "/webrtc", "", &body), ==, 404);
  g_assert_cmpuint(f.sessions(), ==, 0);
}

// An offer is answered 201 with a secret Location; the session ends by DELETE, or when it has not
// connected 15 s after its offer — a tick at that time, not a 15 s wait. An unconnected session
// is not a viewer.
void test_sessions_end_by_delete_or_deadline() {
  Fixture f;
  f.set_caps();
  const std::string offer = make_offer("42e01f");
  std::string answer, head, body;
  g_assert_cmpint(f.request("POST", "/webrtc", offer, &answer, &head), ==, 201);
  g_assert_true(g_str_has_prefix(answer.c_str(), "v=0"));
  const std::string first = header_of(head, "Location");
  g_assert_true(g_str_has_prefix(first.c_str(), "/webrtc/session/"));
  g_assert_cmpuint(first.size() - strlen("/webrtc/session/"), ==, 32);  // 128 bits, in hex
  g_assert_cmpint(f.request("POST", "/webrtc", offer, &answer, &head), ==, 201);
  const std::string second = header_of(head, "Location");
  g_assert_cmpstr(first.c_str(), !=, second.c_str());
  g_assert_cmpuint(f.sessions(), ==, 2);
  g_assert_cmpuint(f.mount->n_viewers(), ==, 0);
  g_assert_cmpint(f.request("PATCH", first, "x", &body, nullptr, "text/plain"), ==, 405);
  g_assert_cmpint(f.request("DELETE", first, "", &body), ==, 200);
  g_assert_cmpint(f.request("DELETE", first, "", &body), ==, 404);
  const gint64 now = g_get_monotonic_time();
  f.tick(now + WhepResource::kConnectDeadlineUs - G_USEC_PER_SEC);
  g_assert_cmpuint(f.sessions(), ==, 1);
  f.tick(now + WhepResource::kConnectDeadlineUs + G_USEC_PER_SEC);
  g_assert_cmpuint(f.sessions(), ==, 0);
  g_assert_cmpint(f.request("DELETE", second, "", &body), ==, 404);
}

// Offers still connecting cannot hold every place: one address has at most three, and past
// max-viewers a new offer takes the place of the oldest one that has not connected.
void test_places_for_offers() {
  Fixture f(2);
  f.set_caps();
  const std::string offer = make_offer("42e01f");
  std::string body, head;
  g_assert_cmpint(f.request("POST", "/webrtc", offer, &body, &head, "application/sdp", "127.0.0.2"),
                  ==, 201);
  const std::string oldest = header_of(head, "Location");
  g_assert_cmpint(f.request("POST", "/webrtc", offer, &body, &head), ==, 201);
  const std::string kept = header_of(head, "Location");
  g_assert_cmpint(f.request("POST", "/webrtc", offer, &body, &head), ==, 201);
  g_assert_cmpuint(f.sessions(), ==, 2);
  g_assert_cmpint(f.request("DELETE", oldest, "", &body), ==, 404);  // made way
  g_assert_cmpint(f.request("OPTIONS", kept, "", &body), ==, 204);

  Fixture g;
  g.set_caps();
  for (size_t i = 0; i < WhepResource::kMaxConnectingPerAddress; i++)
    g_assert_cmpint(g.request("POST", "/webrtc", offer, &body), ==, 201);
  g_assert_cmpint(g.request("POST", "/webrtc", offer, &body, &head), ==, 503);
  g_assert_true(contains(body, "this address has 3 WebRTC offers still connecting"));
  g_assert_cmpint(
      g.request("POST", "/webrtc", offer, &body, nullptr, "application/sdp", "127.0.0.3"), ==, 201);
}

// A live H.264 encode pushed into the resource, as a sink's streaming thread does.
struct Encode {
  GstElement *pipeline;
  WhepResource *resource;
  std::atomic<int> pushed{0};
  explicit Encode(WhepResource *resource) : resource(resource) {
    pipeline = gst_parse_launch(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse "
        "! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=out sync=false",
        nullptr);
    GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
    GstAppSinkCallbacks callbacks = {};
    callbacks.new_sample = [](GstAppSink *sink, gpointer data) {
      auto *self = static_cast<Encode *>(data);
      GstSample *sample = gst_app_sink_pull_sample(sink);
      self->resource->set_caps(gst_sample_get_caps(sample));
      self->resource->push(gst_sample_get_buffer(sample));
      gst_sample_unref(sample);
      self->pushed++;
      return GST_FLOW_OK;
    };
    gst_app_sink_set_callbacks(GST_APP_SINK(out), &callbacks, this, nullptr);
    gst_object_unref(out);
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    // Offers are answered once the stream's caps are known.
    g_assert_true(camcast::test::wait_for([this] { return pushed > 0; }, std::chrono::seconds(10)));
  }
  ~Encode() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }
};

// A viewer that connects is one of the mount's (counted, in its statistics); it leaves the count
// when its session ends, and every session ends when the stream stops.
void test_connected_viewer_is_the_mounts() {
  Fixture f;
  Encode encode(f.resource.get());
  camcast::test::Client viewer;
  viewer.connect(f.server->port(), "/webrtc");
  // Counted as its peer says it connected (or at the next tick).
  g_assert_true(camcast::test::wait_for([&] { return f.mount->n_clients() == 1; }));
  const MountStats stats = f.mount->stats();
  g_assert_cmpuint(stats.clients.size(), ==, 1);
  g_assert_cmpstr(stats.clients[0].peer.c_str(), ==, "webrtc");
  g_assert_cmpuint(stats.clients_total, ==, 1);
  std::string body;
  g_assert_cmpint(f.request("DELETE", viewer.location(), "", &body), ==, 200);
  g_assert_cmpuint(f.mount->n_clients(), ==, 0);
  g_assert_cmpuint(f.sessions(), ==, 0);

  camcast::test::Client again;
  again.connect(f.server->port(), "/webrtc");
  f.resource->end_all();  // the stream stops (from the test's thread, as a state change is)
  g_assert_cmpuint(f.sessions(), ==, 0);
  g_assert_cmpuint(f.mount->n_clients(), ==, 0);
  g_assert_cmpint(f.request("DELETE", again.location(), "", &body), ==, 404);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  GST_DEBUG_CATEGORY_INIT(camcast_server_debug, "camcastserver", 0, "camcast server");
  g_test_init(&argc, &argv, nullptr);
  WebRtcPeer::prepare();
  g_test_add_func("/whep-resource/answers-without-a-session", test_answers_without_a_session);
  g_test_add_func("/whep-resource/sessions-end-by-delete-or-deadline",
                  test_sessions_end_by_delete_or_deadline);
  g_test_add_func("/whep-resource/places-for-offers", test_places_for_offers);
  g_test_add_func("/whep-resource/connected-viewer-is-the-mounts",
                  test_connected_viewer_is_the_mounts);
  return g_test_run();
}
