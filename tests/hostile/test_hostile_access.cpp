// Hostile clients against access control and the relay, while a viewer watches (see
// test_hostile.cpp): password guessing by timing, open redirects, sessions after logout, tokens
// that mint tokens, a trickling publisher, foreign Host names, secrets in logs, old TLS.
#include "hostile_server.h"

using namespace hostile_test;

namespace {

// A login that answers an unknown user faster than a wrong password tells which users exist.
void test_login_timing() {
  const UsersFile alice;
  const std::string &users = alice.path;
  Server server("", std::string("access-token=") + kToken + " users-file=" + users);
  Viewer viewer(server.port, std::string("/v?token=") + kToken);
  const auto start = Clock::now();
  std::vector<double> unknown, wrong;
  for (int i = 0; i < 16; i++) {
    // Each from an address of its own, and each user name at most a few times: timing, not
    // the throttle, is what is measured here.
    const std::string from = "127.0.1." + std::to_string(i + 1);
    const std::string form = i % 2 ? "user=nobody" + std::to_string(i) + "&password=guess"
                                   : "user=alice&password=guess" + std::to_string(i);
    const auto t0 = Clock::now();
    std::string body;
    g_assert_cmpint(
        camcast::test::http_post(Endpoint(server.port, false, from.c_str()), "/login", form, &body),
        ==, 401);
    (i % 2 ? unknown : wrong).push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  const double a = median(unknown), b = median(wrong);
  g_test_message("median answer: unknown user %.1f ms, wrong password %.1f ms", a * 1000, b * 1000);
  // An unknown user answered without a hash checked would differ by nearly all of it (ratio
  // near 1); a busy machine moves the medians by a quarter now and then: the bound is between.
  g_assert_cmpfloat(std::abs(a - b) / std::max(a, b), <=, 0.5);
  viewer.kept_frames_since(start);
}

// The login page sends people on to where they were going — on this server only.
void test_redirects() {
  const UsersFile alice;
  const std::string &users = alice.path;
  Server server("", "users-file=" + users);
  const struct {
    const char *next, *location;
  } cases[] = {{"%2Fv", "/v"},
               {"%2Fv%3Fbackend%3Dmse", "/v?backend=mse"},
               {"//evil.example", "/"},
               {"/%09/evil.example", "/"},
               {"/%0A/evil.example", "/"},
               {"/%5Cevil.example", "/"},
               {"%5C%5Cevil.example", "/"},
               {"https://evil.example", "/"},
               {"%2F%2Fevil.example", "/"},
               {"/%0d%0aSet-Cookie:%20x=1", "/"},
               {"javascript:alert(1)", "/"}};
  int i = 0;
  for (const auto &c : cases) {
    const std::string from = "127.0.2." + std::to_string(++i);
    std::string body, head;
    const std::string form = std::string("user=alice&password=correct+horse&next=") + c.next;
    g_assert_cmpint(camcast::test::http_post(Endpoint(server.port, false, from.c_str()), "/login",
                                             form, &body, &head),
                    ==, 303);
    g_assert_true(header_of(head, "Location") == c.location);
  }
  // The login page's form carries `next` escaped.
  std::string page;
  g_assert_cmpint(camcast::test::http_get(server.port, "/login?next=%22%3E%3Cscript%3E", &page), ==,
                  200);
  g_assert_null(strstr(page.c_str(), "\"><script>"));
}

// Logging out ends the session on the server, not just in the browser.
void test_logout_revokes() {
  const UsersFile alice;
  const std::string &users = alice.path;
  Server server("", "users-file=" + users);
  std::string body, head;
  g_assert_cmpint(camcast::test::http_post(server.port, "/login",
                                           "user=alice&password=correct+horse", &body, &head),
                  ==, 303);
  const std::string cookie =
      "Cookie: " +
      header_of(head, "Set-Cookie").substr(0, header_of(head, "Set-Cookie").find(';')) + "\r\n";
  g_assert_cmpint(camcast::test::http_get(server.port, "/", &body, 3000, nullptr, cookie), ==, 200);
  {
    Viewer viewer(server.port, "/v", cookie);  // the session opens the stream
  }
  g_assert_cmpint(camcast::test::http_get(server.port, "/logout", &body, 3000, nullptr, cookie), ==,
                  303);
  // The same cookie, kept by someone who copied it: worth nothing now.
  g_assert_cmpint(camcast::test::http_get(server.port, "/", &body, 3000, &head, cookie), ==, 303);
  g_assert_true(header_of(head, "Location") == "/login?next=/");
  WsTestClient stale;
  stale.set_headers(cookie);
  g_assert_false(stale.connect(server.port, "/v"));
}

// Stream tokens: made for one stream only, and they make no more tokens.
void test_token_scopes() {
  Server server("", std::string("access-token=") + kToken);
  const std::string t = std::string("token=") + kToken;
  std::string body;
  for (const char *query : {"", "&path=/", "&path=/api/token", "&path=/nothing"})
    g_assert_cmpint(camcast::test::http_get(server.port, "/api/token?" + t + query, &body), ==,
                    400);
  g_assert_cmpint(camcast::test::http_get(server.port, "/api/token?path=/v&" + t, &body), ==, 200);
  const size_t at = body.find("\"token\":\"") + 9;
  const std::string stream = body.substr(at, body.find('"', at) - at);
  // The stream token opens its stream, and nothing else.
  { Viewer viewer(server.port, "/v?token=" + stream); }
  g_assert_cmpint(camcast::test::http_get(server.port, "/m?token=" + stream, &body), ==, 401);
  g_assert_cmpint(camcast::test::http_get(server.port, "/api/streams?token=" + stream, &body), ==,
                  401);
  g_assert_cmpint(camcast::test::http_get(server.port, "/api/token?path=/v&token=" + stream, &body),
                  ==, 401);
}

// MPEG-TS packets: a null packet; one that starts a video PES with the random-access flag set
// and, if `keyframe`, an H.264 keyframe in it (an SPS); without, the flag is all there is.
enum class Ts { Null, FlagOnly, Keyframe };
std::string ts_packet(Ts kind) {
  std::string p(188, '\xff');
  p[0] = 0x47;
  if (kind == Ts::Null) {
    p[1] = 0x1f, p[2] = char(0xff), p[3] = 0x10;  // PID 0x1FFF, payload only
    return p;
  }
  p[1] = 0x41, p[2] = 0x00, p[3] = 0x30;  // PUSI, PID 0x100, adaptation field and payload
  p[4] = 1, p[5] = 0x40;                  // random_access_indicator
  const char pes[] = {0, 0, 1, char(0xe0), 0, 0, char(0x80), 0, 0};
  memcpy(&p[6], pes, sizeof pes);
  const char sps[] = {0, 0, 0, 1, 0x67, 0x42, char(0xc0), 0x1e};    // NAL type 7
  const char slice[] = {0, 0, 0, 1, 0x41, char(0x9a), 0x02, 0x00};  // a P slice
  memcpy(&p[15], kind == Ts::Keyframe ? sps : slice, sizeof sps);
  return p;
}

std::string publish_head(const std::string &secret) {
  return "POST /publish/" + secret +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
}

std::string chunk(const std::string &data) {
  char size[16];
  snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

// A publisher that trickles — a byte a second, a null packet now and then, a packet with the
// random-access flag but no keyframe — to keep the relay's only slot from the real camera: cut
// off at the keyframe timeout, and the camera gets in.
void test_slow_publisher() {
  Server server;
  for (const std::string &trickle :
       {std::string("x"), ts_packet(Ts::Null), ts_packet(Ts::FlagOnly)}) {
    g_assert_true(wait_for([&] { return !server.publishing(); }));
    const auto start = Clock::now();
    Raw squatter(server.port);
    g_assert_true(squatter.send(publish_head(kSecret)));
    g_assert_true(wait_for([&] { return server.publishing(); }));
    // Meanwhile the camera is refused: the slot is taken.
    {
      Raw camera(server.port);
      g_assert_true(camera.send(publish_head(kSecret) + chunk(ts_packet(Ts::Keyframe))));
      std::string answer;
      g_assert_true(camera.ended(3000, &answer));
      g_assert_cmpint(status_of(answer), ==, 409);
    }
    bool cut = false;
    while (!cut && Clock::now() < start + 6s) {
      squatter.send(chunk(trickle));
      cut = squatter.ended(400);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    g_test_message("the trickling publisher was cut off after %.1f s", seconds);
    g_assert_true(cut);
    g_assert_cmpfloat(seconds, <, 4.0);  // keyframe-timeout=2, a tick, a margin
    g_assert_true(wait_for([&] { return !server.publishing(); }));
    // The camera is taken now.
    Raw camera(server.port);
    g_assert_true(camera.send(publish_head(kSecret) + chunk(ts_packet(Ts::Keyframe))));
    g_assert_true(wait_for([&] { return server.publishing(); }));
  }
}

// A page of another site that points its own name at the camera (DNS rebinding) reaches
// nothing, open or private, page or stream.
void test_foreign_host() {
  Server server;
  Viewer viewer(server.port);
  const auto start = Clock::now();
  std::string body;
  for (const char *path : {"/", "/v", "/m/snapshot.jpg", "/api/streams"}) {
    g_assert_cmpint(camcast::test::http_get(server.port, path, &body, 3000, nullptr,
                                            "Host: rebind.example\r\n"),
                    ==, 403);
  }
  Raw ws(server.port);
  g_assert_true(
      ws.send("GET /v HTTP/1.1\r\nHost: rebind.example:80\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n"));
  std::string answer;
  g_assert_true(ws.ended(3000, &answer));
  g_assert_cmpint(status_of(answer), ==, 403);
  g_assert_cmpint(
      camcast::test::http_get(server.port, "/", &body, 3000, nullptr, "Host: localhost\r\n"), ==,
      200);
  viewer.kept_frames_since(start);
}

// Who watches from where is for a reader with a credential: an open server's /api/streams
// lists its viewers without their addresses; a private one's, to the access token, with them.
void test_viewers_addresses() {
  for (const bool open : {true, false}) {
    Server server("", open ? "" : std::string("access-token=") + kToken);
    Viewer viewer(server.port, open ? std::string("/v") : std::string("/v?token=") + kToken);
    std::string json;
    g_assert_cmpint(camcast::test::http_get(server.port,
                                            open ? std::string("/api/streams")
                                                 : std::string("/api/streams?token=") + kToken,
                                            &json),
                    ==, 200);
    g_assert_nonnull(strstr(json.c_str(), "\"clients\":[{"));
    g_assert_true((strstr(json.c_str(), "\"peer\":\"127.0.0.1") != nullptr) == !open);
  }
}

// Secrets stay out of the logs at every debug level: the access token, a relay's secret (right
// or wrong, in a path or a bearer header), a password.
struct LogCatcher {
  std::mutex lock;
  std::string all;
  static void log(GstDebugCategory *category, GstDebugLevel, const gchar *, const gchar *, gint,
                  GObject *, GstDebugMessage *message, gpointer self) {
    auto *catcher = static_cast<LogCatcher *>(self);
    std::lock_guard<std::mutex> lk(catcher->lock);
    catcher->all += std::string(gst_debug_category_get_name(category)) + ": " +
                    gst_debug_message_get(message) + "\n";
  }
};

void test_secrets_stay_out_of_logs() {
  const UsersFile alice{"sesame-password"};
  const std::string &users = alice.path;
  LogCatcher catcher;
  // camcast's own categories, at their most talkative.
  for (const char *name :
       {"camcastserver", "camcastpush", "wssink", "mjpegsink", "relaysrc", "relaysink"})
    gst_debug_set_threshold_for_name(name, GST_LEVEL_MEMDUMP);
  gst_debug_add_log_function(&LogCatcher::log, &catcher, nullptr);
  {
    Server server("", std::string("access-token=") + kToken + " users-file=" + users);
    { Viewer viewer(server.port, std::string("/v?token=") + kToken); }
    std::string body;
    camcast::test::http_get(server.port, std::string("/publish/") + kSecret, &body);
    camcast::test::http_get(server.port, "/publish/wrong-guess-123", &body);
    camcast::test::http_post(server.port, "/login", "user=alice&password=sesame-password", &body);
    camcast::test::http_post(server.port, "/login", "user=alice&password=wrong-pass-456", &body);
    // A camera pushing with the wrong secret in its URL, then the right one as a bearer token.
    for (const bool right : {false, true}) {
      const std::string push =
          "location=http://127.0.0.1:" + std::to_string(server.port) +
          (right ? std::string("/publish secret=") + kSecret : "/publish/wrong-guess-789");
      GstElement *camera = gst_parse_launch(
          ("videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=30/1 ! "
           "x264enc tune=zerolatency speed-preset=ultrafast ! mpegtsmux ! relaysink " +
           push)
              .c_str(),
          nullptr);
      gst_element_set_state(camera, GST_STATE_PLAYING);
      if (right) {
        g_assert_true(wait_for([&] { return server.publishing(); }));
      } else {  // refused, and told why
        GstBus *bus = gst_element_get_bus(camera);
        GstMessage *m = gst_bus_timed_pop_filtered(bus, 5 * GST_SECOND, GST_MESSAGE_ELEMENT);
        g_assert_nonnull(m);
        g_assert_nonnull(
            strstr(gst_structure_get_string(gst_message_get_structure(m), "reason"), "403"));
        gst_message_unref(m);
        gst_object_unref(bus);
      }
      gst_element_set_state(camera, GST_STATE_NULL);
      gst_object_unref(camera);
    }
  }
  gst_debug_remove_log_function(&LogCatcher::log);
  std::lock_guard<std::mutex> lk(catcher.lock);
  g_test_message("%zu bytes of camcast's logs read", catcher.all.size());
  g_assert_cmpuint(catcher.all.size(), >, 1000);  // they did log
  for (const char *secret :
       {kToken, kSecret, "wrong-guess-123", "wrong-guess-789", "sesame-password", "wrong-pass-456"})
    g_assert_null(strstr(catcher.all.c_str(), secret));
}

// Relays one connection to `port`, the client's first TLS record (its ClientHello) cut in two
// records after the handshake message's first four bytes — legal TLS, and it hides the hello's
// version from a server that reads it in the first record.
class HelloSplitter {
public:
  explicit HelloSplitter(int to) : to_(to) {
    listener_ = camcast::test::listen_on_loopback(&port_);
    g_assert_cmpint(listener_, >=, 0);
    thread_ = std::thread([this] { relay(); });
  }
  ~HelloSplitter() {
    thread_.join();
    close(listener_);
  }
  int port() const { return port_; }

private:
  static bool read_exactly(int fd, uint8_t *p, size_t n) {
    while (n > 0) {
      pollfd pf{fd, POLLIN, 0};
      if (poll(&pf, 1, 5000) != 1)
        return false;
      const ssize_t got = recv(fd, p, n, 0);
      if (got <= 0)
        return false;
      p += got, n -= size_t(got);
    }
    return true;
  }
  void relay() {
    pollfd pl{listener_, POLLIN, 0};
    if (poll(&pl, 1, 10000) != 1)
      return;
    const int client = accept(listener_, nullptr, nullptr);
    const int server = camcast::test::connect_tcp(to_);
    uint8_t head[5];
    std::vector<uint8_t> hello;
    if (read_exactly(client, head, 5)) {
      hello.resize(size_t(head[3]) << 8 | head[4]);
      if (read_exactly(client, hello.data(), hello.size()) && hello.size() > 4) {
        std::vector<uint8_t> out(head, head + 5);
        out[3] = 0, out[4] = 4;
        out.insert(out.end(), hello.begin(), hello.begin() + 4);
        const size_t rest = hello.size() - 4;
        const uint8_t second[5] = {head[0], head[1], head[2], uint8_t(rest >> 8), uint8_t(rest)};
        out.insert(out.end(), second, second + 5);
        out.insert(out.end(), hello.begin() + 4, hello.end());
        send(server, out.data(), out.size(), MSG_NOSIGNAL);
        pollfd both[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
        const auto until = Clock::now() + 10s;
        char buf[16384];
        while (Clock::now() < until && poll(both, 2, 200) >= 0) {
          bool ended = false;
          for (int i = 0; i < 2; i++) {
            if (!both[i].revents)
              continue;
            const ssize_t n = recv(both[i].fd, buf, sizeof buf, 0);
            if (n <= 0 || send(both[1 - i].fd, buf, size_t(n), MSG_NOSIGNAL) != n)
              ended = true;
          }
          if (ended)
            break;
        }
      }
    }
    close(client);
    close(server);
  }
  const int to_;
  int listener_ = -1, port_ = 0;
  std::thread thread_;
};

// Old TLS, plain HTTP on the HTTPS port, and connections that never begin their handshake.
void test_tls() {
  const camcast::test::TempDir dir("camcast-hostile-tls");
  g_assert_true(camcast::test::make_certificate(dir.path(), "server"));
  Server server("header-timeout=2 tls-certificate=" + dir.file("server.crt") +
                " tls-key=" + dir.file("server.key"));
  Viewer viewer(camcast::test::tls(server.port));
  const Resources before = Resources::now();
  const auto start = Clock::now();
  for (const char *old : {"-tls1", "-tls1_1"}) {
    const std::string out = s_client(server.port, {old, "-cipher", "DEFAULT:@SECLEVEL=0"});
    g_assert_nonnull(strstr(out.c_str(), "alert protocol version"));
  }
  {
    // TLS 1.0 with its hello in two records: whatever the handshake gives it, no request of its
    // is ever answered.
    HelloSplitter splitter(server.port);
    gchar *out = nullptr;
    const std::string command =
        "printf 'GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' | timeout 8 openssl s_client "
        "-connect 127.0.0.1:" +
        std::to_string(splitter.port()) + " -tls1 -cipher DEFAULT:@SECLEVEL=0 -ign_eof 2>&1";
    const char *argv[] = {"sh", "-c", command.c_str(), nullptr};
    g_assert_true(g_spawn_sync(nullptr, const_cast<char **>(argv), nullptr, G_SPAWN_SEARCH_PATH,
                               nullptr, nullptr, &out, nullptr, nullptr, nullptr));
    g_test_message("TLS 1.0 in a split hello: %s",
                   strstr(out, "HTTP/1.1 200") ? "served" : "nothing served");
    g_assert_null(strstr(out, "HTTP/1.1"));
    g_free(out);
  }
  for (const char *good : {"-tls1_2", "-tls1_3"}) {
    const std::string out = s_client(server.port, {good});
    g_assert_nonnull(strstr(out.c_str(), g_str_equal(good, "-tls1_2") ? "TLSv1.2" : "TLSv1.3"));
    g_assert_null(strstr(out.c_str(), "alert"));
  }
  {
    Raw plain(server.port);
    g_assert_true(plain.send(get("/")));
    std::string answer;
    g_assert_true(plain.ended(3000, &answer));
    g_assert_cmpint(status_of(answer), ==, 400);
    g_assert_nonnull(strstr(answer.c_str(), "https://"));
  }
  // Idle connections, and one that stops halfway through its hello: closed at the timeout.
  {
    std::vector<std::unique_ptr<Raw>> idle;
    for (int i = 0; i < 20; i++)
      idle.push_back(std::make_unique<Raw>(server.port));
    g_assert_true(idle[0]->send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
    for (auto &c : idle)
      g_assert_true(c->ended(4000));
    g_assert_cmpfloat(std::chrono::duration<double>(Clock::now() - start).count(), <, 8.0);
  }
  std::string body;
  g_assert_cmpint(camcast::test::http_get(camcast::test::tls(server.port), "/", &body), ==, 200);
  viewer.kept_frames_since(start);
  Resources::back_to(before);
}

}  // namespace

void hostile_test::add_access_tests() {
  g_test_add_func("/hostile/login-timing", test_login_timing);
  g_test_add_func("/hostile/redirects", test_redirects);
  g_test_add_func("/hostile/logout-revokes", test_logout_revokes);
  g_test_add_func("/hostile/token-scopes", test_token_scopes);
  g_test_add_func("/hostile/slow-publisher", test_slow_publisher);
  g_test_add_func("/hostile/foreign-host", test_foreign_host);
  g_test_add_func("/hostile/viewers-addresses", test_viewers_addresses);
  g_test_add_func("/hostile/secrets-stay-out-of-logs", test_secrets_stay_out_of_logs);
  g_test_add_func("/hostile/tls", test_tls);
}
