// wssink's server side end to end: several sinks on one server, a stalled server thread,
// READY and stop, linger across a restart, the access token, logins, metrics, TLS.
#include "wssink_harness.h"

using namespace wssink_test;

namespace {

void test_shared_server_paths_and_errors() {
  Harness a("wssink port=0 path=/a");
  const int port = a.port();
  g_assert_cmpint(port, >, 0);
  g_autofree char *launch_b = g_strdup_printf("wssink port=%d path=/b", port);
  Harness b(launch_b);
  g_assert_cmpint(b.port(), ==, port);
  WsTestClient ca, cb;
  g_assert_true(ca.connect(port, "/a"));
  g_assert_true(cb.connect(port, "/b"));
  gst_harness_set_src_caps_str(a.h, "application/x-camcast-test");
  gst_harness_set_src_caps_str(b.h, "application/x-camcast-test");
  g_assert_true(wait_for([&] { return a.clients() == 1 && b.clients() == 1; }));
  gst_harness_push(a.h, make_frame(1, 1, 100));
  gst_harness_push(b.h, make_frame(2, 1, 100));
  g_assert_cmpuint(frame_index(ca.read_frame()), ==, 1);
  g_assert_cmpuint(frame_index(cb.read_frame()), ==, 2);

  std::string body;
  g_assert_cmpint(camcast::test::http_get(port, "/", &body), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "href=\"/a\""));
  g_assert_nonnull(strstr(body.c_str(), "href=\"/b\""));
  g_assert_cmpint(camcast::test::http_get(port, "/a", &body), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "WebSocket"));
  g_assert_cmpint(camcast::test::http_get(port, "/a/nothing", &body), ==, 404);
  g_assert_cmpint(camcast::test::http_get(port, "/c", &body), ==, 404);
  // Only GET is served: a POST (to a stream, or to /login where no login is set up) is refused
  // before its body is read.
  g_assert_cmpint(camcast::test::http_post(port, "/a", "x=1", &body), ==, 405);
  g_assert_cmpint(camcast::test::http_post(port, "/login", "user=a", &body), ==, 405);
  g_assert_cmpint(camcast::test::http_get(port, "/metrics", &body), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "camcast_stream_clients{stream=\"/a\"} 1"));
  g_assert_nonnull(strstr(body.c_str(), "camcast_client_frames_sent_total{stream=\"/b\""));
  WsTestClient nowhere;
  g_assert_false(nowhere.connect(port, "/c"));
  g_assert_true(nowhere.response().rfind("HTTP/1.1 404", 0) == 0);

  // Same path twice on one server: a clear error, and the first sink is untouched.
  const std::string dup = ready_error("wssink path=/a port=" + std::to_string(port));
  g_assert_nonnull(strstr(dup.c_str(), "/a"));
  g_assert_nonnull(strstr(dup.c_str(), "already served"));
  gst_harness_push(a.h, make_frame(3, 1, 100));
  g_assert_cmpuint(frame_index(ca.read_frame()), ==, 3);

  // A port held by another program.
  int held = 0;
  const int fd = camcast::test::listen_on_loopback(&held, 1);
  g_assert_cmpint(fd, >=, 0);
  const std::string busy = ready_error("wssink address=127.0.0.1 port=" + std::to_string(held));
  // The holder is named: this test program (its name as the kernel keeps it, 15 characters).
  g_assert_nonnull(strstr(busy.c_str(), "already in use by test-wssink (process "));
  g_assert_nonnull(strstr(busy.c_str(), "or port 0 for any free one"));
  close(fd);
}

// A signal handler that blocks the server thread (an application's mistake) must cost frames,
// not memory: the inbox is bounded and resumes at a keyframe.
void test_stalled_server_thread_drops_to_a_keyframe() {
  Harness h("wssink port=0 path=/t units-soft-max=-1 units-max=-1");
  gst_harness_set_src_caps_str(h.h, "application/x-camcast-test");
  struct Gate {
    std::mutex lock;
    std::condition_variable cond;
    bool entered = false, open = false;
  } gate;
  g_signal_connect(h.sink(), "client-added", G_CALLBACK(+[](GstElement *, guint64, Gate *g) {
                     std::unique_lock<std::mutex> lk(g->lock);
                     g->entered = true;
                     g->cond.notify_all();
                     g->cond.wait(lk, [&] { return g->open; });
                   }),
                   &gate);
  WsTestClient c;
  g_assert_true(c.connect(h.port(), "/t"));
  {
    std::unique_lock<std::mutex> lk(gate.lock);
    g_assert_true(gate.cond.wait_for(lk, 5s, [&] { return gate.entered; }));
  }
  const uint32_t pushed = 1000;
  for (uint32_t i = 0; i < pushed; i++)
    gst_harness_push(h.h, make_frame(i, 10, 1000));
  {
    std::lock_guard<std::mutex> lk(gate.lock);
    gate.open = true;
    gate.cond.notify_all();
  }
  std::vector<uint32_t> got;
  for (Frame f; (f = c.read_frame(500)).opcode == 2;)
    got.push_back(frame_index(f));
  g_assert_cmpuint(got.size(), >, 0);
  g_assert_cmpuint(got.size(), <=, 256);
  g_assert_cmpuint(got.front() % 10, ==, 0);  // resumes at a keyframe
  g_assert_cmpuint(got.back(), ==, pushed - 1);
  for (size_t k = 1; k < got.size(); k++)
    g_assert_cmpuint(got[k], ==, got[k - 1] + 1);
  std::string json;
  g_assert_cmpint(camcast::test::http_get(h.port(), "/api/streams", &json), ==, 200);
  g_autofree char *expect = g_strdup_printf("\"frames_in\":%zu,", got.size());
  g_assert_nonnull(strstr(json.c_str(), expect));
  g_autofree char *dropped = g_strdup_printf("\"frames_dropped_in\":%zu,", pushed - got.size());
  g_assert_nonnull(strstr(json.c_str(), dropped));
}

void test_ready_accepts_viewers_and_stop_closes_them() {
  GstElement *sink = gst_element_factory_make("wssink", nullptr);
  g_object_set(sink, "port", 0, "path", "/ready", nullptr);
  g_assert_cmpint(gst_element_set_state(sink, GST_STATE_READY), ==, GST_STATE_CHANGE_SUCCESS);
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  WsTestClient c;
  g_assert_true(c.connect(port, "/ready"));  // the camera may still be off
  guint n = 0;
  g_assert_true(wait_for([&] {
    g_object_get(sink, "num-clients", &n, nullptr);
    return n == 1;
  }));
  g_assert_cmpint(gst_element_set_state(sink, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
  g_assert_cmpint(c.wait_closed(), ==, 1001);  // "going away"
  g_object_get(sink, "current-port", &port, nullptr);
  g_assert_cmpint(port, ==, -1);
  gst_object_unref(sink);
}

// A restarted pipeline keeps its viewers: with linger, the viewers of a stopped sink stay
// connected (and new ones may join) and a new sink at the same port and path takes them over;
// without a taker they are closed when the linger time is up.
void test_linger_lets_a_restarted_sink_keep_viewers() {
  auto start = [](int port) {
    g_autofree char *launch =
        g_strdup_printf("wssink name=sink port=%d path=/cam linger=1 keyframe-on-join=false", port);
    GstHarness *h = gst_harness_new_parse(launch);
    gst_harness_set_src_caps_str(h, "application/x-test");
    return h;
  };
  auto port_of = [](GstHarness *h) {
    GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
    int port = -1;
    g_object_get(sink, "current-port", &port, nullptr);
    gst_object_unref(sink);
    return port;
  };
  GstHarness *first = start(0);
  const int port = port_of(first);
  WsTestClient viewer;
  g_assert_true(viewer.connect(port, "/cam"));
  gst_harness_push(first, make_frame(0, 1, 100));
  g_assert_cmpuint(frame_index(viewer.read_frame()), ==, 0);

  gst_harness_teardown(first);                       // the pipeline stops (an error, a restart)
  g_assert_cmpint(viewer.wait_closed(300), ==, -1);  // still connected
  WsTestClient late;  // a player that reconnects meanwhile joins the lingering stream too
  g_assert_true(late.connect(port, "/cam"));
  GstHarness *second = start(port);
  g_assert_cmpint(port_of(second), ==, port);
  gst_harness_push(second, make_frame(7, 1, 100));
  Frame f = viewer.read_frame();
  g_assert_cmpint(f.opcode, ==, 2);
  g_assert_cmpuint(frame_index(f), ==, 7);  // the same connection, the new pipeline's frames
  g_assert_cmpuint(frame_index(late.read_frame()), ==, 7);

  // Nobody takes over: closed when the second is up.
  gst_harness_teardown(second);
  const gint64 stopped = g_get_monotonic_time();
  g_assert_cmpint(viewer.wait_closed(5000), ==, 1001);
  g_assert_cmpint(g_get_monotonic_time() - stopped, >=, 900 * 1000);
}

// With an access token, nothing is served without credentials — pages, streams, reports —
// and what a credential opens is exactly what it should.
void test_access_token_protects_everything() {
  GstHarness *h = gst_harness_new_parse(
      "wssink name=sink port=0 path=/cam access-token=s3cret keyframe-on-join=false");
  gst_harness_set_src_caps_str(h, "application/x-test");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  std::string body, head;
  for (const char *path : {"/", "/cam", "/api/streams", "/metrics", "/api/token?path=/cam"})
    g_assert_cmpint(camcast::test::http_get(port, path, &body), ==, 401);
  WsTestClient refused;
  g_assert_false(refused.connect(port, "/cam"));
  g_assert_true(refused.response().rfind("HTTP/1.1 401", 0) == 0);

  // The access token opens the page and hands out a session cookie (to a browser's page load).
  g_assert_cmpint(camcast::test::http_get(port, "/cam?token=s3cret", &body, 3000, &head,
                                          "Sec-Fetch-Dest: document\r\n"),
                  ==, 200);
  const size_t at = head.find("Set-Cookie: ");
  g_assert_cmpuint(at, !=, std::string::npos);
  const std::string set_cookie = head.substr(at + 12, head.find("\r\n", at) - at - 12);
  g_assert_nonnull(strstr(set_cookie.c_str(), "HttpOnly"));
  g_assert_nonnull(strstr(set_cookie.c_str(), "SameSite=Strict"));
  const std::string cookie = "Cookie: " + set_cookie.substr(0, set_cookie.find(';')) + "\r\n";
  g_assert_cmpint(camcast::test::http_get(port, "/api/streams", &body, 3000, nullptr, cookie), ==,
                  200);
  // The page's WebSocket with the cookie, from the server's own origin: in.
  WsTestClient viewer;
  viewer.set_headers(cookie);
  g_assert_true(viewer.connect(port, "/cam"));
  // The same cookie ridden by another site's page: refused.
  WsTestClient hijack;
  hijack.set_headers(cookie + "Origin: http://evil.example\r\n");
  g_assert_false(hijack.connect(port, "/cam"));
  g_assert_true(hijack.response().rfind("HTTP/1.1 403", 0) == 0);
  // Another site may open it only when listed in allowed-origins, scheme and all.
  {
    GstHarness *dash = gst_harness_new_parse(
        "wssink name=dash port=0 path=/dash access-token=s3cret "
        "allowed-origins=https://dash.example");
    GstElement *dash_sink = gst_bin_get_by_name(GST_BIN(dash->element), "dash");
    int dash_port = -1;
    g_object_get(dash_sink, "current-port", &dash_port, nullptr);
    WsTestClient listed, other_scheme;
    listed.set_headers("Origin: https://dash.example\r\n");
    g_assert_true(listed.connect(dash_port, "/dash?token=s3cret"));
    other_scheme.set_headers("Origin: http://dash.example\r\n");
    g_assert_false(other_scheme.connect(dash_port, "/dash?token=s3cret"));
    g_assert_true(other_scheme.response().rfind("HTTP/1.1 403", 0) == 0);
    gst_object_unref(dash_sink);
    gst_harness_teardown(dash);
  }

  // A stream token from /api/token opens its path, and only that.
  g_assert_cmpint(camcast::test::http_get(port, "/api/token?path=/cam&ttl=60&token=s3cret", &body),
                  ==, 200);
  const size_t t = body.find("\"token\":\"") + 9;
  const std::string token = body.substr(t, body.find('"', t) - t);
  WsTestClient embedded;
  g_assert_true(embedded.connect(port, "/cam?token=" + token));
  g_assert_cmpint(camcast::test::http_get(port, "/api/streams?token=" + token, &body), ==, 401);
  std::string forged = token;
  forged[forged.size() - 1] = forged.back() == '0' ? '1' : '0';
  WsTestClient forger;
  g_assert_false(forger.connect(port, "/cam?token=" + forged));
  gst_harness_push(h, make_frame(0, 1, 100));
  g_assert_cmpuint(frame_index(viewer.read_frame()), ==, 0);
  g_assert_cmpuint(frame_index(embedded.read_frame()), ==, 0);

  // A public stream on the same private server needs nothing; the others still do.
  g_autofree char *launch = g_strdup_printf("wssink port=%d path=/open public=true", port);
  GstHarness *open = gst_harness_new_parse(launch);
  gst_harness_set_src_caps_str(open, "application/x-test");
  g_assert_cmpint(camcast::test::http_get(port, "/open", &body), ==, 200);
  WsTestClient anyone;
  g_assert_true(anyone.connect(port, "/open"));
  g_assert_cmpint(camcast::test::http_get(port, "/cam", &body), ==, 401);
  gst_harness_teardown(open);
  gst_object_unref(sink);
  gst_harness_teardown(h);
}

// metrics-token: a scraper's bearer token for /metrics, required once set.
void test_metrics_token() {
  GstHarness *h = gst_harness_new_parse("wssink name=sink port=0 path=/cam metrics-token=scrape");
  gst_harness_set_src_caps_str(h, "application/x-test");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  std::string body;
  g_assert_cmpint(camcast::test::http_get(port, "/metrics", &body), ==, 401);
  g_assert_cmpint(camcast::test::http_get(port, "/metrics", &body, 3000, nullptr,
                                          "Authorization: Bearer wrong\r\n"),
                  ==, 401);
  g_assert_cmpint(camcast::test::http_get(port, "/metrics", &body, 3000, nullptr,
                                          "Authorization: Bearer scrape\r\n"),
                  ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "camcast_"));
  g_assert_cmpint(camcast::test::http_get(port, "/cam", &body), ==, 200);  // the rest stays open
  gst_object_unref(sink);
  gst_harness_teardown(h);
}

// With a users file: pages redirect to the login page; a wrong password is refused and
// repeated failures slow that address down; the right one gives a session for everything.
void test_login() {
  const camcast::test::TempDir dir("camcast-login");
  const std::string users = dir.file("users");
  std::string error;
  g_assert_true(camcast::users::set_user(users, "alice", "correct horse", &error));
  g_autofree char *launch =
      g_strdup_printf("wssink name=sink port=0 path=/cam users-file=%s", users.c_str());
  GstHarness *h = gst_harness_new_parse(launch);
  gst_harness_set_src_caps_str(h, "application/x-test");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(h->element), "sink");
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  std::string body, head;
  g_assert_cmpint(camcast::test::http_get(port, "/cam", &body, 3000, &head), ==, 303);
  g_assert_nonnull(strstr(head.c_str(), "Location: /login?next=/cam"));
  g_assert_cmpint(camcast::test::http_get(port, "/login?next=/cam", &body), ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "type=\"password\""));
  WsTestClient refused;
  g_assert_false(refused.connect(port, "/cam"));

  g_assert_cmpint(
      camcast::test::http_post(port, "/login", "user=alice&password=wrong&next=%2Fcam", &body), ==,
      401);
  g_assert_cmpint(
      camcast::test::http_post(port, "/login", "user=alice&password=correct+horse&next=%2Fcam",
                               &body, &head),
      ==, 303);
  g_assert_nonnull(strstr(head.c_str(), "Location: /cam\r\n"));
  const size_t at = head.find("Set-Cookie: ");
  g_assert_cmpuint(at, !=, std::string::npos);
  const std::string cookie =
      "Cookie: " + head.substr(at + 12, head.find(';', at) - at - 12) + "\r\n";
  g_assert_cmpint(camcast::test::http_get(port, "/cam", &body, 3000, nullptr, cookie), ==, 200);
  WsTestClient viewer;
  viewer.set_headers(cookie);
  g_assert_true(viewer.connect(port, "/cam"));
  // An open redirect is not on offer: "next" stays on this server.
  g_assert_cmpint(
      camcast::test::http_post(
          port, "/login", "user=alice&password=correct+horse&next=//evil.example", &body, &head),
      ==, 303);
  g_assert_nonnull(strstr(head.c_str(), "Location: /\r\n"));
  // Guessing is slowed: after five failures this address is refused even the right password.
  for (int i = 0; i < 5; i++)
    g_assert_cmpint(camcast::test::http_post(port, "/login", "user=alice&password=guess", &body),
                    ==, 401);
  g_assert_cmpint(
      camcast::test::http_post(port, "/login", "user=alice&password=correct+horse", &body), ==,
      429);
  gst_object_unref(sink);
  gst_harness_teardown(h);
}

// With tls-certificate and tls-key the port speaks HTTPS and WSS (cookies Secure), http-port
// adds plain HTTP beside it, and bad files are refused at READY with the reason.
void test_tls() {
  const camcast::test::TempDir dir("camcast-tls");
  const std::string &d = dir.path();
  g_assert_true(camcast::test::make_certificate(d, "a"));
  g_assert_true(camcast::test::make_certificate(d, "b"));
  const std::string tls_a = " tls-certificate=" + d + "/a.crt tls-key=" + d + "/a.key";
  Harness h(
      ("wssink port=0 http-port=0 path=/cam access-token=s3cret keyframe-on-join=false" + tls_a)
          .c_str());
  const int port = h.port();
  int http_port = -1;
  g_object_get(h.sink(), "current-http-port", &http_port, nullptr);
  g_assert_cmpint(port, >, 0);
  g_assert_cmpint(http_port, >, 0);
  g_assert_cmpint(http_port, !=, port);
  gst_harness_set_src_caps_str(h.h, "application/x-camcast-test");

  // HTTPS: refused without the token, in with it, and the session cookie is Secure.
  std::string body, head;
  const auto https = camcast::test::tls(port);
  g_assert_cmpint(camcast::test::http_get(https, "/cam", &body), ==, 401);
  g_assert_cmpint(camcast::test::http_get(https, "/cam?token=s3cret", &body, 3000, &head,
                                          "Sec-Fetch-Dest: document\r\n"),
                  ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "WebSocket"));
  const size_t at = head.find("Set-Cookie: ");
  g_assert_cmpuint(at, !=, std::string::npos);
  const std::string set_cookie = head.substr(at + 12, head.find("\r\n", at) - at - 12);
  g_assert_nonnull(strstr(set_cookie.c_str(), "; Secure"));
  // Plain HTTP on the HTTPS port gets no page; on http-port it does, and its cookie is not
  // Secure (the browser would not send it back over HTTP).
  g_assert_cmpint(camcast::test::http_get(port, "/cam?token=s3cret", &body), !=, 200);
  g_assert_cmpint(camcast::test::http_get(http_port, "/cam?token=s3cret", &body, 3000, &head), ==,
                  200);
  g_assert_null(strstr(head.c_str(), "Secure"));

  // WSS: refused without credentials; with them the frames arrive, as they do over plain WS.
  WsTestClient refused, secure, plain;
  g_assert_false(refused.connect(https, "/cam"));
  g_assert_true(refused.response().rfind("HTTP/1.1 401", 0) == 0);
  g_assert_true(secure.connect(https, "/cam?token=s3cret"));
  g_assert_true(plain.connect(http_port, "/cam?token=s3cret"));
  g_assert_true(wait_for([&] { return h.clients() == 2; }));
  for (uint32_t i = 0; i < 30; i++)
    gst_harness_push(h.h, make_frame(i, 10, 50000));
  for (uint32_t i = 0; i < 30; i++) {
    Frame f = secure.read_frame();
    g_assert_cmpuint(frame_index(f), ==, i);
    g_assert_cmpuint(f.payload.size(), ==, 50000);
    g_assert_cmpuint(frame_index(plain.read_frame()), ==, i);
  }
  // A client that closes is noticed over TLS too.
  secure.close();
  g_assert_true(wait_for([&] { return h.clients() == 1; }));

  // Another sink on the same port must bring the same TLS settings.
  const std::string other = ready_error("wssink path=/other port=" + std::to_string(port));
  g_assert_nonnull(strstr(other.c_str(), "other TLS settings"));

  // Files that cannot serve: each refused with what is wrong.
  const std::string mismatched =
      ready_error("wssink port=0 tls-certificate=" + d + "/a.crt tls-key=" + d + "/b.key");
  g_assert_nonnull(strstr(mismatched.c_str(), "does not belong to the certificate"));
  const std::string missing =
      ready_error("wssink port=0 tls-certificate=" + d + "/none.crt tls-key=" + d + "/a.key");
  g_assert_nonnull(strstr(missing.c_str(), "cannot read the TLS certificate"));
  g_assert_nonnull(strstr(missing.c_str(), "none.crt"));
  const std::string swapped =
      ready_error("wssink port=0 tls-certificate=" + d + "/a.key tls-key=" + d + "/a.crt");
  g_assert_nonnull(strstr(swapped.c_str(), "cannot use"));
  const std::string half = ready_error("wssink port=0 tls-certificate=" + d + "/a.crt");
  g_assert_nonnull(strstr(half.c_str(), "needs both a certificate and its key"));
}

}  // namespace

void wssink_test::add_server_tests() {
  g_test_add_func("/wssink/shared-server", test_shared_server_paths_and_errors);
  g_test_add_func("/wssink/stalled-server-thread", test_stalled_server_thread_drops_to_a_keyframe);
  g_test_add_func("/wssink/ready-and-stop", test_ready_accepts_viewers_and_stop_closes_them);
  g_test_add_func("/wssink/linger", test_linger_lets_a_restarted_sink_keep_viewers);
  g_test_add_func("/wssink/access-token", test_access_token_protects_everything);
  g_test_add_func("/wssink/login", test_login);
  g_test_add_func("/wssink/metrics-token", test_metrics_token);
  g_test_add_func("/wssink/tls", test_tls);
}
