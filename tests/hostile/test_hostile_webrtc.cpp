// Hostile clients against WHEP (see test_hostile.cpp): floods of offers, offers that never
// connect, offers whose bodies never end.
#include "hostile_server.h"
#include "whep_client.h"
#include "whep_offer.h"

using namespace hostile_test;

namespace {

// The camera with a WebRTC output at /webrtc; `whep` on its whepsink.
struct WhepServer : Server {
  explicit WhepServer(const std::string &whep, const std::string &extra = "")
      : Server(extra, "",
               "x264enc tune=zerolatency speed-preset=ultrafast ! h264parse ! "
               "whepsink name=whep path=/webrtc " +
                   whep) {}
  int post(const char *from, std::string *head = nullptr, std::string *body = nullptr) {
    std::string ignored;
    return camcast::test::http_request(Endpoint(port, false, from), "POST", "/webrtc", offer,
                                       "application/sdp", body ? body : &ignored, head, "", 10000);
  }
  int end(const std::string &location) {
    std::string body;
    return camcast::test::http_request(port, "DELETE", location, "", "", &body);
  }
  const std::string offer = camcast::test::make_offer("42e01f");
};

// A flood of WHEP offers (a client in a loop, or someone exhausting the camera's viewers): never
// more sessions than max-viewers at once, every one ended by DELETE or taken over by a later
// offer, and every viewer's pipeline, socket and thread goes with them; offers whose bodies never
// end are cut.
void test_whep_offer_flood() {
  WhepServer server("max-viewers=4", "request-timeout=2");
  Viewer viewer(server.port);
  {  // the first viewer's pipeline loads what every one needs (plugins, DTLS keys) for good
    std::string head;
    g_assert_true(wait_for([&] { return server.post("127.0.8.9", &head) == 201; }, 5000ms));
    g_assert_cmpint(server.end(header_of(head, "Location")), ==, 200);
  }
  const Resources before = Resources::now();
  const auto start = Clock::now();
  std::vector<std::string> sessions;
  for (int i = 0; i < 24; i++) {
    const std::string from = "127.0.8." + std::to_string(1 + i % 4);
    std::string head;
    const int status = server.post(from.c_str(), &head);
    if (status == 201)
      sessions.push_back(header_of(head, "Location"));
    else
      g_assert_cmpint(status, ==, 503);
  }
  int alive = 0;
  for (const std::string &location : sessions)
    alive += server.end(location) == 200;
  g_test_message("%zu of 24 offers answered, %d sessions left at the end", sessions.size(), alive);
  g_assert_cmpint(alive, <=, 4);
  // Bodies that never end: chunked (no length to judge) is refused before it is read; one that
  // promises 20 kB and sends 100 bytes is cut at request-timeout.
  {
    Raw chunked(server.port);
    g_assert_true(
        chunked.send("POST /webrtc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/sdp\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n"));
    std::string answer;
    g_assert_true(chunked.ended(3000, &answer));
    g_assert_cmpint(status_of(answer), ==, 411);
    Raw trickle(server.port);
    g_assert_true(
        trickle.send("POST /webrtc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/sdp\r\nContent-Length: 20000\r\n\r\n" +
                     std::string(100, 'v')));
    const auto sent = Clock::now();
    g_assert_true(trickle.ended(10000));
    g_test_message("a body that stopped coming was cut after %.1f s",
                   std::chrono::duration<double>(Clock::now() - sent).count());
  }
  viewer.kept_frames_since(start);
  Resources::back_to(before);
}

// Offers that never connect, as many as max-viewers (10), from ten addresses: a real viewer still
// gets in at once and plays. One address holds at most three offers that have not connected.
void test_whep_offers_that_never_connect() {
  WhepServer server("");
  for (int i = 0; i < 10; i++) {
    const std::string from = "127.0.9." + std::to_string(1 + i);
    g_assert_cmpint(server.post(from.c_str()), ==, 201);
  }
  camcast::test::Client real;
  real.connect(server.port, "/webrtc");  // asserts 201 and RTP
  g_test_message("a viewer played with ten offers that never connected before it");
  std::string body;
  for (int i = 0; i < 3; i++)
    g_assert_cmpint(server.post("127.0.9.50"), ==, 201);
  g_assert_cmpint(server.post("127.0.9.50", nullptr, &body), ==, 503);
  g_assert_nonnull(strstr(body.c_str(), "still connecting"));
  g_assert_cmpint(server.end(real.location()), ==, 200);
}

// A viewer that says it lost half of every picture and asks for all of it again (NACK), as a
// link far narrower than the stream does, or someone making the camera send more than it
// should: resends stay a small share of what is sent (15 %, docs/protocols.md 10.10), not
// everything twice. And ?rung= on the offer, whatever it says, is a rung there is or none.
void test_whep_resends_bounded() {
  WhepServer server("");
  camcast::test::Client lossy;
  lossy.lose_one_in(2);
  lossy.connect(server.port, "/webrtc");
  const uint64_t sent = lossy.sent_bytes(), resent = lossy.resent_bytes();
  std::this_thread::sleep_for(4000ms);
  const uint64_t s = lossy.sent_bytes() - sent, r = lossy.resent_bytes() - resent;
  g_test_message("in 4 s: %" G_GUINT64_FORMAT " bytes sent, %" G_GUINT64_FORMAT " resent", s, r);
  g_assert_cmpuint(s, >, 0);
  g_assert_cmpuint(r, >, 0);       // it does resend…
  g_assert_cmpuint(r, <=, s / 5);  // …a share, not half of everything again and again
  for (const char *query : {"?rung=abc", "?rung=-1", "?rung=99999999999999999999999",
                            "?rung=%FF%00", "?rung=1&rung=2", "?rung="}) {
    std::string answer, head;
    const int status =
        camcast::test::http_request(server.port, "POST", std::string("/webrtc") + query,
                                    server.offer, "application/sdp", &answer, &head, "", 10000);
    g_assert_cmpint(status, ==, 201);
    g_assert_cmpint(server.end(header_of(head, "Location")), ==, 200);
  }
  camcast::test::Client pinned;  // a rung past the ladder's (none here): the top
  pinned.connect(server.port, "/webrtc?rung=3");
}

}  // namespace

void hostile_test::add_webrtc_tests() {
  g_test_add_func("/hostile/whep-offer-flood", test_whep_offer_flood);
  g_test_add_func("/hostile/whep-offers-that-never-connect", test_whep_offers_that_never_connect);
  g_test_add_func("/hostile/whep-resends-bounded", test_whep_resends_bounded);
}
