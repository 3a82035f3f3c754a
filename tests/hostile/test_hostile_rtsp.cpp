// Hostile clients against RTSP and ONVIF (see test_hostile.cpp), while a real client plays:
// floods of connections from one address and from many, connections that say nothing or half a
// request, requests of a megabyte, one connection asking for the stream over and over, and a
// client that plays over TCP and never reads. The real client keeps its frames; descriptors and
// memory come back.
#include "hostile_server.h"
#include "rtsp_player.h"

using namespace hostile_test;

namespace {

// A live H.264 stream into an rtspsink on free ports; `props` on the sink.
struct RtspServer {
  GstElement *pipeline = nullptr;
  GstElement *sink = nullptr;
  int port = 0;
  explicit RtspServer(const std::string &props = "") {
    GError *error = nullptr;
    pipeline = gst_parse_launch(
        ("videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,"
         "framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
         "h264parse ! rtspsink name=sink port=0 rtsp-port=0 " +
         props)
            .c_str(),
        &error);
    g_assert_no_error(error);
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=,
                    GST_STATE_CHANGE_FAILURE);
    g_object_get(sink, "current-rtsp-port", &port, nullptr);
    g_assert_cmpint(port, >, 0);
  }
  ~RtspServer() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
  std::string url() const { return "rtsp://127.0.0.1:" + std::to_string(port) + "/video"; }
  guint clients() const {
    guint n = 0;
    g_object_get(sink, "num-clients", &n, nullptr);
    return n;
  }
};

// A real RTSP client that must keep playing: its frames over a span against 30 a second.
struct RealClient {
  camcast::test::RtspPlayer player;
  explicit RealClient(const std::string &url) : player(url, "tcp") {
    g_assert_true(wait_for([&] { return player.units > 10; }, 10000ms));
  }
  int units() const { return player.units; }
  void kept_since(int before, Clock::time_point from) {
    std::this_thread::sleep_for(1s);
    const double seconds = std::chrono::duration<double>(Clock::now() - from).count();
    const double kept = (units() - before) / (seconds * kFps);
    g_test_message("the real client kept %.0f %% of its frames over %.1f s", kept * 100, seconds);
    g_assert_cmpfloat(kept, >=, 0.9);
  }
};

std::string request(const std::string &method, const std::string &url, int cseq,
                    const std::string &headers = "") {
  return method + " " + url + " RTSP/1.0\r\nCSeq: " + std::to_string(cseq) + "\r\n" + headers +
         "\r\n";
}

// How many of `raws` the server ended within `ms`.
size_t ended(std::vector<std::unique_ptr<Raw>> &raws, int ms) {
  size_t n = 0;
  const auto until = Clock::now() + std::chrono::milliseconds(ms);
  for (auto &raw : raws) {
    const int left =
        int(std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count());
    n += raw->ended(std::max(left, 1));
  }
  return n;
}

// Connections from one address past its share (8) are closed at once, and from many addresses
// past the server's (32); the real client plays on, and a new client gets in once they go.
void test_rtsp_connection_floods() {
  RtspServer server;
  RealClient real(server.url());
  const Resources before = Resources::now();
  const auto start = Clock::now();
  const int units = real.units();
  {
    std::vector<std::unique_ptr<Raw>> one;
    for (int i = 0; i < 40; i++)
      one.push_back(std::make_unique<Raw>(server.port, 0, "127.0.6.1"));
    const size_t closed = ended(one, 3000);
    g_test_message("of 40 connections from one address, %zu were closed at once", closed);
    g_assert_cmpuint(closed, >=, 32);
  }
  {
    std::vector<std::unique_ptr<Raw>> many;
    for (int i = 0; i < 60; i++)
      many.push_back(
          std::make_unique<Raw>(server.port, 0, ("127.0.7." + std::to_string(1 + i % 30)).c_str()));
    const size_t closed = ended(many, 3000);
    g_test_message("of 60 connections from 30 addresses, %zu were closed at once", closed);
    g_assert_cmpuint(closed, >=, 60 - 31);  // the real client holds one of the 32
  }
  real.kept_since(units, start);
  // Once the server has seen them go (a client that was turned away tries again, as ffmpeg and
  // Home Assistant do), a new client plays.
  bool played = false;
  for (int attempt = 0; attempt < 5 && !played; attempt++) {
    camcast::test::RtspPlayer next(server.url(), "tcp");
    played = wait_for([&] { return next.units > 0; }, 3000ms);
  }
  g_assert_true(played);
  Resources::back_to(before);
}

// Connections that say nothing, half a request, or only OPTIONS: closed once they have had no
// session for 10 s.
void test_rtsp_idle_connections() {
  RtspServer server;
  RealClient real(server.url());
  std::vector<std::unique_ptr<Raw>> idle;
  for (const std::string &said :
       {std::string(), std::string("DESCRIBE rtsp://127.0.0.1/video RTSP/1.0\r\nCSeq: 1\r\n"),
        request("OPTIONS", "*", 1)}) {
    idle.push_back(std::make_unique<Raw>(server.port));
    g_assert_true(idle.back()->send(said));
  }
  const auto start = Clock::now();
  const size_t closed = ended(idle, 14000);
  g_test_message("%zu idle connections closed after %.1f s", closed,
                 std::chrono::duration<double>(Clock::now() - start).count());
  g_assert_cmpuint(closed, ==, idle.size());
  g_assert_cmpint(real.units(), >, 0);
}

// A header of 100 kB and of a megabyte, a request of endless header lines, and one connection
// that asks for the stream again and again: the server never holds more than one media for it,
// and memory comes back.
void test_rtsp_oversized_and_repeated() {
  RtspServer server;
  RealClient real(server.url());
  const Resources before = Resources::now();
  const auto start = Clock::now();
  const int units = real.units();
  for (size_t size : {size_t(100 * 1024), size_t(1024 * 1024)}) {
    Raw big(server.port);
    big.send(request("DESCRIBE", server.url(), 1, "X-Big: " + std::string(size, 'x') + "\r\n"));
    std::string answer;
    g_assert_true(big.ended(12000, &answer));
    g_test_message("%zu bytes of header: answered \"%s\" (%.1f s in)", size,
                   answer.substr(0, answer.find('\r')).c_str(),
                   std::chrono::duration<double>(Clock::now() - start).count());
  }
  {
    // Endless header lines: taken up to a bound, then not read; the connection goes at the
    // idle time, memory with it.
    Raw lines(server.port);
    const std::string line = "X-Line: " + std::string(90, 'x') + "\r\n";
    std::string chunk;
    for (int i = 0; i < 1000; i++)
      chunk += line;
    size_t sent = 0;
    g_assert_true(lines.send("DESCRIBE " + server.url() + " RTSP/1.0\r\nCSeq: 1\r\n"));
    while (sent < 64u * 1024 * 1024 && lines.send(chunk))
      sent += chunk.size();
    g_test_message("header lines: %.1f MB sent before the server closed (%.1f s in)", sent / 1e6,
                   std::chrono::duration<double>(Clock::now() - start).count());
    g_assert_cmpuint(sent, <, 64u * 1024 * 1024);
  }
  {
    Raw again(server.port);
    guint most = 0;
    for (int i = 0; i < 10; i++) {
      g_assert_true(again.send(request("DESCRIBE", server.url(), i + 1)));
      std::string answer;
      wait_for(
          [&] {
            answer += again.read(20);
            return answer.find("v=0") != std::string::npos;
          },
          5000ms);
      most = std::max(most, server.clients());
    }
    g_test_message("10 DESCRIBEs on one connection: at most %u clients counted", most);
    g_assert_cmpuint(most, <=, 2);  // the real client, and this one's media
  }
  real.kept_since(units, start);
  Resources::back_to(before);
}

// A client that plays over TCP and never reads: what waits for it stays bounded (the server
// drops what does not fit), the real client plays on, and everything goes when it does.
void test_rtsp_never_reading() {
  RtspServer server("");
  RealClient real(server.url());
  const Resources before = Resources::now();
  const auto start = Clock::now();
  const int units = real.units();
  {
    Raw stuck(server.port, 4096);
    g_assert_true(stuck.send(request("DESCRIBE", server.url(), 1)));
    std::string answer = stuck.read(2000);
    g_assert_true(answer.find("200 OK") != std::string::npos);
    const size_t at = answer.find("a=control:", answer.find("m=video"));
    const std::string control = answer.substr(at + 10, answer.find_first_of("\r\n", at) - at - 10);
    const std::string track =
        control.rfind("rtsp://", 0) == 0 ? control : server.url() + "/" + control;
    g_assert_true(stuck.send(
        request("SETUP", track, 2, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")));
    answer = stuck.read(2000);
    const size_t s = answer.find("Session: ");
    g_assert_true(s != std::string::npos);
    const std::string session = answer.substr(s + 9, answer.find_first_of(";\r", s) - s - 9);
    g_assert_true(stuck.send(request("PLAY", server.url(), 3, "Session: " + session + "\r\n")));
    // It reads nothing more, for ten seconds of a 30 frames/s stream.
    long peak = 0;
    for (int i = 0; i < 10; i++) {
      std::this_thread::sleep_for(1s);
      peak = std::max(peak, Resources::now().rss_kb - before.rss_kb);
    }
    g_test_message("memory grew at most %ld kB while a client read nothing", peak);
    if (kCheckRss)
      g_assert_cmpint(peak, <, 32 * 1024);
  }
  real.kept_since(units, start);
  g_assert_true(wait_for([&] { return server.clients() == 1; }, 10000ms));
  Resources::back_to(before);
}

// RTSPS: old TLS versions are refused; plain RTSP, a hello cut off halfway and connections that
// never start their handshake go at the idle time; a real client over RTSPS plays on.
// Each OPTIONS over TLS 1.0, 1.1 and 1.2 at `port`: answered over TLS 1.2 only (the older ones'
// connections are cut once their handshake is done).
void options_over_each_tls(int port) {
  for (const char *version : {"-tls1", "-tls1_1", "-tls1_2"}) {
    gchar *out = nullptr;
    const std::string command =
        "printf 'OPTIONS * RTSP/1.0\\r\\nCSeq: 1\\r\\n\\r\\n' | "
        "timeout 8 openssl s_client -connect 127.0.0.1:" +
        std::to_string(port) + " " + version + " -cipher DEFAULT:@SECLEVEL=0 -ign_eof 2>&1";
    const char *argv[] = {"sh", "-c", command.c_str(), nullptr};
    g_assert_true(g_spawn_sync(nullptr, const_cast<char **>(argv), nullptr, G_SPAWN_SEARCH_PATH,
                               nullptr, nullptr, &out, nullptr, nullptr, nullptr));
    const bool answered = strstr(out, "RTSP/1.0 200") != nullptr;
    g_free(out);
    g_test_message("OPTIONS over %s: %s", version, answered ? "answered" : "not answered");
    g_assert_true(answered == g_str_equal(version, "-tls1_2"));
  }
}

// RTSPS: old TLS versions get no answer; plain RTSP, a hello cut off halfway and connections that
// never start their handshake go at the idle time, descriptors and memory with them; a real
// client over RTSPS plays on.
void test_rtsps() {
  const camcast::test::TempDir dir("camcast-hostile-rtsps");
  g_assert_true(camcast::test::make_certificate(dir.path(), "server"));
  RtspServer server("tls-certificate=" + dir.file("server.crt") +
                    " tls-key=" + dir.file("server.key"));
  camcast::test::RtspPlayer real("rtsps://127.0.0.1:" + std::to_string(server.port) + "/video",
                                 "tcp", "tls-validation-flags=0");
  g_assert_true(wait_for([&] { return real.units > 10; }, 10000ms));
  const auto start = Clock::now();
  const int units = real.units;
  options_over_each_tls(server.port);
  {
    // GLib's TLS warmed up: its caches, and the threads of handshakes waiting at once (the
    // connections below hold as many).
    std::vector<std::unique_ptr<Raw>> waiting;
    for (int i = 0; i < 6; i++) {
      waiting.push_back(std::make_unique<Raw>(server.port));
      waiting.back()->send(std::string("\x16\x03\x01\x02\x00\x01", 6));
    }
    std::this_thread::sleep_for(1s);
  }
  std::this_thread::sleep_for(1s);
  const Resources before = Resources::now();
  {
    std::vector<std::unique_ptr<Raw>> idle;
    for (int i = 0; i < 6; i++)
      idle.push_back(std::make_unique<Raw>(server.port));
    g_assert_true(idle[0]->send(request("DESCRIBE", server.url(), 1)));
    g_assert_true(idle[1]->send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
    // Closed at the idle time (10 s), on a busy machine (sanitizers, tests beside it) a while
    // after.
    const size_t closed = ended(idle, 25000);
    g_test_message("%zu of %zu connections without a handshake closed after %.1f s", closed,
                   idle.size(), std::chrono::duration<double>(Clock::now() - start).count());
    g_assert_cmpuint(closed, ==, idle.size());
  }
  options_over_each_tls(server.port);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double kept = (real.units - units) / (seconds * kFps);
  g_test_message("the real client kept %.0f %% of its frames over %.1f s", kept * 100, seconds);
  g_assert_cmpfloat(kept, >=, 0.9);
  Resources::back_to(before);
}

// ONVIF (onvifsink): a body that announces a gigabyte, or comes chunked, is refused unread; a
// flood of malformed envelopes (unfinished, nested past the bound, a DTD with entities, 60 kB of
// text) and of wrong digests is answered 400 each at once; the access token still signs, a real
// viewer keeps its frames, and descriptors and memory come back.
void test_onvif() {
  // (as many requests a second as the flood sends: its own limit is tested elsewhere)
  Server server("max-connection-rate=0", std::string("access-token=") + kToken,
                std::string("x264enc tune=zerolatency speed-preset=ultrafast ! h264parse ! "
                            "onvifsink discovery=false access-token=") +
                    kToken);
  Viewer viewer(server.port, std::string("/v?token=") + kToken);
  const Resources before = Resources::now();
  const auto start = Clock::now();
  for (const auto &[request, status] : std::vector<std::pair<std::string, int>>{
           {"POST /onvif/device_service HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
            "1000000000\r\n\r\n",
            413},
           {"POST /onvif/media_service HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
            "chunked\r\n\r\n",
            411}}) {
    Raw raw(server.port);
    g_assert_true(raw.send(request));
    std::string answer;
    raw.ended(3000, &answer);
    g_assert_cmpint(status_of(answer), ==, status);
  }
  std::string deep, text(60 * 1024, 'x');
  for (int i = 0; i < 100; i++)
    deep += "<a>";
  const std::string envelope = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\">";
  const std::vector<std::string> bad = {
      envelope + "<s:Body><GetProfiles>", envelope + "<s:Body><GetProfiles>" + deep,
      "<!DOCTYPE a [<!ENTITY x \"xxxxxxxx\"><!ENTITY y \"&x;&x;&x;&x;\">]>" + envelope +
          "<s:Body><GetProfiles>&y;</GetProfiles></s:Body></s:Envelope>",
      envelope + "<s:Body><GetProfiles>" + text + "</GetProfiles></s:Body></s:Envelope>",
      envelope +
          "<s:Header><Security><UsernameToken><Username>admin</Username><Password "
          "Type=\"#PasswordDigest\">AAAA</Password><Nonce>bm9uY2U=</Nonce><Created>"
          "2026-01-01T00:00:00Z</Created></UsernameToken></Security></s:Header><s:Body>"
          "<GetStreamUri/></s:Body></s:Envelope>"};
  int refused = 0;
  for (int i = 0; i < 100; i++) {
    std::string body;
    refused +=
        camcast::test::http_request(server.port, "POST", "/onvif/media_service",
                                    bad[i % bad.size()], "application/soap+xml", &body) == 400;
  }
  g_test_message("%d of 100 malformed or wrongly signed requests answered 400 (%.1f s)", refused,
                 std::chrono::duration<double>(Clock::now() - start).count());
  g_assert_cmpint(refused, ==, 100);
  // The password itself (the access token) still signs.
  std::string body;
  g_assert_cmpint(
      camcast::test::http_request(
          server.port, "POST", "/onvif/device_service",
          envelope + "<s:Header><Security><UsernameToken><Username>admin</Username><Password>" +
              kToken +
              "</Password></UsernameToken></Security></s:Header><s:Body>"
              "<GetDeviceInformation/></s:Body></s:Envelope>",
          "application/soap+xml", &body),
      ==, 200);
  g_assert_nonnull(strstr(body.c_str(), "<tds:Manufacturer>camcast</tds:Manufacturer>"));
  viewer.kept_frames_since(start);
  Resources::back_to(before);
}

}  // namespace

void hostile_test::add_rtsp_tests() {
  g_test_add_func("/hostile/rtsp-connection-floods", test_rtsp_connection_floods);
  g_test_add_func("/hostile/rtsp-idle-connections", test_rtsp_idle_connections);
  g_test_add_func("/hostile/rtsp-oversized-and-repeated", test_rtsp_oversized_and_repeated);
  g_test_add_func("/hostile/rtsp-never-reading", test_rtsp_never_reading);
  g_test_add_func("/hostile/onvif", test_onvif);
  // (Under /hostile/tls: the TLS cases run apart, without LeakSanitizer.)
  g_test_add_func("/hostile/tls/rtsps", test_rtsps);
}
